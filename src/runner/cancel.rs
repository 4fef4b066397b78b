//! Interruption: the first SIGINT/SIGTERM undoes faults and writes reports; a second one
//! also stops waiting for the cluster to recover (faults are still undone).

use tokio::sync::watch;

/// How far an interruption has gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Not interrupted.
    None,
    /// Stop the scenario, undo its faults, write reports.
    Stop,
    /// As `Stop`, without waiting for recovery.
    Hurry,
}

/// A cloneable view of the interruption level.
#[derive(Clone)]
pub struct Cancel {
    rx: watch::Receiver<Level>,
}

/// The side that raises the level.
pub struct Trigger {
    tx: watch::Sender<Level>,
}

/// A new, untriggered pair.
pub fn pair() -> (Trigger, Cancel) {
    let (tx, rx) = watch::channel(Level::None);
    (Trigger { tx }, Cancel { rx })
}

impl Trigger {
    /// Raises the level by one step.
    pub fn escalate(&self) -> Level {
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

    /// Installs SIGINT and SIGTERM handlers that escalate.
    pub fn install_signal_handlers(self) {
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                tracing::warn!("failed to install signal handlers");
                return;
            };
            loop {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
                match self.escalate() {
                    Level::Stop => eprintln!(
                        "\ninterrupted: stopping the scenario, undoing its faults, writing reports (interrupt again to skip waiting for recovery)"
                    ),
                    _ => eprintln!(
                        "\ninterrupted again: faults are still undone, not waiting for recovery"
                    ),
                }
            }
        });
    }
}

impl Cancel {
    /// The current level.
    pub fn level(&self) -> Level {
        *self.rx.borrow()
    }

    /// Whether the run was interrupted.
    pub fn is_cancelled(&self) -> bool {
        self.level() >= Level::Stop
    }

    /// Resolves when the level reaches at least `level`.
    pub async fn reached(&self, level: Level) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|l| *l >= level).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
