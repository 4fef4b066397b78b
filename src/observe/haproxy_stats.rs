//! The HAProxy observer: every backend server's status on HAProxy's stats page, sampled,
//! so that a report shows when HAProxy took a node out of a pool and a verdict can bound
//! how often (`haproxy_flaps_max`: a replica catching up should not flap).
//!
//! The count of transitions comes from HAProxy itself (`chkdown`), not from the samples:
//! a server that goes DOWN and UP again between two samples is still counted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Sample, Timeline};
use crate::inventory::Inventory;
use crate::results::{HaproxyFlaps, Observation, ObservationSource};

/// How often the stats page is read: HAProxy's own checks run about once a second
/// (`inter`), and the count does not depend on it.
pub(crate) const HAPROXY_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The node name of the page's own samples (answered or not); servers are `proxy/server`.
pub(crate) const STATS_NODE: &str = "stats page";

/// Spawns the sampler on `rt` when the inventory gives HAProxy's stats port.
pub(crate) fn spawn(
    rt: &tokio::runtime::Handle,
    inv: Arc<Inventory>,
    timeline: Timeline,
) -> Option<tokio::task::JoinHandle<()>> {
    let h = inv.entrypoints.haproxy.clone()?;
    h.stats_port?;
    Some(rt.spawn(async move {
        let auth = match h.stats_auth.as_ref().map(|a| {
            a.password
                .resolve()
                .map(|p| (a.username.clone(), p))
                .map_err(|e| e.to_string())
        }) {
            None => Ok(None),
            Some(r) => r.map(Some),
        };
        let http = reqwest::Client::new();
        let mut tick = tokio::time::interval(HAPROXY_POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let read = match &auth {
                Ok(a) => crate::haproxy::fetch(&http, &h, a.as_ref(), HAPROXY_POLL_INTERVAL)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(format!("the stats password: {e}")),
            };
            for o in observations(read, Utc::now()) {
                timeline.push(Sample {
                    observation: o,
                    members: None,
                    cluster_json: None,
                });
            }
        }
    }))
}

/// One observation per backend server, or one for the page when it did not answer.
fn observations(
    read: Result<Vec<crate::haproxy::ServerStat>, String>,
    at: DateTime<Utc>,
) -> Vec<Observation> {
    match read {
        // The page's own sample first: a report sees when the page answers again even if
        // no server's status changed meanwhile (only changes are kept in results).
        Ok(servers) => std::iter::once(Observation {
            at,
            node: STATS_NODE.into(),
            source: ObservationSource::Haproxy,
            reachable: true,
            ..Default::default()
        })
        .chain(servers.into_iter().map(|s| Observation {
            at,
            node: s.name(),
            source: ObservationSource::Haproxy,
            reachable: true,
            state: Some(s.status),
            chkdown: s.chkdown,
            ..Default::default()
        }))
        .collect(),
        Err(why) => vec![Observation {
            at,
            node: STATS_NODE.into(),
            source: ObservationSource::Haproxy,
            reachable: false,
            error: Some(why),
            ..Default::default()
        }],
    }
}

/// Whether a status means the server is out of its pool.
fn is_down(status: &str) -> bool {
    // `DOWN`, `DOWN 1/2` (going up), `MAINT`, `DRAIN` (no new connections) and
    // `NOLB` are all out of rotation; `UP 1/2` (going down) still takes traffic.
    let s = status.trim();
    s.starts_with("DOWN") || s.starts_with("MAINT") || s == "NOLB" || s.starts_with("DRAIN")
}

/// Each backend server's UP→DOWN transitions over `obs` (HAProxy samples, in time order;
/// other sources are ignored), in name order.
pub(crate) fn flaps<'a>(obs: impl IntoIterator<Item = &'a Observation>) -> Vec<HaproxyFlaps> {
    struct Acc {
        flaps: HaproxyFlaps,
        last_chkdown: Option<u64>,
        was_down: bool,
    }
    let mut by: BTreeMap<String, Acc> = BTreeMap::new();
    for o in obs {
        if o.source != ObservationSource::Haproxy || !o.reachable || o.node == STATS_NODE {
            continue;
        }
        let status = o.state.clone().unwrap_or_default();
        let down = is_down(&status);
        let acc = by.entry(o.node.clone()).or_insert_with(|| Acc {
            flaps: HaproxyFlaps {
                server: o.node.clone(),
                first_status: status.clone(),
                ..Default::default()
            },
            last_chkdown: o.chkdown,
            was_down: down,
        });
        match (acc.last_chkdown, o.chkdown) {
            (Some(prev), Some(now)) if now >= prev => acc.flaps.went_down += now - prev,
            // HAProxy restarted: its counters start again from zero.
            (Some(_), Some(now)) => acc.flaps.went_down += now,
            // Without `chkdown`, the transitions the samples saw.
            (_, None) if down && !acc.was_down => acc.flaps.went_down += 1,
            _ => {}
        }
        if down && !acc.was_down {
            acc.flaps.down_at.push(o.at);
        }
        if o.chkdown.is_some() {
            acc.last_chkdown = o.chkdown;
        }
        acc.was_down = down;
        acc.flaps.last_status = status;
    }
    by.into_values().map(|a| a.flaps).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(s: i64, node: &str, status: &str, chkdown: Option<u64>) -> Observation {
        Observation {
            at: DateTime::<Utc>::from_timestamp(1_700_000_000 + s, 0).unwrap(),
            node: node.into(),
            source: ObservationSource::Haproxy,
            reachable: true,
            state: Some(status.into()),
            chkdown,
            ..Default::default()
        }
    }

    #[test]
    fn haproxys_own_count_is_used_including_a_flap_between_two_samples() {
        let obs = vec![
            sample(0, "primary/pg1", "UP", Some(4)),
            sample(0, "replicas/pg2", "UP", Some(0)),
            sample(1, "primary/pg1", "DOWN", Some(5)),
            // Went down and up again between samples: only the counter shows it.
            sample(1, "replicas/pg2", "UP", Some(1)),
            sample(2, "primary/pg1", "DOWN", Some(5)),
            sample(3, "primary/pg1", "UP", Some(5)),
        ];
        let f = flaps(&obs);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].server, "primary/pg1");
        assert_eq!(f[0].went_down, 1, "the 4 before the scenario do not count");
        assert_eq!(f[0].down_at.len(), 1);
        assert_eq!(
            (f[0].first_status.as_str(), f[0].last_status.as_str()),
            ("UP", "UP")
        );
        assert_eq!(f[1].went_down, 1);
        assert!(f[1].down_at.is_empty());
    }

    #[test]
    fn a_restarted_haproxy_counts_again_from_zero() {
        let obs = vec![
            sample(0, "primary/pg2", "DOWN", Some(7)),
            sample(1, "primary/pg2", "UP", Some(7)),
            sample(5, "primary/pg2", "DOWN", Some(1)),
        ];
        assert_eq!(flaps(&obs)[0].went_down, 1);
    }

    #[test]
    fn without_a_counter_the_observed_transitions_count() {
        let obs = vec![
            sample(0, "p/a", "UP", None),
            sample(1, "p/a", "DOWN 1/2", None),
            sample(2, "p/a", "UP", None),
            sample(3, "p/a", "MAINT", None),
        ];
        let f = flaps(&obs);
        assert_eq!(f[0].went_down, 2);
        assert_eq!(f[0].down_at.len(), 2);
    }

    #[test]
    fn an_unanswered_page_is_one_unreachable_sample_and_counts_nothing() {
        let o = observations(Err("no answer in time".into()), Utc::now());
        assert_eq!(o.len(), 1);
        assert!(!o[0].reachable);
        assert!(flaps(&o).is_empty());
        let ok = observations(Ok(Vec::new()), Utc::now());
        assert_eq!((ok[0].node.as_str(), ok[0].reachable), (STATS_NODE, true));
        assert!(flaps(&ok).is_empty(), "the page's own sample is no server");
    }
}
