//! Building the policy from `callrec.toml` (feature `config`).

use std::path::PathBuf;

use cr_config::{Config, ConfigError};

use crate::engine::{Policy, PolicyBuilder};
use crate::number::NumberPlan;
use crate::spec::{Channels, GroupSpec, RecordingSpec, UserSpec};

impl Policy {
    /// Builds the policy from `[installation]` (`country_code`, `area_code`), `[[users]]`,
    /// `[[groups]]` and `[[recordings]]`. Checks every reference (unknown users, groups and
    /// targets, duplicate entries, a number owned twice after normalising, members listed
    /// inactive but not members, unknown channel modes); each error names the file, line
    /// and key. Touches no file: see [`check_config`] for the announcement files.
    pub fn from_config(cfg: &Config) -> Result<Policy, Vec<ConfigError>> {
        let mut errs = Vec::new();
        let mut plan = NumberPlan::new();
        if let Some(cc) = &cfg.installation.country_code {
            match plan.clone().with_country_code(cc) {
                Ok(p) => plan = p,
                Err(e) => errs.push(cfg.error_at("installation.country_code", e.to_string())),
            }
        }
        if let Some(area) = &cfg.installation.area_code {
            match plan.clone().with_area_code(area) {
                Ok(p) => plan = p,
                Err(e) => errs.push(cfg.error_at("installation.area_code", e.to_string())),
            }
            if cfg.installation.country_code.is_none() {
                errs.push(cfg.error_at(
                    "installation.area_code",
                    "an area code needs installation.country_code too (e.g. \"49\")",
                ));
            }
        }
        let mut b = PolicyBuilder::new();
        for u in &cfg.users {
            b = b.user(UserSpec::new(&u.id).numbers(u.numbers.iter().cloned()));
        }
        for g in &cfg.groups {
            let mut spec = GroupSpec::new(&g.id).members(g.members.iter().cloned()).inactive(g.inactive.iter().cloned());
            if let Some(n) = &g.number {
                spec = spec.number(n);
            }
            b = b.group(spec);
        }
        errs.extend(check_target_names(cfg));
        for (i, r) in cfg.recordings.iter().enumerate() {
            let channels = match r.channels.parse::<Channels>() {
                Ok(c) => c,
                Err(e) => {
                    errs.push(cfg.error_at(&format!("recordings[{i}].channels"), e.to_string()));
                    Channels::default()
                }
            };
            let mut spec = RecordingSpec::new(&r.name)
                .groups(r.groups.iter().cloned())
                .users(r.users.iter().cloned())
                .record_direct_calls_to_active_members(r.record_direct_calls_to_active_members)
                .channels(channels)
                .targets(r.targets.iter().cloned());
            for (key, path, incoming) in [
                ("announcement_incoming", &r.announcement_incoming, true),
                ("announcement_outgoing", &r.announcement_outgoing, false),
            ] {
                let Some(p) = path else { continue };
                match p.to_str() {
                    Some(s) if !s.trim().is_empty() => {
                        spec = if incoming { spec.announcement_incoming(s) } else { spec.announcement_outgoing(s) };
                    }
                    Some(_) => errs.push(cfg.error_at(&format!("recordings[{i}].{key}"), "must not be empty")),
                    None => errs.push(cfg.error_at(&format!("recordings[{i}].{key}"), "the path must be UTF-8")),
                }
            }
            b = b.recording(spec);
        }
        let built = b.number_plan(plan).build();
        match built {
            Ok(p) if errs.is_empty() => Ok(p),
            Ok(_) => Err(errs),
            Err(e) => {
                errs.extend(e.0.iter().map(|e| cfg.error_at(e.key(), e.message())));
                Err(errs)
            }
        }
    }
}

/// Every `[[recordings]]` target name that no `[[targets]]` entry has, at its key. The one
/// check of these references: [`Policy::from_config`] makes it, and so does the uploader,
/// which must not start with sets it could never deliver.
pub fn check_target_names(cfg: &Config) -> Vec<ConfigError> {
    let target_names = cfg.names_of("targets");
    let mut errs = Vec::new();
    for (i, r) in cfg.recordings.iter().enumerate() {
        for (j, t) in r.targets.iter().enumerate() {
            if !target_names.contains(t) {
                errs.push(cfg.error_at(
                    &format!("recordings[{i}].targets[{j}]"),
                    format!("unknown target {t:?}: add a [[targets]] entry with this name or remove it here"),
                ));
            }
        }
    }
    errs
}

/// The announcement files of every recording, each with its key
/// (`recordings[I].announcement_incoming|outgoing`) and its path resolved against
/// `installation.data_dir`; empty paths left out.
pub fn announcement_files(cfg: &Config) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for (i, r) in cfg.recordings.iter().enumerate() {
        for (key, path) in [
            ("announcement_incoming", &r.announcement_incoming),
            ("announcement_outgoing", &r.announcement_outgoing),
        ] {
            if let Some(p) = path.as_ref().filter(|p| !p.as_os_str().is_empty()) {
                out.push((format!("recordings[{i}].{key}"), cfg.resolve_path(p)));
            }
        }
    }
    out
}

/// Everything `crctl config check` reports about the policy: the errors of
/// [`Policy::from_config`] plus announcement files that do not exist (relative paths are
/// relative to `installation.data_dir`). Whether a WAV file is playable is checked by the
/// audio crate, not here.
pub fn check_config(cfg: &Config) -> Vec<ConfigError> {
    let mut errs = match Policy::from_config(cfg) {
        Ok(_) => Vec::new(),
        Err(e) => e,
    };
    for (key, full) in announcement_files(cfg) {
        if !full.is_file() {
            errs.push(cfg.error_at(
                &key,
                format!("announcement file {} does not exist (relative paths are relative to data_dir)", full.display()),
            ));
        }
    }
    errs
}
