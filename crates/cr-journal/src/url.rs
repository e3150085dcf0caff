//! `[journal] url`: where the journal lives.

use std::path::{Path, PathBuf};

use crate::error::JournalError;

/// A parsed journal URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JournalUrl {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// An in-memory SQLite database (`sqlite::memory:`), for tests and examples.
    SqliteMemory,
    /// A PostgreSQL connection URL (feature `postgres`).
    #[cfg(feature = "postgres")]
    Postgres(String),
}

impl JournalUrl {
    /// Parses `url`; a relative SQLite path is taken relative to `base_dir` (the
    /// installation's `data_dir`).
    ///
    /// Accepted: `sqlite:journal.sqlite`, `sqlite:/var/lib/callrec/journal.sqlite`,
    /// `sqlite:///var/lib/callrec/journal.sqlite`, `sqlite::memory:`, and with the
    /// `postgres` feature `postgres://user@host:port/db`; without it a `postgres://` URL is
    /// refused with [`JournalError::Unsupported`].
    ///
    /// ```
    /// use cr_journal::JournalUrl;
    /// use std::path::Path;
    /// assert_eq!(
    ///     JournalUrl::parse("sqlite:journal.sqlite", Path::new("/var/lib/callrec")).unwrap(),
    ///     JournalUrl::Sqlite("/var/lib/callrec/journal.sqlite".into())
    /// );
    /// assert!(JournalUrl::parse("mysql://db/callrec", Path::new("/")).is_err());
    /// ```
    pub fn parse(url: &str, base_dir: &Path) -> Result<Self, JournalError> {
        let bad = |reason: &str| JournalError::BadUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = url.trim();
        if let Some(rest) = trimmed.strip_prefix("sqlite:") {
            if rest == ":memory:" {
                return Ok(JournalUrl::SqliteMemory);
            }
            // sqlite:///abs -> /abs ; sqlite://rel -> rel
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(bad(
                    "no file name after \"sqlite:\" (write e.g. \"sqlite:journal.sqlite\")",
                ));
            }
            if path.contains('?') {
                return Err(bad(
                    "query parameters are not supported; give only the file name",
                ));
            }
            if path.chars().any(char::is_control) {
                return Err(bad("the file name contains control characters"));
            }
            return Ok(JournalUrl::Sqlite(base_dir.join(path)));
        }
        let lower = trimmed.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            if let Some((_, rest)) = trimmed.split_once("://")
                && let Some((userinfo, _)) = rest.split_once('@')
                && userinfo.contains(':')
            {
                return Err(bad(
                    "write no password in the URL: the password is a secret, passed separately",
                ));
            }
            #[cfg(feature = "postgres")]
            return Ok(JournalUrl::Postgres(trimmed.to_owned()));
            #[cfg(not(feature = "postgres"))]
            return Err(JournalError::Unsupported {
                url: url.to_owned(),
                backend: "PostgreSQL",
            });
        }
        if lower.starts_with("mysql://") || lower.starts_with("mariadb://") {
            return Err(JournalError::Unsupported {
                url: url.to_owned(),
                backend: "MySQL/MariaDB",
            });
        }
        Err(bad(
            "it must start with \"sqlite:\" (e.g. \"sqlite:journal.sqlite\")",
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let base = Path::new("/data");
        assert_eq!(
            JournalUrl::parse("sqlite:/abs/j.db", base).unwrap(),
            JournalUrl::Sqlite("/abs/j.db".into())
        );
        assert_eq!(
            JournalUrl::parse("sqlite:///abs/j.db", base).unwrap(),
            JournalUrl::Sqlite("/abs/j.db".into())
        );
        assert_eq!(
            JournalUrl::parse("sqlite:sub/j.db", base).unwrap(),
            JournalUrl::Sqlite("/data/sub/j.db".into())
        );
        assert_eq!(
            JournalUrl::parse("sqlite::memory:", base).unwrap(),
            JournalUrl::SqliteMemory
        );
    }

    #[test]
    fn refusals_name_the_problem() {
        let base = Path::new("/data");
        #[cfg(not(feature = "postgres"))]
        {
            let e = JournalUrl::parse("postgresql://u@h/db", base).unwrap_err();
            assert!(matches!(e, JournalError::Unsupported { .. }));
            assert!(e.to_string().contains("not supported yet"), "{e}");
        }
        #[cfg(feature = "postgres")]
        assert_eq!(
            JournalUrl::parse("postgresql://u@h/db", base).unwrap(),
            JournalUrl::Postgres("postgresql://u@h/db".into())
        );
        let e = JournalUrl::parse("mysql://u@h/db", base).unwrap_err();
        assert!(matches!(e, JournalError::Unsupported { .. }));
        for bad in [
            "sqlite:",
            "journal.sqlite",
            "sqlite:j.db?mode=ro",
            "",
            "postgres://u:secret@h/db",
        ] {
            let e = JournalUrl::parse(bad, base).unwrap_err();
            assert!(matches!(e, JournalError::BadUrl { .. }), "{bad}: {e}");
        }
    }
}
