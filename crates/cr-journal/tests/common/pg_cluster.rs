//! A throwaway PostgreSQL cluster for tests: `initdb` and `pg_ctl` in a temporary
//! directory, listening on a free loopback port, superuser `callrec`; `Drop` stops it.
//!
//! One fixture for every crate that needs a real PostgreSQL: cr-journal's tests reach it
//! as `common::pg_cluster`, cr-recorder's `two_nodes` test includes this file with
//! `#[path = ...] mod pg_cluster;`. So it uses only std and tempfile.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// How clients that connect over TCP authenticate. The cluster's own Unix socket (in its
/// temporary directory) is always trusted.
#[derive(Clone, Copy, Debug)]
pub enum Auth<'a> {
    /// No password: any client on loopback may connect as `callrec`.
    Trust,
    /// `callrec` must give this password (SCRAM-SHA-256).
    Password(&'a str),
}

/// A running cluster; `Drop` stops it (`pg_ctl -m immediate stop`).
pub struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
    pg_ctl: PathBuf,
}

impl Cluster {
    /// Starts a cluster. Without PostgreSQL installed (no `initdb`/`pg_ctl`) it says so
    /// loudly and returns `None`, or fails under `CALLREC_TEST_STRICT=1`.
    pub fn start(auth: Auth<'_>) -> Option<Self> {
        let (Some(initdb), Some(pg_ctl)) = (find_pg_bin("initdb"), find_pg_bin("pg_ctl")) else {
            assert!(
                std::env::var("CALLREC_TEST_STRICT").as_deref() != Ok("1"),
                "PostgreSQL (initdb, pg_ctl) is required (CALLREC_TEST_STRICT=1)"
            );
            eprintln!("SKIPPED: PostgreSQL (initdb, pg_ctl) is not installed (package postgresql)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data").display().to_string();
        let pwfile_arg;
        let mut initdb_args = vec!["-D", &data, "--no-sync", "-U", "callrec", "-E", "UTF8"];
        match auth {
            Auth::Trust => initdb_args.push("--auth=trust"),
            Auth::Password(password) => {
                let pwfile = dir.path().join("pw");
                std::fs::write(&pwfile, format!("{password}\n")).unwrap();
                pwfile_arg = format!("--pwfile={}", pwfile.display());
                initdb_args.extend([
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    &pwfile_arg,
                ]);
            }
        }
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown of the cluster's directory failed");
        }
        let out = as_postgres(&initdb, &initdb_args);
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
            dir.path().display()
        );
        let log = dir.path().join("pg.log").display().to_string();
        let out = as_postgres(
            &pg_ctl,
            &["-w", "-D", &data, "-l", &log, "-o", &opts, "start"],
        );
        // Built before the check, so that a half-started server is stopped too.
        let cluster = Self { dir, port, pg_ctl };
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        Some(cluster)
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgresql://callrec@127.0.0.1:<port>/<db>`, without a password.
    pub fn url(&self, db: &str) -> String {
        format!("postgresql://callrec@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").display().to_string();
        let _ = as_postgres(&self.pg_ctl, &["-D", &data, "-m", "immediate", "stop"]);
    }
}

/// `name` from Debian's versioned directory, or from the usual `bin` directories.
fn find_pg_bin(name: &str) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/usr/lib/postgresql") {
        for e in rd.flatten() {
            candidates.push(e.path().join("bin").join(name));
        }
    }
    candidates.push(PathBuf::from("/usr/local/bin").join(name));
    candidates.push(PathBuf::from("/usr/bin").join(name));
    candidates.into_iter().find(|p| p.is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n")
}

/// Runs `bin args` as the postgres user when we are root (initdb refuses root).
fn as_postgres(bin: &Path, args: &[&str]) -> std::process::Output {
    if is_root() {
        let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
        let mut line = quote(&bin.display().to_string());
        for a in args {
            line.push(' ');
            line.push_str(&quote(a));
        }
        Command::new("su")
            .args(["postgres", "-s", "/bin/sh", "-c", &line])
            .output()
            .unwrap()
    } else {
        Command::new(bin).args(args).output().unwrap()
    }
}
