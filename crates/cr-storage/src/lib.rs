//! # cr-storage
//!
//! Delivery of sealed recording sets (SPEC S21–S30): directory templates
//! (`$Y $M $D $h $m $s`), the spool where sets wait until every target confirmed them,
//! targets (local folder, SFTP, SMB, OneDrive) behind one [`Target`] trait, the
//! [`Uploader`] that retries each target with back-off on its own, and the outage
//! [`Notifier`] that mails once when an outage starts, at reminder intervals, and once when
//! it is over.
//!
//! ```
//! use cr_storage::*;
//! # let tmp = tempfile::tempdir().unwrap();
//! # let archive = tmp.path().join("archive");
//! # std::fs::create_dir(&archive).unwrap();
//! // A recorder seals a set in the spool ...
//! let spool = Spool::open(tmp.path().join("spool")).unwrap();
//! let dir = spool.staging_dir("20260307T090501-0001").unwrap();
//! std::fs::write(dir.join("20260307T090501-0001.json"), "{}").unwrap();
//! std::fs::write(dir.join("20260307T090501-0001.sha256"), "").unwrap();
//! let start = "2026-03-07T09:05:01Z".parse().unwrap();
//! let now = chrono::Utc::now();
//! spool.enqueue(&dir, "20260307T090501-0001", &["archive".into()], start, now).unwrap();
//!
//! // ... and the uploader delivers it to every target, then removes it.
//! let target = StoreTarget::new(FolderStore::new("archive", &archive));
//! let template = DirTemplate::parse("$Y/$M/$D", PathRules::Folder).unwrap();
//! let zone = Zone::parse(Some("Europe/Berlin")).unwrap();
//! let mut up = Uploader::new(spool, Box::new(FileDeliveryLog::new(tmp.path().join("spool"))), zone);
//! up.add_target(Box::new(target), template);
//! let report = up.pass(&|| now, &|_| {});
//! assert_eq!(report.delivered, 1);
//! assert_eq!(report.pending_sets, 0);
//! assert!(archive.join("2026/03/07/20260307T090501-0001.sha256").exists());
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod backoff;
#[cfg(feature = "config")]
mod config;
mod digest;
mod error;
mod folder;
mod lock;
#[cfg(feature = "mail")]
mod mail;
mod notify;
#[cfg(feature = "onedrive")]
mod onedrive;
mod set;
#[cfg(feature = "sftp")]
mod sftp;
#[cfg(feature = "smb")]
mod smb;
mod spool;
mod target;
mod template;
#[cfg(feature = "timestamps")]
mod timestamps;
mod uploader;

pub use backoff::Backoff;
#[cfg(feature = "config")]
pub use config::kinds::{FolderConfig, KindConfig, OneDriveConfig, SftpConfig, SmbConfig};
#[cfg(feature = "config")]
pub use config::{
    CommonConfig, TargetConfig, TargetSpec, spool_from_config, target_from_config, target_kind, target_kinds, targets_from_config, zone_from_config,
};
#[cfg(all(feature = "config", feature = "mail"))]
pub use config::{NotifySetup, notifier_from_config};
pub use digest::{DIGEST_INTERVAL, QualityDigest};
pub use error::{SpoolError, TargetError, TemplateError};
pub use folder::FolderStore;
pub use lock::{InstanceLock, LockError};
#[cfg(feature = "mail")]
pub use mail::{MailError, MailSettings, Mailer, SmtpSecurity};
pub use notify::{Backlog, Notice, NoticeKind, Notifier, SpaceWatch};
#[cfg(feature = "onedrive")]
pub use onedrive::{
    Cloud, OneDriveAuth, OneDriveSettings, OneDriveTarget, QuickXorHash, TokenStore, authorize_url, redeem_code,
};
pub use set::{RecordingSet, SetFile};
#[cfg(feature = "timestamps")]
pub use timestamps::{TimestampReport, Timestamper, has_token, token_name};
#[cfg(feature = "sftp")]
pub use sftp::{SftpAuth, SftpSettings, SftpStore, check_host_key_format};
#[cfg(feature = "smb")]
pub use smb::{SmbSettings, SmbStore};
pub use spool::{DeliveryLog, DeliveryState, FileDeliveryLog, IncomingSlot, SetMeta, Spool, SpoolGauges, free_percent, spool_gauges};
pub use target::{Delivered, Removed, Store, StoreTarget, Target, Verify, temp_name};
pub use template::{DirTemplate, PathRules, Zone};
pub use uploader::{PassReport, Uploader};

/// Creates `dir` (and missing parents) readable by its owner only (0700), or, when it
/// exists, takes group and world access away from it. Recordings, legs, the spool and the
/// journal hold personal data: what lies below the data directory is private by default
/// (docs/security.md, "Private by default").
pub fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let meta = std::fs::metadata(dir)?;
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(meta.permissions().mode() & 0o7700))?;
    }
    Ok(())
}

/// Sets this process's umask to 0077, so that every file and directory it creates
/// without an explicit mode is its owner's only. The binaries call it first thing; files
/// meant for others (folder targets, 0640) set their mode explicitly.
pub fn private_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}
