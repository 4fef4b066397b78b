//! Finding the lab's own processes (keepers and node inits) by their command line, so
//! that `lab down` cleans up even after a `lab up` killed before it recorded anything.

use std::path::Path;

/// The arguments of process `pid`.
pub(crate) fn cmdline(pid: i32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    if raw.is_empty() {
        return None;
    }
    Some(
        raw.split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
    )
}

/// A lab process: `pgchaos lab --dir DIR keeper|init NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LabProcess {
    pub pid: i32,
    pub role: String,
    pub node: String,
}

/// Parses a lab process's arguments: returns (dir, role, node).
fn parse(args: &[String]) -> Option<(&str, &str, &str)> {
    let lab = args.iter().position(|a| a == "lab")?;
    let rest = &args[lab + 1..];
    if rest.len() < 4 || rest[0] != "--dir" {
        return None;
    }
    let role = rest[2].as_str();
    if role != "keeper" && role != "init" {
        return None;
    }
    Some((rest[1].as_str(), role, rest[3].as_str()))
}

/// Every keeper and init of the lab in `dir`.
pub(crate) fn lab_processes(dir: &Path) -> Vec<LabProcess> {
    let dir = dir.to_string_lossy();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    for entry in rd.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Some(args) = cmdline(pid) else { continue };
        if let Some((d, role, node)) = parse(&args)
            && d == dir
        {
            out.push(LabProcess {
                pid,
                role: role.to_owned(),
                node: node.to_owned(),
            });
        }
    }
    out
}

/// Whether the keeper of `node` runs.
pub(crate) fn keeper_running(dir: &Path, node: &str) -> bool {
    lab_processes(dir)
        .iter()
        .any(|p| p.role == "keeper" && p.node == node)
}

/// Whether process `pid` exists (zombies count as gone).
pub(crate) fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next())
            .is_some_and(|s| s != 'Z' && s != 'X'),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lab_command_lines() {
        let v = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            parse(&v("/usr/bin/pgchaos lab --dir /d keeper pg1")),
            Some(("/d", "keeper", "pg1"))
        );
        assert_eq!(
            parse(&v("unshare --pid -- /x/pgchaos lab --dir /d init etcd1")),
            Some(("/d", "init", "etcd1"))
        );
        assert_eq!(parse(&v("/usr/bin/pgchaos lab --dir /d up")), None);
        assert_eq!(parse(&v("vim lab")), None);
    }
}
