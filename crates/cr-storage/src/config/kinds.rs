//! The schema of each target kind: one type per kind, its keys and how they become the
//! kind's settings. A new key of a kind is one field here and its use below it.

use std::path::PathBuf;

use serde::Deserialize;

use super::{Check, Settings};

/// `kind = "folder"`.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct FolderConfig {
    /// The base path.
    pub path: Option<PathBuf>,
    /// The group (name or number) the written files and directories get.
    pub group: Option<String>,
}

/// `kind = "smb"`.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct SmbConfig {
    /// Host name or IP only.
    pub server: Option<String>,
    /// Port (445).
    pub port: Option<u16>,
    /// Share name.
    pub share: Option<String>,
    /// Domain.
    pub domain: Option<String>,
    /// User name.
    pub username: Option<String>,
    /// Password variable.
    pub password_env: Option<String>,
    /// Password file.
    pub password_file: Option<PathBuf>,
    /// Reserved.
    pub security: Option<String>,
}

/// `kind = "sftp"`.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct SftpConfig {
    /// Host name or IP only.
    pub server: Option<String>,
    /// Port (22).
    pub port: Option<u16>,
    /// User name.
    pub username: Option<String>,
    /// Password variable.
    pub password_env: Option<String>,
    /// Password file.
    pub password_file: Option<PathBuf>,
    /// Private key file.
    pub private_key_file: Option<PathBuf>,
    /// Passphrase variable of the private key.
    pub private_key_passphrase_env: Option<String>,
    /// Pinned host key, `SHA256:...`.
    pub host_key: Option<String>,
}

/// `kind = "onedrive"`.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct OneDriveConfig {
    /// "global" | "germany".
    pub cloud: Option<String>,
    /// Tenant id.
    pub tenant_id: Option<String>,
    /// Application (client) id.
    pub client_id: Option<String>,
    /// Client secret variable.
    pub client_secret_env: Option<String>,
    /// Client secret file.
    pub client_secret_file: Option<PathBuf>,
    /// Whose OneDrive (app registration).
    pub drive_user: Option<String>,
    /// Redirect URI for delegated sign-in.
    pub redirect_uri: Option<String>,
    /// Sign-in host override (tests only).
    pub login_endpoint: Option<String>,
    /// Graph host override (tests only).
    pub graph_endpoint: Option<String>,
}

/// The kind-specific part of a `[[targets]]` entry: one variant per `kind`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum KindConfig {
    /// `kind = "folder"`.
    Folder(FolderConfig),
    /// `kind = "smb"`.
    Smb(SmbConfig),
    /// `kind = "sftp"`.
    Sftp(SftpConfig),
    /// `kind = "onedrive"`.
    OneDrive(OneDriveConfig),
}

/// Every kind: its `kind` value, its keys, how it is read and its path rules.
pub(super) const KINDS: &[&str] = &["folder", "smb", "sftp", "onedrive"];

impl KindConfig {
    /// The keys of kind `kind` (besides the common ones); `None` for an unknown kind.
    pub(super) fn fields(kind: &str) -> Option<&'static [&'static str]> {
        Some(match kind {
            "folder" => cr_config::field_names::<FolderConfig>(),
            "smb" => cr_config::field_names::<SmbConfig>(),
            "sftp" => cr_config::field_names::<SftpConfig>(),
            "onedrive" => cr_config::field_names::<OneDriveConfig>(),
            _ => return None,
        })
    }

    /// Reads the entry at `key` (e.g. `targets[1]`) as kind `kind`.
    pub(super) fn read(cfg: &cr_config::Config, key: &str, kind: &str) -> Result<Option<Self>, cr_config::ConfigError> {
        Ok(match kind {
            "folder" => cfg.section(key)?.map(Self::Folder),
            "smb" => cfg.section(key)?.map(Self::Smb),
            "sftp" => cfg.section(key)?.map(Self::Sftp),
            "onedrive" => cfg.section(key)?.map(Self::OneDrive),
            _ => None,
        })
    }

    /// The directory rules of the kind.
    pub(super) fn path_rules(&self) -> crate::template::PathRules {
        use crate::template::PathRules;
        match self {
            Self::Folder(_) => PathRules::Folder,
            Self::Smb(_) => PathRules::Smb,
            Self::Sftp(_) => PathRules::Sftp,
            Self::OneDrive(_) => PathRules::OneDrive,
        }
    }

    /// The kind's settings; problems go to `c`.
    pub(super) fn settings(&self, c: &mut Check<'_>) -> Option<Settings> {
        match self {
            Self::Folder(f) => f.settings(c),
            #[cfg(feature = "smb")]
            Self::Smb(s) => s.settings(c),
            #[cfg(feature = "sftp")]
            Self::Sftp(s) => s.settings(c),
            #[cfg(feature = "onedrive")]
            Self::OneDrive(o) => o.settings(c),
            #[allow(unreachable_patterns)]
            _ => {
                let kind = c.kind;
                c.err("kind", format!("kind {kind:?} is not built into this program (build it with the cargo feature {kind:?})"));
                None
            }
        }
    }
}

impl FolderConfig {
    fn settings(&self, c: &mut Check<'_>) -> Option<Settings> {
        let Some(p) = self.path.as_ref().filter(|p| !p.as_os_str().is_empty()) else {
            c.err("path", "a folder target needs `path` (the base folder; it must exist)");
            return None;
        };
        let group = match self.group.as_deref().map(super::group_id) {
            None => None,
            Some(Ok(gid)) => Some(gid),
            Some(Err(e)) => {
                c.err("group", e);
                None
            }
        };
        Some(Settings::Folder(c.cfg.resolve_path(p), group))
    }
}

#[cfg(feature = "smb")]
impl SmbConfig {
    fn settings(&self, c: &mut Check<'_>) -> Option<Settings> {
        let server = c.server(&self.server);
        let share = c.required("share", &self.share);
        if share.contains('/') || share.contains('\\') {
            c.err("share", format!("{share:?}: the share name holds no sub-directory; put sub-directories in `directory` (S22)"));
        }
        let user = c.required("username", &self.username);
        if user.contains('\\') || user.contains('@') {
            c.err("username", format!("{user:?}: give the user name without domain and the domain in `domain` (S22)"));
        }
        let pw = c.secret("password", self.password_env.as_ref(), self.password_file.as_ref());
        if pw.is_none() && self.password_env.is_none() && self.password_file.is_none() {
            c.err("password_env", "an SMB target needs password_env or password_file");
        }
        let mut s = crate::smb::SmbSettings::new(c.name, &server, &share, &user, &pw.unwrap_or_default());
        s.port = self.port.unwrap_or(445);
        s.domain = self.domain.clone().unwrap_or_default();
        s.timeout = c.timeout;
        Some(Settings::Smb(s))
    }
}

#[cfg(feature = "sftp")]
impl SftpConfig {
    fn settings(&self, c: &mut Check<'_>) -> Option<Settings> {
        use crate::sftp::{SftpAuth, SftpSettings};
        let server = c.server(&self.server);
        let user = c.required("username", &self.username);
        let host_key = c.required("host_key", &self.host_key);
        if !host_key.is_empty()
            && let Err(e) = crate::sftp::check_host_key_format(&host_key)
        {
            c.err("host_key", e);
        }
        let pw = c.secret("password", self.password_env.as_ref(), self.password_file.as_ref());
        let auth = match (&self.private_key_file, pw) {
            (Some(_), Some(_)) => {
                c.err("private_key_file", "give either private_key_file or a password, not both");
                None
            }
            (Some(k), None) => {
                let file = c.cfg.resolve_path(k);
                if !file.is_file() {
                    c.err("private_key_file", format!("{} does not exist or is not a file", file.display()));
                }
                let passphrase = c.secret("private_key_passphrase", self.private_key_passphrase_env.as_ref(), None);
                Some(SftpAuth::Key { file, passphrase })
            }
            (None, Some(p)) => Some(SftpAuth::Password(p)),
            (None, None) => {
                if self.password_env.is_none() && self.password_file.is_none() {
                    c.err("private_key_file", "an SFTP target needs private_key_file or password_env/password_file");
                }
                None
            }
        };
        let mut s = SftpSettings::new(c.name, &server, &user, auth?, &host_key);
        s.port = self.port.unwrap_or(22);
        s.timeout = c.timeout;
        Some(Settings::Sftp(s))
    }
}

#[cfg(feature = "onedrive")]
impl OneDriveConfig {
    fn settings(&self, c: &mut Check<'_>) -> Option<Settings> {
        use crate::onedrive::{Cloud, OneDriveAuth, OneDriveSettings, TokenStore};
        let cloud = Cloud::parse(self.cloud.as_deref().unwrap_or("global")).unwrap_or_else(|e| {
            c.err("cloud", e);
            Cloud::Global
        });
        let tenant = c.required("tenant_id", &self.tenant_id);
        let client = c.required("client_id", &self.client_id);
        for (k, v) in [("login_endpoint", &self.login_endpoint), ("graph_endpoint", &self.graph_endpoint)] {
            if let Some(u) = v
                && !(u.starts_with("https://") || u.starts_with("http://127.0.0.1") || u.starts_with("http://localhost"))
            {
                c.err(k, format!("{u:?}: only for tests; must be https:// or a loopback http:// URL"));
            }
        }
        let sec = c.secret("client_secret", self.client_secret_env.as_ref(), self.client_secret_file.as_ref());
        let auth = match (&self.drive_user, &self.redirect_uri) {
            (Some(_), Some(_)) => {
                c.err("redirect_uri", "give drive_user (app registration) or redirect_uri (delegated sign-in), not both");
                None
            }
            (Some(u), None) => match sec {
                Some(secret) => Some(OneDriveAuth::ClientCredentials { secret, drive_user: u.clone() }),
                None => {
                    if self.client_secret_env.is_none() && self.client_secret_file.is_none() {
                        c.err("client_secret_env", "an app registration needs client_secret_env or client_secret_file");
                    }
                    None
                }
            },
            (None, Some(r)) => Some(OneDriveAuth::Delegated {
                secret: sec,
                redirect_uri: r.clone(),
                store: TokenStore::new(c.cfg.resolve_path("onedrive"), c.name),
            }),
            (None, None) => {
                c.err("drive_user", "give drive_user (app registration, client credentials) or redirect_uri (delegated sign-in)");
                None
            }
        };
        let mut s = OneDriveSettings::new(c.name, &tenant, &client, auth?);
        s.cloud = cloud;
        s.login_endpoint = self.login_endpoint.clone();
        s.graph_endpoint = self.graph_endpoint.clone();
        s.timeout = c.timeout;
        Some(Settings::OneDrive(s))
    }
}
