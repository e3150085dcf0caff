//! The `sftp` target (ssh2 / libssh2), with the host key pinned by its SHA-256 fingerprint.

use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;

use crate::error::TargetError;
use crate::target::Store;
use crate::template::PathRules;

/// How the SFTP user signs in.
#[derive(Clone)]
#[non_exhaustive]
pub enum SftpAuth {
    /// A password.
    Password(String),
    /// A private key file (OpenSSH or PEM format) and its passphrase, if any.
    Key {
        /// The key file.
        file: PathBuf,
        /// Its passphrase.
        passphrase: Option<String>,
    },
}

impl std::fmt::Debug for SftpAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SftpAuth::Password(_) => f.write_str("Password(..)"),
            SftpAuth::Key { file, .. } => write!(f, "Key({})", file.display()),
        }
    }
}

/// Settings of an SFTP target.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SftpSettings {
    /// Target name.
    pub name: String,
    /// Host name or IP.
    pub server: String,
    /// Port (22).
    pub port: u16,
    /// User name.
    pub username: String,
    /// Password or key.
    pub auth: SftpAuth,
    /// The pinned host key fingerprint, `SHA256:<base64>` as `ssh-keygen -lf` prints it.
    pub host_key: String,
    /// Connect and I/O timeout.
    pub timeout: Duration,
    /// Connections used for one large file (1, or 2 to split files of 32 MiB and more).
    /// Default 1: on loopback with two cores a second stream did not help.
    pub streams: u8,
    /// SSH cipher preference list (libssh2 names); default ChaCha20-Poly1305 first.
    pub ciphers: String,
}

impl SftpSettings {
    /// Settings with port 22 and a 30 s timeout.
    pub fn new(name: &str, server: &str, username: &str, auth: SftpAuth, host_key: &str) -> Self {
        Self {
            name: name.into(),
            server: server.into(),
            port: 22,
            username: username.into(),
            auth,
            host_key: host_key.into(),
            timeout: Duration::from_secs(30),
            streams: 1,
            ciphers: CIPHERS.to_owned(),
        }
    }
}

/// Checks the form of a pinned fingerprint: `SHA256:` and 43 base64 characters.
pub fn check_host_key_format(fp: &str) -> Result<(), String> {
    let Some(b64) = fp.strip_prefix("SHA256:") else {
        return Err(format!(
            "{fp:?} is not a SHA256 fingerprint: write it as `ssh-keygen -lf` prints it, e.g. \"SHA256:...\" (get it with: ssh-keyscan -p PORT HOST | ssh-keygen -lf -)"
        ));
    };
    match base64::engine::general_purpose::STANDARD_NO_PAD.decode(b64) {
        Ok(b) if b.len() == 32 => Ok(()),
        _ => Err(format!("{fp:?}: after \"SHA256:\" come 43 base64 characters (a SHA-256 digest)")),
    }
}

/// An SFTP connection (made on first use).
pub struct SftpStore {
    s: SftpSettings,
    conn: Option<(ssh2::Session, ssh2::Sftp)>,
}

impl std::fmt::Debug for SftpStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SftpStore").field("settings", &self.s).field("connected", &self.conn.is_some()).finish()
    }
}

const NO_SUCH_FILE: i32 = 2;
const CIPHERS: &str = "chacha20-poly1305@openssh.com,aes128-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com,aes192-ctr";

impl SftpStore {
    /// A store with these settings; nothing is connected yet.
    pub fn new(settings: SftpSettings) -> Self {
        Self { s: settings, conn: None }
    }

    fn remote(dir: &[String], name: &str) -> String {
        if dir.is_empty() { name.to_owned() } else { format!("{}/{name}", dir.join("/")) }
    }

    fn err(&self, op: &'static str, path: &str, e: impl std::fmt::Display) -> TargetError {
        TargetError::Remote { target: self.s.name.clone(), op, path: path.to_owned(), detail: e.to_string() }
    }

    fn sftp(&mut self) -> Result<&ssh2::Sftp, TargetError> {
        self.connect()?;
        match &self.conn {
            Some((_, sftp)) => Ok(sftp),
            None => Err(TargetError::Protocol { target: self.s.name.clone(), detail: "not connected".into() }),
        }
    }

    fn do_connect(&self) -> Result<(ssh2::Session, ssh2::Sftp), TargetError> {
        let name = &self.s.name;
        let address = format!("{}:{}", self.s.server, self.s.port);
        let cerr = |detail: String| TargetError::Connect { target: name.clone(), address: address.clone(), detail };
        let addrs: Vec<_> = (self.s.server.as_str(), self.s.port)
            .to_socket_addrs()
            .map_err(|e| cerr(format!("cannot resolve: {e}")))?
            .collect();
        let mut last = String::from("no address");
        let mut tcp = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, self.s.timeout) {
                Ok(t) => {
                    tcp = Some(t);
                    break;
                }
                Err(e) => last = e.to_string(),
            }
        }
        let tcp = tcp.ok_or_else(|| cerr(last))?;
        let _ = tcp.set_nodelay(true);
        let mut sess = ssh2::Session::new().map_err(|e| cerr(e.to_string()))?;
        sess.set_timeout(u32::try_from(self.s.timeout.as_millis()).unwrap_or(u32::MAX));
        sess.set_tcp_stream(tcp);
        // ChaCha20-Poly1305 first: measured cheapest per byte in libssh2 here (its AES-GCM
        // path costs about 50 % more CPU), and OpenSSH's own default.
        for m in [ssh2::MethodType::CryptCs, ssh2::MethodType::CryptSc] {
            let _ = sess.method_pref(m, &self.s.ciphers);
        }
        sess.handshake().map_err(|e| cerr(format!("SSH handshake: {e}")))?;
        tracing::debug!(
            target: "cr_storage::sftp",
            "{}: cipher {:?}, MAC {:?}",
            self.s.name,
            sess.methods(ssh2::MethodType::CryptCs),
            sess.methods(ssh2::MethodType::MacCs)
        );
        let found = sess
            .host_key_hash(ssh2::HashType::Sha256)
            .map(|h| format!("SHA256:{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(h)))
            .ok_or_else(|| cerr("the server sent no host key".into()))?;
        if found != self.s.host_key {
            return Err(TargetError::HostKeyMismatch {
                target: name.clone(),
                expected: self.s.host_key.clone(),
                found,
            });
        }
        let auth = match &self.s.auth {
            SftpAuth::Password(p) => sess.userauth_password(&self.s.username, p),
            SftpAuth::Key { file, passphrase } => {
                sess.userauth_pubkey_file(&self.s.username, None, file, passphrase.as_deref())
            }
        };
        if let Err(e) = auth {
            return Err(TargetError::Auth {
                target: name.clone(),
                detail: format!("user {}: {e} (wrong password or key?)", self.s.username),
            });
        }
        if !sess.authenticated() {
            return Err(TargetError::Auth { target: name.clone(), detail: format!("user {} not accepted", self.s.username) });
        }
        let sftp = sess.sftp().map_err(|e| cerr(format!("SFTP subsystem: {e}")))?;
        Ok((sess, sftp))
    }
}

/// Files from this size on go over two connections when `streams` is 2.
const PARALLEL_MIN: u64 = 32 << 20;

enum PumpError {
    Local(std::io::Error),
    Remote(String),
}

/// Copies `len` bytes from `src` to `dst`. libssh2 keeps as many SFTP write requests in
/// flight as the buffer handed to it holds and returns after each acknowledgement; a
/// sliding window over the file keeps 4-8 MiB in flight instead of draining the pipeline
/// at every buffer's end.
fn pump(src: &mut std::fs::File, len: u64, dst: &mut ssh2::File, progress: &mut dyn FnMut(u64)) -> Result<(), PumpError> {
    const CAP: usize = 8 << 20;
    let mut buf = vec![0u8; CAP];
    let (mut lo, mut hi, mut left) = (0usize, 0usize, len);
    loop {
        if left > 0 && (hi == 0 || lo >= CAP / 2) {
            buf.copy_within(lo..hi, 0);
            hi -= lo;
            lo = 0;
            while hi < CAP && left > 0 {
                let want = (CAP - hi).min(usize::try_from(left).unwrap_or(usize::MAX));
                let n = src.read(&mut buf[hi..hi + want]).map_err(PumpError::Local)?;
                if n == 0 {
                    return Err(PumpError::Local(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the file became shorter while it was uploaded",
                    )));
                }
                hi += n;
                left -= n as u64;
            }
        }
        if lo == hi {
            return Ok(());
        }
        match dst.write(&buf[lo..hi]) {
            Ok(0) => return Err(PumpError::Remote("the server accepted no data".into())),
            Ok(n) => {
                lo += n;
                progress(n as u64);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(PumpError::Remote(e.to_string())),
        }
    }
}

impl SftpStore {
    fn pump_err(&self, e: PumpError, local: &Path, remote: &str) -> TargetError {
        match e {
            PumpError::Local(e) => TargetError::Local { target: self.s.name.clone(), path: local.to_owned(), detail: e.to_string() },
            PumpError::Remote(d) => self.err("write", remote, d),
        }
    }

    fn finish(&self, mut dst: ssh2::File, p: &str) -> Result<(), TargetError> {
        if let Err(e) = dst.fsync() {
            // Not every server offers fsync@openssh.com; the size check follows anyway.
            tracing::debug!(target: "cr_storage::sftp", "fsync {p}: {e}");
        }
        dst.close().map_err(|e| self.err("close", p, e))
    }
}

fn is_missing(e: &ssh2::Error) -> bool {
    matches!(e.code(), ssh2::ErrorCode::SFTP(NO_SUCH_FILE))
}

impl Store for SftpStore {
    fn target_name(&self) -> &str {
        &self.s.name
    }
    fn rules(&self) -> PathRules {
        PathRules::Sftp
    }
    fn describe(&self) -> String {
        format!("sftp {}@{}:{} host key {}", self.s.username, self.s.server, self.s.port, self.s.host_key)
    }
    fn connect(&mut self) -> Result<(), TargetError> {
        if self.conn.is_none() {
            self.conn = Some(self.do_connect()?);
        }
        Ok(())
    }
    fn disconnect(&mut self) {
        if let Some((sess, sftp)) = self.conn.take() {
            drop(sftp);
            let _ = sess.disconnect(None, "bye", None);
        }
    }
    fn ensure_dir(&mut self, dir: &[String]) -> Result<(), TargetError> {
        for i in 1..=dir.len() {
            let p = dir[..i].join("/");
            let sftp = self.sftp()?;
            match sftp.stat(Path::new(&p)) {
                Ok(st) if st.is_dir() => continue,
                Ok(_) => return Err(self.err("mkdir", &p, "a file of this name is in the way")),
                Err(e) if is_missing(&e) => {}
                Err(e) => return Err(self.err("stat", &p, e)),
            }
            let sftp = self.sftp()?;
            if let Err(e) = sftp.mkdir(Path::new(&p), 0o755) {
                // Someone else may have made it meanwhile.
                if !sftp.stat(Path::new(&p)).map(|s| s.is_dir()).unwrap_or(false) {
                    return Err(self.err("mkdir", &p, e));
                }
            }
        }
        Ok(())
    }
    fn size_of(&mut self, dir: &[String], name: &str) -> Result<Option<u64>, TargetError> {
        let p = Self::remote(dir, name);
        let sftp = self.sftp()?;
        match sftp.stat(Path::new(&p)) {
            Ok(st) => Ok(Some(st.size.unwrap_or(0))),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(self.err("stat", &p, e)),
        }
    }
    fn put(&mut self, local: &Path, dir: &[String], name: &str, progress: &mut dyn FnMut(u64)) -> Result<(), TargetError> {
        let p = Self::remote(dir, name);
        let lerr = |e: std::io::Error| TargetError::Local {
            target: self.s.name.clone(),
            path: local.to_owned(),
            detail: e.to_string(),
        };
        let size = std::fs::metadata(local).map_err(lerr)?.len();
        let mut src = std::fs::File::open(local).map_err(lerr)?;
        let sftp = self.sftp()?;
        let mut dst = match sftp.create(Path::new(&p)) {
            Ok(f) => f,
            Err(e) => return Err(self.err("create", &p, e)),
        };
        if self.s.streams < 2 || size < PARALLEL_MIN {
            pump(&mut src, size, &mut dst, progress).map_err(|e| self.pump_err(e, local, &p))?;
            return self.finish(dst, &p);
        }
        // Large file: the second half goes over a second connection at the same time, so
        // that encryption runs on two cores (as OpenSSH's sftp + ssh processes do).
        let mid = (size / 2) & !((1 << 20) - 1);
        let second = SftpStore::new(self.s.clone());
        let (local2, p2) = (local.to_owned(), p.clone());
        let other = std::thread::scope(|scope| {
            let h = scope.spawn(move || -> Result<(), TargetError> {
                let (sess, sftp) = second.do_connect()?;
                let mut f = sftp
                    .open_mode(Path::new(&p2), ssh2::OpenFlags::WRITE, 0o644, ssh2::OpenType::File)
                    .map_err(|e| second.err("open", &p2, e))?;
                let mut src = std::fs::File::open(&local2).map_err(|e| second.pump_err(PumpError::Local(e), &local2, &p2))?;
                src.seek(SeekFrom::Start(mid)).map_err(|e| second.pump_err(PumpError::Local(e), &local2, &p2))?;
                f.seek(SeekFrom::Start(mid)).map_err(|e| second.err("seek", &p2, e))?;
                pump(&mut src, size - mid, &mut f, &mut |_| {}).map_err(|e| second.pump_err(e, &local2, &p2))?;
                let r = second.finish(f, &p2);
                drop(sftp);
                let _ = sess.disconnect(None, "bye", None);
                r
            });
            let mine = pump(&mut src, mid, &mut dst, progress).map_err(|e| self.pump_err(e, local, &p));
            let theirs = h.join().unwrap_or_else(|_| {
                Err(TargetError::Protocol { target: self.s.name.clone(), detail: "upload thread panicked".into() })
            });
            mine.and(theirs).map(|()| dst)
        });
        let dst = other?;
        progress(size - mid);
        self.finish(dst, &p)
    }
    fn rename_new(&mut self, dir: &[String], from: &str, to: &str) -> Result<(), TargetError> {
        let (f, t) = (Self::remote(dir, from), Self::remote(dir, to));
        let sftp = self.sftp()?;
        // OpenSSH never renames onto an existing file, whatever the flags.
        let r = sftp.rename(Path::new(&f), Path::new(&t), Some(ssh2::RenameFlags::ATOMIC | ssh2::RenameFlags::NATIVE));
        r.map_err(|e| self.err("rename", &f, e))
    }
    fn sha256_of(&mut self, dir: &[String], name: &str) -> Result<[u8; 32], TargetError> {
        let p = Self::remote(dir, name);
        let sftp = self.sftp()?;
        let f = match sftp.open(Path::new(&p)) {
            Ok(f) => f,
            Err(e) => return Err(self.err("open", &p, e)),
        };
        crate::set::sha256_reader(std::io::BufReader::with_capacity(1 << 20, f)).map_err(|e| self.err("read", &p, e))
    }
    fn location(&self, dir: &[String]) -> String {
        format!("sftp://{}@{}:{}/~/{}", self.s.username, self.s.server, self.s.port, dir.join("/"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_forms() {
        assert!(check_host_key_format("SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s").is_ok());
        assert!(check_host_key_format("MD5:aa:bb").unwrap_err().contains("ssh-keygen"));
        assert!(check_host_key_format("SHA256:short").is_err());
    }
}
