//! One deletion pass over an installation as its configuration file describes it: the
//! journal, the keystore, the spool and every target. `crctl retention run` and
//! `cr-uploader` both run it; a lock in the data directory keeps two from overlapping.

use chrono::{DateTime, Utc};
use cr_config::Config;
use cr_journal::{Journal, OpenOptions};

use crate::error::PassError;
use crate::pass::{Pass, PassReport};

/// The lock (in `installation.data_dir`) a pass holds while it runs.
const LOCK_NAME: &str = "retention-pass";

/// Runs one [`Pass`] at `now` over the installation of `cfg`; `actor` names who runs it in
/// the audit trail (`crctl:alice`, `cr-uploader`). [`PassError::Busy`] when another pass is
/// running on the same data directory; nothing is done then.
pub fn run_configured(cfg: &Config, actor: &str, now: DateTime<Utc>, dry_run: bool) -> Result<PassReport, PassError> {
    let setup = cr_setup::UploaderSetup::from_config(cfg)
        .map_err(|errs| PassError::Config(errs.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n")))?;
    let _lock = cr_storage::InstanceLock::acquire(&cfg.installation.data_dir, LOCK_NAME).map_err(PassError::Busy)?;
    let journal = Journal::open_url(&cfg.journal.url, &cfg.installation.data_dir, &OpenOptions::new())?;
    let identity = cr_sign::open_configured(cfg)?;
    let spool = cr_storage::spool_from_config(cfg)?;
    let mut pass = Pass::new(&journal, &identity, &spool, setup.zone, &cfg.installation.module_id, actor);
    for spec in &setup.targets {
        pass.add_target(spec.build(), spec.template.clone());
    }
    pass.run(now, dry_run)
}
