//! Interruption: the first SIGINT/SIGTERM/SIGHUP undoes faults and writes reports; a second one
//! also stops waiting for the cluster to recover (faults are still undone).

use tokio::sync::watch;

/// How far an interruption has gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    /// Not interrupted.
    None,
    /// Stop the scenario, undo its faults, write reports.
    Stop,
    /// As `Stop`, without waiting for recovery.
    Hurry,
}

/// A cloneable view of the interruption level.
#[derive(Clone)]
pub(crate) struct Cancel {
    rx: watch::Receiver<Level>,
}

/// The side that raises the level.
pub(crate) struct Trigger {
    tx: watch::Sender<Level>,
}

/// A new, untriggered pair.
pub(crate) fn pair() -> (Trigger, Cancel) {
    let (tx, rx) = watch::channel(Level::None);
    (Trigger { tx }, Cancel { rx })
}

impl Trigger {
    /// Raises the level by one step.
    pub(crate) fn escalate(&self) -> Level {
        let mut next = Level::None;
        self.tx.send_modify(|l| {
            *l = match *l {
                Level::None => Level::Stop,
                _ => Level::Hurry,
            };
            next = *l;
        });
        next
    }

    /// Installs SIGINT, SIGTERM and SIGHUP handlers that escalate.
    ///
    /// SIGHUP is what an operator's dropped SSH session sends: it must undo like the
    /// others, not kill pgchaos with the faults in place. Its terminal is gone then, so
    /// nothing here may panic on a closed standard error (`eprintln!` does).
    pub(crate) fn install_signal_handlers(self) {
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
                signal(SignalKind::hangup()),
            ) else {
                tracing::warn!("failed to install signal handlers");
                return;
            };
            loop {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                    _ = hup.recv() => {}
                }
                let msg = match self.escalate() {
                    Level::Stop => {
                        "\ninterrupted: stopping the scenario, undoing its faults, writing reports (interrupt again to skip waiting for recovery)"
                    }
                    _ => "\ninterrupted again: faults are still undone, not waiting for recovery",
                };
                note(msg);
            }
        });
    }
}

/// Writes a line to standard error, ignoring a closed or broken one.
pub(crate) fn note(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{msg}");
}

impl Cancel {
    /// The current level.
    pub(crate) fn level(&self) -> Level {
        *self.rx.borrow()
    }

    /// Whether the run was interrupted.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.level() >= Level::Stop
    }

    /// Resolves when the level reaches at least `level`.
    pub(crate) async fn reached(&self, level: Level) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|l| *l >= level).await;
    }
}

/// Runs `fut`, turning a panic into an error message, so that the caller still undoes
/// its faults and writes its reports (a panic must never skip the undo).
pub(crate) async fn catch_panic<T>(fut: impl std::future::Future<Output = T>) -> Result<T, String> {
    use futures::FutureExt;
    std::panic::AssertUnwindSafe(fut)
        .catch_unwind()
        .await
        .map_err(|p| {
            p.downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_owned())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_an_error() {
        let r = catch_panic(async {
            let s = String::from("é");
            // The byte-160 truncation bug, in small.
            #[allow(clippy::string_slice)]
            let _ = &s[..1];
            1
        })
        .await;
        assert!(r.unwrap_err().contains("char boundary"));
        assert_eq!(catch_panic(async { 2 }).await, Ok(2));
    }

    #[tokio::test]
    async fn escalates_in_order() {
        let (t, c) = pair();
        assert!(!c.is_cancelled());
        assert_eq!(t.escalate(), Level::Stop);
        c.reached(Level::Stop).await;
        assert!(c.is_cancelled());
        assert_eq!(t.escalate(), Level::Hurry);
        assert_eq!(c.level(), Level::Hurry);
    }
}
