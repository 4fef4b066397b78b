//! The software the lab needs: Debian packages (installed with apt-get when missing, as
//! root on Debian or Ubuntu) and, with `--patroni4`, Patroni 4.x from PyPI in a venv.

use std::path::Path;
use std::process::{Command, Stdio};

use super::{LabError, run};

/// Debian packages every lab needs.
pub(crate) const PACKAGES: &[&str] = &[
    "postgresql-15",
    "patroni",
    "etcd-server",
    "haproxy",
    "pgbouncer",
    "openssh-server",
    "openssh-client",
    "iptables",
    "iproute2",
    "util-linux",
];

/// Where `--patroni4` installs Patroni: under /opt so the postgres user can read it (a venv
/// under /root fails with "Permission denied").
pub(crate) const PATRONI4_VENV: &str = "/opt/pgchaos-patroni4";

/// Paths of `patroni` and `patronictl` the lab runs.
pub(crate) fn patroni_binaries(patroni4: bool) -> (&'static str, &'static str) {
    if patroni4 {
        (
            "/opt/pgchaos-patroni4/bin/patroni",
            "/opt/pgchaos-patroni4/bin/patronictl",
        )
    } else {
        ("/usr/bin/patroni", "/usr/bin/patronictl")
    }
}

fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

fn is_debian_like() -> bool {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    text.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        (l.starts_with("id=") || l.starts_with("id_like="))
            && (l.contains("debian") || l.contains("ubuntu"))
    })
}

/// Packages missing for this lab.
pub(crate) fn missing(patroni4: bool, data_image: bool) -> Vec<String> {
    let mut wanted: Vec<&str> = PACKAGES.to_vec();
    if data_image {
        // mkfs.ext4 for the size-limited data filesystems.
        wanted.push("e2fsprogs");
    }
    if patroni4 {
        wanted.push("python3-venv");
    }
    let have_dpkg = Command::new("dpkg-query")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !have_dpkg {
        return wanted.iter().map(|s| s.to_string()).collect();
    }
    wanted
        .into_iter()
        .filter(|p| !installed(p))
        .map(str::to_owned)
        .collect()
}

/// Installs what is missing (saying so on `log`), or explains what to install.
pub(crate) fn ensure(
    patroni4: bool,
    data_image: bool,
    log: &mut dyn FnMut(&str),
) -> Result<(), LabError> {
    let missing = missing(patroni4, data_image);
    if !missing.is_empty() {
        if !is_debian_like() || !Path::new("/usr/bin/apt-get").exists() {
            return Err(LabError::MissingPackages {
                missing,
                hint: "this is not Debian or Ubuntu: install them (or their equivalents) and retry"
                    .into(),
            });
        }
        log(&format!("installing with apt-get: {}", missing.join(" ")));
        apt_install(&missing)?;
    }
    if patroni4 {
        ensure_patroni4(log)?;
    }
    Ok(())
}

/// Runs apt-get with a policy-rc.d forbidding service starts, so installing PostgreSQL,
/// etcd, HAProxy or sshd never starts them on the host itself.
fn apt_install(pkgs: &[String]) -> Result<(), LabError> {
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let ours = !policy.exists();
    if ours {
        write_executable(
            policy,
            "#!/bin/sh\n# pgchaos lab: no service starts during install\nexit 101\n",
        )?;
    }
    let result = (|| {
        let update = Command::new("apt-get")
            .args(["update", "-q"])
            .stdout(Stdio::null())
            .status()
            .map_err(|e| LabError::io("run apt-get update", e))?;
        if !update.success() {
            return Err(LabError::Install(format!(
                "apt-get update exited with {update}"
            )));
        }
        let status = Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(pkgs)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .map_err(|e| LabError::io("run apt-get install", e))?;
        if !status.success() {
            return Err(LabError::Install(format!(
                "apt-get install {} exited with {status}",
                pkgs.join(" ")
            )));
        }
        Ok(())
    })();
    if ours {
        let _ = std::fs::remove_file(policy);
    }
    result?;
    let still = missing(false, false);
    if !still.is_empty() {
        return Err(LabError::MissingPackages {
            missing: still,
            hint: "apt-get did not install them".into(),
        });
    }
    Ok(())
}

fn write_executable(path: &Path, text: &str) -> Result<(), LabError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).map_err(|e| LabError::io(format!("write {}", path.display()), e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| LabError::io(format!("chmod {}", path.display()), e))
}

/// Creates the Patroni 4 venv with Debian's python (needs python3-venv) and installs
/// Patroni from PyPI into it, unless a Patroni 4 is already there.
fn ensure_patroni4(log: &mut dyn FnMut(&str)) -> Result<(), LabError> {
    let (patroni, _) = patroni_binaries(true);
    if let Ok(v) = run(Command::new(patroni).arg("--version"))
        && v.split_whitespace()
            .nth(1)
            .is_some_and(|v| v.starts_with('4'))
    {
        return Ok(());
    }
    log(&format!(
        "installing Patroni 4 from PyPI into {PATRONI4_VENV} (pip install 'patroni[etcd3,psycopg2-binary]')"
    ));
    run(Command::new("/usr/bin/python3").args(["-m", "venv", PATRONI4_VENV]))?;
    let pip = format!("{PATRONI4_VENV}/bin/pip");
    let status = Command::new(&pip)
        .args(["install", "-q", "patroni[etcd3,psycopg2-binary]>=4,<5"])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| LabError::io("run pip install patroni", e))?;
    if !status.success() {
        return Err(LabError::Install(format!(
            "pip install patroni exited with {status}"
        )));
    }
    Ok(())
}
