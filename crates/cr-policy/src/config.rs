//! Building the policy from `callrec.toml` (feature `config`).

use std::path::PathBuf;

use cr_config::{Config, ConfigError};
use serde::Deserialize;

use crate::engine::{Policy, PolicyBuilder};
use crate::number::NumberPlan;
use crate::spec::{Channels, GroupSpec, OnFailure, RecordingSpec, UserSpec};

/// `[[users]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct UserConfig {
    /// Unique user id.
    pub id: String,
    /// The user's numbers as a PBX may send them.
    #[serde(default)]
    pub numbers: Vec<String>,
}

/// `[[groups]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GroupConfig {
    /// Unique group id.
    pub id: String,
    /// The group's number.
    pub number: Option<String>,
    /// Member user ids.
    #[serde(default)]
    pub members: Vec<String>,
    /// Members logged out at start.
    #[serde(default)]
    pub inactive: Vec<String>,
}

/// `[[recordings]]`: one recording configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RecordingConfig {
    /// Unique name.
    pub name: String,
    /// Recorded groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Recorded users.
    #[serde(default)]
    pub users: Vec<String>,
    /// S7: incoming calls to an active member's personal number are recorded too.
    #[serde(default)]
    pub record_direct_calls_to_active_members: bool,
    /// "caller" | "callee" | "stereo" | "separate" (checked by the policy).
    #[serde(default = "default_channels")]
    pub channels: String,
    /// WAV played to the caller of incoming calls.
    pub announcement_incoming: Option<PathBuf>,
    /// WAV played to the caller of outgoing calls.
    pub announcement_outgoing: Option<PathBuf>,
    /// Target names.
    #[serde(default)]
    pub targets: Vec<String>,
    /// How long its sets are kept, e.g. `"5y"` (a [`cr_types::Period`], checked by the
    /// policy); none: `[retention] default`, and without that the sets never expire.
    pub retention: Option<String>,
    /// `"block"` | `"allow"` (default): what the PBX does with a call this configuration
    /// must record when the recorder cannot take it (the decision's `on_failure`).
    pub on_failure: Option<String>,
}

fn default_channels() -> String {
    "stereo".to_owned()
}

/// The policy's part of `callrec.toml`: `[[users]]`, `[[groups]]` and `[[recordings]]`, as
/// written (names unique, nothing else checked yet).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PolicyConfig {
    /// `[[users]]`.
    pub users: Vec<UserConfig>,
    /// `[[groups]]`.
    pub groups: Vec<GroupConfig>,
    /// `[[recordings]]`, in the order they are evaluated.
    pub recordings: Vec<RecordingConfig>,
}

impl PolicyConfig {
    /// Reads the three sections; a wrong type, an unknown key, an empty or a duplicate id
    /// or name is reported at its line and key.
    pub fn from_config(cfg: &Config) -> Result<Self, Vec<ConfigError>> {
        let pc = Self {
            users: read(cfg, "users")?,
            groups: read(cfg, "groups")?,
            recordings: read(cfg, "recordings")?,
        };
        for (what, key, names) in [
            ("users", "id", pc.users.iter().map(|u| u.id.as_str()).collect::<Vec<_>>()),
            ("groups", "id", pc.groups.iter().map(|g| g.id.as_str()).collect()),
            ("recordings", "name", pc.recordings.iter().map(|r| r.name.as_str()).collect()),
        ] {
            for (i, name) in names.iter().enumerate() {
                if name.trim().is_empty() {
                    return Err(vec![cfg.error_at(&format!("{what}[{i}].{key}"), "must not be empty")]);
                }
                if let Some(first) = names[..i].iter().position(|n| n == name) {
                    return Err(vec![cfg.error_at(
                        &format!("{what}[{i}].{key}"),
                        format!("duplicate {key} {name:?}: {what}[{first}] has it already"),
                    )]);
                }
            }
        }
        Ok(pc)
    }
}

impl PolicyConfig {
    /// The party numbers of a user or a group, for searching their calls: a `[[users]]`
    /// id gives the user's numbers; a `[[groups]]` id gives the group's number and the
    /// numbers of its members (active or not: the configuration does not say who was logged
    /// in when a call was made). `None`: no user or group has that id (users first).
    pub fn numbers_of(&self, id: &str) -> Option<Vec<String>> {
        let user_numbers = |u: &str| self.users.iter().filter(|x| x.id == u).flat_map(|x| x.numbers.iter().cloned()).collect::<Vec<_>>();
        if self.users.iter().any(|u| u.id == id) {
            return Some(user_numbers(id));
        }
        let g = self.groups.iter().find(|g| g.id == id)?;
        let mut numbers: Vec<String> = g.number.iter().cloned().collect();
        for m in g.members.iter().chain(&g.inactive) {
            numbers.extend(user_numbers(m));
        }
        Some(numbers)
    }
}

/// The array of tables `key`, empty when absent.
fn read<T: serde::de::DeserializeOwned>(cfg: &Config, key: &str) -> Result<Vec<T>, Vec<ConfigError>> {
    cfg.section(key).map(Option::unwrap_or_default).map_err(|e| vec![e])
}

impl Policy {
    /// Builds the policy from `[installation]` (`country_code`, `area_code`), `[[users]]`,
    /// `[[groups]]` and `[[recordings]]`. Checks every reference (unknown users, groups and
    /// targets, duplicate entries, a number owned twice after normalising, members listed
    /// inactive but not members, unknown channel modes); each error names the file, line
    /// and key. Touches no file: see [`check_config`] for the announcement files.
    pub fn from_config(cfg: &Config) -> Result<Policy, Vec<ConfigError>> {
        let pc = PolicyConfig::from_config(cfg)?;
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
        for u in &pc.users {
            b = b.user(UserSpec::new(&u.id).numbers(u.numbers.iter().cloned()));
        }
        for g in &pc.groups {
            let mut spec = GroupSpec::new(&g.id).members(g.members.iter().cloned()).inactive(g.inactive.iter().cloned());
            if let Some(n) = &g.number {
                spec = spec.number(n);
            }
            b = b.group(spec);
        }
        errs.extend(target_names(cfg, &pc));
        for (i, r) in pc.recordings.iter().enumerate() {
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
            if let Some(text) = &r.on_failure {
                match OnFailure::parse(text) {
                    Some(f) => spec = spec.on_failure(f),
                    None => errs.push(cfg.error_at(
                        &format!("recordings[{i}].on_failure"),
                        format!("{text:?}: use \"block\" or \"allow\""),
                    )),
                }
            }
            if let Some(text) = &r.retention {
                match cr_types::Period::parse(text) {
                    Ok(p) => spec = spec.retention(p),
                    Err(e) => errs.push(cfg.error_at(&format!("recordings[{i}].retention"), e.to_string())),
                }
            }
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
    match PolicyConfig::from_config(cfg) {
        Ok(pc) => target_names(cfg, &pc),
        Err(e) => e,
    }
}

fn target_names(cfg: &Config, pc: &PolicyConfig) -> Vec<ConfigError> {
    let target_names = cfg.names_of("targets");
    let mut errs = Vec::new();
    for (i, r) in pc.recordings.iter().enumerate() {
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
    let recordings = PolicyConfig::from_config(cfg).map(|pc| pc.recordings).unwrap_or_default();
    let mut out = Vec::new();
    for (i, r) in recordings.iter().enumerate() {
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

#[cfg(test)]
mod party_tests {
    use super::*;

    fn user(id: &str, numbers: &[&str]) -> UserConfig {
        UserConfig { id: id.to_owned(), numbers: numbers.iter().map(|n| (*n).to_owned()).collect() }
    }

    #[test]
    fn a_group_stands_for_its_number_and_every_members_numbers() {
        let pc = PolicyConfig {
            users: vec![user("alice", &["201", "+49 30 555201"]), user("bob", &["202"]), user("carol", &["203"])],
            groups: vec![GroupConfig {
                id: "trading".to_owned(),
                number: Some("200".to_owned()),
                members: vec!["alice".to_owned(), "bob".to_owned()],
                inactive: vec!["bob".to_owned()],
            }],
            recordings: Vec::new(),
        };
        assert_eq!(pc.numbers_of("alice"), Some(vec!["201".to_owned(), "+49 30 555201".to_owned()]));
        let mut g = pc.numbers_of("trading").unwrap_or_default();
        g.sort();
        g.dedup();
        assert_eq!(g, ["+49 30 555201", "200", "201", "202"], "carol is not a member");
        assert_eq!(pc.numbers_of("nobody"), None);
    }
}
