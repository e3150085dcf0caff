//! `[pbx.api]` turned into the settings the recorder serves with, validated once for
//! `crctl config check` and the recorder alike: listen address, bearer tokens, the
//! directories leg files may come from, time bounds and connection limits.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ConfigError;
use crate::model::{Config, LegOwner, parse_duration};

/// The shortest bearer token accepted (characters).
pub const MIN_TOKEN_LEN: usize = 16;

/// The API's bearer tokens. Only their SHA-256 digests are kept, and [`ApiTokens::verify`]
/// compares in constant time; `Debug` shows the count, never a token.
#[derive(Clone, Default)]
pub struct ApiTokens {
    digests: Vec<[u8; 32]>,
}

impl ApiTokens {
    /// Tokens from their clear text (which is dropped after hashing).
    pub fn from_tokens<I, S>(tokens: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            digests: tokens.into_iter().map(|t| digest(t.as_ref())).collect(),
        }
    }

    /// No token configured: every request that needs one is refused.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// How many tokens there are.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// True when `presented` is one of the tokens. Both sides are hashed first, so the
    /// comparison takes the same time whatever the length or content of `presented`, and
    /// every token is compared (no early exit).
    pub fn verify(&self, presented: &str) -> bool {
        let d = digest(presented);
        let mut ok = subtle::Choice::from(0u8);
        for t in &self.digests {
            ok |= t[..].ct_eq(&d[..]);
        }
        ok.into()
    }
}

fn digest(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&Sha256::digest(token.as_bytes()));
    out
}

impl fmt::Debug for ApiTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiTokens({} tokens)", self.digests.len())
    }
}

/// `[pbx.api]`, validated.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ApiSettings {
    /// `listen`.
    pub listen: SocketAddr,
    /// The listen address is a loopback address: `/metrics` is served without a token.
    pub loopback_only: bool,
    /// `token_file` and `token_env` together.
    pub tokens: ApiTokens,
    /// `leg_dirs`, canonical (symbolic links resolved).
    pub leg_dirs: Vec<PathBuf>,
    /// `leg_owner` as a uid.
    pub leg_owner: Option<u32>,
    /// Directories no leg may come from: the recorder's own `data_dir` (canonical).
    pub forbidden_dirs: Vec<PathBuf>,
    /// `max_age`.
    pub max_age: Duration,
    /// `clock_skew`.
    pub clock_skew: Duration,
    /// `header_timeout`.
    pub header_timeout: Duration,
    /// `body_timeout`.
    pub body_timeout: Duration,
    /// `max_connections`.
    pub max_connections: usize,
    /// Things an operator should know that are not errors (printed by `config check`,
    /// logged by the recorder at start).
    pub notes: Vec<String>,
}

impl Config {
    /// `[pbx.api]` validated, or every problem found in it; `None` without the section.
    /// Reads the token file and variable (never echoing a token), resolves `leg_dirs`
    /// and `leg_owner`.
    pub fn api_settings(&self) -> Result<Option<ApiSettings>, Vec<ConfigError>> {
        let Some(a) = &self.pbx.api else {
            return Ok(None);
        };
        let mut errs = Vec::new();
        let mut notes = Vec::new();
        let listen = match a.listen.parse::<SocketAddr>() {
            Ok(l) => Some(l),
            Err(_) => {
                errs.push(self.error_at(
                    "pbx.api.listen",
                    format!("{:?} is not ADDRESS:PORT (e.g. 127.0.0.1:8640)", a.listen),
                ));
                None
            }
        };
        let mut tokens = Vec::new();
        let mut token_errors = false;
        if let Some(file) = &a.token_file {
            match read_token_file(&self.resolve_path(file)) {
                Ok(t) => tokens.extend(t),
                Err(m) => {
                    token_errors = true;
                    errs.push(self.error_at("pbx.api.token_file", m));
                }
            }
        }
        if let Some(var) = &a.token_env {
            match read_token_env(var) {
                Ok(t) => tokens.extend(t),
                Err(m) => {
                    token_errors = true;
                    errs.push(self.error_at("pbx.api.token_env", m));
                }
            }
        }
        let loopback_only = listen.is_some_and(|l| l.ip().is_loopback());
        if tokens.is_empty() && !token_errors {
            if let Some(l) = listen
                && !loopback_only
            {
                errs.push(self.error_at(
                    "pbx.api.listen",
                    format!(
                        "{l} is not a loopback address and no bearer token is configured: \
                         set pbx.api.token_file or pbx.api.token_env, or listen on 127.0.0.1"
                    ),
                ));
            } else {
                notes.push(
                    "[pbx.api] has no bearer token (token_file, token_env): every request but \
                     GET /v1/health and GET /metrics is refused with 401"
                        .to_owned(),
                );
            }
        }
        let data_dir = canonical_even_if_missing(&self.installation.data_dir);
        let mut leg_dirs = Vec::new();
        for (i, d) in a.leg_dirs.iter().enumerate() {
            let key = format!("pbx.api.leg_dirs[{i}]");
            if !d.is_absolute() {
                errs.push(self.error_at(&key, format!("{} is not an absolute path", d.display())));
                continue;
            }
            let canon = match std::fs::canonicalize(d) {
                Ok(c) if c.is_dir() => c,
                Ok(_) => {
                    errs.push(self.error_at(&key, format!("{} is not a directory", d.display())));
                    continue;
                }
                Err(e) => {
                    errs.push(self.error_at(&key, format!("{}: {e}", d.display())));
                    continue;
                }
            };
            if canon.starts_with(&data_dir) {
                errs.push(self.error_at(
                    &key,
                    format!(
                        "{} lies inside installation.data_dir: the recorder's own files are never ingested",
                        d.display()
                    ),
                ));
                continue;
            }
            if data_dir.starts_with(&canon) {
                notes.push(format!(
                    "pbx.api.leg_dirs[{i}] {} holds installation.data_dir: legs inside data_dir are refused all the same",
                    d.display()
                ));
            }
            leg_dirs.push(canon);
        }
        if a.leg_dirs.is_empty() {
            notes.push(
                "[pbx.api] has no leg_dirs: POST /v1/recordings (ingest by path) is refused; \
                 list the directories the PBX writes its legs to"
                    .to_owned(),
            );
        }
        let leg_owner = match &a.leg_owner {
            None => None,
            Some(LegOwner::Uid(u)) => Some(*u),
            Some(LegOwner::Name(n)) => match uid_of(n, Path::new("/etc/passwd")) {
                Some(u) => Some(u),
                None => {
                    errs.push(self.error_at(
                        "pbx.api.leg_owner",
                        format!("user {n:?} is not in /etc/passwd: give the numeric uid instead"),
                    ));
                    None
                }
            },
        };
        let mut duration = |key: &str, value: &str, nonzero: bool| match parse_duration(value) {
            Ok(d) if nonzero && d.is_zero() => {
                errs.push(self.error_at(&format!("pbx.api.{key}"), "must be more than 0"));
                Duration::ZERO
            }
            Ok(d) => d,
            Err(e) => {
                errs.push(self.error_at(&format!("pbx.api.{key}"), e));
                Duration::ZERO
            }
        };
        let max_age = duration("max_age", &a.max_age, true);
        let clock_skew = duration("clock_skew", &a.clock_skew, false);
        let header_timeout = duration("header_timeout", &a.header_timeout, true);
        let body_timeout = duration("body_timeout", &a.body_timeout, true);
        if a.max_connections == 0 {
            errs.push(self.error_at("pbx.api.max_connections", "must be at least 1"));
        }
        let Some(listen) = listen.filter(|_| errs.is_empty()) else {
            return Err(errs);
        };
        Ok(Some(ApiSettings {
            listen,
            loopback_only,
            tokens: ApiTokens::from_tokens(&tokens),
            leg_dirs,
            leg_owner,
            forbidden_dirs: vec![data_dir],
            max_age,
            clock_skew,
            header_timeout,
            body_timeout,
            max_connections: a.max_connections as usize,
            notes,
        }))
    }
}

/// `p` with symbolic links resolved; for a directory not made yet (before `keys init`),
/// its parent's resolved path and its name.
fn canonical_even_if_missing(p: &Path) -> PathBuf {
    if let Ok(c) = std::fs::canonicalize(p) {
        return c;
    }
    match (
        p.parent().and_then(|d| std::fs::canonicalize(d).ok()),
        p.file_name(),
    ) {
        (Some(d), Some(name)) => d.join(name),
        _ => p.to_path_buf(),
    }
}

/// A token's characters: RFC 6750 `b64token`.
fn check_token(t: &str, place: &str) -> Result<(), String> {
    if !t
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._~+/=".contains(c))
    {
        return Err(format!(
            "{place}: a token may hold only letters, digits and - . _ ~ + / ="
        ));
    }
    if t.len() < MIN_TOKEN_LEN {
        return Err(format!(
            "{place}: a token is shorter than {MIN_TOKEN_LEN} characters (make one with `openssl rand -hex 32`)"
        ));
    }
    Ok(())
}

fn read_token_file(path: &Path) -> Result<Vec<String>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o007 != 0 {
            return Err(format!(
                "{} is open to other users (mode {mode:04o}): `chmod o-rwx` it",
                path.display()
            ));
        }
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        check_token(t, &format!("{} line {}", path.display(), n + 1))?;
        out.push(t.to_owned());
    }
    if out.is_empty() {
        return Err(format!(
            "{} holds no token (one a line; # starts a comment)",
            path.display()
        ));
    }
    Ok(out)
}

fn read_token_env(var: &str) -> Result<Vec<String>, String> {
    let value = std::env::var(var)
        .map_err(|_| format!("environment variable {var} is not set (or not UTF-8)"))?;
    parse_token_list(&value, var)
}

fn parse_token_list(value: &str, var: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (n, t) in value.split(',').map(str::trim).enumerate() {
        if t.is_empty() {
            continue;
        }
        check_token(t, &format!("{var} item {}", n + 1))?;
        out.push(t.to_owned());
    }
    if out.is_empty() {
        return Err(format!(
            "environment variable {var} holds no token (comma-separated)"
        ));
    }
    Ok(out)
}

/// The uid of user `name` in a passwd(5) file.
fn uid_of(name: &str, passwd: &Path) -> Option<u32> {
    id_in_file(name, passwd).ok().flatten()
}

/// The number of user or group `name` in a file of `/etc/passwd` or `/etc/group` form
/// (`name:password:id:...`; both keep the id in the third field): `Ok(None)` when the file
/// has no such name. Names from a directory service (LDAP, SSSD) are not there: give
/// their numbers instead.
pub fn id_in_file(name: &str, db: &Path) -> std::io::Result<Option<u32>> {
    let text = std::fs::read_to_string(db)?;
    Ok(text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then_some(())?;
        f.nth(1)?.parse().ok()
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cfg(dir: &Path, api: &str) -> Config {
        let text = format!(
            "[installation]\nmodule_id = \"m\"\ndata_dir = \"{}\"\n[pbx.api]\n{api}\n",
            dir.join("data").display()
        );
        Config::parse(&text, "callrec.toml").unwrap()
    }

    fn keys(r: Result<Option<ApiSettings>, Vec<ConfigError>>) -> Vec<String> {
        r.unwrap_err().into_iter().map(|e| e.key).collect()
    }

    #[test]
    fn tokens_compare_by_digest_and_debug_hides_them() {
        let t = ApiTokens::from_tokens(["aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"]);
        assert!(t.verify("bbbbbbbbbbbbbbbb"));
        assert!(!t.verify("bbbbbbbbbbbbbbb"));
        assert!(!t.verify(""));
        assert!(!ApiTokens::default().verify(""));
        assert_eq!(format!("{t:?}"), "ApiTokens(2 tokens)");
    }

    #[test]
    fn token_file_comments_and_several_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tokens");
        std::fs::write(
            &f,
            "# the PBX\n  0123456789abcdef0123  \n\n# spare\nfedcba9876543210fedc\n",
        )
        .unwrap();
        set_mode(&f, 0o600);
        let s = cfg(
            dir.path(),
            &format!("listen = \"0.0.0.0:1\"\ntoken_file = \"{}\"", f.display()),
        )
        .api_settings()
        .unwrap()
        .unwrap();
        assert_eq!(s.tokens.len(), 2);
        assert!(s.tokens.verify("fedcba9876543210fedc"));
        assert!(!s.loopback_only);
    }

    // Guards against: a token file every local user can read.
    #[test]
    fn world_readable_token_file_is_refused_without_echoing_it() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tokens");
        std::fs::write(&f, "0123456789abcdef0123\n").unwrap();
        set_mode(&f, 0o644);
        let r = cfg(
            dir.path(),
            &format!("listen = \"127.0.0.1:1\"\ntoken_file = \"{}\"", f.display()),
        )
        .api_settings();
        let e = r.unwrap_err();
        assert_eq!(e[0].key, "pbx.api.token_file");
        assert!(e[0].message.contains("0644"), "{}", e[0]);
        assert!(!e[0].to_string().contains("0123456789abcdef"), "{}", e[0]);
    }

    #[test]
    fn missing_empty_and_short_token_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tokens");
        let api = format!("listen = \"127.0.0.1:1\"\ntoken_file = \"{}\"", f.display());
        assert_eq!(
            keys(cfg(dir.path(), &api).api_settings()),
            ["pbx.api.token_file"]
        );
        std::fs::write(&f, "# nothing yet\n").unwrap();
        set_mode(&f, 0o600);
        assert_eq!(
            keys(cfg(dir.path(), &api).api_settings()),
            ["pbx.api.token_file"]
        );
        std::fs::write(&f, "short\n").unwrap();
        let e = cfg(dir.path(), &api).api_settings().unwrap_err();
        assert!(e[0].message.contains("shorter"), "{}", e[0]);
        assert!(!e[0].message.contains("short\n"), "{}", e[0]);
    }

    // Guards against: an API open to the network without authentication.
    #[test]
    fn non_loopback_listen_without_tokens_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            keys(cfg(dir.path(), "listen = \"0.0.0.0:8640\"").api_settings()),
            ["pbx.api.listen"]
        );
        let s = cfg(dir.path(), "listen = \"[::1]:8640\"")
            .api_settings()
            .unwrap()
            .unwrap();
        assert!(s.loopback_only && s.tokens.is_empty());
        assert!(s.notes.iter().any(|n| n.contains("401")), "{:?}", s.notes);
        assert!(
            s.notes.iter().any(|n| n.contains("leg_dirs")),
            "{:?}",
            s.notes
        );
    }

    #[test]
    fn token_env_must_be_set_and_items_are_comma_separated() {
        // Setting a variable needs `unsafe` in edition 2024: the recorder's tests set it in
        // the child's environment instead; here the parsing and the unset variable.
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            keys(
                cfg(
                    dir.path(),
                    "listen = \"0.0.0.0:1\"\ntoken_env = \"CR_CONFIG_SURELY_UNSET\""
                )
                .api_settings()
            ),
            ["pbx.api.token_env"]
        );
        assert_eq!(
            parse_token_list(" 0123456789abcdef0123 , ,fedcba9876543210fedc", "V")
                .unwrap()
                .len(),
            2
        );
        assert!(
            parse_token_list(" , ", "V")
                .unwrap_err()
                .contains("no token")
        );
        assert!(
            parse_token_list("0123456789abcdef 0123", "V")
                .unwrap_err()
                .contains("only letters")
        );
    }

    #[test]
    fn leg_dirs_must_exist_be_absolute_and_lie_outside_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data/spool")).unwrap();
        std::fs::create_dir_all(dir.path().join("pbx")).unwrap();
        let api = format!(
            "listen = \"127.0.0.1:1\"\nleg_dirs = [\"{0}/pbx\", \"rel\", \"{0}/none\", \"{0}/data/spool\"]",
            dir.path().display()
        );
        assert_eq!(
            keys(cfg(dir.path(), &api).api_settings()),
            [
                "pbx.api.leg_dirs[1]",
                "pbx.api.leg_dirs[2]",
                "pbx.api.leg_dirs[3]"
            ]
        );
        let api = format!(
            "listen = \"127.0.0.1:1\"\nleg_dirs = [\"{}/pbx\"]\nleg_owner = 4242",
            dir.path().display()
        );
        let s = cfg(dir.path(), &api).api_settings().unwrap().unwrap();
        assert_eq!(
            s.leg_dirs,
            vec![std::fs::canonicalize(dir.path().join("pbx")).unwrap()]
        );
        assert_eq!(s.leg_owner, Some(4242));
        assert!(
            !s.notes.iter().any(|n| n.contains("leg_dirs")),
            "{:?}",
            s.notes
        );
    }

    // Guards against: legs from the recorder's own files through a symlinked path to
    // data_dir before it exists (crctl config check before keys init).
    #[test]
    fn data_dir_is_resolved_even_before_it_exists() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("link")).unwrap();
        let text = format!(
            "[installation]\nmodule_id = \"m\"\ndata_dir = \"{}/link/data\"\n[pbx.api]\nlisten = \"127.0.0.1:1\"\n",
            dir.path().display()
        );
        let s = Config::parse(&text, "c.toml")
            .unwrap()
            .api_settings()
            .unwrap()
            .unwrap();
        let real = std::fs::canonicalize(dir.path().join("real")).unwrap();
        assert_eq!(s.forbidden_dirs, vec![real.join("data")]);
    }

    #[test]
    fn leg_owner_by_name_and_bad_durations() {
        let dir = tempfile::tempdir().unwrap();
        let passwd = dir.path().join("passwd");
        std::fs::write(&passwd, "root:x:0:0:root:/root:/bin/sh\nasterisk:x:113:120::/var/lib/asterisk:/usr/sbin/nologin\n").unwrap();
        assert_eq!(uid_of("asterisk", &passwd), Some(113));
        assert_eq!(uid_of("aster", &passwd), None);
        let api = "listen = \"127.0.0.1:1\"\nleg_owner = \"no-such-user-here\"\nmax_age = \"soon\"\nheader_timeout = \"0s\"\nmax_connections = 0";
        assert_eq!(
            keys(cfg(dir.path(), api).api_settings()),
            [
                "pbx.api.leg_owner",
                "pbx.api.max_age",
                "pbx.api.header_timeout",
                "pbx.api.max_connections"
            ]
        );
    }

    #[test]
    fn a_token_written_in_the_file_is_refused() {
        let e = Config::parse(
            "[installation]\nmodule_id = \"m\"\ndata_dir = \"/x\"\n[pbx.api]\nlisten = \"127.0.0.1:1\"\ntoken = \"0123456789abcdef0123\"\n",
            "c.toml",
        )
        .unwrap_err();
        assert_eq!(e.key, "pbx.api.token");
        assert!(!e.to_string().contains("0123456789abcdef"), "{e}");
    }

    fn set_mode(p: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}
