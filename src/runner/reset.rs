//! Cluster reset between scenarios: when a scenario leaves the cluster out of steady
//! state and the inventory says how to rebuild it (`operations.reset_cluster`, a command
//! run on the machine running pgchaos), the cluster is rebuilt and the run goes on. The
//! failed scenario keeps its verdict; the reset is recorded in the results. Without the
//! operation the run stops, as it must: more faults on a broken cluster prove nothing.

use std::time::{Duration, Instant};

use chrono::Utc;

use super::{Engine, Live};
use crate::inventory::Inventory;
use crate::results::{ClusterReset, CommandRecord};
use crate::scenario::LoadedScenario;

/// Time allowed for the reset command itself.
const RESET_COMMAND_TIMEOUT: Duration = Duration::from_secs(600);
/// Time allowed for steady state once the reset command succeeded.
const STEADY_AFTER_RESET: Duration = Duration::from_secs(180);
/// Output kept in the record (the command's own progress lines, not a log dump).
const OUTPUT_LIMIT: usize = 16 * 1024;

impl Engine {
    /// Resets the cluster after `ls` left it out of steady state (`reason`), if the
    /// inventory says how; `None` when it does not. Waits for steady state afterwards.
    pub(crate) async fn reset_cluster(
        &self,
        ls: &LoadedScenario,
        attempt: u32,
        reason: &str,
    ) -> Option<ClusterReset> {
        let inventory_path = self.config.inventory_path.display().to_string();
        let command = reset_command(&self.inventory, &inventory_path)?;
        self.progress.line(&format!(
            "    cluster not in steady state: resetting it (operations.reset_cluster): {command}"
        ));
        let at = Utc::now();
        let started = Instant::now();
        let out = crate::transport::run_local(&command, RESET_COMMAND_TIMEOUT).await;
        let mut record = CommandRecord {
            node: "local".into(),
            command: self.redact(&command),
            exit_status: None,
            stdout: String::new(),
            stderr: String::new(),
            started_at: at,
            duration_ms: started.elapsed().as_millis() as u64,
            error: None,
        };
        let mut succeeded = false;
        match out {
            Ok(o) => {
                record.exit_status = o.status;
                record.stdout = self.redact(&tail(&o.stdout));
                record.stderr = self.redact(&tail(&o.stderr));
                succeeded = o.success();
            }
            Err(e) => record.error = Some(self.redact(&e.to_string())),
        }
        // Every host may have restarted: connections opened before are dead.
        self.transport.forget_sessions().await;
        let mut why = None;
        if succeeded {
            let mut live = Live::new(self, ls);
            if let Err(w) = live
                .wait_steady(STEADY_AFTER_RESET, "steady state after the cluster reset")
                .await
            {
                succeeded = false;
                why = Some(w);
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        self.progress.line(&match (&why, succeeded) {
            (_, true) => format!("    cluster reset: steady state again after {seconds:.0}s"),
            (Some(w), _) => format!("    cluster reset: no steady state after it: {w}"),
            (None, _) => format!(
                "    cluster reset FAILED after {seconds:.0}s (exit {:?}{})",
                record.exit_status,
                record
                    .error
                    .as_deref()
                    .map(|e| format!(", {e}"))
                    .unwrap_or_default()
            ),
        });
        let mut reason = reason.to_owned();
        if let Some(w) = why {
            reason.push_str(&format!(
                "; after the reset, no steady state within {}s: {w}",
                STEADY_AFTER_RESET.as_secs()
            ));
        }
        Some(ClusterReset {
            at,
            after_scenario: ls.scenario.id.clone(),
            attempt,
            reason,
            command: record,
            succeeded,
            seconds,
        })
    }
}

/// The inventory's `operations.reset_cluster` with `{scope}` and `{inventory}`
/// substituted (shell-quoted), if it has one.
fn reset_command(inv: &Inventory, inventory_path: &str) -> Option<String> {
    inv.operations.reset_cluster.as_deref().map(|t| {
        crate::text::template::shell(
            t,
            &[("scope", &inv.cluster.scope), ("inventory", inventory_path)],
        )
    })
}

/// The last `OUTPUT_LIMIT` bytes of `s`, cut at a character boundary.
fn tail(s: &str) -> String {
    if s.len() <= OUTPUT_LIMIT {
        return s.to_owned();
    }
    let mut start = s.len() - OUTPUT_LIMIT;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("[… {start} bytes cut]\n{}", &s[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_cluster_is_optional_and_quotes_its_values() {
        let mut inv = crate::inventory::parse(
            std::path::Path::new("i.yml"),
            "cluster: {scope: main}\nnodes:\n  - {name: a, host: h, roles: [patroni]}\n",
        )
        .unwrap()
        .inventory;
        assert_eq!(reset_command(&inv, "i.yml"), None);
        inv.operations.reset_cluster = Some("rebuild --scope {scope} -i {inventory}".into());
        assert_eq!(
            reset_command(&inv, "my inv.yml").as_deref(),
            Some("rebuild --scope main -i 'my inv.yml'")
        );
    }

    #[test]
    fn tail_keeps_the_end_and_never_splits_a_character() {
        assert_eq!(tail("short"), "short");
        let long = "é".repeat(OUTPUT_LIMIT);
        let t = tail(&long);
        assert!(t.starts_with("[… "));
        assert!(t.ends_with('é'));
        assert!(t.len() < long.len());
    }
}
