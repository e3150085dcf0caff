//! An installation in a temp dir, as cr-recorder, cr-uploader and the deletion pass leave
//! it: a SQLite journal, a keystore identity, a spool and a folder target `nas`. Sets are
//! sealed into the chain through the one sealing path (`cr_sign::seal_into_chain`),
//! delivered by the real uploader, and deleted by the real `cr_retention::Pass`, whose
//! receipts are then delivered the same way.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Duration, TimeZone, Utc};
use cr_journal::{Direction, FileEntry, Journal, NewCall, NewRecording};
use cr_storage::{DirTemplate, FileDeliveryLog, FolderStore, PathRules, Spool, StoreTarget, Uploader, Zone};

#[path = "../../../cr-uploader/src/journal_log.rs"]
mod journal_log;

pub const MODULE: &str = "pbx-verify";
pub const TEMPLATE: &str = "$Y/$M/$D";

pub struct Install {
    pub dir: tempfile::TempDir,
    pub journal: Journal,
    pub identity: cr_sign::Identity,
    pub spool: Spool,
    /// The folder target's base.
    pub nas: PathBuf,
    /// The certificate, as `crctl cert` writes it.
    pub cert: PathBuf,
}

/// The start of the call recorded as set number `n` (1-based): one an hour from 2020-01-01.
pub fn start_of(n: u64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap() + Duration::hours(n as i64)
}

/// The id of set number `n`.
pub fn id_of(n: u64) -> String {
    format!("{}-{n:04}", start_of(n).format("%Y%m%dT%H%M%S"))
}

impl Install {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let journal =
            Journal::open_sqlite(&dir.path().join("journal.sqlite"), &cr_journal::OpenOptions::new()).unwrap();
        let identity =
            cr_sign::Identity::generate(MODULE, Utc.with_ymd_and_hms(2019, 12, 1, 0, 0, 0).unwrap()).unwrap();
        let spool = Spool::open(dir.path().join("spool")).unwrap();
        let nas = dir.path().join("nas");
        std::fs::create_dir(&nas).unwrap();
        let cert = dir.path().join("cert.pem");
        std::fs::write(&cert, identity.certificate().pem()).unwrap();
        Self { dir, journal, identity, spool, nas, cert }
    }

    /// Records the call of set number `n` and seals its set into the chain (metadata with
    /// the chain link and `expires_at`), spooled for `nas`.
    pub fn seal(&self, n: u64, expires_at: DateTime<Utc>) {
        let id = id_of(n);
        let start = start_of(n);
        let end = start + Duration::seconds(30);
        let call = self
            .journal
            .record_call(&NewCall {
                pbx_call_id: format!("pbx-{n}"),
                direction: Direction::Incoming,
                caller: "+493012345".into(),
                callee: "201".into(),
                diversions: vec![],
                started_at: start,
                record: true,
                configuration: Some("desk".into()),
                reason: "test".into(),
            })
            .unwrap();
        self.journal.end_call(call, end).unwrap();
        let staging = self.spool.staging_dir(&id).unwrap();
        let wav = staging.join(format!("{id}.wav"));
        std::fs::write(&wav, format!("audio of call {n}").repeat(50)).unwrap();
        let mut hashed = cr_sign::HashedFiles::new(&id).unwrap();
        hashed.add(&[wav]).unwrap();
        let meta_path = staging.join(format!("{id}.json"));
        let meta = |link: &cr_journal::ChainLink| {
            serde_json::to_vec_pretty(&serde_json::json!({
                "id": id, "module_id": MODULE, "chain": link, "started_at": start, "expires_at": expires_at,
            }))
            .unwrap()
        };
        let commit = |res: cr_journal::ChainReservation<'_>, sealed: &cr_sign::SealedSet| {
            res.commit(
                &sealed.checksum_sha256,
                &NewRecording {
                    set_id: id.clone(),
                    call,
                    configuration: "desk".into(),
                    started_at: start,
                    ended_at: end,
                    channels: "stereo".into(),
                    files: sealed
                        .files
                        .iter()
                        .map(|f| FileEntry { name: f.name.clone(), size: f.size, sha256: f.sha256.clone() })
                        .collect(),
                    cert_fingerprint: self.identity.certificate().fingerprint_sha256(),
                    flags: vec![],
                    location: self.spool.set_dir(&id).display().to_string(),
                    targets: vec!["nas".into()],
                    expires_at: Some(expires_at),
                },
            )
        };
        cr_sign::seal_into_chain(&self.journal, &self.identity, hashed, &id, end, &meta_path, meta, commit).unwrap();
        self.spool.enqueue(&staging, &id, &["nas".to_owned()], start, end).unwrap();
    }

    /// Seals an audit checkpoint into the chain at `at` (typed metadata, as the deletion
    /// pass will), spooled for `nas`; returns its id.
    pub fn seal_checkpoint(&self, at: DateTime<Utc>) -> String {
        let id = format!("{}-ckpt", at.format("%Y%m%dT%H%M%S"));
        let staging = self.spool.staging_dir(&id).unwrap();
        let meta_path = staging.join(format!("{id}.json"));
        let cert = self.identity.certificate().fingerprint_sha256();
        let meta = |link: &cr_journal::ChainLink| {
            serde_json::to_vec_pretty(&cr_types::chain_set::AuditCheckpoint {
                format: cr_types::chain_set::AuditCheckpoint::FORMAT,
                kind: cr_types::SetKind::AuditCheckpoint,
                id: id.clone(),
                module_id: MODULE.into(),
                chain: link.clone(),
                certificate_sha256: cert.clone(),
                audit_event_id: 1,
                audit_event_sha256: "ab".repeat(32),
                audit_event_at: at,
                sealed_at: at,
            })
            .unwrap()
        };
        let commit = |res: cr_journal::ChainReservation<'_>, sealed: &cr_sign::SealedSet| {
            res.commit_chain_set(
                &sealed.checksum_sha256,
                &cr_journal::NewChainSet {
                    set_id: id.clone(),
                    kind: cr_journal::SetKind::AuditCheckpoint,
                    configuration: String::new(),
                    started_at: at,
                    files: sealed
                        .files
                        .iter()
                        .map(|f| FileEntry { name: f.name.clone(), size: f.size, sha256: f.sha256.clone() })
                        .collect(),
                    cert_fingerprint: cert.clone(),
                    location: self.spool.set_dir(&id).display().to_string(),
                    targets: vec!["nas".into()],
                    deleted: None,
                },
            )
        };
        let hashed = cr_sign::HashedFiles::new(&id).unwrap();
        cr_sign::seal_into_chain(&self.journal, &self.identity, hashed, &id, at, &meta_path, meta, commit).unwrap();
        self.spool.enqueue(&staging, &id, &["nas".to_owned()], at, at).unwrap();
        id
    }

    fn target(&self) -> (Box<dyn cr_storage::Target>, DirTemplate) {
        (
            Box::new(StoreTarget::new(FolderStore::new("nas", &self.nas))),
            DirTemplate::parse(TEMPLATE, PathRules::Folder).unwrap(),
        )
    }

    /// Delivers everything the spool holds to `nas` with the real uploader, until the
    /// spool is empty (a generous number of passes; each normally delivers everything).
    pub fn deliver(&self) {
        // cr-uploader's own delivery log: the spool's files mirrored into the journal's
        // uploads table (what the deletion pass reads to know where a set lies).
        let log = journal_log::JournalDeliveryLog::new(
            FileDeliveryLog::new(self.spool.root()),
            Journal::open_sqlite(&self.dir.path().join("journal.sqlite"), &cr_journal::OpenOptions::new()).unwrap(),
        );
        let mut up = Uploader::new(self.spool.clone(), Box::new(log), Zone::parse(Some("UTC")).unwrap());
        let (t, tpl) = self.target();
        up.add_target(t, tpl);
        for _ in 0..50 {
            let report = up.pass(&Utc::now, &|_| {});
            assert!(report.failed.is_empty() && report.spool_errors.is_empty(), "{report:?}");
            if self.spool.pending().unwrap().is_empty() {
                return;
            }
        }
        panic!("the spool did not empty: {:?}", self.spool.pending().unwrap());
    }

    /// One deletion pass at `now` over `nas` and the spool; the outcome lines and the
    /// audit checkpoint it sealed, if any.
    pub fn retention_pass(&self, now: DateTime<Utc>) -> (Vec<String>, Option<String>) {
        let mut pass = cr_retention::Pass::new(
            &self.journal,
            &self.identity,
            &self.spool,
            Zone::parse(Some("UTC")).unwrap(),
            MODULE,
            "test",
        );
        let (t, tpl) = self.target();
        pass.add_target(t, tpl);
        let report = pass.run(now, false).unwrap();
        (report.outcomes.iter().map(|o| o.to_string()).collect(), report.checkpoint)
    }

    /// The directory of `nas` that holds `name`, searched recursively.
    pub fn find(&self, name: &str) -> Option<PathBuf> {
        find_in(&self.nas, name)
    }
}

fn find_in(dir: &Path, name: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()? {
        let p = e.ok()?.path();
        if p.is_dir() {
            if let Some(f) = find_in(&p, name) {
                return Some(f);
            }
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    None
}

/// Runs cr-verify; (exit code, stdout, stderr).
pub fn cr_verify(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cr-verify")).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// True if `tool` is on PATH; else skipped loudly, or a failure under CALLREC_TEST_STRICT=1.
pub fn have(tool: &str) -> bool {
    let found =
        Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CALLREC_TEST_STRICT").as_deref() != Ok("1"),
            "{tool} is required (CALLREC_TEST_STRICT=1)"
        );
        eprintln!("SKIPPED: {tool} is not installed");
    }
    found
}

/// Copies the tree `from` to `to` (a backup of the archive).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}
