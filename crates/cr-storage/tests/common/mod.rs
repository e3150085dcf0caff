//! Test helpers: real servers started from scripts/servers/, guards that stop them, test sets.
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use sha2::{Digest, Sha256};

/// Whether skips become failures.
pub fn strict() -> bool {
    std::env::var("CALLREC_TEST_STRICT").is_ok_and(|v| v == "1")
}

/// Skips loudly (or fails under CALLREC_TEST_STRICT=1) when `bin` is missing.
pub fn have(bin: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {bin} || test -x /usr/sbin/{bin}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(!strict(), "{bin} is not installed and CALLREC_TEST_STRICT=1");
        eprintln!("SKIPPED: {bin} is not installed (see scripts/install-deps.sh)");
    }
    found
}

/// Whether we may create users and mounts (the servers need root).
pub fn root() -> bool {
    let out = Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let is_root = out.unwrap_or(false);
    if !is_root {
        assert!(!strict(), "server tests need root and CALLREC_TEST_STRICT=1");
        eprintln!("SKIPPED: server tests need root (they create users and mounts)");
    }
    is_root
}

/// A free loopback port never handed out before in this test process: tests run in
/// parallel, and the kernel may give a just-released port to the next caller.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A server started by a script in scripts/servers/; Drop kills its process group.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
    script: String,
    args: Vec<String>,
    paused: bool,
}

impl Server {
    pub fn start(script: &str, dir: &Path, port: u16, args: &[&str]) -> Server {
        let mut s = Server {
            child: spawn(script, dir, port, args),
            port,
            dir: dir.to_owned(),
            script: script.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            paused: false,
        };
        s.wait_ready();
        s
    }

    fn wait_ready(&mut self) {
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                panic!("{} exited with {st} before listening:\n{log}", self.script);
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(30));
        }
    }

    /// Signals the server and every process it forked (sshd's connection processes start
    /// sessions of their own, so a process-group signal would miss them).
    fn signal(&self, sig: &str) {
        let mut pids = vec![self.child.id()];
        let mut i = 0;
        while i < pids.len() {
            pids.extend(children(pids[i]));
            i += 1;
        }
        let _ = Command::new("kill").arg(sig).arg("--").args(pids.iter().map(|p| p.to_string())).status();
    }

    /// SIGSTOP to the whole group: a hung server.
    pub fn pause(&mut self) {
        self.signal("-STOP");
        self.paused = true;
    }

    pub fn resume(&mut self) {
        self.signal("-CONT");
        self.paused = false;
    }

    /// Kills the server (and its connections).
    pub fn stop(&mut self) {
        if self.paused {
            self.signal("-CONT");
            self.paused = false;
        }
        self.signal("-KILL");
        let _ = self.child.wait();
        // Wait until the port is free again.
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            std::thread::sleep(std::time::Duration::from_millis(30));
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.child = spawn(&self.script, &self.dir, self.port, &args);
        self.wait_ready();
    }
}

/// Direct children of `pid`, from /proc.
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else { return out };
    for e in rd.flatten() {
        let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else { continue };
        // pid (comm) state ppid ...
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { continue };
        let ppid = rest.split_whitespace().nth(1).and_then(|x| x.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(p);
        }
    }
    out
}

fn spawn(script: &str, dir: &Path, port: u16, args: &[&str]) -> Child {
    std::fs::create_dir_all(dir).unwrap();
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("server.log")).unwrap();
    Command::new("bash")
        .arg(repo().join("scripts/servers").join(script))
        .arg(dir)
        .arg(port.to_string())
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.paused {
            self.signal("-CONT");
        }
        self.signal("-KILL");
        let _ = self.child.wait();
    }
}

/// Deterministic pseudo-random bytes.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) | 1;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes a set `id` into `dir`: json, the given audio files, a shasum-format manifest and a
/// placeholder signature. Returns the file names.
pub fn make_set(dir: &Path, id: &str, audio: &[(&str, usize)], seed: u64) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    let mut names = vec![format!("{id}.json")];
    std::fs::write(dir.join(&names[0]), format!("{{\"id\":\"{id}\"}}\n")).unwrap();
    for (i, (suffix, len)) in audio.iter().enumerate() {
        let n = format!("{id}{suffix}");
        std::fs::write(dir.join(&n), bytes(seed + i as u64, *len)).unwrap();
        names.push(n);
    }
    let mut manifest = String::new();
    for n in &names {
        let h = Sha256::digest(std::fs::read(dir.join(n)).unwrap());
        manifest.push_str(&format!("{}  {n}\n", hex::encode(h)));
    }
    std::fs::write(dir.join(format!("{id}.sha256")), manifest).unwrap();
    std::fs::write(dir.join(format!("{id}.sha256.SHA256withRSA.sig")), "c2lnbmF0dXJl\n").unwrap();
    names.push(format!("{id}.sha256.SHA256withRSA.sig"));
    names.push(format!("{id}.sha256"));
    names
}

/// `shasum -a 256 -c` in `dir` (sha256sum when shasum is missing).
pub fn shasum_check(dir: &Path, id: &str) {
    let tool = if have_quiet("shasum") { ("shasum", vec!["-a", "256", "-c"]) } else { ("sha256sum", vec!["-c"]) };
    let out = Command::new(tool.0).args(&tool.1).arg(format!("{id}.sha256")).current_dir(dir).output().unwrap();
    assert!(
        out.status.success(),
        "{} -c failed in {}: {}{}",
        tool.0,
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn have_quiet(bin: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {bin}")).stdout(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// `names`, sorted.
pub fn sorted(names: &[String]) -> Vec<String> {
    let mut v = names.to_vec();
    v.sort();
    v
}

/// Every file below `dir` (relative paths), sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(base, &p, out);
                } else {
                    out.push(p.strip_prefix(base).unwrap().display().to_string());
                }
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.sort();
    v
}

pub fn fingerprint(pubkey: &Path) -> String {
    let out = Command::new("ssh-keygen").arg("-lf").arg(pubkey).output().unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    match s.split_whitespace().nth(1) {
        Some(fp) => fp.to_owned(),
        None => panic!(
            "ssh-keygen -lf {} ({}, file exists: {}): {}",
            pubkey.display(),
            out.status,
            pubkey.exists(),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// A unique Unix user name for a server instance.
pub fn user(prefix: &str, port: u16) -> String {
    format!("{prefix}{port}")
}

/// A small tmpfs mounted at `dir` (disk-full faults); unmounted on Drop.
pub struct Tmpfs(pub PathBuf);

impl Tmpfs {
    pub fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let st = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size},mode=0777"), "tmpfs"]).arg(dir).status().unwrap();
        assert!(st.success(), "mount tmpfs at {}", dir.display());
        Tmpfs(dir.to_owned())
    }
    pub fn resize(&self, size: &str) {
        let st = Command::new("mount").args(["-o", &format!("remount,size={size}")]).arg(&self.0).status().unwrap();
        assert!(st.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// An uploader over a spool in `root` with targets rendered in UTC.
pub fn uploader(root: &Path) -> cr_storage::Uploader {
    let spool = cr_storage::Spool::open(root.join("spool")).unwrap();
    let log = cr_storage::FileDeliveryLog::new(root.join("spool"));
    cr_storage::Uploader::new(spool, Box::new(log), cr_storage::Zone::parse(Some("UTC")).unwrap())
}

/// Enqueues a fresh set `id` (started 2026-03-07 09:05:01 UTC) for `targets`.
pub fn enqueue(up: &cr_storage::Uploader, id: &str, audio: &[(&str, usize)], seed: u64, targets: &[&str]) -> Vec<String> {
    let dir = up.spool().staging_dir(id).unwrap();
    let names = make_set(&dir, id, audio, seed);
    let start = "2026-03-07T09:05:01Z".parse().unwrap();
    let t: Vec<String> = targets.iter().map(|s| s.to_string()).collect();
    up.spool().enqueue(&dir, id, &t, start, t0()).unwrap();
    names
}

pub fn t0() -> chrono::DateTime<chrono::Utc> {
    "2026-03-07T10:00:00Z".parse().unwrap()
}

/// `t0` plus `h` hours (later passes: past any back-off).
pub fn later(h: i64) -> chrono::DateTime<chrono::Utc> {
    t0() + chrono::Duration::hours(h)
}

/// Deletes a Unix user the server scripts created, when the test ends.
pub struct UserGuard(pub String);

impl Drop for UserGuard {
    fn drop(&mut self) {
        let _ = Command::new("flock")
            .args(["/tmp/callrec-useradd.lock", "userdel", "-f", &self.0])
            .stderr(Stdio::null())
            .status();
    }
}

/// Reads set `id`'s files `names` back from `dir` at target `t` into `local` and checks them
/// with `shasum -c`; a file that is not there is `None`, a hostile name is refused.
pub fn fetch_back(t: &mut dyn cr_storage::Target, dir: &[String], names: &[String], local: &Path, id: &str) {
    std::fs::create_dir_all(local).unwrap();
    for n in names {
        let size = t.fetch_file(dir, n, &local.join(n)).unwrap_or_else(|e| panic!("{n}: {e}"));
        assert_eq!(size, Some(std::fs::metadata(local.join(n)).unwrap().len()), "{n}");
    }
    assert_eq!(tree(local), {
        let mut v = names.to_vec();
        v.sort();
        v
    });
    shasum_check(local, id);
    let missing = local.join("missing.wav");
    assert_eq!(t.fetch_file(dir, "no-such-set.wav", &missing).unwrap(), None);
    assert!(!missing.exists(), "nothing left for a missing file");
    let e = t.fetch_file(dir, "../x", &missing).unwrap_err();
    assert!(matches!(e, cr_storage::TargetError::BadName { .. }), "{e}");
}
