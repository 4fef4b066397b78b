//! `pgbench`: run pgbench through the write port for a fixed time.

use std::time::{Duration, Instant};

use chrono::Utc;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Call, CheckCx, StepError, StepKind, StepResult, StepRunner};
use crate::diag::YPath;
use crate::duration::HumanDuration;
use crate::scenario::against::Ctx as InventoryCheck;
use crate::text::tail;

/// pgbench load.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PgbenchStep {
    /// How long the load runs.
    pub duration: HumanDuration,
    /// Client connections.
    #[serde(default = "default_clients")]
    pub clients: u32,
    /// pgbench scale factor used to initialise.
    #[serde(default = "default_scale")]
    pub scale: u32,
    /// Maximum failed transactions tolerated.
    #[serde(default)]
    pub max_errors: u64,
    /// Maximum replica lag (bytes) tolerated at any sample during the load.
    #[serde(default)]
    pub max_lag_bytes: Option<u64>,
}

fn default_clients() -> u32 {
    4
}

fn default_scale() -> u32 {
    1
}

pub(crate) struct Pgbench;

impl StepKind for Pgbench {
    const NAME: &'static str = "pgbench";
    #[cfg(test)]
    const SAMPLE: &'static str = "{duration: 1s}";
    type Body = PgbenchStep;

    fn check<'a>(p: &'a PgbenchStep, cx: &mut CheckCx<'a, '_>) {
        if p.duration.get().is_zero() {
            cx.zero(
                "duration",
                "`pgbench.duration` is 0: accepted is a positive duration such as `60s`",
            );
        }
    }

    fn check_inventory(_p: &PgbenchStep, cx: &mut InventoryCheck<'_>, base: &YPath) {
        cx.need_haproxy(base, "`pgbench` (it runs through the write port)", false);
    }

    fn describe(p: &PgbenchStep) -> String {
        format!("pgbench {} clients for {}", p.clients, p.duration)
    }

    async fn execute<R: StepRunner>(p: &PgbenchStep, call: Call<'_>, run: &mut R) -> StepResult {
        let rec = call.rec;
        let h = run.inventory().entrypoints.haproxy.clone().ok_or_else(|| {
            StepError::Error("pgbench needs entrypoints.haproxy in the inventory".into())
        })?;
        let creds = run.creds();
        let base = base_command(&h.host, h.write_port, &creds.user);
        let init = format!("{base} -i -q -s {} --no-vacuum 2>&1 | tail -n 3", p.scale);
        let script = format!(
            "{base} -n -c {} -j {} -T {} --progress=5 2>&1; echo \"pgbench exit status $?\"",
            p.clients,
            p.clients.min(4),
            p.duration.get().as_secs().max(1)
        );
        let env = creds.password.as_ref().map(|pw| pw.expose().to_owned());
        for (script, limit) in [
            (init, Duration::from_secs(300)),
            (script, p.duration.get() + Duration::from_secs(120)),
        ] {
            let started = Utc::now();
            // Interrupted: pgbench is killed (kill_on_drop) and the run goes on to the undo.
            let out = tokio::select! {
                out = run_local_with_password(&script, env.as_deref(), &creds.database, limit) => out,
                () = run.interrupted() => {
                    return Err(StepError::Error("interrupted: pgbench was stopped".into()));
                }
            };
            rec.push(run.command_record("local", &script, started, &out));
            let o = out.map_err(|e| StepError::Error(e.to_string()))?;
            if !o.success() {
                return Err(StepError::Failed(format!(
                    "pgbench failed: {}",
                    tail(o.stdout.trim(), 5, 800)
                )));
            }
        }
        let out = rec.last().map(|c| c.stdout.clone()).unwrap_or_default();
        let failed = parse_failed(&out);
        let exit_ok = out.contains("pgbench exit status 0");
        let mut detail = format!(
            "{} failed transaction(s); {}",
            failed.unwrap_or(0),
            tail(&out, 12, 1500)
        );
        if !exit_ok {
            return Err(StepError::Failed(format!(
                "pgbench did not complete cleanly: {detail}"
            )));
        }
        if failed.unwrap_or(0) > p.max_errors {
            return Err(StepError::Failed(format!(
                "more than {} failed transactions: {detail}",
                p.max_errors
            )));
        }
        if let Some(max) = p.max_lag_bytes {
            let worst = run.max_lag_since(rec.last().map(|c| c.started_at));
            match worst {
                Some((node, lag)) if lag > max => {
                    return Err(StepError::Failed(format!(
                        "replica {node} lagged {lag} bytes (> {max}) during the load"
                    )));
                }
                Some((node, lag)) => {
                    detail = format!("max replica lag {lag} bytes ({node}); {detail}")
                }
                None => {
                    return Err(StepError::Failed(
                        "no replica lag was observed during the load".into(),
                    ));
                }
            }
        }
        Ok(Some(detail))
    }
}

/// `pgbench` through HAProxy's write port, every value one shell word (the database is
/// given as `PGDATABASE`: pgbench has no option for it, and a positional name starting
/// with `-` would be read as an option).
fn base_command(host: &str, port: u16, user: &str) -> String {
    crate::text::template::shell(
        "pgbench --host={host} --port={port} --username={user}",
        &[("host", host), ("port", &port.to_string()), ("user", user)],
    )
}

fn parse_failed(out: &str) -> Option<u64> {
    out.lines()
        .find_map(|l| l.trim().strip_prefix("number of failed transactions:"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

async fn run_local_with_password(
    script: &str,
    password: Option<&str>,
    database: &str,
    timeout: Duration,
) -> Result<crate::transport::Output, crate::transport::TransportError> {
    let started = Instant::now();
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    cmd.env("PGDATABASE", database);
    if let Some(p) = password {
        // Passed in the child's environment only, never on its command line.
        cmd.env("PGPASSWORD", p);
    }
    let out = tokio::time::timeout(timeout, cmd.output())
        .await
        .map_err(|_| crate::transport::TransportError::Timeout {
            node: "local".into(),
            command: script.into(),
            after: timeout,
        })?
        .map_err(|source| crate::transport::TransportError::Local {
            command: script.into(),
            source,
        })?;
    Ok(crate::transport::Output {
        status: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        duration: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_keeps_every_value_one_word() {
        let cmd = base_command("h; touch /tmp/pgc-pgbench-pwned {port}", 5000, "it's");
        let probe = cmd.replacen("pgbench", "printf '%s|'", 1);
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(&probe)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "--host=h; touch /tmp/pgc-pgbench-pwned {port}|--port=5000|--username=it's|",
            "{cmd}"
        );
        assert!(!std::path::Path::new("/tmp/pgc-pgbench-pwned").exists());
    }

    #[test]
    fn parses_pgbench_failures() {
        let out = "transaction type: x\nnumber of failed transactions: 3 (0.1%)\n";
        assert_eq!(parse_failed(out), Some(3));
        assert_eq!(parse_failed("nothing"), None);
    }
}
