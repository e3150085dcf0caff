//! The checksum file: `<hex>  <name>` lines as `shasum -a 256` and `sha256sum` write them.

use std::fmt;

/// The largest checksum file we read: a set has a handful of files, so anything near this
/// is not a checksum file of ours.
pub const MAX_MANIFEST_BYTES: usize = 1 << 20;

/// One line of a checksum file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// The SHA-256 of the file.
    pub sha256: [u8; 32],
    /// The file name, without any directory part.
    pub name: String,
}

/// The parsed checksum file of one set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    entries: Vec<ManifestEntry>,
}

/// Why a checksum file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// Larger than [`MAX_MANIFEST_BYTES`].
    #[error("checksum file is larger than 1 MiB, more than the checksum file of a set can be (not checked further)")]
    TooLarge(usize),
    /// No lines.
    #[error("checksum file lists no files")]
    Empty,
    /// Not UTF-8.
    #[error("line {line}: not UTF-8 text")]
    NotUtf8 {
        /// 1-based line.
        line: usize,
    },
    /// The line is not `<64 hex digits><two spaces or space-asterisk><name>`.
    #[error("line {line}: not a `<sha256 hex>  <file name>` line")]
    BadLine {
        /// 1-based line.
        line: usize,
    },
    /// CR before LF: shasum refuses it, so do we.
    #[error("line {line}: CRLF line end (shasum rejects it)")]
    CrLf {
        /// 1-based line.
        line: usize,
    },
    /// The name is absolute, has a directory part, `..`, or control characters.
    #[error("line {line}: file name {name:?} is not a plain file name of the set (absolute, directory part, `..` or control characters)")]
    UnsafeName {
        /// 1-based line.
        line: usize,
        /// The name as written.
        name: String,
    },
    /// The same name twice.
    #[error("line {line}: {name:?} is listed twice")]
    Duplicate {
        /// 1-based line.
        line: usize,
        /// The name.
        name: String,
    },
}

impl Manifest {
    /// A manifest of the given entries (names are checked when written and parsed).
    pub fn new(entries: Vec<ManifestEntry>) -> Self {
        Self { entries }
    }

    /// The entries, in file order.
    pub fn entries(&self) -> &[ManifestEntry] {
        &self.entries
    }

    /// Parses checksum-file bytes. Accepts exactly what both `shasum -a 256 -c` and
    /// `sha256sum -c` accept of our format: `hex␠␠name` or `hex␠*name`, LF line ends, the
    /// last line end optional; refuses names that would leave the set's directory.
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge(bytes.len()));
        }
        Self::parse_with(bytes, is_plain_file_name)
    }

    /// Parses a checksum file over a directory tree (e.g. an export package's
    /// `SHA256SUMS`): as [`parse`](Self::parse), but a name may be a relative path of plain
    /// names joined by `/` (see [`is_relative_path`]), and there is no size limit (the
    /// caller bounds what it reads: a tree may hold many sets).
    pub fn parse_tree(bytes: &[u8]) -> Result<Self, ManifestError> {
        Self::parse_with(bytes, is_relative_path)
    }

    fn parse_with(bytes: &[u8], name_ok: fn(&str) -> bool) -> Result<Self, ManifestError> {
        let mut entries: Vec<ManifestEntry> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        if body.is_empty() {
            return Err(ManifestError::Empty);
        }
        for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
            let line = i + 1;
            if raw.last() == Some(&b'\r') {
                return Err(ManifestError::CrLf { line });
            }
            let text = std::str::from_utf8(raw).map_err(|_| ManifestError::NotUtf8 { line })?;
            let entry = parse_line(text, line, name_ok)?;
            if !seen.insert(entry.name.clone()) {
                return Err(ManifestError::Duplicate { line, name: entry.name });
            }
            entries.push(entry);
        }
        Ok(Self { entries })
    }

    /// The checksum file text: one `hex␠␠name\n` line per entry.
    pub fn to_text(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Manifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.entries {
            writeln!(f, "{}  {}", hex::encode(e.sha256), e.name)?;
        }
        Ok(())
    }
}

fn parse_line(text: &str, line: usize, name_ok: fn(&str) -> bool) -> Result<ManifestEntry, ManifestError> {
    let bad = || ManifestError::BadLine { line };
    let (hex_part, rest) = text.split_at_checked(64).ok_or_else(bad)?;
    let mut sha256 = [0u8; 32];
    // Both tools accept upper- and lower-case hex.
    hex::decode_to_slice(hex_part, &mut sha256).map_err(|_| bad())?;
    let name = rest
        .strip_prefix("  ")
        .or_else(|| rest.strip_prefix(" *"))
        .ok_or_else(bad)?;
    if !name_ok(name) {
        return Err(ManifestError::UnsafeName { line, name: name.to_owned() });
    }
    Ok(ManifestEntry { sha256, name: name.to_owned() })
}

/// True for a name that stays inside the directory it is opened in: not empty, not `.` or
/// `..`, no `/` or `\`, no control characters (a backslash also makes shasum escape the
/// line, which we never write).
pub fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control)
}

/// True for a relative path that stays below the directory it is opened in: one or more
/// [plain file names](is_plain_file_name) joined by `/` (no leading or doubled `/`).
pub fn is_relative_path(path: &str) -> bool {
    path.split('/').all(is_plain_file_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn round_trips() {
        let text = format!("{H}  a.json\n{H}  a.wav\n");
        let m = Manifest::parse(text.as_bytes()).unwrap();
        assert_eq!(m.entries().len(), 2);
        assert_eq!(m.to_text(), text);
    }

    #[test]
    fn accepts_binary_marker_uppercase_and_missing_last_newline() {
        let text = format!("{}  a.json\n{H} *a.wav", H.to_uppercase());
        let m = Manifest::parse(text.as_bytes()).unwrap();
        assert_eq!(m.entries()[1].name, "a.wav");
    }

    #[test]
    fn refuses_bad_input_with_a_reason() {
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "no files"),
            ("\n".into(), "no files"),
            ("garbage".into(), "line 1"),
            (format!("{H} a.wav\n"), "line 1"),
            (format!("{H}  a.wav\r\n"), "CRLF"),
            (format!("{}  a.wav\n", &H[..63]), "line 1"),
            (format!("{H}  a.wav\n{H}  ../etc/passwd\n"), "line 2"),
            (format!("{H}  /etc/passwd\n"), "not a plain"),
            (format!("{H}  sub/a.wav\n"), "not a plain"),
            (format!("{H}  ..\n"), "not a plain"),
            (format!("{H}  a\\b\n"), "not a plain"),
            (format!("{H}  \n"), "not a plain"),
            (format!("{H}  a.wav\n{H}  a.wav\n"), "twice"),
            (format!("{}  a.wav\n", "zz".repeat(32)), "line 1"),
        ];
        for (text, want) in cases {
            let err = Manifest::parse(text.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
        let mut bytes = format!("{H}  a.wav\n").into_bytes();
        bytes.extend_from_slice(&[0xff, 0xfe]);
        assert!(Manifest::parse(&bytes).is_err());
        let huge = vec![b'a'; MAX_MANIFEST_BYTES + 1];
        assert!(matches!(Manifest::parse(&huge), Err(ManifestError::TooLarge(_))));
    }

    #[test]
    fn a_tree_allows_relative_paths_and_nothing_that_leaves_it() {
        let text = format!("{H}  sets/a/a.wav\n{H}  cert.pem\n");
        let m = Manifest::parse_tree(text.as_bytes()).unwrap();
        assert_eq!(m.entries()[0].name, "sets/a/a.wav");
        assert!(Manifest::parse(text.as_bytes()).is_err());
        for bad in ["/etc/passwd", "sets/../x", "sets//a", "sets/", "./a", "a\\b", ""] {
            let text = format!("{H}  {bad}\n");
            assert!(Manifest::parse_tree(text.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn multibyte_text_at_the_hex_boundary_is_an_error_not_a_panic() {
        let text = format!("{}é  a.wav\n", &H[..63]);
        assert!(Manifest::parse(text.as_bytes()).is_err());
    }
}
