//! TLS to a real PostgreSQL server on loopback: every `sslmode` with libpq's meaning, for
//! the observers' connection recipe and the workload's (the SQL steps share the same
//! `pg::Tls`). The server accepts TLS connections only (`hostnossl ... reject`), so a
//! connection that succeeds proves TLS was used.
//!
//! Needs PostgreSQL binaries and openssl; as root the server runs as `postgres`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pgchaos::inventory::{Postgres, SslMode};
use pgchaos::observe::{PgSettings, probe_once};
use pgchaos::pg::Tls;
use pgchaos::scenario::{WorkloadSpec, WriteVia, WriterSpec};
use pgchaos::workload::scratch::ScratchServer;
use pgchaos::workload::{ConnectionSettings, Workload, WriteTarget, verify};

/// A CA and, signed by it, a server certificate for `san` (e.g. "IP:127.0.0.1").
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        // The server (user postgres) reads its files from here.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("these tests need openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A self-signed CA named `name` (files `name.crt`, `name.key`).
    fn ca(&self, name: &str) -> PathBuf {
        self.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN=pgchaos test {name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
        ]);
        self.path(&format!("{name}.crt"))
    }

    /// A server certificate for `san`, signed by CA `ca` (files `server.crt`, `server.key`).
    fn server(&self, ca: &str, san: &str) {
        self.openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=pgchaos test server",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        std::fs::write(self.path("ext.cnf"), format!("subjectAltName={san}\n")).unwrap();
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.crt",
        ]);
        let key = self.path("server.key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        if nix::unistd::geteuid().is_root() {
            let pg = nix::unistd::User::from_name("postgres")
                .unwrap()
                .expect("the postgres user");
            for f in ["server.key", "server.crt"] {
                nix::unistd::chown(&self.path(f), Some(pg.uid), Some(pg.gid)).unwrap();
            }
        }
        std::fs::write(
            self.path("pg_hba.conf"),
            "local all all trust\n\
             hostnossl all all 0.0.0.0/0 reject\n\
             hostssl all all 127.0.0.1/32 trust\n",
        )
        .unwrap();
    }

    /// A server that takes TLS connections only, with this certificate.
    fn start(&self) -> ScratchServer {
        let (crt, key, hba) = (
            self.path("server.crt"),
            self.path("server.key"),
            self.path("pg_hba.conf"),
        );
        ScratchServer::start_new(&[
            ("ssl", "on"),
            ("ssl_cert_file", crt.to_str().unwrap()),
            ("ssl_key_file", key.to_str().unwrap()),
            ("hba_file", hba.to_str().unwrap()),
        ])
        .unwrap_or_else(|e| panic!("these tests need a local PostgreSQL: {e}"))
    }
}

fn tls(mode: SslMode, root: Option<&Path>) -> Tls {
    Tls::from_inventory(&Postgres {
        sslmode: mode,
        sslrootcert: root.map(Path::to_owned),
        ..Default::default()
    })
    .expect("the TLS settings build")
}

fn observer(port: u16, tls: Tls) -> PgSettings {
    PgSettings {
        port,
        timeout: Duration::from_secs(3),
        tls,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sslmode_means_what_libpq_says() {
    let pki = Pki::new();
    let ca = pki.ca("ca");
    let other_ca = pki.ca("other");
    pki.server("ca", "IP:127.0.0.1");
    let pg = pki.start();
    let port = pg.port();

    // Plain text is refused by this server: the other modes below really used TLS.
    let e = probe_once("127.0.0.1", &observer(port, Tls::disabled()))
        .await
        .unwrap_err();
    assert!(e.contains("no encryption"), "{e}");

    for (what, t) in [
        ("prefer", tls(SslMode::Prefer, None)),
        ("require", tls(SslMode::Require, None)),
        ("require with the CA", tls(SslMode::Require, Some(&ca))),
        ("verify-ca", tls(SslMode::VerifyCa, Some(&ca))),
        ("verify-full", tls(SslMode::VerifyFull, Some(&ca))),
    ] {
        let r = probe_once("127.0.0.1", &observer(port, t)).await;
        assert!(r.is_ok(), "{what}: {r:?}");
    }

    // Another CA: the chain is checked by verify-ca and by require given a root file,
    // not by plain require (libpq's behaviour).
    for (what, t) in [
        ("verify-ca", tls(SslMode::VerifyCa, Some(&other_ca))),
        ("verify-full", tls(SslMode::VerifyFull, Some(&other_ca))),
        (
            "require with a root file",
            tls(SslMode::Require, Some(&other_ca)),
        ),
    ] {
        let e = probe_once("127.0.0.1", &observer(port, t))
            .await
            .unwrap_err();
        assert!(e.contains("certificate"), "{what}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_checks_the_host_name_and_verify_ca_does_not() {
    let pki = Pki::new();
    let ca = pki.ca("ca");
    // The certificate names another address than the one connected to.
    pki.server("ca", "IP:127.0.0.2,DNS:db.example");
    let pg = pki.start();
    let port = pg.port();
    let ok = probe_once(
        "127.0.0.1",
        &observer(port, tls(SslMode::VerifyCa, Some(&ca))),
    )
    .await;
    assert!(ok.is_ok(), "{ok:?}");
    let e = probe_once(
        "127.0.0.1",
        &observer(port, tls(SslMode::VerifyFull, Some(&ca))),
    )
    .await
    .unwrap_err();
    assert!(e.contains("certificate") && e.contains("127.0.0.1"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workload_writes_and_verifies_over_verified_tls() {
    let pki = Pki::new();
    let ca = pki.ca("ca");
    pki.server("ca", "IP:127.0.0.1");
    let pg = pki.start();
    let mut settings = ConnectionSettings::new("postgres", "postgres");
    settings.tls = tls(SslMode::VerifyFull, Some(&ca));
    let spec = WorkloadSpec {
        writer: Some(WriterSpec {
            rate: 50,
            via: WriteVia::WritePort,
            timeout: None,
        }),
        reader: None,
    };
    let w = Workload::start(
        &spec,
        WriteTarget::Single(pg.endpoint()),
        None,
        settings.clone(),
        "run-tls",
        "tls",
    )
    .await
    .expect("the workload starts over TLS");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while w.progress().acknowledged < 20 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no 20 acknowledged writes in 60 s: {:?}",
            w.progress()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ledger = w.stop().await;
    let r = verify(&ledger, &[("pg".into(), pg.endpoint())], &settings, None)
        .await
        .expect("verify over TLS");
    assert!(r.acknowledged >= 20, "{r:?}");
    assert!(r.lost.is_empty(), "lost {:?}", r.lost);
}
