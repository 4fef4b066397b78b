//! The local lab: a real Patroni cluster on this machine, one network, PID, mount and UTS
//! namespace per node, each node reachable over real SSH. See docs/lab.md.
//!
//! Layout: [`topology`] (nodes, addresses, `DIR/lab.json`), [`net`] (bridge, namespaces,
//! veths), [`packages`] (apt-get, the Patroni 4 venv), `config` (every file written,
//! including the shims standing in for systemd inside nodes), [`node`] (a node's PID 1
//! and its keeper on the host), [`cluster`] (readiness and status from the REST API).

pub mod cluster;
mod config;
pub(crate) mod net;
pub(crate) mod node;
pub(crate) mod packages;
mod procs;
mod reset;
pub(crate) mod topology;
mod watchdog;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use cluster::{NodePower, Readiness, Status};

pub use node::{init, is_powered_off, keeper, power_off, power_on};
pub(crate) use reset::reset;
pub use topology::{DcsTimings, EtcdPlacement, LabNode, LabState, NodeKind, RestartPolicy};

use config::secret_files;
use node::files;

/// The lab directory used when none is given.
pub const DEFAULT_DIR: &str = "/var/lib/pgchaos-lab";
/// Marks a directory as a lab's, so `lab down` never deletes anything else.
const MARKER: &str = ".pgchaos-lab";

/// Why a lab command failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LabError {
    /// Not running as root.
    #[error(
        "pgchaos lab must run as root: it creates network namespaces, a bridge and veth pairs, and runs PostgreSQL, etcd and HAProxy as their own users"
    )]
    NotRoot,
    /// Not Linux.
    #[error("pgchaos lab needs Linux (network, PID and mount namespaces)")]
    NotLinux,
    /// Packages are missing and cannot be installed here.
    #[error("failed to find the packages the lab needs: {} ({hint})", missing.join(" "))]
    MissingPackages {
        /// Missing packages.
        missing: Vec<String>,
        /// What to do.
        hint: String,
    },
    /// Installing packages failed.
    #[error("failed to install the lab's packages: {0}")]
    Install(String),
    /// The lab's subnet is used on this host.
    #[error(
        "failed to reserve the lab subnet {subnet}: the host already uses it ({by}); set PGCHAOS_LAB_SUBNET to another /24"
    )]
    SubnetInUse {
        /// The subnet.
        subnet: String,
        /// What uses it.
        by: String,
    },
    /// A lab is already up.
    #[error("a lab is already up in {0} (use --reuse to reuse it, or `pgchaos lab down`)")]
    AlreadyUp(PathBuf),
    /// No lab is up.
    #[error("no lab is up in {0} (run `pgchaos lab up`)")]
    NotUp(PathBuf),
    /// Unknown node name.
    #[error("unknown lab node {node:?} (nodes: {})", known.join(", "))]
    UnknownNode {
        /// The name given.
        node: String,
        /// The lab's nodes.
        known: Vec<String>,
    },
    /// A bad option or directory.
    #[error("{0}")]
    BadOption(String),
    /// The directory holds something that is not a lab.
    #[error("failed to use {dir} as the lab directory: {reason}")]
    BadDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
    /// A command failed.
    #[error("failed to run `{command}`: {message}")]
    Command {
        /// The command line.
        command: String,
        /// Exit status and standard error.
        message: String,
    },
    /// An I/O error.
    #[error("failed to {what}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// `DIR/lab.json` is unreadable.
    #[error("failed to read the lab state {path}: {message}")]
    State {
        /// The file.
        path: PathBuf,
        /// The parse error.
        message: String,
    },
    /// Something did not happen in time.
    #[error("timed out waiting for {what} (last seen: {last})")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The last observation.
        last: String,
    },
    /// Links could not be removed.
    #[error("failed to remove every lab link: left {0}")]
    Leftovers(String),
}

impl LabError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        LabError::Io {
            what: what.into(),
            source,
        }
    }
}

/// Runs a command, returning its standard output, or an error with its standard error.
pub(crate) fn run(cmd: &mut Command) -> Result<String, LabError> {
    let line = format!(
        "{} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError::Command {
            command: line.clone(),
            message: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(LabError::Command {
            command: line,
            message: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// How long a rebooted lab node stays down: longer than the TTL, like real hardware.
pub(crate) const DEFAULT_BOOT_DELAY: Duration = Duration::from_secs(30);

/// Default size of each Patroni node's PostgreSQL filesystem: room for the lab's data and
/// WAL (`wal_keep_size` 128 MB), small enough that filling it is quick.
pub(crate) const DEFAULT_DATA_SIZE_MIB: u64 = 4096;

/// Options of `lab up`.
#[derive(Clone, Debug)]
pub(crate) struct UpOptions {
    /// Lab directory.
    pub dir: PathBuf,
    /// Patroni members (a spare node is added).
    pub nodes: usize,
    /// Reuse a lab that is up instead of failing.
    pub reuse: bool,
    /// Patroni 4.x from PyPI (the default) instead of Debian's 3.0.
    pub patroni4: bool,
    /// A watchdog device on every Patroni node, and Patroni's `watchdog.mode: required`.
    pub watchdog: bool,
    /// Whether services that die come back by themselves, as their units say.
    pub restart: RestartPolicy,
    /// Size in MiB of each Patroni node's PostgreSQL filesystem (0: unlimited).
    pub data_size_mib: u64,
    /// Where etcd runs.
    pub etcd: EtcdPlacement,
    /// Time allowed for the cluster to form.
    pub timeout: Duration,
    /// Time a rebooted node stays down.
    pub boot_delay: Duration,
    /// Patroni's DCS timings.
    pub timings: DcsTimings,
    /// Print progress on standard error.
    pub progress: bool,
}

impl Default for UpOptions {
    fn default() -> Self {
        Self {
            dir: PathBuf::from(DEFAULT_DIR),
            nodes: 3,
            reuse: false,
            // Current upstream Patroni: Debian 12's 3.0.2 has bugs fixed in 3.0.3 that the
            // seed matrix catches (see scenarios/README.md); it is one option away.
            patroni4: true,
            // As production clusters should be: a watchdog, and Debian's units.
            watchdog: true,
            restart: RestartPolicy::Debian,
            data_size_mib: DEFAULT_DATA_SIZE_MIB,
            etcd: EtcdPlacement::Separate,
            timeout: Duration::from_secs(180),
            // A real server takes longer to reboot than Patroni's TTL (20 s here): a node
            // back within the TTL would still hold its own leader key and no failover would
            // follow, which is not what a reboot does to a production primary.
            boot_delay: DEFAULT_BOOT_DELAY,
            timings: DcsTimings::default(),
            progress: true,
        }
    }
}

impl UpOptions {
    /// Options building a lab of the same shape as `state` (size, Patroni, watchdog,
    /// restart policy, data size, timings).
    pub(crate) fn like(state: &LabState) -> Self {
        Self {
            dir: state.dir.clone(),
            nodes: state.patroni_nodes,
            patroni4: state.patroni4,
            watchdog: state.watchdog,
            restart: state.restart,
            data_size_mib: state.data_size_mib,
            etcd: if state.etcd_colocated {
                EtcdPlacement::Colocated
            } else {
                EtcdPlacement::Separate
            },
            boot_delay: state.boot_delay,
            timings: state.timings,
            ..Self::default()
        }
    }
}

/// A lab that is up.
#[derive(Clone, Debug)]
pub(crate) struct LabInfo {
    /// Its inventory file.
    pub inventory: PathBuf,
    /// An existing lab was reused.
    pub reused: bool,
    /// Time `up` took.
    pub elapsed: Duration,
}

/// The inventory file of the lab in `dir`.
pub fn inventory_path(dir: &Path) -> PathBuf {
    absolute(dir).join("inventory.yml")
}

/// Whether a lab is up in `dir` (its keepers run).
pub(crate) fn is_up(dir: &Path) -> bool {
    procs::lab_processes(&absolute(dir))
        .iter()
        .any(|p| p.role == "keeper")
}

fn absolute(dir: &Path) -> PathBuf {
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned())
}

fn check_platform() -> Result<(), LabError> {
    if !cfg!(target_os = "linux") {
        return Err(LabError::NotLinux);
    }
    if !nix::unistd::geteuid().is_root() {
        return Err(LabError::NotRoot);
    }
    Ok(())
}

/// An exclusive lock held while the lab is built or removed.
struct Lock(#[allow(dead_code)] std::fs::File);

fn lock() -> Result<Lock, LabError> {
    // One lock per prefix: labs with different prefixes never share a name.
    let lock_file = format!("/run/pgchaos-lab-{}lock", topology::prefix());
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_file)
        .map_err(|e| LabError::io(format!("open {lock_file}"), e))?;
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(LabError::io(
            "lock the lab",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(Lock(f))
}

/// Directories a node replaces with its own: a lab directory under them would be hidden
/// from the node's shims and sshd.
const HIDDEN_IN_NODES: &[&str] = &[
    "/run",
    "/var/run",
    "/tmp",
    "/var/log",
    "/var/lib/postgresql",
    "/var/lib/etcd",
    "/etc/patroni",
    "/etc/haproxy",
    "/etc/pgbouncer",
    "/usr/local/sbin",
    "/root",
];

fn check_dir(dir: &Path) -> Result<(), LabError> {
    if let Some(h) = HIDDEN_IN_NODES.iter().find(|h| dir.starts_with(h)) {
        return Err(LabError::BadDir {
            dir: dir.to_owned(),
            reason: format!(
                "nodes mount their own {h}, so they would not see it; pick another directory"
            ),
        });
    }
    if dir.exists() && !dir.join(MARKER).exists() {
        let empty = std::fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty {
            return Err(LabError::BadDir {
                dir: dir.to_owned(),
                reason: "it exists, is not empty and is not a lab directory".into(),
            });
        }
    }
    Ok(())
}

fn say(opts: &UpOptions, msg: &str) {
    if opts.progress {
        eprintln!("lab: {msg}");
    }
}

/// Builds and starts the lab, then waits for one leader and N-1 streaming replicas (and
/// HAProxy routing writes to the leader). A lab already up is an error unless
/// `opts.reuse`; leftovers of a dead lab are cleaned first.
pub(crate) fn up(opts: &UpOptions) -> Result<LabInfo, LabError> {
    let started = Instant::now();
    check_platform()?;
    let dir = absolute(&opts.dir);
    check_dir(&dir)?;
    let _lock = lock()?;
    if is_up(&dir) {
        if !opts.reuse {
            return Err(LabError::AlreadyUp(dir));
        }
        let state = LabState::load(&dir)?;
        let have = shape(&UpOptions::like(&state));
        let want = shape(opts);
        if have != want {
            return Err(LabError::BadOption(format!(
                "the lab in {} is {have}, not {want}; run `pgchaos lab down` first to change that",
                dir.display(),
            )));
        }
        for n in &state.nodes {
            if is_powered_off(&dir, &n.name) {
                say(opts, &format!("powering {} on", n.name));
                power_on(&dir, &n.name)?;
            }
        }
        wait_ready(&state, opts)?;
        return Ok(LabInfo {
            inventory: inventory_path(&dir),
            reused: true,
            elapsed: started.elapsed(),
        });
    }
    if dir.join(MARKER).exists()
        || !net::lab_namespaces()?.is_empty()
        || !net::lab_links()?.is_empty()
    {
        say(opts, "cleaning a stale lab left by an earlier run");
        down_locked(&dir)?;
    }
    packages::ensure(opts.patroni4, opts.data_size_mib > 0, &mut |m| say(opts, m))?;

    let exe =
        std::env::current_exe().map_err(|e| LabError::io("find the pgchaos executable", e))?;
    let subnet = match std::env::var("PGCHAOS_LAB_SUBNET") {
        Ok(s) => topology::parse_subnet(&s)?,
        Err(_) => topology::DEFAULT_SUBNET,
    };
    let mut state = LabState::plan(&dir, &exe, subnet, opts.nodes, opts.patroni4)?;
    state.boot_delay = opts.boot_delay;
    state.timings = opts.timings;
    state.watchdog = opts.watchdog;
    state.restart = opts.restart;
    state.data_size_mib = opts.data_size_mib;
    if opts.etcd == EtcdPlacement::Colocated {
        state.colocate_etcd();
    }
    let t = state.timings;
    if t.loop_wait + 2 * t.retry_timeout > t.ttl {
        return Err(LabError::BadOption(format!(
            "DCS timings must keep loop_wait + 2*retry_timeout <= ttl (got {t:?})"
        )));
    }
    net::check_subnet_free(&state)?;

    say(opts, &format!("writing the lab into {}", dir.display()));
    mkdir(&dir, 0o755)?;
    write(
        &dir.join(MARKER),
        "pgchaos lab directory: `pgchaos lab down` deletes it\n",
        0o644,
    )?;
    state.save()?;
    write_files(&state)?;

    say(
        opts,
        &format!(
            "creating the network {} (bridge {})",
            state.cidr(),
            topology::bridge()
        ),
    );
    net::create(&state)?;

    say(opts, "booting the nodes");
    for n in &state.nodes {
        spawn_keeper(&state, &n.name)?;
    }
    say(opts, "waiting for a leader and streaming replicas");
    wait_ready(&state, opts)?;
    Ok(LabInfo {
        inventory: inventory_path(&dir),
        reused: false,
        elapsed: started.elapsed(),
    })
}

/// A lab's shape as `lab up` options say it, to compare a lab that is up with a request.
fn shape(o: &UpOptions) -> String {
    format!(
        "{} Patroni nodes, {}, {}, restart {}, data {}, etcd {}",
        o.nodes,
        if o.patroni4 {
            "Patroni 4 (pypi)"
        } else {
            "Debian's Patroni"
        },
        if o.watchdog {
            "watchdog"
        } else {
            "no watchdog"
        },
        match o.restart {
            RestartPolicy::Debian => "debian",
            RestartPolicy::No => "no",
        },
        if o.data_size_mib == 0 {
            "unlimited".to_owned()
        } else {
            format!("{} MiB", o.data_size_mib)
        },
        match o.etcd {
            EtcdPlacement::Separate => "separate",
            EtcdPlacement::Colocated => "colocated",
        }
    )
}

fn wait_ready(state: &LabState, opts: &UpOptions) -> Result<Readiness, LabError> {
    let deadline = Instant::now() + opts.timeout;
    let mut last = Readiness::default();
    loop {
        let r = cluster::readiness(state);
        if r.ready(state.patroni_nodes) {
            say(opts, &format!("ready: {r}"));
            return Ok(r);
        }
        if r != last {
            say(opts, &r.to_string());
            last = r;
        }
        if Instant::now() > deadline {
            return Err(LabError::Timeout {
                what: format!(
                    "a leader and {} streaming replicas (see {}/nodes/*/fs/log/)",
                    state.patroni_nodes - 1,
                    state.dir.display()
                ),
                last: last.to_string(),
            });
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn spawn_keeper(state: &LabState, name: &str) -> Result<(), LabError> {
    use std::os::unix::process::CommandExt;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state.node_dir(name).join("keeper.log"))
        .map_err(|e| LabError::io("open the keeper log", e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| LabError::io("open the keeper log", e))?;
    let mut cmd = Command::new(&state.exe);
    cmd.arg("lab")
        .arg("--dir")
        .arg(&state.dir)
        .args(["keeper", name])
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("LANG", "C.UTF-8")
        .current_dir("/")
        // The keeper names the node's namespace from the same prefix as this lab.
        .envs(
            ["PGCHAOS_LAB_PREFIX", "PGCHAOS_LAB_SUBNET"]
                .iter()
                .filter_map(|k| std::env::var_os(k).map(|v| (*k, v))),
        )
        // Detached: its own session, and never the caller's stdout/stderr (a caller
        // capturing `lab up`'s output would otherwise wait for the keepers forever).
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
    cmd.spawn()
        .map(drop)
        .map_err(|e| LabError::io(format!("start the keeper of {name}"), e))
}

fn mkdir(path: &Path, mode: u32) -> Result<(), LabError> {
    std::fs::create_dir_all(path)
        .map_err(|e| LabError::io(format!("create {}", path.display()), e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| LabError::io(format!("chmod {}", path.display()), e))
}

fn write(path: &Path, text: &str, mode: u32) -> Result<(), LabError> {
    std::fs::write(path, text).map_err(|e| LabError::io(format!("write {}", path.display()), e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| LabError::io(format!("chmod {}", path.display()), e))
}

fn chown(path: &Path, user: &str) -> Result<(), LabError> {
    let u = nix::unistd::User::from_name(user)
        .ok()
        .flatten()
        .ok_or_else(|| LabError::MissingPackages {
            missing: vec![format!("user {user}")],
            hint: "its package creates it".into(),
        })?;
    nix::unistd::chown(path, Some(u.uid), Some(u.gid))
        .map_err(|e| LabError::io(format!("chown {}", path.display()), e.into()))
}

/// A sparse ext4 image of `mib` MiB whose root belongs to postgres: the node's init
/// loop-mounts it on its `/var/lib/postgresql`, so a full disk there is a real one.
fn make_data_image(path: &Path, mib: u64) -> Result<(), LabError> {
    let f = std::fs::File::create(path)
        .map_err(|e| LabError::io(format!("create {}", path.display()), e))?;
    f.set_len(mib * 1024 * 1024)
        .map_err(|e| LabError::io(format!("size {}", path.display()), e))?;
    drop(f);
    let u = nix::unistd::User::from_name("postgres")
        .ok()
        .flatten()
        .ok_or_else(|| LabError::MissingPackages {
            missing: vec!["user postgres".into()],
            hint: "its package creates it".into(),
        })?;
    // No blocks reserved for root: PostgreSQL (not root) should meet the real limit.
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-m", "0", "-L", "pgdata", "-E"])
        .arg(format!("root_owner={}:{}", u.uid, u.gid))
        .arg(path))
    .map(drop)
}

fn password() -> Result<String, LabError> {
    use std::io::Read;
    let mut raw = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut raw))
        .map_err(|e| LabError::io("read /dev/urandom", e))?;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    Ok(raw
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect())
}

fn keygen(path: &Path, comment: &str) -> Result<String, LabError> {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path))?;
    let public = path.with_extension("pub");
    std::fs::read_to_string(&public)
        .map_err(|e| LabError::io(format!("read {}", public.display()), e))
}

/// Writes every file of the lab: secrets, keys, shims, per-node configuration.
fn write_files(state: &LabState) -> Result<(), LabError> {
    let dir = &state.dir;
    let secrets = dir.join("secrets");
    mkdir(&secrets, 0o700)?;
    let pw = config::Passwords {
        rest: password()?,
        superuser: password()?,
        replication: password()?,
        rewind: password()?,
    };
    for (file, value) in [
        (secret_files::REST, &pw.rest),
        (secret_files::SUPERUSER, &pw.superuser),
        (secret_files::REPLICATION, &pw.replication),
        (secret_files::REWIND, &pw.rewind),
    ] {
        write(&secrets.join(file), &format!("{value}\n"), 0o600)?;
    }

    let ssh = dir.join("ssh");
    mkdir(&ssh, 0o755)?;
    let public = keygen(&ssh.join("id_ed25519"), "pgchaos-lab")?;
    write(&ssh.join("authorized_keys"), &public, 0o644)?;
    write(&ssh.join("ssh_config"), &config::ssh_config(state), 0o644)?;

    let shims = dir.join("shims");
    mkdir(&shims, 0o755)?;
    for shim in config::shims(state) {
        write(&shims.join(shim.name), &shim.text, 0o755)?;
    }

    let mut known_hosts = String::new();
    for n in &state.nodes {
        let nd = state.node_dir(&n.name);
        mkdir(&nd, 0o755)?;
        mkdir(&nd.join("enabled"), 0o755)?;
        for svc in state.boot_services(n) {
            write(&nd.join("enabled").join(svc), "", 0o644)?;
        }
        mkdir(&nd.join("ssh"), 0o700)?;
        let host_key = keygen(&nd.join("ssh/ssh_host_ed25519_key"), &n.name)?;
        let mut parts = host_key.split_whitespace();
        if let (Some(kind), Some(key)) = (parts.next(), parts.next()) {
            known_hosts.push_str(&format!("{} {kind} {key}\n", n.ip));
        }
        write(
            &nd.join("ssh/sshd_config"),
            &config::sshd_config(state, n),
            0o644,
        )?;

        let fs = nd.join("fs");
        mkdir(&fs, 0o755)?;
        mkdir(&fs.join("log"), 0o755)?;
        for (sub, user) in [
            ("patroni", "postgres"),
            ("postgresql", "postgres"),
            ("etcd", "etcd"),
        ] {
            let p = fs.join("log").join(sub);
            mkdir(&p, 0o750)?;
            chown(&p, user)?;
        }
        let pg = fs.join("postgresql");
        mkdir(&pg.join("15"), 0o755)?;
        chown(&pg, "postgres")?;
        chown(&pg.join("15"), "postgres")?;
        if state.data_size_mib > 0 && matches!(n.kind, NodeKind::Patroni | NodeKind::Spare) {
            make_data_image(&nd.join(node::files::DATA_IMAGE), state.data_size_mib)?;
        }
        let etcd = fs.join("etcd");
        mkdir(&etcd, 0o700)?;
        chown(&etcd, "etcd")?;
        let patroni = fs.join("patroni");
        mkdir(&patroni, 0o755)?;
        if matches!(n.kind, NodeKind::Patroni | NodeKind::Spare) {
            let cfg = patroni.join("config.yml");
            write(&cfg, &config::patroni_yml(state, n, &pw), 0o600)?;
            chown(&cfg, "postgres")?;
        }
        mkdir(&fs.join("root"), 0o700)?;
        let haproxy = fs.join("haproxy");
        mkdir(&haproxy, 0o755)?;
        if n.kind == NodeKind::Haproxy {
            write(
                &haproxy.join("haproxy.cfg"),
                &config::haproxy_cfg(state, n),
                0o644,
            )?;
        }
        write_pgbouncer(state, n, &fs.join("pgbouncer"), &pw)?;
        let etcd_env = if state.runs_etcd(n) {
            config::etcd_env(state, n)
        } else {
            "# Not an etcd node.\n".into()
        };
        write(&fs.join("default-etcd"), &etcd_env, 0o644)?;
    }
    write(&ssh.join("known_hosts"), &known_hosts, 0o644)?;
    write(
        &dir.join("inventory.yml"),
        &config::inventory_yml(state),
        0o644,
    )?;
    Ok(())
}

/// PgBouncer's directory (mounted as the node's `/etc/pgbouncer`): its configuration on
/// the HAProxy node, empty elsewhere. The user list holds the superuser's password (for
/// SCRAM to clients and to PostgreSQL), so only the postgres user PgBouncer runs as reads it.
fn write_pgbouncer(
    state: &LabState,
    n: &LabNode,
    dir: &Path,
    pw: &config::Passwords,
) -> Result<(), LabError> {
    mkdir(dir, 0o755)?;
    if n.kind != NodeKind::Haproxy {
        return Ok(());
    }
    write(&dir.join("pgbouncer.ini"), &config::pgbouncer_ini(n), 0o644)?;
    write(
        &dir.join("pg_hba.conf"),
        &config::pgbouncer_hba(state),
        0o644,
    )?;
    let users = dir.join("userlist.txt");
    write(&users, &config::pgbouncer_userlist(pw), 0o600)?;
    chown(&users, "postgres")
}

/// Stops and removes everything the lab in `dir` created: keepers and node processes,
/// veths, namespaces, the bridge, then the directory. Idempotent; also cleans a lab whose
/// `up` was killed half-way.
pub(crate) fn down(dir: &Path) -> Result<(), LabError> {
    check_platform()?;
    let dir = absolute(dir);
    let _lock = lock()?;
    down_locked(&dir)
}

fn down_locked(dir: &Path) -> Result<(), LabError> {
    let ours = dir.join(MARKER).exists();
    if ours {
        let _ = std::fs::write(dir.join(files::STOPPING), "");
    }
    // Keepers first, so none boots its node again, then the nodes.
    let mut pids: Vec<i32> = Vec::new();
    let procs = procs::lab_processes(dir);
    for role in ["keeper", "init"] {
        for p in procs.iter().filter(|p| p.role == role) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p.pid),
                nix::sys::signal::SIGKILL,
            );
            pids.push(p.pid);
        }
    }
    let namespaces = net::lab_namespaces()?;
    // Namespaces must be empty before they are deleted.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut left: Vec<i32> = pids.iter().copied().filter(|p| procs::alive(*p)).collect();
        for ns in &namespaces {
            for pid in net::namespace_pids(ns) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::SIGKILL,
                );
                if procs::alive(pid) {
                    left.push(pid);
                }
            }
        }
        if left.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            return Err(LabError::Timeout {
                what: "the lab's processes to exit".into(),
                last: format!("still running: {left:?}"),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    net::destroy()?;
    if dir.exists() {
        if ours {
            std::fs::remove_dir_all(dir)
                .map_err(|e| LabError::io(format!("remove {}", dir.display()), e))?;
        } else if std::fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false)
        {
            let _ = std::fs::remove_dir(dir);
        } else {
            return Err(LabError::BadDir {
                dir: dir.to_owned(),
                reason: "it is not a lab directory; left untouched".into(),
            });
        }
    }
    Ok(())
}

/// `lab status`: the members as Patroni reports them and every node's power state.
pub(crate) fn status(dir: &Path) -> Result<Status, LabError> {
    let dir = absolute(dir);
    let state = LabState::load(&dir)?;
    if !is_up(&dir) {
        return Err(LabError::NotUp(dir));
    }
    let nodes = state
        .nodes
        .iter()
        .map(|n| {
            let nd = state.node_dir(&n.name);
            let power = if node::init_pid(&nd).is_some() {
                NodePower::On
            } else if is_powered_off(&dir, &n.name) {
                NodePower::Off
            } else {
                NodePower::Down
            };
            (n.name.clone(), n.ip, n.kind, power)
        })
        .collect();
    Ok(Status {
        members: cluster::members(&state),
        nodes,
        pgbouncer: cluster::pgbouncer_status(&state),
    })
}

/// The `ssh` command reaching `node` with the lab's key and configuration; an
/// interactive shell when `command` is empty.
pub(crate) fn ssh_command(dir: &Path, node: &str, command: &[String]) -> Result<Command, LabError> {
    let dir = absolute(dir);
    let state = LabState::load(&dir)?;
    let n = state.node(node)?;
    let mut cmd = Command::new("ssh");
    cmd.arg("-F").arg(dir.join("ssh/ssh_config"));
    if command.is_empty() {
        cmd.arg("-t");
    }
    cmd.arg(n.ip.to_string());
    if !command.is_empty() {
        cmd.arg("--").args(command);
    }
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_directories_nodes_cannot_see() {
        assert!(matches!(
            check_dir(Path::new("/tmp/lab")),
            Err(LabError::BadDir { .. })
        ));
        assert!(matches!(
            check_dir(Path::new("/run/x")),
            Err(LabError::BadDir { .. })
        ));
    }

    #[test]
    fn passwords_are_long_and_distinct() {
        let a = password().unwrap();
        let b = password().unwrap();
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn inventory_path_is_in_the_dir() {
        assert_eq!(
            inventory_path(Path::new("/var/lib/pgchaos-lab")),
            PathBuf::from("/var/lib/pgchaos-lab/inventory.yml")
        );
    }
}
