//! The `sftp` target (ssh2 / libssh2), with the host key pinned by its SHA-256 fingerprint.

use std::io::{Read, Write};
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
        sess.handshake().map_err(|e| cerr(format!("SSH handshake: {e}")))?;
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
        let mut src = std::fs::File::open(local).map_err(lerr)?;
        let sftp = self.sftp()?;
        let mut dst = match sftp.create(Path::new(&p)) {
            Ok(f) => f,
            Err(e) => return Err(self.err("create", &p, e)),
        };
        // Big writes let libssh2 keep many SFTP write requests in flight.
        let mut buf = vec![0u8; 4 << 20];
        loop {
            let n = src.read(&mut buf).map_err(|e| TargetError::Local {
                target: self.s.name.clone(),
                path: local.to_owned(),
                detail: e.to_string(),
            })?;
            if n == 0 {
                break;
            }
            if let Err(e) = dst.write_all(&buf[..n]) {
                return Err(self.err("write", &p, e));
            }
            progress(n as u64);
        }
        if let Err(e) = dst.fsync() {
            // Not every server offers fsync@openssh.com; the size check follows anyway.
            tracing::debug!(target: "cr_storage::sftp", "fsync {p}: {e}");
        }
        if let Err(e) = dst.close() {
            return Err(self.err("close", &p, e));
        }
        Ok(())
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
mod tests {
    use super::*;

    #[test]
    fn fingerprint_forms() {
        assert!(check_host_key_format("SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s").is_ok());
        assert!(check_host_key_format("MD5:aa:bb").unwrap_err().contains("ssh-keygen"));
        assert!(check_host_key_format("SHA256:short").is_err());
    }
}
