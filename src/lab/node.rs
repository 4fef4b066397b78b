//! A node's life: its PID 1 (`pgchaos lab init`, inside the node's namespaces) and its
//! keeper (`pgchaos lab keeper`, on the host), which boots it, reboots it and keeps it
//! powered off on request.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::LabError;
use super::topology::{LabNode, LabState, NodeKind};

/// Files under `DIR/nodes/NAME/` that carry a node's power state.
pub(crate) mod files {
    /// Written by the node's reboot/poweroff shim: `reboot` or `poweroff`.
    pub(crate) const REQUEST: &str = "power-request";
    /// Present while the node is powered off: written by the poweroff shim or `lab
    /// power-off` before the node dies, removed by `lab power-on`.
    pub(crate) const POWERED_OFF: &str = "powered-off";
    /// Host PID of the node's init while it runs.
    pub(crate) const INIT_PID: &str = "init.pid";
    /// Host PID of the node's keeper.
    pub(crate) const KEEPER_PID: &str = "keeper.pid";
    /// Present in the lab dir while `lab down` runs: keepers must not boot nodes again.
    pub(crate) const STOPPING: &str = "stopping";
    /// The ext4 image holding a Patroni node's `/var/lib/postgresql` (size-limited).
    pub(crate) const DATA_IMAGE: &str = "data.img";
}

/// Where the node's init records a watchdog reset (`DIR/nodes/NAME/power-request`), for
/// the keeper's log; set once at boot.
static RESET_REQUEST: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// A hardware watchdog reset: PID 1 exits at once, the kernel kills every process of the
/// node, and the keeper boots it again after the boot delay (no power-off flag is set).
fn watchdog_reset(why: &str) -> ! {
    if let Some(p) = RESET_REQUEST.get() {
        let _ = std::fs::write(p, format!("watchdog reset: {why}\n"));
    }
    eprintln!("{}: reset by its watchdog: {why}", stamp());
    std::process::exit(0)
}

/// Paths bind-mounted from `DIR/nodes/NAME/fs/SOURCE` over the node's TARGET.
pub(crate) const NODE_MOUNTS: &[(&str, &str)] = &[
    ("log", "/var/log"),
    ("postgresql", "/var/lib/postgresql"),
    ("etcd", "/var/lib/etcd"),
    ("patroni", "/etc/patroni"),
    ("haproxy", "/etc/haproxy"),
    ("pgbouncer", "/etc/pgbouncer"),
    ("default-etcd", "/etc/default/etcd"),
    // Root's home: the host's dotfiles (PATH, history) must not leak into nodes.
    ("root", "/root"),
];

/// The PATH every process of a node starts with.
const NODE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// PID 1 of a node. Runs inside fresh PID, mount and UTS namespaces (and the node's
/// network namespace): sets the hostname, gives the node its own view of the filesystem,
/// starts sshd and the enabled services, then reaps orphans until SIGTERM, when it exits
/// and the kernel kills every process of the node at once.
pub fn init(dir: &Path, name: &str) -> Result<std::convert::Infallible, LabError> {
    // Everything below rewrites mounts: never do it outside a node's own namespaces.
    if std::process::id() != 1 {
        return Err(LabError::BadOption(
            "`pgchaos lab init` is internal: it only runs as PID 1 of a lab node".into(),
        ));
    }
    let state = LabState::load(dir)?;
    let node = state.node(name)?.clone();
    let nd = state.node_dir(name);

    nix::unistd::sethostname(name).map_err(errno("set the hostname"))?;
    let data_on_image = mount_node_filesystems(dir, &nd)?;
    let postgres = nix::unistd::User::from_name("postgres").ok().flatten();
    make_run_dirs(postgres.as_ref(), data_on_image)?;
    let _ = std::fs::remove_file(nd.join(files::REQUEST));
    let set = block_signals()?;

    // The watchdog device, before any service that may open it (its thread inherits the
    // blocked signals, so they still all reach the loop below).
    if state.watchdog && matches!(node.kind, NodeKind::Patroni | NodeKind::Spare) {
        let _ = RESET_REQUEST.set(nd.join(files::REQUEST));
        super::watchdog::start(postgres.as_ref(), watchdog_reset)
            .map_err(|e| LabError::io("create the watchdog device", e))?;
    }
    start_services(&nd, &node)?;

    loop {
        match set.wait() {
            Ok(nix::sys::signal::SIGCHLD) => reap_all(),
            Ok(sig) => {
                eprintln!("{}: {sig} received, powering off", node.name);
                std::process::exit(0);
            }
            Err(_) => {}
        }
    }
}

/// Makes the node's mounts private, gives it its own `/run` and `/tmp`, mounts its data
/// filesystem (when it has one) and bind-mounts its directories and the lab's shims;
/// returns whether PostgreSQL's data is on the node's own filesystem image.
fn mount_node_filesystems(dir: &Path, nd: &Path) -> Result<bool, LabError> {
    use nix::mount::{MsFlags, mount};

    // Mounts must not propagate back to the host.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(errno("make mounts private"))?;
    for (target, opts) in [("/run", "mode=0755"), ("/tmp", "mode=1777")] {
        mount(
            Some("tmpfs"),
            target,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(opts),
        )
        .map_err(errno(format!("mount a tmpfs on {target}")))?;
    }
    // A Patroni node's PostgreSQL data lives on its own size-limited filesystem, mounted
    // in this node's mount namespace only (a loop device is released when the node dies).
    let image = nd.join(files::DATA_IMAGE);
    let data_on_image = image.exists();
    if data_on_image {
        super::run(
            Command::new("mount")
                .args(["-t", "ext4", "-o", "loop,noatime"])
                .arg(&image)
                .arg("/var/lib/postgresql"),
        )?;
    }
    let mut binds: Vec<(PathBuf, PathBuf)> = NODE_MOUNTS
        .iter()
        .filter(|(src, _)| !(data_on_image && *src == "postgresql"))
        .map(|(src, dst)| (nd.join("fs").join(src), PathBuf::from(dst)))
        .collect();
    binds.push((dir.join("shims"), "/usr/local/sbin".into()));
    binds.push((dir.join("shims/systemctl"), "/usr/bin/systemctl".into()));
    for (src, dst) in &binds {
        if !dst.exists() || !src.exists() {
            continue;
        }
        mount(
            Some(src.as_path()),
            dst.as_path(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(errno(format!(
            "bind-mount {} on {}",
            src.display(),
            dst.display()
        )))?;
    }
    Ok(data_on_image)
}

/// The runtime directories the node's services expect, owned as Debian's packages own them.
fn make_run_dirs(
    postgres: Option<&nix::unistd::User>,
    data_on_image: bool,
) -> Result<(), LabError> {
    for (path, mode, owner) in [
        ("/run/sshd", 0o755, None),
        ("/run/pgchaos-svc", 0o755, None),
        ("/run/postgresql", 0o2775, postgres),
        ("/run/lock", 0o1777, None),
    ] {
        mkdir(Path::new(path), mode)?;
        if let Some(u) = owner {
            let _ = nix::unistd::chown(path, Some(u.uid), Some(u.gid));
        }
    }
    if data_on_image && let Some(u) = postgres {
        let v15 = Path::new("/var/lib/postgresql/15");
        mkdir(v15, 0o755)?;
        let _ = nix::unistd::chown(v15, Some(u.uid), Some(u.gid));
    }
    Ok(())
}

/// Blocks the signals PID 1 acts on, to be taken with `sigwait`: PID 1 only receives signals
/// it has a handler for, so each gets one that does nothing; reaping and shutdown then
/// happen in one loop.
fn block_signals() -> Result<nix::sys::signal::SigSet, LabError> {
    use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};

    extern "C" fn noop(_: libc::c_int) {}
    let mut set = SigSet::empty();
    for sig in [
        nix::sys::signal::SIGTERM,
        nix::sys::signal::SIGINT,
        nix::sys::signal::SIGHUP,
        nix::sys::signal::SIGCHLD,
    ] {
        let action = nix::sys::signal::SigAction::new(
            nix::sys::signal::SigHandler::Handler(noop),
            nix::sys::signal::SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        // SAFETY: installing a handler that does nothing.
        unsafe { nix::sys::signal::sigaction(sig, &action) }
            .map_err(errno("install signal handlers"))?;
        set.add(sig);
    }
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None).map_err(errno("block signals"))?;
    Ok(set)
}

/// Starts sshd and the node's enabled services (a co-located etcd member first).
fn start_services(nd: &Path, node: &LabNode) -> Result<(), LabError> {
    let log = |file: &str| -> Stdio {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(Path::new("/var/log").join(file))
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::null())
    };
    let sshd_config = nd.join("ssh/sshd_config");
    let mut sshd = Command::new("/usr/sbin/sshd");
    sshd.args(["-D", "-e", "-f"])
        .arg(&sshd_config)
        .stderr(log("sshd.log"));
    spawn_in_node(&mut sshd, "sshd")?;
    let mut enabled: Vec<String> = std::fs::read_dir(nd.join("enabled"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    // A co-located etcd member first: Patroni needs its DCS.
    enabled.sort_by_key(|s| (s != "etcd", s.clone()));
    if !enabled.is_empty() {
        let mut boot = Command::new("/bin/sh");
        boot.arg("-c")
            .arg("for s in \"$@\"; do systemctl start \"$s\"; done")
            .arg("boot")
            .args(&enabled)
            .stdout(log("boot.log"))
            .stderr(log("boot.log"));
        spawn_in_node(&mut boot, "the enabled services")?;
    }
    eprintln!(
        "{} booted ({}), services: {}",
        node.name,
        node.ip,
        enabled.join(" ")
    );
    Ok(())
}

/// Maps a failed system call to a `LabError` saying what was being done.
fn errno(what: impl Into<String>) -> impl Fn(nix::errno::Errno) -> LabError {
    let what = what.into();
    move |e| LabError::io(what.clone(), std::io::Error::from(e))
}

fn reap_all() {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}

fn mkdir(path: &Path, mode: u32) -> Result<(), LabError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path)
        .map_err(|e| LabError::io(format!("create {}", path.display()), e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| LabError::io(format!("chmod {}", path.display()), e))
}

/// Spawns a process of the node with an empty signal mask and a clean environment.
fn spawn_in_node(cmd: &mut Command, what: &str) -> Result<(), LabError> {
    use std::os::unix::process::CommandExt;
    cmd.env_clear()
        .env("PATH", NODE_PATH)
        .env("LANG", "C.UTF-8")
        .env("HOME", "/root")
        .stdin(Stdio::null())
        .current_dir("/");
    // SAFETY: sigprocmask is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let empty = nix::sys::signal::SigSet::empty();
            nix::sys::signal::sigprocmask(
                nix::sys::signal::SigmaskHow::SIG_SETMASK,
                Some(&empty),
                None,
            )
            .map_err(std::io::Error::from)
        });
    }
    // Not waited for here: PID 1 reaps every child in its loop.
    cmd.spawn()
        .map(drop)
        .map_err(|e| LabError::io(format!("start {what}"), e))
}

/// Why a node's init ended.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    Reboot,
    PowerOff,
    LabStopping,
}

/// The keeper of one node: boots it, and when its init ends, boots it again after the
/// boot delay (reboot, or an unexplained death) or waits for `lab power-on` (poweroff,
/// `lab power-off`). Exits when `lab down` runs.
pub fn keeper(dir: &Path, name: &str) -> Result<(), LabError> {
    let state = LabState::load(dir)?;
    let node = state.node(name)?.clone();
    let nd = state.node_dir(name);
    std::fs::write(nd.join(files::KEEPER_PID), std::process::id().to_string())
        .map_err(|e| LabError::io("write the keeper's pid file", e))?;
    let stopping = || dir.join(files::STOPPING).exists();
    let mut exe = state.exe.clone();
    if !exe.exists() {
        exe =
            std::env::current_exe().map_err(|e| LabError::io("find the pgchaos executable", e))?;
    }
    loop {
        // Powered off: wait for `lab power-on` (or `lab down`).
        while nd.join(files::POWERED_OFF).exists() {
            if stopping() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        if stopping() {
            return Ok(());
        }
        let _ = std::fs::remove_file(nd.join(files::REQUEST));
        eprintln!("{}: booting", stamp());
        let console = OpenOptions::new()
            .create(true)
            .append(true)
            .open(nd.join("console.log"))
            .map_err(|e| LabError::io("open the node's console log", e))?;
        let console2 = console
            .try_clone()
            .map_err(|e| LabError::io("open the node's console log", e))?;
        let mut child = Command::new("ip")
            .args(["netns", "exec", &node.netns()])
            .args([
                "unshare",
                "--pid",
                "--fork",
                "--mount-proc",
                "--uts",
                "--mount",
                "--",
            ])
            .arg(&exe)
            .arg("lab")
            .arg("--dir")
            .arg(dir)
            .args(["init", name])
            .env_clear()
            .env("PATH", NODE_PATH)
            .envs(
                ["PGCHAOS_LAB_PREFIX", "PGCHAOS_LAB_SUBNET"]
                    .iter()
                    .filter_map(|k| std::env::var_os(k).map(|v| (*k, v))),
            )
            .stdin(Stdio::null())
            .stdout(console)
            .stderr(console2)
            .spawn()
            .map_err(|e| LabError::io(format!("boot {name}"), e))?;
        // `ip netns exec` execs unshare, whose only child is the node's init.
        if let Some(pid) = child_of(child.id(), Duration::from_secs(10)) {
            let _ = std::fs::write(nd.join(files::INIT_PID), pid.to_string());
        }
        let status = child
            .wait()
            .map_err(|e| LabError::io(format!("wait for {name}"), e))?;
        let request = std::fs::read_to_string(nd.join(files::REQUEST)).unwrap_or_default();
        let ending = if stopping() {
            Ending::LabStopping
        } else if nd.join(files::POWERED_OFF).exists() {
            // Set by the poweroff shim or `lab power-off` before the node died; only
            // `lab power-on` removes it (if it already did, the node boots again).
            Ending::PowerOff
        } else {
            Ending::Reboot
        };
        // Only now that the ending is decided: `lab power-off` waits for this, so a
        // `lab power-on` right after it can never be taken for a reboot.
        let _ = std::fs::remove_file(nd.join(files::INIT_PID));
        eprintln!(
            "{}: init ended ({status}), request {:?}: {ending:?}",
            stamp(),
            request.trim()
        );
        if ending == Ending::LabStopping {
            return Ok(());
        }
        // A power cycle loses every rule that was not persisted. This is the node's own
        // network namespace, never the host's.
        flush_iptables(&node.netns());
        if ending == Ending::PowerOff {
            continue;
        }
        // The node stays down for a while, as a real machine does when it reboots.
        let until = Instant::now() + state.boot_delay;
        while Instant::now() < until && !stopping() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn stamp() -> String {
    chrono::Local::now().format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The first child of `pid`, waiting up to `timeout` for it to appear.
fn child_of(pid: u32, timeout: Duration) -> Option<u32> {
    let deadline = Instant::now() + timeout;
    let path = format!("/proc/{pid}/task/{pid}/children");
    loop {
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Some(c) = text.split_whitespace().next().and_then(|c| c.parse().ok()) {
                return Some(c);
            }
        } else {
            return None;
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Resets every iptables table of network namespace `ns` to empty, accept-all chains.
pub(crate) fn flush_iptables(ns: &str) {
    for (bin, tables) in [
        ("iptables-restore", &["filter", "nat", "mangle", "raw"][..]),
        ("ip6tables-restore", &["filter", "nat", "mangle", "raw"][..]),
    ] {
        let mut rules = String::new();
        for t in tables {
            let chains: &[&str] = match *t {
                "filter" => &["INPUT", "FORWARD", "OUTPUT"],
                "nat" => &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
                "mangle" => &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
                _ => &["PREROUTING", "OUTPUT"],
            };
            rules.push_str(&format!("*{t}\n"));
            for c in chains {
                rules.push_str(&format!(":{c} ACCEPT [0:0]\n"));
            }
            rules.push_str("COMMIT\n");
        }
        let child = Command::new("ip")
            .args(["netns", "exec", ns, bin])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Ok(mut child) = child {
            if let Some(mut stdin) = child.stdin.take() {
                use std::io::Write;
                let _ = stdin.write_all(rules.as_bytes());
            }
            let _ = child.wait();
        }
    }
}

/// Boots node `name` again after `lab power-off` or a poweroff.
pub fn power_on(dir: &Path, name: &str) -> Result<(), LabError> {
    let state = LabState::load(dir)?;
    state.node(name)?;
    let nd = state.node_dir(name);
    match std::fs::remove_file(nd.join(files::POWERED_OFF)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(LabError::io("remove the powered-off flag", e)),
    }
    if !super::procs::keeper_running(dir, name) {
        return Err(LabError::NotUp(dir.to_owned()));
    }
    // Return once the node's init runs (the keeper polls the flag every 200 ms).
    let deadline = Instant::now() + Duration::from_secs(15);
    while init_pid(&nd).is_none() {
        if Instant::now() > deadline {
            return Err(LabError::Timeout {
                what: format!("{name} to boot"),
                last: "its init did not start".into(),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Cuts node `name`'s power: SIGKILL to its init, from the host.
pub fn power_off(dir: &Path, name: &str) -> Result<(), LabError> {
    let state = LabState::load(dir)?;
    state.node(name)?;
    let nd = state.node_dir(name);
    std::fs::write(nd.join(files::POWERED_OFF), "")
        .map_err(|e| LabError::io("write the powered-off flag", e))?;
    if let Some(pid) = init_pid(&nd) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        // Wait for the keeper to see the node end (it removes the pid file once it has
        // decided that this is a power-off): the node's namespaces, its data filesystem
        // included, are gone by then.
        let deadline = Instant::now() + Duration::from_secs(30);
        let pid_text = pid.to_string();
        while std::fs::read_to_string(nd.join(files::INIT_PID)).is_ok_and(|t| t.trim() == pid_text)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(())
}

/// The host PID of the node's running init, if any (checked against its command line,
/// so a recycled PID is never signalled).
pub(crate) fn init_pid(nd: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(nd.join(files::INIT_PID))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let args = super::procs::cmdline(pid)?;
    (args.iter().any(|a| a == "init")).then_some(pid)
}

/// Whether node `name` is powered off (by `poweroff` or `lab power-off`).
pub fn is_powered_off(dir: &Path, name: &str) -> bool {
    dir.join("nodes")
        .join(name)
        .join(files::POWERED_OFF)
        .exists()
}
