//! The `folder` target: a local or mounted directory.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::TargetError;
use crate::target::Store;
use crate::template::PathRules;

/// Mode of the files a folder target writes: the owner writes, the group reads.
pub(crate) const FILE_MODE: u32 = 0o640;
/// Mode of the directories it makes.
pub(crate) const DIR_MODE: u32 = 0o750;

/// A local or mounted folder (NFS, CIFS mount, USB disk).
///
/// Files are written 0640 and directories 0750 whatever the process's umask, so the
/// archive is readable by one group (an archive reader, a backup job) and nobody else.
#[derive(Debug, Clone)]
pub struct FolderStore {
    name: String,
    base: PathBuf,
    group: Option<u32>,
}

impl FolderStore {
    /// Target `name` writing below `base`. `base` must exist (a missing mount point must not
    /// silently fill the local disk).
    pub fn new(name: impl Into<String>, base: impl Into<PathBuf>) -> Self {
        Self { name: name.into(), base: base.into(), group: None }
    }

    /// Gives every file and directory it writes to group `gid` (the process must be a
    /// member). Default: the group the system gives (the process's, or the parent
    /// directory's when that is set-group-ID).
    pub fn with_group(mut self, gid: u32) -> Self {
        self.group = Some(gid);
        self
    }

    /// Sets the mode and, when configured, the group of `p`, which this target just made.
    fn share(&self, p: &Path, mode: u32) -> Result<(), TargetError> {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).map_err(|e| self.err("chmod", p, e))?;
        if let Some(gid) = self.group {
            std::os::unix::fs::chown(p, None, Some(gid)).map_err(|e| self.err("chgrp", p, e))?;
        }
        Ok(())
    }

    fn path(&self, dir: &[String]) -> PathBuf {
        let mut p = self.base.clone();
        p.extend(dir);
        p
    }

    fn err(&self, op: &'static str, path: &Path, e: std::io::Error) -> TargetError {
        TargetError::Remote { target: self.name.clone(), op, path: path.display().to_string(), detail: e.to_string() }
    }
}

impl Store for FolderStore {
    fn target_name(&self) -> &str {
        &self.name
    }
    fn rules(&self) -> PathRules {
        PathRules::Folder
    }
    fn describe(&self) -> String {
        format!("folder {}", self.base.display())
    }
    fn connect(&mut self) -> Result<(), TargetError> {
        if !self.base.is_dir() {
            return Err(TargetError::Connect {
                target: self.name.clone(),
                address: self.base.display().to_string(),
                detail: "the base folder does not exist (is it mounted?)".into(),
            });
        }
        Ok(())
    }
    fn disconnect(&mut self) {}
    fn ensure_dir(&mut self, dir: &[String]) -> Result<(), TargetError> {
        let mut p = self.base.clone();
        for seg in dir {
            p.push(seg);
            match std::fs::create_dir(&p) {
                Ok(()) => self.share(&p, DIR_MODE)?,
                Err(_) if p.is_dir() => {}
                Err(e) => return Err(self.err("mkdir", &p, e)),
            }
        }
        Ok(())
    }
    fn size_of(&mut self, dir: &[String], name: &str) -> Result<Option<u64>, TargetError> {
        let p = self.path(dir).join(name);
        match std::fs::metadata(&p) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err("stat", &p, e)),
        }
    }
    fn put(&mut self, local: &Path, dir: &[String], name: &str, progress: &mut dyn FnMut(u64)) -> Result<(), TargetError> {
        let p = self.path(dir).join(name);
        let mut src = std::fs::File::open(local).map_err(|e| TargetError::Local {
            target: self.name.clone(),
            path: local.to_owned(),
            detail: e.to_string(),
        })?;
        let mut dst = std::fs::File::create(&p).map_err(|e| self.err("create", &p, e))?;
        self.share(&p, FILE_MODE)?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = src.read(&mut buf).map_err(|e| TargetError::Local {
                target: self.name.clone(),
                path: local.to_owned(),
                detail: e.to_string(),
            })?;
            if n == 0 {
                break;
            }
            dst.write_all(&buf[..n]).map_err(|e| self.err("write", &p, e))?;
            progress(n as u64);
        }
        dst.sync_all().map_err(|e| self.err("sync", &p, e))?;
        Ok(())
    }
    fn remove(&mut self, dir: &[String], name: &str) -> Result<bool, TargetError> {
        let d = self.path(dir);
        let p = d.join(name);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(self.err("remove", &p, e)),
        }
        std::fs::File::open(&d).and_then(|f| f.sync_all()).map_err(|e| self.err("sync", &d, e))?;
        Ok(true)
    }
    fn rename_new(&mut self, dir: &[String], from: &str, to: &str) -> Result<(), TargetError> {
        let d = self.path(dir);
        let (from, to) = (d.join(from), d.join(to));
        // A hard link never replaces an existing file; fall back to rename where links are
        // not supported (some network file systems); the caller checked `to` is absent.
        match std::fs::hard_link(&from, &to) {
            Ok(()) => std::fs::remove_file(&from).map_err(|e| self.err("remove", &from, e))?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(self.err("link", &to, e)),
            Err(_) => std::fs::rename(&from, &to).map_err(|e| self.err("rename", &from, e))?,
        }
        std::fs::File::open(&d).and_then(|f| f.sync_all()).map_err(|e| self.err("sync", &d, e))
    }
    fn read_into(&mut self, dir: &[String], name: &str, sink: &mut dyn std::io::Write) -> Result<Option<u64>, TargetError> {
        let p = self.path(dir).join(name);
        let mut f = match std::fs::File::open(&p) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.err("open", &p, e)),
        };
        std::io::copy(&mut f, sink).map(Some).map_err(|e| self.err("read", &p, e))
    }
    fn location(&self, dir: &[String]) -> String {
        self.path(dir).display().to_string()
    }
}
