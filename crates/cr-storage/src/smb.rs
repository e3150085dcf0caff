//! The `smb` target (pavao / libsmbclient).

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use pavao::{SmbClient, SmbCredentials, SmbError, SmbOpenOptions, SmbOptions};

use crate::error::TargetError;
use crate::target::Store;
use crate::template::PathRules;

/// Settings of an SMB target (S22).
#[derive(Clone)]
#[non_exhaustive]
pub struct SmbSettings {
    /// Target name.
    pub name: String,
    /// Host name or IP, no `smb://`.
    pub server: String,
    /// Port (445).
    pub port: u16,
    /// Share name, no sub-directory.
    pub share: String,
    /// Domain / workgroup ("" for none).
    pub domain: String,
    /// User name without domain.
    pub username: String,
    /// Password.
    pub password: String,
    /// I/O timeout.
    pub timeout: Duration,
}

impl std::fmt::Debug for SmbSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SmbSettings({} //{}:{}/{} user {}\\{})", self.name, self.server, self.port, self.share, self.domain, self.username)
    }
}

impl SmbSettings {
    /// Settings with port 445, no domain and a 30 s timeout.
    pub fn new(name: &str, server: &str, share: &str, username: &str, password: &str) -> Self {
        Self {
            name: name.into(),
            server: server.into(),
            port: 445,
            share: share.into(),
            domain: String::new(),
            username: username.into(),
            password: password.into(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// An SMB share (connection made on first use). libsmbclient serializes all its calls in
/// one process.
pub struct SmbStore {
    s: SmbSettings,
    client: Option<SmbClient>,
}

impl std::fmt::Debug for SmbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SmbStore({:?})", self.s)
    }
}

impl SmbStore {
    /// A store with these settings.
    pub fn new(settings: SmbSettings) -> Self {
        Self { s: settings, client: None }
    }

    fn path(dir: &[String], name: &str) -> String {
        if dir.is_empty() { format!("/{name}") } else { format!("/{}/{name}", dir.join("/")) }
    }

    fn map(&self, op: &'static str, path: &str, e: SmbError) -> TargetError {
        let address = format!("smb://{}:{}/{}", self.s.server, self.s.port, self.s.share);
        if let SmbError::Io(io) = &e {
            match io.raw_os_error() {
                Some(111) | Some(113) | Some(110) | Some(104) | Some(32) | Some(112) => {
                    return TargetError::Connect { target: self.s.name.clone(), address, detail: io.to_string() };
                }
                Some(13) | Some(1) if op == "connect" => {
                    return TargetError::Auth {
                        target: self.s.name.clone(),
                        detail: format!(
                            "user {}\\{} refused on share {} ({io}): check user name, password and the user's rights on the share",
                            self.s.domain, self.s.username, self.s.share
                        ),
                    };
                }
                Some(28) => {
                    return TargetError::Remote {
                        target: self.s.name.clone(),
                        op,
                        path: path.to_owned(),
                        detail: format!("the share is full ({io})"),
                    };
                }
                _ => {}
            }
        }
        TargetError::Remote { target: self.s.name.clone(), op, path: path.to_owned(), detail: e.to_string() }
    }

    fn client(&mut self) -> Result<&SmbClient, TargetError> {
        self.connect()?;
        self.client
            .as_ref()
            .ok_or_else(|| TargetError::Protocol { target: self.s.name.clone(), detail: "not connected".into() })
    }
}

fn not_found(e: &SmbError) -> bool {
    matches!(e, SmbError::Io(io) if io.kind() == std::io::ErrorKind::NotFound)
}

impl Store for SmbStore {
    fn target_name(&self) -> &str {
        &self.s.name
    }
    fn rules(&self) -> PathRules {
        PathRules::Smb
    }
    fn describe(&self) -> String {
        let dom = if self.s.domain.is_empty() { String::new() } else { format!("{}\\", self.s.domain) };
        format!("smb //{}:{}/{} as {dom}{}", self.s.server, self.s.port, self.s.share, self.s.username)
    }
    fn connect(&mut self) -> Result<(), TargetError> {
        if self.client.is_some() {
            return Ok(());
        }
        let creds = SmbCredentials::default()
            .server(format!("smb://{}:{}", self.s.server, self.s.port))
            .share(format!("/{}", self.s.share))
            .username(&self.s.username)
            .password(&self.s.password)
            .workgroup(&self.s.domain);
        let opts = SmbOptions::default().no_auto_anonymous_login(true).case_sensitive(true);
        let client = SmbClient::new(creds, opts).map_err(|e| self.map("connect", "/", e))?;
        let _ = client.set_timeout(self.s.timeout);
        // libsmbclient connects lazily: touch the share root to sign in now.
        client.stat("/").map_err(|e| self.map("connect", "/", e))?;
        self.client = Some(client);
        Ok(())
    }
    fn disconnect(&mut self) {
        self.client = None;
    }
    fn ensure_dir(&mut self, dir: &[String]) -> Result<(), TargetError> {
        for i in 1..=dir.len() {
            let p = format!("/{}", dir[..i].join("/"));
            let c = self.client()?;
            let r = match c.stat(&p) {
                Ok(st) if st.mode.is_dir() => continue,
                Ok(_) => Err(SmbError::BadValue),
                Err(e) if not_found(&e) => c.mkdir(&p, 0o755.into()).or_else(|e| match c.stat(&p) {
                    Ok(st) if st.mode.is_dir() => Ok(()),
                    _ => Err(e),
                }),
                Err(e) => Err(e),
            };
            r.map_err(|e| self.map("mkdir", &p, e))?;
        }
        Ok(())
    }
    fn size_of(&mut self, dir: &[String], name: &str) -> Result<Option<u64>, TargetError> {
        let p = Self::path(dir, name);
        match self.client()?.stat(&p) {
            Ok(st) => Ok(Some(st.size)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(self.map("stat", &p, e)),
        }
    }
    fn put(&mut self, local: &Path, dir: &[String], name: &str, progress: &mut dyn FnMut(u64)) -> Result<(), TargetError> {
        let p = Self::path(dir, name);
        let lerr = |e: std::io::Error, n: &str| TargetError::Local { target: n.to_owned(), path: local.to_owned(), detail: e.to_string() };
        let mut src = std::fs::File::open(local).map_err(|e| lerr(e, &self.s.name))?;
        let c = self.client()?;
        let res: Result<(), SmbError> = (|| {
            let mut dst = c.open_with(&p, SmbOpenOptions::default().create(true).write(true).truncate(true))?;
            let mut buf = vec![0u8; 4 << 20];
            loop {
                let n = src.read(&mut buf).map_err(SmbError::Io)?;
                if n == 0 {
                    break;
                }
                dst.write_all(&buf[..n]).map_err(SmbError::Io)?;
                progress(n as u64);
            }
            Ok(())
        })();
        res.map_err(|e| self.map("write", &p, e))
    }
    fn rename_new(&mut self, dir: &[String], from: &str, to: &str) -> Result<(), TargetError> {
        let (f, t) = (Self::path(dir, from), Self::path(dir, to));
        // libsmbclient's rename replaces an existing file; the caller checked `to` is absent.
        self.client()?.rename(&f, &t).map_err(|e| self.map("rename", &f, e))
    }
    fn remove(&mut self, dir: &[String], name: &str) -> Result<bool, TargetError> {
        let p = Self::path(dir, name);
        // libsmbclient's unlink also removes an empty directory: look first, and never
        // delete a directory where a file of the set was.
        let c = self.client()?;
        match c.stat(&p) {
            Ok(st) if st.mode.is_dir() => {
                return Err(TargetError::Remote {
                    target: self.s.name.clone(),
                    op: "remove",
                    path: p,
                    detail: "a directory, not a file: not deleted".into(),
                });
            }
            Ok(_) => {}
            Err(e) if not_found(&e) => return Ok(false),
            Err(e) => return Err(self.map("stat", &p, e)),
        }
        match c.unlink(&p) {
            Ok(()) => Ok(true),
            Err(e) if not_found(&e) => Ok(false),
            Err(e) => Err(self.map("remove", &p, e)),
        }
    }
    fn read_into(&mut self, dir: &[String], name: &str, sink: &mut dyn std::io::Write) -> Result<Option<u64>, TargetError> {
        let p = Self::path(dir, name);
        let c = self.client()?;
        let r = match c.open_with(&p, SmbOpenOptions::default().read(true)) {
            Ok(f) => std::io::copy(&mut std::io::BufReader::with_capacity(1 << 20, f), sink).map(Some).map_err(SmbError::Io),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e),
        };
        r.map_err(|e| self.map("read", &p, e))
    }
    fn location(&self, dir: &[String]) -> String {
        format!("smb://{}:{}/{}/{}", self.s.server, self.s.port, self.s.share, dir.join("/"))
    }
}
