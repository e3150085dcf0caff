//! Finding the line of a key in the source text.

use std::fmt;
use std::ops::Range;

use toml_edit::Item;

/// A path to a key in the file: `targets[1].host_key` is
/// `KeyPath::new().key("targets").index(1).key("host_key")`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(Vec<Seg>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

impl KeyPath {
    /// The root of the file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses the dotted form `a.b[2].c` (keys without dots or brackets).
    pub fn parse(s: &str) -> Self {
        let mut path = Self::new();
        for part in s.split('.').filter(|p| !p.is_empty()) {
            let mut rest = part;
            let name_end = rest.find('[').unwrap_or(rest.len());
            path = path.key(&rest[..name_end]);
            rest = &rest[name_end..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let close = stripped.find(']').unwrap_or(stripped.len());
                if let Ok(i) = stripped[..close].parse() {
                    path = path.index(i);
                }
                rest = stripped.get(close + 1..).unwrap_or("");
            }
        }
        path
    }

    /// This path followed by a table key.
    pub fn key(mut self, k: &str) -> Self {
        self.0.push(Seg::Key(k.to_owned()));
        self
    }

    /// This path followed by an array index.
    pub fn index(mut self, i: usize) -> Self {
        self.0.push(Seg::Index(i));
        self
    }

    /// The byte range in `doc`'s source of the deepest part of this path that exists.
    pub(crate) fn span_in(&self, doc: &toml_edit::Document<String>) -> Option<Range<usize>> {
        walk(doc.as_item(), &self.0, None)
    }
}

/// Follows `segs` from `item`, remembering the span of the deepest part found.
fn walk(item: &Item, segs: &[Seg], best: Option<Range<usize>>) -> Option<Range<usize>> {
    let Some((seg, rest)) = segs.split_first() else {
        return best;
    };
    match seg {
        Seg::Key(k) => {
            let Some((key, value)) = item.as_table_like().and_then(|t| t.get_key_value(k)) else {
                return best;
            };
            // The key's own position is the most useful line for the reader.
            let best = key.span().or_else(|| value.span()).or(best);
            walk(value, rest, best)
        }
        Seg::Index(i) => {
            if let Some(table) = item.as_array_of_tables().and_then(|a| a.get(*i)) {
                // A `[[x]]` table carries no span of its own: its first key stands for it.
                let first_key = table.iter().next().and_then(|(k, _)| table.key(k)?.span());
                let best = table.span().or(first_key).or(best);
                return walk_table(table, rest, best);
            }
            match item.as_array().and_then(|a| a.get(*i)) {
                Some(v) => v.span().or(best),
                None => best,
            }
        }
    }
}

fn walk_table(table: &toml_edit::Table, segs: &[Seg], best: Option<Range<usize>>) -> Option<Range<usize>> {
    let Some((Seg::Key(k), rest)) = segs.split_first() else {
        return best;
    };
    let Some((key, value)) = table.get_key_value(k) else {
        return best;
    };
    let best = key.span().or_else(|| value.span()).or(best);
    walk(value, rest, best)
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for seg in &self.0 {
            match seg {
                Seg::Key(k) => {
                    if !first {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
            first = false;
        }
        Ok(())
    }
}

/// 1-based line of a byte offset.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str, path: &str) -> Option<usize> {
        let doc = toml_edit::Document::parse(text.to_owned()).unwrap();
        KeyPath::parse(path).span_in(&doc).map(|s| line_of(text, s.start))
    }

    #[test]
    fn finds_keys_in_tables_arrays_and_arrays_of_tables() {
        let text = "[installation]\nmodule_id = \"x\"\n\n[[targets]]\nname = \"a\"\n\n[[targets]]\nname = \"b\"\nhost_key = \"k\"\nusers = [\"u\",\n  \"v\"]\n";
        assert_eq!(line(text, "installation.module_id"), Some(2));
        assert_eq!(line(text, "targets[1].host_key"), Some(9));
        assert_eq!(line(text, "targets[0].name"), Some(5));
        assert_eq!(line(text, "targets[1].users[1]"), Some(11));
        assert_eq!(line(text, "nothing.here"), None);
    }

    #[test]
    fn displays_dotted_form() {
        assert_eq!(KeyPath::parse("a.b[2].c").to_string(), "a.b[2].c");
    }
}
