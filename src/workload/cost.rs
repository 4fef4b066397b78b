//! What the writer costs on the machine running pgchaos, so it does not distort what it
//! measures.

use std::time::Duration;

use serde::Serialize;

use super::{ConnectionSettings, Workload, WorkloadError, WriteTarget};
use crate::scenario::{WorkloadSpec, WriteVia, WriterSpec};

/// The writer's CPU cost over one measured run.
#[derive(Clone, Debug, Serialize)]
pub struct WriterCost {
    /// Target rate, inserts per second.
    pub rate: u32,
    /// Wall-clock length of the run, seconds.
    pub wall_seconds: f64,
    /// Inserts attempted.
    pub attempted: u64,
    /// Inserts acknowledged.
    pub acknowledged: u64,
    /// User CPU time of the writer's thread, seconds.
    pub cpu_user_seconds: f64,
    /// System CPU time of the writer's thread, seconds.
    pub cpu_system_seconds: f64,
    /// CPU (user + system) per attempted insert, microseconds.
    pub cpu_per_insert_us: Option<f64>,
    /// CPU seconds per wall second: the share of one core the writer keeps busy.
    pub core_share: f64,
}

/// Runs the writer alone on a dedicated thread for `duration` at `rate` inserts per second
/// and measures that thread's CPU time (`getrusage(RUSAGE_THREAD)`), which covers the
/// writer and its connection driver and nothing else in the process.
///
/// Blocking: call it from a plain thread or `spawn_blocking`. Rows go to the table under
/// scenario id `bench`.
pub fn measure_writer_cost(
    target: WriteTarget,
    settings: ConnectionSettings,
    rate: u32,
    duration: Duration,
    run_id: &str,
) -> Result<WriterCost, WorkloadError> {
    let run_id = run_id.to_owned();
    let io = |source| WorkloadError::Io {
        what: "run the writer benchmark thread".into(),
        source,
    };
    std::thread::Builder::new()
        .name("pgchaos-writer-bench".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(io)?;
            rt.block_on(async move {
                let spec = WorkloadSpec {
                    writer: Some(WriterSpec {
                        rate,
                        via: WriteVia::WritePort,
                        timeout: None,
                    }),
                    reader: None,
                };
                let workload =
                    Workload::start(&spec, target, None, settings, &run_id, "bench").await?;
                let before = thread_cpu();
                let started = tokio::time::Instant::now();
                // The run's length is what is being measured over, not a wait for an event.
                tokio::time::sleep(duration).await;
                let ledger = workload.stop().await;
                let wall = started.elapsed();
                let after = thread_cpu();
                let user = (after.0 - before.0).max(0.0);
                let system = (after.1 - before.1).max(0.0);
                let attempted = ledger.entries.len() as u64;
                let acknowledged = ledger
                    .entries
                    .iter()
                    .filter(|e| e.outcome.is_acknowledged())
                    .count() as u64;
                Ok(WriterCost {
                    rate,
                    wall_seconds: wall.as_secs_f64(),
                    attempted,
                    acknowledged,
                    cpu_user_seconds: user,
                    cpu_system_seconds: system,
                    cpu_per_insert_us: (attempted > 0)
                        .then(|| (user + system) * 1e6 / attempted as f64),
                    core_share: (user + system) / wall.as_secs_f64().max(f64::EPSILON),
                })
            })
        })
        .map_err(io)?
        .join()
        .map_err(|_| WorkloadError::Io {
            what: "run the writer benchmark thread".into(),
            source: std::io::Error::other("the benchmark thread panicked"),
        })?
}

/// User and system CPU seconds of the calling thread.
fn thread_cpu() -> (f64, f64) {
    #[cfg(target_os = "linux")]
    let who = libc::RUSAGE_THREAD;
    #[cfg(not(target_os = "linux"))]
    let who = libc::RUSAGE_SELF;
    // SAFETY: getrusage only writes into the zeroed struct we own.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid `who` and a valid pointer to a rusage struct.
    let rc = unsafe { libc::getrusage(who, &mut usage) };
    if rc != 0 {
        return (0.0, 0.0);
    }
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (secs(usage.ru_utime), secs(usage.ru_stime))
}
