//! The sections of `callrec.toml` and how they are loaded.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::ConfigError;
use crate::locate::{KeyPath, line_of};

/// Keys that would hold a secret in clear text; each has `*_env` and `*_file` forms.
const CLEAR_SECRETS: &[&str] = &["password", "client_secret", "smtp_password", "secret", "token"];

/// The whole configuration file.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// `[installation]`.
    pub installation: Installation,
    /// `[keystore]`.
    pub keystore: KeystoreConfig,
    /// `[journal]`.
    pub journal: JournalConfig,
    /// `[notify]`, if present.
    pub notify: Option<NotifyConfig>,
    /// `[pbx]`.
    pub pbx: PbxConfig,
    source: String,
    doc: toml_edit::Document<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    installation: Installation,
    #[serde(default)]
    keystore: KeystoreConfig,
    #[serde(default)]
    journal: JournalConfig,
    /// `[[users]]`, `[[groups]]`, `[[recordings]]`: the schema is cr-policy's.
    #[serde(default)]
    #[allow(dead_code)]
    users: serde::de::IgnoredAny,
    #[serde(default)]
    #[allow(dead_code)]
    groups: serde::de::IgnoredAny,
    #[serde(default)]
    #[allow(dead_code)]
    recordings: serde::de::IgnoredAny,
    /// `[[targets]]`: the schema of each kind is cr-storage's.
    #[serde(default)]
    #[allow(dead_code)]
    targets: serde::de::IgnoredAny,
    notify: Option<NotifyConfig>,
    #[serde(default)]
    pbx: PbxConfig,
    /// `[retention]`: the schema is cr-setup's.
    #[serde(default)]
    #[allow(dead_code)]
    retention: serde::de::IgnoredAny,
    /// `[console]`: the schema is cr-console's.
    #[serde(default)]
    #[allow(dead_code)]
    console: serde::de::IgnoredAny,
    /// `[timestamping]`: the schema is cr-setup's.
    #[serde(default)]
    #[allow(dead_code)]
    timestamping: serde::de::IgnoredAny,
    /// `[reconcile]`: the schema is cr-reconcile's (`Schedule`).
    #[serde(default)]
    #[allow(dead_code)]
    reconcile: serde::de::IgnoredAny,
    /// `[decision_log]`: the schema is cr-setup's.
    #[serde(default)]
    #[allow(dead_code)]
    decision_log: serde::de::IgnoredAny,
    /// `[quality]`: the schema is cr-types' (`QualityThresholds`).
    #[serde(default)]
    #[allow(dead_code)]
    quality: serde::de::IgnoredAny,
}

/// `[installation]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Installation {
    /// Appears in the certificate subject as "Call Recording <module_id>".
    pub module_id: String,
    /// Spool, journal, keystore and legs in progress live here.
    pub data_dir: PathBuf,
    /// IANA time zone for directory templates and displayed times; the system's when absent.
    pub timezone: Option<String>,
    /// Country calling code without `+` (e.g. "49"), for national number forms.
    pub country_code: Option<String>,
    /// Area code without the trunk prefix (e.g. "30"), for local number forms.
    pub area_code: Option<String>,
}

/// The PKCS#12 cipher of the keystore.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cipher {
    /// pbeWithSHAAnd3-KeyTripleDES-CBC for key and certificate (the reference's choice; opens
    /// with OpenSSL and Java keytool).
    #[default]
    #[serde(rename = "3des")]
    TripleDes,
    /// PBES2 with AES-256-CBC.
    Aes256,
}

/// `[keystore]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct KeystoreConfig {
    /// The keystore file; default `keystore.p12` in `data_dir`.
    #[serde(default = "default_keystore_path")]
    pub path: PathBuf,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// File holding the password (first line).
    pub password_file: Option<PathBuf>,
    /// Cipher used when the keystore is created.
    #[serde(default)]
    pub cipher: Cipher,
}

fn default_keystore_path() -> PathBuf {
    PathBuf::from("keystore.p12")
}

impl Default for KeystoreConfig {
    fn default() -> Self {
        Self {
            path: default_keystore_path(),
            password_env: None,
            password_file: None,
            cipher: Cipher::default(),
        }
    }
}

/// `[journal]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct JournalConfig {
    /// `sqlite:FILE` (relative to `data_dir`); later `postgres://...`.
    #[serde(default = "default_journal_url")]
    pub url: String,
}

fn default_journal_url() -> String {
    "sqlite:journal.sqlite".to_owned()
}

impl Default for JournalConfig {
    fn default() -> Self {
        Self {
            url: default_journal_url(),
        }
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain SMTP.
    None,
    /// STARTTLS after connecting (port 587).
    #[default]
    Starttls,
    /// Implicit TLS (port 465).
    Tls,
}

/// `[notify]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NotifyConfig {
    /// Recipients.
    #[serde(default)]
    pub email_to: Vec<String>,
    /// Sender.
    pub email_from: Option<String>,
    /// SMTP host.
    pub smtp_server: Option<String>,
    /// SMTP port.
    pub smtp_port: Option<u16>,
    /// none | starttls | tls.
    #[serde(default)]
    pub smtp_tls: SmtpTls,
    /// SMTP user.
    pub smtp_username: Option<String>,
    /// SMTP password variable.
    pub smtp_password_env: Option<String>,
    /// SMTP password file.
    pub smtp_password_file: Option<PathBuf>,
    /// PEM file of an extra CA to trust for the SMTP server.
    pub smtp_ca_file: Option<PathBuf>,
    /// Interval of reminder mails during an outage, e.g. "1h".
    #[serde(default = "default_reminder")]
    pub reminder_interval: String,
    /// Warn when the spool's file system has less free space than this percentage.
    #[serde(default = "default_min_free")]
    pub min_free_percent: f64,
}

fn default_reminder() -> String {
    "1h".to_owned()
}

fn default_min_free() -> f64 {
    10.0
}

/// `[pbx]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PbxConfig {
    /// `[pbx.siprec]`.
    pub siprec: Option<SipRecConfig>,
    /// `[pbx.api]`.
    pub api: Option<ApiConfig>,
    /// Below this much free space (percent) on the spool's file system the recorder says
    /// it cannot record (`/v1/health`). Default 1.
    #[serde(default = "default_min_spool_free")]
    pub min_spool_free_percent: f64,
}

impl Default for PbxConfig {
    fn default() -> Self {
        Self { siprec: None, api: None, min_spool_free_percent: default_min_spool_free() }
    }
}

fn default_min_spool_free() -> f64 {
    1.0
}

/// `[pbx.siprec]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SipRecConfig {
    /// `udp:ADDR:PORT` / `tcp:ADDR:PORT`.
    #[serde(default)]
    pub listen: Vec<String>,
    /// `LOW-HIGH`.
    #[serde(default = "default_rtp_ports")]
    pub rtp_ports: String,
    /// What to do with a call no configuration records: "reject" or "accept".
    #[serde(default = "default_decline")]
    pub decline: String,
    /// Sessions one source IP may have waiting for a decision or for the ACK of our 200 OK
    /// at once; one more INVITE gets 503 with Retry-After. Default 50.
    #[serde(default = "default_max_pending")]
    pub max_pending_invites_per_source: usize,
    /// A SIP/TCP connection without a SIP message for this long is closed.
    #[serde(default = "default_tcp_idle_timeout")]
    pub tcp_idle_timeout: String,
    /// SIP/TCP connections open at once.
    #[serde(default = "default_tcp_max_connections")]
    pub tcp_max_connections: usize,
    /// SRTP offers: "off" | "allow" | "require" (checked by cr-pbx).
    #[serde(default = "default_srtp")]
    pub srtp: String,
    /// PEM certificate chain for `tls:` listen addresses (relative to `data_dir`).
    pub tls_certificate: Option<PathBuf>,
    /// PEM private key of `tls_certificate`.
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates: SBCs must present a client certificate they issued.
    pub tls_client_ca: Option<PathBuf>,
    /// `sha256:HEX` fingerprints: SBCs must present one of these client certificates.
    #[serde(default)]
    pub tls_client_fingerprints: Vec<String>,
}

fn default_srtp() -> String {
    "allow".to_owned()
}

fn default_max_pending() -> usize {
    50
}

/// Below Linux's ephemeral ports (32768-60999), so outgoing connections of the host
/// never take a port a call needs.
fn default_rtp_ports() -> String {
    "16384-32766".to_owned()
}

fn default_tcp_idle_timeout() -> String {
    "120s".to_owned()
}

fn default_tcp_max_connections() -> usize {
    1024
}

fn default_decline() -> String {
    "reject".to_owned()
}

/// `[pbx.api]`. Validated (and turned into an [`ApiSettings`](crate::ApiSettings)) by
/// [`Config::api_settings`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ApiConfig {
    /// `ADDR:PORT`.
    pub listen: String,
    /// File of bearer tokens: one a line, `#` comments; no access for others (mode `0o7` clear).
    pub token_file: Option<PathBuf>,
    /// Environment variable holding bearer tokens, comma-separated.
    pub token_env: Option<String>,
    /// Directories leg files may be ingested from (absolute); none: ingest by path is off.
    #[serde(default)]
    pub leg_dirs: Vec<PathBuf>,
    /// Owner every leg file must have: a user name (from /etc/passwd) or a numeric uid.
    pub leg_owner: Option<LegOwner>,
    /// Oldest `started_at` accepted, e.g. "7d".
    #[serde(default = "default_max_age")]
    pub max_age: String,
    /// How far in the future `started_at`/`ended_at` may lie (clock skew), e.g. "10s".
    #[serde(default = "default_clock_skew")]
    pub clock_skew: String,
    /// A client must send a request's headers within this time, e.g. "10s".
    #[serde(default = "default_header_timeout")]
    pub header_timeout: String,
    /// A client must send a request's body within this time, e.g. "30s".
    #[serde(default = "default_body_timeout")]
    pub body_timeout: String,
    /// Connections served at once; more wait in the kernel's backlog.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
}

/// `[pbx.api] leg_owner`: a user name or a numeric uid.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum LegOwner {
    /// A numeric uid.
    Uid(u32),
    /// A user name, looked up in /etc/passwd.
    Name(String),
}

fn default_max_age() -> String {
    "7d".to_owned()
}

fn default_clock_skew() -> String {
    "10s".to_owned()
}

fn default_header_timeout() -> String {
    "10s".to_owned()
}

fn default_body_timeout() -> String {
    "30s".to_owned()
}

fn default_max_connections() -> u32 {
    64
}

/// A secret given by environment variable or file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secret {
    /// Environment variable name.
    pub env: Option<String>,
    /// File path (already resolved against `data_dir`).
    pub file: Option<PathBuf>,
    /// The key the secret belongs to, e.g. `keystore.password`, for messages.
    pub key: String,
}

impl Secret {
    /// Reads the secret: the variable's value, or the file's first line without its line end.
    pub fn resolve(&self) -> Result<String, String> {
        if let Some(var) = &self.env {
            return std::env::var(var).map_err(|_| {
                format!("{}: environment variable {var} is not set (or not UTF-8)", self.key)
            });
        }
        if let Some(file) = &self.file {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("{}: cannot read {}: {e}", self.key, file.display()))?;
            return Ok(text.lines().next().unwrap_or("").to_owned());
        }
        Err(format!("{}: no secret given: set {0}_env or {0}_file", self.key))
    }
}

/// Parses `"90s"`, `"15m"`, `"1h"`, `"2d"` (or a bare number of seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration: write e.g. \"90s\", \"15m\", \"1h\", \"2d\""))?;
    let factor = match unit.trim() {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86400,
        other => return Err(format!("unknown duration unit {other:?} in {s:?}: use s, m, h or d")),
    };
    Ok(Duration::from_secs(n.saturating_mul(factor)))
}

impl Config {
    /// Reads and parses a configuration file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(path, None, "", format!("cannot read the file: {e}")))?;
        Self::parse(&text, path)
    }

    /// Parses configuration text; `path` is used in messages and nothing else.
    pub fn parse(text: &str, path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let doc = toml_edit::Document::parse(text.to_owned()).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            ConfigError::new(path, line, "", format!("not valid TOML: {}", e.message()))
        })?;
        check_clear_secrets(&doc, text, path)?;
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            let key = line.map(|l| key_on_line(text, l)).unwrap_or_default();
            ConfigError::new(path, line, key, e.message().trim().to_owned())
        })?;
        let cfg = Config {
            path: path.to_owned(),
            installation: raw.installation,
            keystore: raw.keystore,
            journal: raw.journal,
            notify: raw.notify,
            pbx: raw.pbx,
            source: text.to_owned(),
            doc,
        };
        cfg.check_basics()?;
        Ok(cfg)
    }

    /// An error located at `key` (dotted form, e.g. `targets[1].host_key`).
    pub fn error_at(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let path = KeyPath::parse(key);
        let line = path.span_in(&self.doc).map(|s| line_of(&self.source, s.start));
        ConfigError::new(&self.path, line, path.to_string(), message)
    }

    /// `p` if absolute, else `p` under `data_dir`.
    pub fn resolve_path(&self, p: impl AsRef<Path>) -> PathBuf {
        self.installation.data_dir.join(p)
    }

    /// The keystore file.
    pub fn keystore_path(&self) -> PathBuf {
        self.resolve_path(&self.keystore.path)
    }

    /// The keystore password's source.
    pub fn keystore_password(&self) -> Secret {
        Secret {
            env: self.keystore.password_env.clone(),
            file: self.keystore.password_file.as_ref().map(|f| self.resolve_path(f)),
            key: "keystore.password".to_owned(),
        }
    }

    /// The secret `key` (e.g. `targets[1].password`) given by `env` (a variable name) or
    /// `file` (resolved against `data_dir`).
    pub fn secret(&self, key: &str, env: Option<&String>, file: Option<&PathBuf>) -> Secret {
        Secret { env: env.cloned(), file: file.map(|f| self.resolve_path(f)), key: key.to_owned() }
    }

    /// The part of the file at `key` (dotted form, e.g. `pbx.siprec` or `targets[2]`) read
    /// as `T`, by the crate that owns its schema; `Ok(None)` when the file has no such part.
    /// A wrong type or an unknown key is reported at its line, as [`Config::parse`] does.
    pub fn section<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ConfigError> {
        use serde::de::DeserializeSeed;
        let steps = crate::section::steps(key);
        let located = |e: toml::de::Error| {
            let line = e.span().map(|s| line_of(&self.source, s.start));
            let k = line.map(|l| key_on_line(&self.source, l)).unwrap_or_default();
            ConfigError::new(&self.path, line, k, e.message().trim().to_owned())
        };
        let de = toml::Deserializer::parse(&self.source).map_err(located)?;
        crate::section::Pick::<T> { path: &steps, out: std::marker::PhantomData }.deserialize(de).map_err(located)
    }

    /// How many entries the array (of tables) at `key` has; 0 when there is none.
    pub fn len_of(&self, key: &str) -> usize {
        self.item_at(key)
            .and_then(|item| item.as_array_of_tables().map(|a| a.len()).or_else(|| item.as_array().map(|a| a.len())))
            .unwrap_or(0)
    }

    /// The keys written in the table at `key` (e.g. `targets[0]`), in file order.
    pub fn keys_at(&self, key: &str) -> Vec<String> {
        self.item_at(key)
            .and_then(|item| item.as_table_like())
            .map(|t| t.iter().map(|(k, _)| k.to_owned()).collect())
            .unwrap_or_default()
    }

    /// The `name` of every entry of the array of tables at `key` (e.g. `targets`), as
    /// written, for crates that refer to entries by name.
    pub fn names_of(&self, key: &str) -> Vec<String> {
        (0..self.len_of(key))
            .filter_map(|i| self.item_at(&format!("{key}[{i}].name"))?.as_str().map(str::to_owned))
            .collect()
    }

    fn item_at(&self, key: &str) -> Option<&toml_edit::Item> {
        let mut item = self.doc.as_item();
        for step in crate::section::steps(key) {
            item = match step {
                crate::section::Step::Key(k) => item.get(k)?,
                crate::section::Step::Index(i) => item.get(i)?,
            };
        }
        Some(item)
    }

    /// The SMTP password's source, if `[notify]` has one.
    pub fn smtp_password(&self) -> Option<Secret> {
        let n = self.notify.as_ref()?;
        if n.smtp_password_env.is_none() && n.smtp_password_file.is_none() {
            return None;
        }
        Some(Secret {
            env: n.smtp_password_env.clone(),
            file: n.smtp_password_file.as_ref().map(|f| self.resolve_path(f)),
            key: "notify.smtp_password".to_owned(),
        })
    }

    /// Checks that need no other crate: ids, secrets given one way, names unique.
    fn check_basics(&self) -> Result<(), ConfigError> {
        let inst = &self.installation;
        if inst.module_id.trim().is_empty() {
            return Err(self.error_at("installation.module_id", "must not be empty"));
        }
        if inst.module_id.chars().any(char::is_control) {
            return Err(self.error_at("installation.module_id", "must not contain control characters"));
        }
        if inst.data_dir.as_os_str().is_empty() {
            return Err(self.error_at("installation.data_dir", "must not be empty"));
        }
        let ks = &self.keystore;
        if ks.password_env.is_some() && ks.password_file.is_some() {
            return Err(self.error_at(
                "keystore.password_env",
                "give the password either by password_env or by password_file, not both",
            ));
        }
        if ks.path.as_os_str().is_empty() {
            return Err(self.error_at("keystore.path", "must not be empty"));
        }
        if let Some(n) = &self.notify
            && let Err(e) = parse_duration(&n.reminder_interval)
        {
            return Err(self.error_at("notify.reminder_interval", e));
        }
        Ok(())
    }
}

/// Refuses `password = "..."` and friends anywhere in the file.
fn check_clear_secrets(
    doc: &toml_edit::Document<String>,
    text: &str,
    path: &Path,
) -> Result<(), ConfigError> {
    fn visit(
        table: &dyn toml_edit::TableLike,
        prefix: &str,
        text: &str,
        path: &Path,
    ) -> Result<(), ConfigError> {
        for (k, item) in table.iter() {
            let key = if prefix.is_empty() { k.to_owned() } else { format!("{prefix}.{k}") };
            if CLEAR_SECRETS.contains(&k) {
                let line = table
                    .get_key_value(k)
                    .and_then(|(key, _)| key.span())
                    .map(|s| line_of(text, s.start));
                return Err(ConfigError::new(
                    path,
                    line,
                    key,
                    format!(
                        "secrets are never written in the config file: use {k}_env (an environment variable) or {k}_file"
                    ),
                ));
            }
            if let Some(t) = item.as_table_like() {
                visit(t, &key, text, path)?;
            } else if let Some(aot) = item.as_array_of_tables() {
                for (i, t) in aot.iter().enumerate() {
                    visit(t, &format!("{key}[{i}]"), text, path)?;
                }
            }
        }
        Ok(())
    }
    visit(doc.as_table(), "", text, path)
}

/// The key written at the start of `line` (1-based), for messages from serde that carry only
/// a position.
fn key_on_line(text: &str, line: usize) -> String {
    let l = text.lines().nth(line - 1).unwrap_or("").trim();
    match l.split_once('=') {
        Some((k, _)) => k.trim().trim_matches('"').to_owned(),
        None => l.trim_matches(|c| c == '[' || c == ']').to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"[installation]
module_id = "pbx-berlin-01"
data_dir = "/var/lib/callrec"

[keystore]
path = "keystore.p12"
password_env = "CALLREC_KEYSTORE_PASSWORD"
cipher = "aes256"

[[targets]]
name = "archive"
kind = "folder"
path = "/srv/archive"
directory = "$Y/$M/$D"

[[targets]]
name = "nas"
kind = "smb"
password_env = "X"
"#;

    fn err(text: &str) -> ConfigError {
        Config::parse(text, "callrec.toml").unwrap_err()
    }

    #[test]
    fn good_file_loads_with_defaults() {
        let cfg = Config::parse(GOOD, "callrec.toml").unwrap();
        assert_eq!(cfg.keystore.cipher, Cipher::Aes256);
        assert_eq!(cfg.journal.url, "sqlite:journal.sqlite");
        assert_eq!(cfg.len_of("targets"), 2);
        assert_eq!(cfg.keystore_path(), PathBuf::from("/var/lib/callrec/keystore.p12"));
        assert_eq!(cfg.error_at("targets[1].kind", "x").line, Some(18));
    }

    #[test]
    fn unknown_cipher_names_line_and_key() {
        let e = err(&GOOD.replace("\"aes256\"", "\"des\""));
        assert_eq!(e.line, Some(8), "{e}");
        assert_eq!(e.key, "cipher");
        assert!(e.message.contains("des"), "{e}");
        assert!(e.to_string().starts_with("callrec.toml:8: key `cipher`"), "{e}");
    }

    #[test]
    fn clear_text_password_is_refused_with_its_line() {
        let e = err(&GOOD.replace("password_env = \"X\"", "password = \"hunter2\""));
        assert_eq!(e.line, Some(19));
        assert_eq!(e.key, "targets[1].password");
        assert!(e.message.contains("password_env"));
        assert!(!e.to_string().contains("hunter2"), "the secret must not be echoed: {e}");
    }

    #[test]
    fn unknown_key_is_named() {
        let e = err(&GOOD.replace("cipher = \"aes256\"", "ciper = \"aes256\""));
        assert_eq!(e.line, Some(8));
        assert!(e.message.contains("ciper"), "{e}");
    }

    #[test]
    fn broken_toml_and_missing_section() {
        let e = err("[installation\nmodule_id = 1");
        assert_eq!(e.line, Some(1));
        let e = err("[keystore]\npath = \"k\"\n");
        assert!(e.message.contains("installation"), "{e}");
    }

    #[test]
    fn both_password_forms_are_refused() {
        let e = err(&GOOD.replace(
            "password_env = \"CALLREC_KEYSTORE_PASSWORD\"",
            "password_env = \"A\"\npassword_file = \"p\"",
        ));
        assert_eq!(e.line, Some(7));
    }

    #[test]
    fn secrets_resolve_from_env_and_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "s3cret\nignored\n").unwrap();
        let s = Secret { env: None, file: Some(dir.path().join("pw")), key: "k".into() };
        assert_eq!(s.resolve().unwrap(), "s3cret");
        let s = Secret { env: Some("CR_CONFIG_TEST_SURELY_UNSET".into()), file: None, key: "k".into() };
        assert!(s.resolve().unwrap_err().contains("CR_CONFIG_TEST_SURELY_UNSET"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("15").unwrap(), Duration::from_secs(15));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5y").is_err());
    }
}
