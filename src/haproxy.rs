//! HAProxy's stats page, as CSV: each backend server's status and its count of UP→DOWN
//! transitions.
//!
//! The CSV format is HAProxy's own ("Management Guide", section 9.1 "CSV format": the first
//! line is a header starting with `# pxname,svname,...`; `status` is `UP`, `DOWN`,
//! `UP 1/2`, `DOWN 1/2`, `NOLB`, `MAINT`, `no check`...; `chkdown` is "number of UP->DOWN
//! transitions"). Columns are found by their header name, not by position, because their
//! number grows between HAProxy versions.

use std::time::Duration;

use crate::inventory::Haproxy;

/// One backend server as the stats page lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServerStat {
    /// The proxy (`listen` or `backend` section) name.
    pub(crate) proxy: String,
    /// The server name.
    pub(crate) server: String,
    /// Its status as HAProxy words it.
    pub(crate) status: String,
    /// HAProxy's count of this server's UP→DOWN transitions since HAProxy started.
    pub(crate) chkdown: Option<u64>,
}

impl ServerStat {
    /// `proxy/server`, the name a report uses.
    pub(crate) fn name(&self) -> String {
        format!("{}/{}", self.proxy, self.server)
    }
}

/// Why the stats page could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StatsError {
    /// The inventory gives no stats port.
    #[error("the inventory gives no `entrypoints.haproxy.stats_port`")]
    NoStatsPort,
    /// The request failed or timed out.
    #[error("HAProxy's stats page {url}: {why}")]
    Http {
        /// The page asked (no credentials in it).
        url: String,
        /// What went wrong.
        why: String,
    },
    /// The page is not HAProxy's CSV.
    #[error("HAProxy's stats page {url} is not CSV with `pxname`, `svname` and `status` columns")]
    NotCsv {
        /// The page asked.
        url: String,
    },
}

/// The CSV URL of `h`'s stats page.
pub(crate) fn csv_url(h: &Haproxy) -> Result<String, StatsError> {
    let port = h.stats_port.ok_or(StatsError::NoStatsPort)?;
    let path = h.stats_path.as_deref().unwrap_or("/");
    let host = if h.host.contains(':') {
        format!("[{}]", h.host)
    } else {
        h.host.clone()
    };
    // HAProxy answers `<stats uri>;csv` with the CSV form of the page.
    Ok(format!("http://{host}:{port}{path};csv"))
}

/// Asks the stats page once.
pub(crate) async fn fetch(
    http: &reqwest::Client,
    h: &Haproxy,
    auth: Option<&(String, crate::secret::Secret)>,
    timeout: Duration,
) -> Result<Vec<ServerStat>, StatsError> {
    let url = csv_url(h)?;
    let http_err = |why: String| StatsError::Http {
        url: url.clone(),
        why,
    };
    let mut req = http.get(&url).timeout(timeout);
    if let Some((user, password)) = auth {
        req = req.basic_auth(user, Some(password.expose()));
    }
    let resp = req
        .send()
        .await
        .map_err(|e| http_err(crate::http_words::short(&e)))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(http_err(format!("HTTP {}", status.as_u16())));
    }
    let body = resp
        .text()
        .await
        .map_err(|e| http_err(crate::http_words::short(&e)))?;
    parse(&body).ok_or(StatsError::NotCsv { url })
}

/// The backend servers in a stats CSV (the `FRONTEND` and `BACKEND` summary rows left
/// out); `None` when the text is not such a CSV.
pub(crate) fn parse(csv: &str) -> Option<Vec<ServerStat>> {
    let mut lines = csv.lines();
    let header = lines.next()?.strip_prefix('#')?;
    let cols: Vec<&str> = header.split(',').map(str::trim).collect();
    let col = |name: &str| cols.iter().position(|c| *c == name);
    let (px, sv, st) = (col("pxname")?, col("svname")?, col("status")?);
    let down = col("chkdown");
    let mut out = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let (Some(proxy), Some(server), Some(status)) = (f.get(px), f.get(sv), f.get(st)) else {
            continue;
        };
        if *server == "FRONTEND" || *server == "BACKEND" {
            continue;
        }
        out.push(ServerStat {
            proxy: (*proxy).to_owned(),
            server: (*server).to_owned(),
            status: (*status).to_owned(),
            chkdown: down.and_then(|i| f.get(i)).and_then(|v| v.parse().ok()),
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Cut from HAProxy 2.6's output on the lab (columns after `chkdown` trimmed).
    const CSV: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown\n\
stats,FRONTEND,,,1,1,1000,3,0,0,0,0,0,,,,,OPEN,,,,,\n\
primary,FRONTEND,,,1,2,1000,9,0,0,0,0,0,,,,,OPEN,,,,,\n\
primary,pg1,0,0,1,2,100,9,0,0,,0,,0,0,0,0,UP,1,1,0,0,0\n\
primary,pg2,0,0,0,0,100,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,3,1\n\
primary,BACKEND,0,0,1,2,100,9,0,0,0,0,,0,0,0,0,UP,1,1,0,,0\n\
replicas,pg2,0,0,0,0,100,0,0,0,,0,,0,0,0,0,UP 1/2,1,1,0,1,2\n";

    #[test]
    fn servers_are_read_by_column_name_without_summary_rows() {
        let s = parse(CSV).expect("csv");
        let names: Vec<String> = s.iter().map(ServerStat::name).collect();
        assert_eq!(names, ["primary/pg1", "primary/pg2", "replicas/pg2"]);
        assert_eq!(s[1].status, "DOWN");
        assert_eq!(s[1].chkdown, Some(1));
        assert_eq!(s[2].status, "UP 1/2");
        assert_eq!(s[2].chkdown, Some(2));
    }

    #[test]
    fn a_page_that_is_not_the_csv_is_refused() {
        assert!(parse("<html>stats</html>").is_none());
        assert!(parse("# a,b,c\n1,2,3\n").is_none());
    }

    #[test]
    fn the_url_brackets_ipv6_and_honours_the_stats_uri() {
        let mut h = Haproxy {
            host: "::1".into(),
            write_port: 5000,
            read_port: None,
            stats_port: Some(7000),
            stats_path: Some("/haproxy?stats".into()),
            stats_auth: None,
        };
        assert_eq!(csv_url(&h).unwrap(), "http://[::1]:7000/haproxy?stats;csv");
        h.stats_port = None;
        assert!(matches!(csv_url(&h), Err(StatsError::NoStatsPort)));
    }
}
