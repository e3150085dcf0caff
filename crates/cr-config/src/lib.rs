//! # cr-config
//!
//! The configuration file `callrec.toml` (docs/reference.md §1), read by every callrec binary with
//! `--config FILE`. [`Config::load`] parses the file into plain structs; every error it
//! returns is a [`ConfigError`] naming the file, the line and the key, so an operator can go
//! straight to the mistake.
//!
//! Secrets are never written in the file: a key such as `password` is refused, and every
//! secret is given as `*_env` (the name of an environment variable) or `*_file` (a file
//! holding it), resolved by [`Secret::resolve`]. Relative paths are relative to
//! `installation.data_dir` ([`Config::resolve_path`]).
//!
//! The sections are parsed here; what their values *mean* (a group that names an unknown
//! user, a directory template with `..`) is checked by the crate that owns the concept, which
//! reports through [`Config::error_at`] so the message still carries the line.
//!
//! ```
//! let text = r#"
//! [installation]
//! module_id = "pbx-berlin-01"
//! data_dir = "/var/lib/callrec"
//!
//! [keystore]
//! password_env = "CALLREC_KEYSTORE_PASSWORD"
//! "#;
//! let cfg = cr_config::Config::parse(text, "callrec.toml").unwrap();
//! assert_eq!(cfg.installation.module_id, "pbx-berlin-01");
//! assert_eq!(cfg.keystore_path(), std::path::Path::new("/var/lib/callrec/keystore.p12"));
//!
//! let err = cr_config::Config::parse("[installation]\nmodule_id = 7\n", "x.toml").unwrap_err();
//! assert_eq!(err.line, Some(2));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod api;
mod error;
mod locate;
mod model;
mod section;

pub use api::{ApiSettings, ApiTokens, MIN_TOKEN_LEN, id_in_file};

pub use error::ConfigError;
pub use locate::KeyPath;
pub use section::field_names;
pub use model::{
    ApiConfig, Cipher, Config, Installation, JournalConfig, KeystoreConfig, LegOwner,
    NotifyConfig, PbxConfig, Secret, SipRecConfig, SmtpTls, parse_duration,
};
