//! `pgchaos lab ...`.

use super::{CommandResult, Failure};
use crate::cli::{LabArgs, LabCommand};
use crate::exit::ExitCode;
use crate::lab::{self, LabError};

fn fail(e: LabError) -> Failure {
    match e {
        LabError::UnknownNode { .. } | LabError::BadOption(_) => Failure::bad_input(e),
        _ => Failure::aborted(e),
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn out(text: &str) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes()).and_then(|()| o.flush());
}

/// `pgchaos lab`.
pub(super) fn lab(args: LabArgs) -> CommandResult {
    let dir = args.dir;
    match args.command {
        LabCommand::Up(up) => {
            let opts = lab::UpOptions {
                dir: dir.clone(),
                nodes: up.nodes,
                reuse: up.reuse,
                patroni4: up.patroni4 || up.patroni == crate::cli::LabPatroni::Pypi,
                watchdog: !up.no_watchdog,
                restart: up.restart,
                data_size_mib: up.data_size,
                etcd: up.etcd,
                timeout: up.timeout.into(),
                boot_delay: up.boot_delay.into(),
                ..Default::default()
            };
            let info = lab::up(&opts).map_err(fail)?;
            eprintln!(
                "lab: {} in {:.0?}",
                if info.reused { "reused" } else { "up" },
                info.elapsed
            );
            out(&format!("{}\n", info.inventory.display()));
            Ok(ExitCode::Success)
        }
        LabCommand::Down => {
            lab::down(&dir).map_err(fail)?;
            Ok(ExitCode::Success)
        }
        LabCommand::Status => {
            let status = lab::status(&dir).map_err(fail)?;
            out(&status.to_string());
            Ok(ExitCode::Success)
        }
        LabCommand::Inventory => {
            let path = lab::inventory_path(&dir);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    fail(LabError::NotUp(dir.clone()))
                } else {
                    fail(LabError::Io {
                        what: format!("read {}", path.display()),
                        source: e,
                    })
                }
            })?;
            out(&text);
            Ok(ExitCode::Success)
        }
        LabCommand::Ssh(a) => {
            use std::os::unix::process::CommandExt;
            let mut cmd = lab::ssh_command(&dir, &a.node, &a.command).map_err(fail)?;
            // exec: the remote exit status becomes ours.
            let e = cmd.exec();
            Err(fail(LabError::Io {
                what: "run ssh".into(),
                source: e,
            }))
        }
        LabCommand::PowerOn(a) => {
            lab::power_on(&dir, &a.node).map_err(fail)?;
            Ok(ExitCode::Success)
        }
        LabCommand::PowerOff(a) => {
            lab::power_off(&dir, &a.node).map_err(fail)?;
            Ok(ExitCode::Success)
        }
        LabCommand::Reset(a) => {
            let started = std::time::Instant::now();
            let r = lab::reset(&dir, a.timeout.into(), true).map_err(fail)?;
            eprintln!("lab: reset in {:.0?}: {r}", started.elapsed());
            Ok(ExitCode::Success)
        }
        LabCommand::Keeper(a) => {
            lab::keeper(&dir, &a.node).map_err(fail)?;
            Ok(ExitCode::Success)
        }
        LabCommand::Init(a) => match lab::init(&dir, &a.node) {
            Ok(never) => match never {},
            Err(e) => Err(fail(e)),
        },
    }
}
