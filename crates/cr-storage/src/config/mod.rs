//! Reading the targets, time zone and notifications from `callrec.toml`, with every
//! problem reported at its file, line and key. The schema of each target kind is in
//! [`kinds`]: one type per kind.

use std::path::PathBuf;
use std::time::Duration;

use cr_config::{Config, ConfigError, parse_duration};
use serde::Deserialize;

use crate::folder::FolderStore;
use crate::spool::Spool;
use crate::target::{StoreTarget, Target};
use crate::template::{DirTemplate, Zone};

pub mod kinds;

use kinds::{KINDS, KindConfig};

/// The keys every `[[targets]]` entry has, whatever its kind.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct CommonConfig {
    /// Unique name.
    pub name: String,
    /// "folder" | "smb" | "sftp" | "onedrive".
    pub kind: String,
    /// Directory template ($Y $M $D $h $m $s).
    #[serde(default)]
    pub directory: String,
    /// Connect/I/O timeout, e.g. "30s".
    pub timeout: Option<String>,
}

/// One `[[targets]]` entry as written: the common keys and the kind's own.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TargetConfig {
    /// Its place in the file (`targets[index]`).
    pub index: usize,
    /// The common keys.
    pub common: CommonConfig,
    /// The kind's keys; `None` for an unknown kind (reported).
    pub kind: Option<KindConfig>,
}

impl TargetConfig {
    /// Every `[[targets]]` entry, read by its kind's schema; no secret is resolved and no
    /// file is looked at. Unknown kinds, keys that do not apply to the kind, wrong types
    /// and duplicate names are reported, all at once, each at its key.
    pub fn read_all(cfg: &Config) -> (Vec<TargetConfig>, Vec<ConfigError>) {
        let mut out: Vec<TargetConfig> = Vec::new();
        let mut errors = Vec::new();
        for index in 0..cfg.len_of("targets") {
            let at = format!("targets[{index}]");
            let common: CommonConfig = match cfg.section(&at) {
                Ok(Some(c)) => c,
                Ok(None) => continue,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let err = |k: &str, m: String| cfg.error_at(&format!("{at}.{k}"), m);
            if common.name.trim().is_empty() {
                errors.push(err("name", "must not be empty".into()));
            } else if let Some(first) = out.iter().find(|t| t.common.name == common.name) {
                errors.push(err(
                    "name",
                    format!("duplicate name {:?}: targets[{}] has it already", common.name, first.index),
                ));
            }
            let Some(fields) = KindConfig::fields(&common.kind) else {
                let kinds: Vec<String> = KINDS.iter().map(|k| format!("{k:?}")).collect();
                let (last, rest) = kinds.split_last().map_or((String::new(), &[][..]), |(l, r)| (l.clone(), r));
                errors.push(err("kind", format!("unknown kind {:?}: use {} or {last}", common.kind, rest.join(", "))));
                out.push(TargetConfig { index, common, kind: None });
                continue;
            };
            let own = cr_config::field_names::<CommonConfig>();
            for k in cfg.keys_at(&at) {
                if own.contains(&k.as_str()) || fields.contains(&k.as_str()) {
                    continue;
                }
                let elsewhere = KINDS.iter().filter_map(|k| KindConfig::fields(k)).any(|f| f.contains(&k.as_str()));
                errors.push(err(
                    &k,
                    if elsewhere {
                        format!("`{k}` does not apply to a target of kind {:?}", common.kind)
                    } else {
                        format!("unknown key `{k}`: a target of kind {:?} takes {}", common.kind, own.iter().chain(fields).copied().collect::<Vec<_>>().join(", "))
                    },
                ));
            }
            let kind = match KindConfig::read(cfg, &at, &common.kind) {
                Ok(k) => k,
                Err(e) => {
                    errors.push(e);
                    None
                }
            };
            out.push(TargetConfig { index, common, kind });
        }
        (out, errors)
    }

    /// The folder target's base folder (resolved against `data_dir`), for checks that
    /// look at the file system.
    pub fn folder_path(&self, cfg: &Config) -> Option<PathBuf> {
        match &self.kind {
            Some(KindConfig::Folder(f)) => f.path.as_ref().filter(|p| !p.as_os_str().is_empty()).map(|p| cfg.resolve_path(p)),
            _ => None,
        }
    }
}

/// A checked target: its name, template and everything needed to connect.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TargetSpec {
    /// The target's name.
    pub name: String,
    /// Its kind ("folder", "smb", "sftp", "onedrive").
    pub kind: String,
    /// Its directory template.
    pub template: DirTemplate,
    settings: Settings,
}

#[derive(Debug, Clone)]
pub(crate) enum Settings {
    Folder(PathBuf, Option<u32>),
    #[cfg(feature = "smb")]
    Smb(crate::smb::SmbSettings),
    #[cfg(feature = "sftp")]
    Sftp(crate::sftp::SftpSettings),
    #[cfg(feature = "onedrive")]
    OneDrive(crate::onedrive::OneDriveSettings),
}

impl TargetSpec {
    /// Builds the target (no connection is made yet).
    pub fn build(&self) -> Box<dyn Target> {
        match &self.settings {
            Settings::Folder(p, group) => {
                let store = FolderStore::new(&self.name, p);
                Box::new(StoreTarget::new(match group {
                    Some(gid) => store.with_group(*gid),
                    None => store,
                }))
            }
            #[cfg(feature = "smb")]
            Settings::Smb(s) => Box::new(StoreTarget::new(crate::smb::SmbStore::new(s.clone()))),
            #[cfg(feature = "sftp")]
            Settings::Sftp(s) => Box::new(StoreTarget::new(crate::sftp::SftpStore::new(s.clone()))),
            #[cfg(feature = "onedrive")]
            Settings::OneDrive(s) => Box::new(crate::onedrive::OneDriveTarget::new(s.clone())),
        }
    }

    /// The OneDrive settings, for `crctl onedrive authorize|code`.
    #[cfg(feature = "onedrive")]
    pub fn onedrive(&self) -> Option<&crate::onedrive::OneDriveSettings> {
        match &self.settings {
            Settings::OneDrive(s) => Some(s),
            _ => None,
        }
    }
}

/// The checks of one target: where its problems go, and the helpers every kind uses.
pub(crate) struct Check<'a> {
    pub(crate) cfg: &'a Config,
    pub(crate) index: usize,
    pub(crate) name: &'a str,
    pub(crate) kind: &'a str,
    pub(crate) timeout: Duration,
    pub(crate) errors: &'a mut Vec<ConfigError>,
}

impl Check<'_> {
    /// A problem at key `k` of this target.
    pub(crate) fn err(&mut self, k: &str, msg: impl Into<String>) {
        let e = self.cfg.error_at(&format!("targets[{}].{k}", self.index), msg);
        self.errors.push(e);
    }

    /// A key the kind needs; "" (and a problem) when it is missing or blank.
    pub(crate) fn required(&mut self, k: &str, v: &Option<String>) -> String {
        match v {
            Some(s) if !s.trim().is_empty() => s.clone(),
            _ => {
                let kind = self.kind;
                self.err(k, format!("a target of kind {kind:?} needs `{k}`"));
                String::new()
            }
        }
    }

    /// `server`: needed, and a host name or IP address only.
    #[allow(dead_code)] // without the smb and sftp features
    pub(crate) fn server(&mut self, v: &Option<String>) -> String {
        let server = self.required("server", v);
        if !server.is_empty()
            && let Err(e) = host_only(&server)
        {
            self.err("server", e);
        }
        server
    }

    /// The secret `<name>_env` / `<name>_file`, resolved; `None` (and a problem where it
    /// is given but cannot be read) otherwise.
    #[allow(dead_code)] // without the target features
    pub(crate) fn secret(&mut self, name: &str, env: Option<&String>, file: Option<&PathBuf>) -> Option<String> {
        let s = self.cfg.secret(&format!("targets[{}].{name}", self.index), env, file);
        if s.env.is_none() && s.file.is_none() {
            return None;
        }
        if s.env.is_some() && s.file.is_some() {
            self.err(&format!("{name}_env"), format!("give {name} either by {name}_env or by {name}_file, not both"));
            return None;
        }
        match s.resolve() {
            Ok(v) => Some(v),
            Err(e) => {
                let k = if s.env.is_some() { format!("{name}_env") } else { format!("{name}_file") };
                self.err(&k, e);
                None
            }
        }
    }
}

/// The installation's time zone (`installation.timezone`, default the system's).
pub fn zone_from_config(cfg: &Config) -> Result<Zone, ConfigError> {
    Zone::parse(cfg.installation.timezone.as_deref()).map_err(|e| cfg.error_at("installation.timezone", e))
}

/// Opens the spool at `data_dir/spool`.
pub fn spool_from_config(cfg: &Config) -> Result<Spool, crate::error::SpoolError> {
    Spool::open(cfg.resolve_path("spool"))
}

fn host_only(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.contains("://") || s.contains('/') || s.contains('\\') {
        return Err(format!("{s:?}: give the host name or IP address only, without protocol or path (S22)"));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{s:?} contains white space"));
    }
    Ok(())
}

/// Every target's (name, kind), read without checking or building anything (no secret is
/// resolved): for finding where a delivered set lies.
pub fn target_kinds(cfg: &Config) -> Vec<(String, String)> {
    (0..cfg.len_of("targets"))
        .filter_map(|i| cfg.section::<CommonConfig>(&format!("targets[{i}]")).ok().flatten())
        .map(|t| (t.name, t.kind))
        .collect()
}

/// The kind of the target named `name` ([`target_kinds`]).
pub fn target_kind(cfg: &Config, name: &str) -> Option<String> {
    target_kinds(cfg).into_iter().find(|(n, _)| n == name).map(|(_, k)| k)
}

/// Checks every `[[targets]]` entry for its kind and builds the targets. Secrets are
/// resolved here, so a missing environment variable is reported too. All problems are
/// returned at once, each at its key. Whether `[[recordings]]` name only existing targets
/// is the policy's check (cr-policy), made once by the composition of the whole file.
pub fn targets_from_config(cfg: &Config) -> Result<Vec<TargetSpec>, Vec<ConfigError>> {
    let (entries, mut errors) = TargetConfig::read_all(cfg);
    let out = specs(cfg, &entries, &mut errors);
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

/// Checks and builds the one target called `name` (for `crctl onedrive authorize|code`,
/// which must work while another target's secret is not available).
pub fn target_from_config(cfg: &Config, name: &str) -> Result<TargetSpec, Vec<ConfigError>> {
    let (entries, errors) = TargetConfig::read_all(cfg);
    let Some(entry) = entries.iter().find(|t| t.common.name == name) else {
        let names: Vec<&str> = entries.iter().map(|t| t.common.name.as_str()).collect();
        return Err(vec![cfg.error_at("targets", format!("no target is named {name:?} (there are: {})", names.join(", ")))]);
    };
    let prefix = format!("targets[{}].", entry.index);
    let mut errors: Vec<ConfigError> = errors.into_iter().filter(|e| e.key.starts_with(&prefix)).collect();
    let mut out = specs(cfg, std::slice::from_ref(entry), &mut errors);
    match out.pop() {
        Some(spec) if errors.is_empty() => Ok(spec),
        _ => Err(errors),
    }
}

/// The entries' templates, timeouts and settings, checked.
fn specs(cfg: &Config, entries: &[TargetConfig], errors: &mut Vec<ConfigError>) -> Vec<TargetSpec> {
    let mut out = Vec::new();
    for t in entries {
        let Some(kind) = &t.kind else { continue };
        let before = errors.len();
        let mut c = Check { cfg, index: t.index, name: &t.common.name, kind: &t.common.kind, timeout: Duration::from_secs(30), errors };
        let template = match DirTemplate::parse(&t.common.directory, kind.path_rules()) {
            Ok(tpl) => Some(tpl),
            Err(e) => {
                c.err("directory", e.to_string());
                None
            }
        };
        match t.common.timeout.as_deref().map(parse_duration) {
            None => {}
            Some(Ok(d)) if d.is_zero() => c.err("timeout", "must be more than 0 s"),
            Some(Ok(d)) => c.timeout = d,
            Some(Err(e)) => c.err("timeout", e),
        }
        let settings = kind.settings(&mut c);
        if errors.len() == before
            && let (Some(template), Some(settings)) = (template, settings)
        {
            out.push(TargetSpec { name: t.common.name.clone(), kind: t.common.kind.clone(), template, settings });
        }
    }
    out
}

/// What `[notify]` asks for.
#[cfg(feature = "mail")]
#[derive(Debug)]
#[non_exhaustive]
pub struct NotifySetup {
    /// The mailer, when `email_to` names recipients.
    pub mailer: Option<crate::mail::Mailer>,
    /// `reminder_interval`.
    pub reminder: Duration,
    /// `min_free_percent`.
    pub min_free_percent: f64,
}

/// The notification setup of `[notify]` (`None` when the section is absent).
#[cfg(feature = "mail")]
pub fn notifier_from_config(cfg: &Config) -> Result<Option<NotifySetup>, Vec<ConfigError>> {
    use crate::mail::{MailSettings, Mailer, SmtpSecurity};
    let Some(n) = &cfg.notify else { return Ok(None) };
    let mut errors = Vec::new();
    let reminder = parse_duration(&n.reminder_interval).unwrap_or(Duration::from_secs(3600));
    if !(0.0..100.0).contains(&n.min_free_percent) {
        errors.push(cfg.error_at("notify.min_free_percent", "must be between 0 and 100"));
    }
    let mut mailer = None;
    if !n.email_to.is_empty() {
        let server = n.smtp_server.clone().unwrap_or_default();
        if server.is_empty() {
            errors.push(cfg.error_at("notify.smtp_server", "email_to is set, so smtp_server is needed"));
        }
        let from = n.email_from.clone().unwrap_or_default();
        if from.is_empty() {
            errors.push(cfg.error_at("notify.email_from", "email_to is set, so email_from is needed"));
        }
        let password = match cfg.smtp_password() {
            Some(s) => match s.resolve() {
                Ok(p) => Some(p),
                Err(e) => {
                    errors.push(cfg.error_at("notify.smtp_password_env", e));
                    None
                }
            },
            None => None,
        };
        if errors.is_empty() {
            let to: Vec<&str> = n.email_to.iter().map(String::as_str).collect();
            let mut s = MailSettings::new(&server, &from, &to, &cfg.installation.module_id);
            s.port = n.smtp_port;
            s.security = match n.smtp_tls {
                cr_config::SmtpTls::None => SmtpSecurity::None,
                cr_config::SmtpTls::Starttls => SmtpSecurity::StartTls,
                cr_config::SmtpTls::Tls => SmtpSecurity::Tls,
            };
            s.ca_file = n.smtp_ca_file.as_ref().map(|p| cfg.resolve_path(p));
            if let (Some(u), Some(p)) = (&n.smtp_username, password) {
                s.login = Some((u.clone(), p));
            }
            match Mailer::new(s) {
                Ok(m) => mailer = Some(m),
                Err(e) => errors.push(cfg.error_at("notify.email_to", e.to_string())),
            }
        }
    }
    if errors.is_empty() {
        Ok(Some(NotifySetup { mailer, reminder, min_free_percent: n.min_free_percent }))
    } else {
        Err(errors)
    }
}

/// A group given by number or by name (looked up in /etc/group).
fn group_id(group: &str) -> Result<u32, String> {
    if let Ok(gid) = group.parse() {
        return Ok(gid);
    }
    cr_config::id_in_file(group, std::path::Path::new("/etc/group"))
        .map_err(|e| format!("cannot read /etc/group to find group {group:?}: {e}"))?
        .ok_or_else(|| format!("no group {group:?} in /etc/group (give its number for groups from a directory service)"))
}
