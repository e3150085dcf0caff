//! What `crctl config check` looks at on disk beyond the values themselves.

use cr_config::{Config, ConfigError};

/// Every announcement must load and convert now, not at the first call (S12). A missing
/// file is reported by the policy's check already.
pub(crate) fn announcements_play(cfg: &Config) -> Vec<ConfigError> {
    let mut out = Vec::new();
    for (key, path) in cr_policy::announcement_files(cfg) {
        if path.exists()
            && let Err(e) = cr_audio::Announcement::load(&path)
        {
            out.push(cfg.error_at(&key, format!("cannot be played: {e}")));
        }
    }
    out
}

/// A folder target's base folder must exist now: the uploader never creates it (a missing
/// mount point must not fill the local disk), so a typo would hold every set in the spool.
pub(crate) fn folders_exist(cfg: &Config) -> Vec<ConfigError> {
    let (targets, _) = cr_storage::TargetConfig::read_all(cfg);
    targets
        .iter()
        .filter_map(|t| Some((t.index, t.folder_path(cfg)?)))
        .filter(|(_, path)| !path.is_dir())
        .map(|(i, path)| {
            cfg.error_at(
                &format!("targets[{i}].path"),
                format!("{} is not an existing folder: create it, or mount what should be there", path.display()),
            )
        })
        .collect()
}
