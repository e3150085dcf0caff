//! The spool: sealed sets waiting for their targets, and the per-target delivery log.
//!
//! Layout under `data_dir/spool/`:
//!
//! ```text
//! <id>/                  the sealed set (every file is delivered)
//! <id>.set.json          which targets the set must reach, its start time; written last,
//!                        so a set without it is not complete yet and is not delivered
//! <id>.delivery.json     FileDeliveryLog: attempts, successes, failures per target
//! <id>.done.json         transient: the set is being removed after every target confirmed
//! .incoming/<id>/        where a recorder may build a set before `enqueue` moves it in
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::SpoolError;
use crate::set::{RecordingSet, check_id};

/// A set's place in the spool's incoming area ([`Spool::incoming`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingSlot {
    dir: PathBuf,
    id: String,
}

impl IncomingSlot {
    /// The set id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The directory (build the set here, then [`Spool::enqueue`] it).
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Whether a set is being built (or was left) here.
    pub fn exists(&self) -> bool {
        self.dir.exists()
    }

    /// Removes what the slot holds; nothing there is no error.
    pub fn discard(&self) -> Result<(), SpoolError> {
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(SpoolError::io(&self.dir)(e)),
            _ => Ok(()),
        }
    }
}

/// What the spool knows about a waiting set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SetMeta {
    /// The set id.
    pub id: String,
    /// Names of the targets it must reach.
    pub targets: Vec<String>,
    /// When the recording started (for the directory template).
    pub started_at: DateTime<Utc>,
    /// When it entered the spool (for "oldest waiting" in notifications).
    pub enqueued_at: DateTime<Utc>,
}

/// The spool directory.
///
/// ```
/// # let tmp = tempfile::tempdir().unwrap();
/// use cr_storage::{Spool, FileDeliveryLog, DeliveryLog};
/// let spool = Spool::open(tmp.path().join("spool")).unwrap();
/// let dir = spool.staging_dir("r1").unwrap();
/// std::fs::write(dir.join("r1.json"), "{}").unwrap();
/// std::fs::write(dir.join("r1.sha256"), "").unwrap();
/// let now = chrono::Utc::now();
/// spool.enqueue(&dir, "r1", &["nas".to_owned()], now, now).unwrap();
/// assert_eq!(spool.pending().unwrap().len(), 1);
/// let mut log = FileDeliveryLog::new(spool.root());
/// assert!(spool.remove_if_delivered("r1", &log).is_err()); // nas has not confirmed
/// log.record_success("r1", "nas", now, "nas:/r1", &[]).unwrap();
/// spool.remove_if_delivered("r1", &log).unwrap();
/// assert!(spool.pending().unwrap().is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct Spool {
    root: PathBuf,
}

impl Spool {
    /// Opens (creating if needed) the spool at `root`, usually `data_dir/spool`, and finishes
    /// removals a crash interrupted.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, SpoolError> {
        let root = root.into();
        crate::private_dir(&root).map_err(SpoolError::io(&root))?;
        crate::private_dir(&root.join(".incoming")).map_err(SpoolError::io(&root))?;
        let spool = Self { root };
        spool.finish_removals()?;
        Ok(spool)
    }

    /// The spool directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A fresh directory on the spool's file system where a recorder can build set `id`
    /// before handing it to [`Spool::enqueue`] (which then only renames it).
    pub fn staging_dir(&self, id: &str) -> Result<PathBuf, SpoolError> {
        check_id(id)?;
        let d = self.root.join(".incoming").join(id);
        crate::private_dir(&d).map_err(SpoolError::io(&d))?;
        Ok(d)
    }

    /// The incoming slot of set `id` (`.incoming/<id>/`), which may or may not exist: what
    /// a recorder needs to find, hand over or discard a set it was building when it
    /// stopped, without knowing where the spool keeps it.
    pub fn incoming(&self, id: &str) -> Result<IncomingSlot, SpoolError> {
        check_id(id)?;
        Ok(IncomingSlot { dir: self.root.join(".incoming").join(id), id: id.to_owned() })
    }

    /// Hands the sealed set `id` in `set_dir` to the spool: the directory is moved into the
    /// spool (copied and synced first when it lies on another file system), then the set's
    /// targets are recorded. From then on the uploader delivers it.
    pub fn enqueue(
        &self,
        set_dir: &Path,
        id: &str,
        targets: &[String],
        started_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<PathBuf, SpoolError> {
        check_id(id)?;
        if targets.is_empty() {
            return Err(SpoolError::BadSet { id: id.into(), reason: "no targets given".into() });
        }
        let dest = self.set_dir(id);
        if self.meta_path(id).exists() {
            return Err(SpoolError::BadSet { id: id.into(), reason: "a set with this id is already in the spool".into() });
        }
        RecordingSet::open(set_dir, id)?;
        if set_dir != dest {
            if dest.exists() {
                return Err(SpoolError::BadSet {
                    id: id.into(),
                    reason: format!("{} exists already", dest.display()),
                });
            }
            if std::fs::rename(set_dir, &dest).is_err() {
                // Another file system: copy, sync, and only then remove the original.
                let part = self.root.join(".incoming").join(format!("{id}.copying"));
                let _ = std::fs::remove_dir_all(&part);
                copy_dir_synced(set_dir, &part)?;
                std::fs::rename(&part, &dest).map_err(SpoolError::io(&dest))?;
                sync_dir(&self.root)?;
                std::fs::remove_dir_all(set_dir).map_err(SpoolError::io(set_dir))?;
            }
        }
        sync_dir(&self.root)?;
        let meta = SetMeta { id: id.into(), targets: targets.to_vec(), started_at, enqueued_at: now };
        write_json_atomic(&self.meta_path(id), &meta)?;
        Ok(dest)
    }

    /// Waiting sets, oldest id first.
    pub fn pending(&self) -> Result<Vec<SetMeta>, SpoolError> {
        pending_in(&self.root)
    }

    /// The spool's gauges on the recorder's `/metrics`; see [`spool_gauges`].
    pub fn gauges(&self, now: DateTime<Utc>) -> Result<SpoolGauges, SpoolError> {
        spool_gauges(&self.root, now)
    }

    /// The directory of set `id` in the spool.
    pub fn set_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// The files of set `id`.
    pub fn open_set(&self, id: &str) -> Result<RecordingSet, SpoolError> {
        RecordingSet::open(&self.set_dir(id), id)
    }

    /// Removes set `id` from the spool — only if `log` has a confirmed delivery for every
    /// target the set names; otherwise nothing is touched and an error says which target is
    /// missing.
    pub fn remove_if_delivered(&self, id: &str, log: &dyn DeliveryLog) -> Result<(), SpoolError> {
        check_id(id)?;
        let meta: SetMeta = read_json(&self.meta_path(id))?;
        for t in &meta.targets {
            if log.state(id, t)?.delivered.is_none() {
                return Err(SpoolError::BadSet {
                    id: id.into(),
                    reason: format!("target {t} has not confirmed it yet; the set stays in the spool"),
                });
            }
        }
        let done = self.root.join(format!("{id}.done.json"));
        std::fs::rename(self.meta_path(id), &done).map_err(SpoolError::io(&done))?;
        sync_dir(&self.root)?;
        self.finish_removal(id)
    }

    /// Deletes set `id` from the spool whatever its deliveries (the deletion pass, at the
    /// end of its retention): the set's directory and its spool files, crash-safe as
    /// [`remove_if_delivered`](Self::remove_if_delivered) is, then looks again. Returns
    /// how many of the set's files were deleted (0: it was not in the spool).
    pub fn remove_set(&self, id: &str) -> Result<usize, SpoolError> {
        check_id(id)?;
        let dir = self.set_dir(id);
        let files = match std::fs::read_dir(&dir) {
            Ok(entries) => entries.filter_map(Result::ok).filter(|e| e.path().is_file()).count(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(SpoolError::io(&dir)(e)),
        };
        if self.meta_path(id).exists() {
            let done = self.root.join(format!("{id}.done.json"));
            std::fs::rename(self.meta_path(id), &done).map_err(SpoolError::io(&done))?;
            sync_dir(&self.root)?;
        }
        self.finish_removal(id)?;
        sync_dir(&self.root)?;
        if dir.exists() || self.meta_path(id).exists() {
            return Err(SpoolError::BadSet { id: id.into(), reason: format!("{} is still there after deletion", dir.display()) });
        }
        Ok(files)
    }

    fn finish_removal(&self, id: &str) -> Result<(), SpoolError> {
        let dir = self.set_dir(id);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(SpoolError::io(&dir))?;
        }
        for suffix in ["delivery.json", "done.json"] {
            let p = self.root.join(format!("{id}.{suffix}"));
            if p.exists() {
                std::fs::remove_file(&p).map_err(SpoolError::io(&p))?;
            }
        }
        Ok(())
    }

    fn finish_removals(&self) -> Result<(), SpoolError> {
        for entry in std::fs::read_dir(&self.root).map_err(SpoolError::io(&self.root))? {
            let entry = entry.map_err(SpoolError::io(&self.root))?;
            if let Some(id) = entry.file_name().to_str().and_then(|n| n.strip_suffix(".done.json"))
                && check_id(id).is_ok()
            {
                self.finish_removal(id)?;
            }
        }
        Ok(())
    }

    fn meta_path(&self, id: &str) -> PathBuf {
        self.root.join(format!("{id}.set.json"))
    }

    /// Free space of the spool's file system in percent (0–100).
    /// The figure `callrec_spool_free_percent` of both daemons' `/metrics`; see
    /// [`free_percent`].
    pub fn free_percent(&self) -> Result<f64, SpoolError> {
        free_percent(&self.root).map_err(SpoolError::io(&self.root))
    }
}

/// Free space of the file system holding `dir`, in percent (0–100) of its size: the space
/// an unprivileged process may still use (`f_bavail`, as `df` shows it) over the total. One
/// function for the daemons' `callrec_spool_free_percent` and for readers that must not open
/// (and so tidy) the spool, such as the console's status page.
pub fn free_percent(dir: &Path) -> std::io::Result<f64> {
    let avail = fs4::available_space(dir)?;
    let total = fs4::total_space(dir)?;
    if total == 0 {
        return Ok(100.0);
    }
    Ok(avail as f64 * 100.0 / total as f64)
}

/// The sets waiting in the spool at `root`, oldest id first (read only: unlike
/// [`Spool::open`], nothing is created or tidied).
fn pending_in(root: &Path) -> Result<Vec<SetMeta>, SpoolError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).map_err(SpoolError::io(root))? {
        let entry = entry.map_err(SpoolError::io(root))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(id) = name.strip_suffix(".set.json") {
            if check_id(id).is_err() {
                continue;
            }
            out.push(read_json::<SetMeta>(&entry.path())?);
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// The spool's figures on the recorder's `/metrics`, computed in one place for it and for
/// the console's status page, so that they cannot drift.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SpoolGauges {
    /// `callrec_spool_sets`: sets waiting in the spool.
    pub sets: usize,
    /// `callrec_spool_oldest_seconds`: age of the oldest waiting set (since it was
    /// enqueued) at `now`, 0 for an empty spool.
    pub oldest_secs: i64,
    /// `callrec_spool_free_percent`: see [`free_percent`].
    pub free_percent: f64,
}

/// The [`SpoolGauges`] of the spool at `dir` at `now`, read only (the spool is not opened,
/// so nothing is created or tidied: for readers beside the daemons).
pub fn spool_gauges(dir: &Path, now: DateTime<Utc>) -> Result<SpoolGauges, SpoolError> {
    let list = pending_in(dir)?;
    let oldest_secs = list.iter().map(|s| (now - s.enqueued_at).num_seconds().max(0)).max().unwrap_or(0);
    let free_percent = free_percent(dir).map_err(SpoolError::io(dir))?;
    Ok(SpoolGauges { sets: list.len(), oldest_secs, free_percent })
}

/// Delivery state of one set at one target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeliveryState {
    /// Attempts so far.
    pub attempts: u32,
    /// When the last attempt started.
    pub last_attempt: Option<DateTime<Utc>>,
    /// The last failure's message (cleared on success).
    pub last_error: Option<String>,
    /// When the target confirmed the set, and where it lies there.
    pub delivered: Option<(DateTime<Utc>, String)>,
}

/// Where delivery attempts and confirmations are recorded per (set, target). The crate ships
/// [`FileDeliveryLog`]; a journal database can implement it too.
pub trait DeliveryLog {
    /// An attempt to deliver `set` to `target` starts.
    fn record_attempt(&mut self, set: &str, target: &str, at: DateTime<Utc>) -> Result<(), SpoolError>;
    /// `target` confirmed `set`; `location` says where it lies there, `dir` the directory
    /// below the target's base it was delivered into (segments, as rendered then).
    fn record_success(
        &mut self,
        set: &str,
        target: &str,
        at: DateTime<Utc>,
        location: &str,
        dir: &[String],
    ) -> Result<(), SpoolError>;
    /// An attempt failed with `error`.
    fn record_failure(&mut self, set: &str, target: &str, at: DateTime<Utc>, error: &str) -> Result<(), SpoolError>;
    /// The state of `set` at `target` (default state when nothing was recorded).
    fn state(&self, set: &str, target: &str) -> Result<DeliveryState, SpoolError>;
    /// A file was added to `set` after `target` may have confirmed it (its time-stamp
    /// token): the set is to be delivered to `target` again.
    fn reopen(&mut self, set: &str, target: &str) -> Result<(), SpoolError>;
}

/// [`DeliveryLog`] in JSON files `<set>.delivery.json` beside the sets, each replaced
/// atomically on every change.
#[derive(Debug, Clone)]
pub struct FileDeliveryLog {
    dir: PathBuf,
}

impl FileDeliveryLog {
    /// A log keeping its files in `dir` (usually the spool root).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn path(&self, set: &str) -> PathBuf {
        self.dir.join(format!("{set}.delivery.json"))
    }

    fn load(&self, set: &str) -> Result<BTreeMap<String, DeliveryState>, SpoolError> {
        check_id(set)?;
        let p = self.path(set);
        if !p.exists() {
            return Ok(BTreeMap::new());
        }
        read_json(&p)
    }

    fn update(&mut self, set: &str, target: &str, f: impl FnOnce(&mut DeliveryState)) -> Result<(), SpoolError> {
        let mut all = self.load(set)?;
        f(all.entry(target.to_owned()).or_default());
        write_json_atomic(&self.path(set), &all)
    }
}

impl DeliveryLog for FileDeliveryLog {
    fn record_attempt(&mut self, set: &str, target: &str, at: DateTime<Utc>) -> Result<(), SpoolError> {
        self.update(set, target, |s| {
            s.attempts += 1;
            s.last_attempt = Some(at);
        })
    }
    fn record_success(
        &mut self,
        set: &str,
        target: &str,
        at: DateTime<Utc>,
        location: &str,
        _dir: &[String],
    ) -> Result<(), SpoolError> {
        self.update(set, target, |s| {
            s.last_error = None;
            s.delivered = Some((at, location.to_owned()));
        })
    }
    fn record_failure(&mut self, set: &str, target: &str, _at: DateTime<Utc>, error: &str) -> Result<(), SpoolError> {
        self.update(set, target, |s| s.last_error = Some(error.to_owned()))
    }
    fn state(&self, set: &str, target: &str) -> Result<DeliveryState, SpoolError> {
        Ok(self.load(set)?.remove(target).unwrap_or_default())
    }
    fn reopen(&mut self, set: &str, target: &str) -> Result<(), SpoolError> {
        if self.state(set, target)?.delivered.is_none() {
            return Ok(());
        }
        self.update(set, target, |s| s.delivered = None)
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, SpoolError> {
    let text = std::fs::read(path).map_err(SpoolError::io(path))?;
    serde_json::from_slice(&text).map_err(|e| SpoolError::Corrupt { path: path.to_owned(), reason: e.to_string() })
}

/// Writes `value` as JSON to `path` through a synced temporary file and a rename.
pub(crate) fn write_json_atomic(path: &Path, value: &impl Serialize) -> Result<(), SpoolError> {
    let tmp = path.with_extension("tmp");
    let text = serde_json::to_vec_pretty(value)
        .map_err(|e| SpoolError::Corrupt { path: path.to_owned(), reason: e.to_string() })?;
    let mut f = std::fs::File::create(&tmp).map_err(SpoolError::io(&tmp))?;
    f.write_all(&text).map_err(SpoolError::io(&tmp))?;
    f.sync_all().map_err(SpoolError::io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(SpoolError::io(path))?;
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    std::fs::File::open(dir).and_then(|f| f.sync_all()).map_err(SpoolError::io(dir))
}

fn copy_dir_synced(from: &Path, to: &Path) -> Result<(), SpoolError> {
    std::fs::create_dir_all(to).map_err(SpoolError::io(to))?;
    for entry in std::fs::read_dir(from).map_err(SpoolError::io(from))? {
        let entry = entry.map_err(SpoolError::io(from))?;
        let src = entry.path();
        if !entry.metadata().map_err(SpoolError::io(&src))?.is_file() {
            continue;
        }
        let dst = to.join(entry.file_name());
        std::fs::copy(&src, &dst).map_err(SpoolError::io(&dst))?;
        std::fs::File::open(&dst).and_then(|f| f.sync_all()).map_err(SpoolError::io(&dst))?;
    }
    sync_dir(to)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn make_set(dir: &Path, id: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(format!("{id}.wav")), b"RIFF").unwrap();
        std::fs::write(dir.join(format!("{id}.sha256")), b"x").unwrap();
    }

    // Guards against: the gauges (recorder's /metrics, console's status page) counting
    // another age than the oldest enqueued set's, or tidying the spool they only read.
    #[test]
    fn gauges_count_waiting_sets_and_the_oldest_age_without_opening_the_spool() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("spool");
        let spool = Spool::open(&root).unwrap();
        let now = Utc::now();
        let empty = spool_gauges(&root, now).unwrap();
        assert_eq!((empty.sets, empty.oldest_secs), (0, 0));
        for (id, ago) in [("a1", 30), ("b2", 7200)] {
            let src = tmp.path().join(id);
            make_set(&src, id);
            spool.enqueue(&src, id, &["nas".to_owned()], now, now - chrono::Duration::seconds(ago)).unwrap();
        }
        std::fs::write(root.join("c3.done.json"), b"{}").unwrap();
        let g = spool.gauges(now).unwrap();
        assert_eq!((g.sets, g.oldest_secs), (2, 7200));
        assert!((0.0..=100.0).contains(&g.free_percent));
        // Read only: a removal left to finish stays for the daemon that opens the spool.
        assert!(root.join("c3.done.json").exists());
        assert!(spool_gauges(&tmp.path().join("missing"), now).is_err());
    }

    // Guards against: a recorder reaching into `.incoming` by path to find, hand over or
    // discard the set it was building.
    #[test]
    fn an_incoming_slot_is_the_staging_directory_of_its_set() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::open(tmp.path().join("spool")).unwrap();
        let slot = spool.incoming("r1").unwrap();
        assert!(!slot.exists());
        slot.discard().unwrap();
        let dir = spool.staging_dir("r1").unwrap();
        assert_eq!(slot.path(), dir);
        assert!(slot.exists());
        make_set(&dir, "r1");
        let now = chrono::Utc::now();
        spool.enqueue(slot.path(), slot.id(), &["nas".to_owned()], now, now).unwrap();
        assert!(!slot.exists());
        assert!(spool.incoming("../x").is_err());
        let other = spool.incoming("r2").unwrap();
        make_set(&spool.staging_dir("r2").unwrap(), "r2");
        other.discard().unwrap();
        assert!(!other.exists());
    }

    #[test]
    fn set_stays_until_every_target_confirmed() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::open(tmp.path().join("spool")).unwrap();
        let src = tmp.path().join("out");
        make_set(&src, "a1");
        let now = Utc::now();
        let targets = vec!["nas".to_owned(), "sftp".to_owned()];
        spool.enqueue(&src, "a1", &targets, now, now).unwrap();
        assert!(!src.exists());
        let mut log = FileDeliveryLog::new(spool.root());
        log.record_attempt("a1", "nas", now).unwrap();
        log.record_failure("a1", "nas", now, "down").unwrap();
        log.record_success("a1", "sftp", now, "x", &[]).unwrap();
        let e = spool.remove_if_delivered("a1", &log).unwrap_err();
        assert!(e.to_string().contains("nas"), "{e}");
        assert!(spool.set_dir("a1").join("a1.wav").exists());
        assert_eq!(log.state("a1", "nas").unwrap().attempts, 1);
        assert_eq!(log.state("a1", "nas").unwrap().last_error.as_deref(), Some("down"));
        log.record_success("a1", "nas", now, "y", &[]).unwrap();
        spool.remove_if_delivered("a1", &log).unwrap();
        assert!(!spool.set_dir("a1").exists());
        assert!(spool.pending().unwrap().is_empty());
    }

    #[test]
    fn remove_set_deletes_a_set_whatever_its_deliveries() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::open(tmp.path().join("spool")).unwrap();
        let st = spool.staging_dir("d1").unwrap();
        make_set(&st, "d1");
        let now = Utc::now();
        spool.enqueue(&st, "d1", &["t".to_owned()], now, now).unwrap();
        let mut log = FileDeliveryLog::new(spool.root());
        log.record_attempt("d1", "t", now).unwrap();
        assert_eq!(spool.remove_set("d1").unwrap(), 2);
        assert!(!spool.set_dir("d1").exists());
        assert!(spool.pending().unwrap().is_empty());
        assert!(!spool.root().join("d1.delivery.json").exists());
        // Again: nothing left, nothing deleted, no error.
        assert_eq!(spool.remove_set("d1").unwrap(), 0);
        assert!(spool.remove_set("../x").is_err());
    }

    #[test]
    fn interrupted_removal_is_finished_at_open() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("spool");
        let spool = Spool::open(&root).unwrap();
        let st = spool.staging_dir("b2").unwrap();
        make_set(&st, "b2");
        let now = Utc::now();
        spool.enqueue(&st, "b2", &["t".to_owned()], now, now).unwrap();
        // the state a crash right after the rename leaves behind
        std::fs::rename(root.join("b2.set.json"), root.join("b2.done.json")).unwrap();
        let spool = Spool::open(&root).unwrap();
        assert!(!spool.set_dir("b2").exists());
        assert!(spool.pending().unwrap().is_empty());
    }

    #[test]
    fn unsealed_or_duplicate_sets_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::open(tmp.path().join("spool")).unwrap();
        let src = tmp.path().join("out");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("c.wav"), b"x").unwrap();
        let now = Utc::now();
        assert!(spool.enqueue(&src, "c", &["t".into()], now, now).is_err());
        assert!(src.join("c.wav").exists());
        make_set(&src, "c");
        spool.enqueue(&src, "c", &["t".into()], now, now).unwrap();
        make_set(&src, "c");
        assert!(spool.enqueue(&src, "c", &["t".into()], now, now).is_err());
        assert!(spool.enqueue(&src, "c", &[], now, now).is_err());
        let pct = spool.free_percent().unwrap();
        assert!((0.0..=100.0).contains(&pct));
    }
}
