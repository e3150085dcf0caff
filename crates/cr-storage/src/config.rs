//! Reading the targets, time zone and notifications from cr-config's structs, with every
//! problem reported at its file, line and key.

use std::path::PathBuf;
use std::time::Duration;

use cr_config::{Config, ConfigError, TargetConfig, parse_duration};

use crate::folder::FolderStore;
use crate::spool::Spool;
use crate::target::{StoreTarget, Target};
use crate::template::{DirTemplate, PathRules, Zone};

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
enum Settings {
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

/// The installation's time zone (`installation.timezone`, default the system's).
pub fn zone_from_config(cfg: &Config) -> Result<Zone, ConfigError> {
    Zone::parse(cfg.installation.timezone.as_deref()).map_err(|e| cfg.error_at("installation.timezone", e))
}

/// Opens the spool at `data_dir/spool`.
pub fn spool_from_config(cfg: &Config) -> Result<Spool, crate::error::SpoolError> {
    Spool::open(cfg.resolve_path("spool"))
}

/// Which keys each kind uses (besides name, kind, directory, timeout).
fn keys_of(kind: &str) -> &'static [&'static str] {
    match kind {
        "folder" => &["path", "group"],
        "smb" => &["server", "port", "share", "domain", "username", "password_env", "password_file", "security"],
        "sftp" => &[
            "server",
            "port",
            "username",
            "password_env",
            "password_file",
            "private_key_file",
            "private_key_passphrase_env",
            "host_key",
        ],
        "onedrive" => &[
            "cloud",
            "tenant_id",
            "client_id",
            "client_secret_env",
            "client_secret_file",
            "drive_user",
            "redirect_uri",
            "login_endpoint",
            "graph_endpoint",
        ],
        _ => &[],
    }
}

fn set_keys(t: &TargetConfig) -> Vec<&'static str> {
    let mut v = Vec::new();
    macro_rules! chk {
        ($($f:ident),*) => { $( if t.$f.is_some() { v.push(stringify!($f)); } )* };
    }
    chk!(
        path, server, port, share, domain, username, password_env, password_file, private_key_file,
        private_key_passphrase_env, host_key, security, cloud, tenant_id, client_id, client_secret_env,
        client_secret_file, drive_user, redirect_uri, login_endpoint, graph_endpoint
    );
    v
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

/// Checks every `[[targets]]` entry for its kind and builds the targets. Secrets are
/// resolved here, so a missing environment variable is reported too. All problems are
/// returned at once, each at its key.
pub fn targets_from_config(cfg: &Config) -> Result<Vec<TargetSpec>, Vec<ConfigError>> {
    let (out, mut errors) = check_targets(cfg, None);
    for (ri, r) in cfg.recordings.iter().enumerate() {
        for (ti, name) in r.targets.iter().enumerate() {
            if !cfg.targets.iter().any(|t| &t.name == name) {
                errors.push(cfg.error_at(
                    &format!("recordings[{ri}].targets[{ti}]"),
                    format!("no [[targets]] entry is named {name:?}"),
                ));
            }
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

/// Checks and builds the one target called `name` (for `crctl onedrive authorize|code`,
/// which must work while another target's secret is not available).
pub fn target_from_config(cfg: &Config, name: &str) -> Result<TargetSpec, Vec<ConfigError>> {
    if !cfg.targets.iter().any(|t| t.name == name) {
        let names: Vec<&str> = cfg.targets.iter().map(|t| t.name.as_str()).collect();
        return Err(vec![cfg.error_at("targets", format!("no target is named {name:?} (there are: {})", names.join(", ")))]);
    }
    let (mut out, errors) = check_targets(cfg, Some(name));
    match out.pop() {
        Some(spec) if errors.is_empty() => Ok(spec),
        _ => Err(errors),
    }
}

fn check_targets(cfg: &Config, only: Option<&str>) -> (Vec<TargetSpec>, Vec<ConfigError>) {
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (i, t) in cfg.targets.iter().enumerate().filter(|(_, t)| only.is_none_or(|n| n == t.name)) {
        let key = |k: &str| format!("targets[{i}].{k}");
        let before = errors.len();
        let mut err = |k: &str, msg: String| errors.push(cfg.error_at(&key(k), msg));
        let rules = match t.kind.as_str() {
            "folder" => PathRules::Folder,
            "smb" => PathRules::Smb,
            "sftp" => PathRules::Sftp,
            "onedrive" => PathRules::OneDrive,
            other => {
                err("kind", format!("unknown kind {other:?}: use \"folder\", \"smb\", \"sftp\" or \"onedrive\""));
                continue;
            }
        };
        for k in set_keys(t) {
            if !keys_of(&t.kind).contains(&k) {
                err(k, format!("`{k}` does not apply to a target of kind {:?}", t.kind));
            }
        }
        let template = match DirTemplate::parse(&t.directory, rules) {
            Ok(tpl) => Some(tpl),
            Err(e) => {
                err("directory", e.to_string());
                None
            }
        };
        let timeout = match t.timeout.as_deref().map(parse_duration) {
            None => Duration::from_secs(30),
            Some(Ok(d)) if d.is_zero() => {
                err("timeout", "must be more than 0 s".into());
                Duration::from_secs(30)
            }
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                err("timeout", e);
                Duration::from_secs(30)
            }
        };
        let required = |k: &str, v: &Option<String>, err: &mut dyn FnMut(&str, String)| -> String {
            match v {
                Some(s) if !s.trim().is_empty() => s.clone(),
                _ => {
                    err(k, format!("a target of kind {:?} needs `{k}`", t.kind));
                    String::new()
                }
            }
        };
        let secret = |name: &str, err: &mut dyn FnMut(&str, String)| -> Option<String> {
            let s = cfg.target_secret(i, name);
            if s.env.is_none() && s.file.is_none() {
                return None;
            }
            if s.env.is_some() && s.file.is_some() {
                err(&format!("{name}_env"), format!("give {name} either by {name}_env or by {name}_file, not both"));
                return None;
            }
            match s.resolve() {
                Ok(v) => Some(v),
                Err(e) => {
                    let k = if s.env.is_some() { format!("{name}_env") } else { format!("{name}_file") };
                    err(&k, e);
                    None
                }
            }
        };
        let settings = match t.kind.as_str() {
            "folder" => match &t.path {
                Some(p) if !p.as_os_str().is_empty() => {
                    let group = match t.group.as_deref().map(group_id) {
                        None => None,
                        Some(Ok(gid)) => Some(gid),
                        Some(Err(e)) => {
                            err("group", e);
                            None
                        }
                    };
                    Some(Settings::Folder(cfg.resolve_path(p), group))
                }
                _ => {
                    err("path", "a folder target needs `path` (the base folder; it must exist)".into());
                    None
                }
            },
            #[cfg(feature = "smb")]
            "smb" => {
                let server = required("server", &t.server, &mut err);
                if !server.is_empty()
                    && let Err(e) = host_only(&server)
                {
                    err("server", e);
                }
                let share = required("share", &t.share, &mut err);
                if share.contains('/') || share.contains('\\') {
                    err("share", format!("{share:?}: the share name holds no sub-directory; put sub-directories in `directory` (S22)"));
                }
                let user = required("username", &t.username, &mut err);
                if user.contains('\\') || user.contains('@') {
                    err("username", format!("{user:?}: give the user name without domain and the domain in `domain` (S22)"));
                }
                let pw = secret("password", &mut err);
                if pw.is_none() && t.password_env.is_none() && t.password_file.is_none() {
                    err("password_env", "an SMB target needs password_env or password_file".into());
                }
                let mut s = crate::smb::SmbSettings::new(&t.name, &server, &share, &user, &pw.unwrap_or_default());
                s.port = t.port.unwrap_or(445);
                s.domain = t.domain.clone().unwrap_or_default();
                s.timeout = timeout;
                Some(Settings::Smb(s))
            }
            #[cfg(feature = "sftp")]
            "sftp" => {
                let server = required("server", &t.server, &mut err);
                if !server.is_empty()
                    && let Err(e) = host_only(&server)
                {
                    err("server", e);
                }
                let user = required("username", &t.username, &mut err);
                let host_key = required("host_key", &t.host_key, &mut err);
                if !host_key.is_empty()
                    && let Err(e) = crate::sftp::check_host_key_format(&host_key)
                {
                    err("host_key", e);
                }
                let pw = secret("password", &mut err);
                let auth = match (&t.private_key_file, pw) {
                    (Some(_), Some(_)) => {
                        err("private_key_file", "give either private_key_file or a password, not both".into());
                        None
                    }
                    (Some(k), None) => {
                        let file = cfg.resolve_path(k);
                        if !file.is_file() {
                            err("private_key_file", format!("{} does not exist or is not a file", file.display()));
                        }
                        let passphrase = secret("private_key_passphrase", &mut err);
                        Some(crate::sftp::SftpAuth::Key { file, passphrase })
                    }
                    (None, Some(p)) => Some(crate::sftp::SftpAuth::Password(p)),
                    (None, None) => {
                        if t.password_env.is_none() && t.password_file.is_none() {
                            err("private_key_file", "an SFTP target needs private_key_file or password_env/password_file".into());
                        }
                        None
                    }
                };
                auth.map(|a| {
                    let mut s = crate::sftp::SftpSettings::new(&t.name, &server, &user, a, &host_key);
                    s.port = t.port.unwrap_or(22);
                    s.timeout = timeout;
                    Settings::Sftp(s)
                })
            }
            #[cfg(feature = "onedrive")]
            "onedrive" => {
                use crate::onedrive::{Cloud, OneDriveAuth, OneDriveSettings, TokenStore};
                let cloud = match Cloud::parse(t.cloud.as_deref().unwrap_or("global")) {
                    Ok(c) => c,
                    Err(e) => {
                        err("cloud", e);
                        Cloud::Global
                    }
                };
                let tenant = required("tenant_id", &t.tenant_id, &mut err);
                let client = required("client_id", &t.client_id, &mut err);
                for k in ["login_endpoint", "graph_endpoint"] {
                    let v = if k == "login_endpoint" { &t.login_endpoint } else { &t.graph_endpoint };
                    if let Some(u) = v
                        && !(u.starts_with("https://") || u.starts_with("http://127.0.0.1") || u.starts_with("http://localhost"))
                    {
                        err(k, format!("{u:?}: only for tests; must be https:// or a loopback http:// URL"));
                    }
                }
                let sec = secret("client_secret", &mut err);
                let auth = match (&t.drive_user, &t.redirect_uri) {
                    (Some(_), Some(_)) => {
                        err("redirect_uri", "give drive_user (app registration) or redirect_uri (delegated sign-in), not both".into());
                        None
                    }
                    (Some(u), None) => match sec {
                        Some(secret) => Some(OneDriveAuth::ClientCredentials { secret, drive_user: u.clone() }),
                        None => {
                            if t.client_secret_env.is_none() && t.client_secret_file.is_none() {
                                err("client_secret_env", "an app registration needs client_secret_env or client_secret_file".into());
                            }
                            None
                        }
                    },
                    (None, Some(r)) => Some(OneDriveAuth::Delegated {
                        secret: sec,
                        redirect_uri: r.clone(),
                        store: TokenStore::new(cfg.resolve_path("onedrive"), &t.name),
                    }),
                    (None, None) => {
                        err("drive_user", "give drive_user (app registration, client credentials) or redirect_uri (delegated sign-in)".into());
                        None
                    }
                };
                auth.map(|a| {
                    let mut s = OneDriveSettings::new(&t.name, &tenant, &client, a);
                    s.cloud = cloud;
                    s.login_endpoint = t.login_endpoint.clone();
                    s.graph_endpoint = t.graph_endpoint.clone();
                    s.timeout = timeout;
                    Settings::OneDrive(s)
                })
            }
            other => {
                err("kind", format!("kind {other:?} is not built into this program (build it with the cargo feature {other:?})"));
                None
            }
        };
        if errors.len() == before
            && let (Some(template), Some(settings)) = (template, settings)
        {
            out.push(TargetSpec { name: t.name.clone(), kind: t.kind.clone(), template, settings });
        }
    }
    (out, errors)
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
