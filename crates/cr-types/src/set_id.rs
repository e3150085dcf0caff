//! Set ids: the name of a recording set's files on every target (`<id>.sha256`,
//! `<id>.wav`, …), so ASCII letters, digits, `-`, `_` and `.` only, 1 to [`MAX_LEN`]
//! characters, never starting with `.`.

use chrono::{DateTime, Utc};

/// The longest set id.
pub const MAX_LEN: usize = 128;

/// Why an id was refused, for error messages.
pub const RULE: &str = "a set id must be 1-128 ASCII letters, digits, '-', '_' or '.' and not start with '.'";

/// Whether `id` may name a set.
pub fn is_valid(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && !id.starts_with('.')
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A new set id: the call's start (UTC, millisecond, so ids sort by start) and 32 bits the
/// caller draws from a random source, e.g. `20261126T093000000Z-0a1b2c3d`.
pub fn new(started_at: DateTime<Utc>, random: [u8; 4]) -> String {
    format!("{}-{}", started_at.format("%Y%m%dT%H%M%S%3fZ"), hex::encode(random))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ids_sort_by_start_and_are_valid() {
        let t = |s| Utc.with_ymd_and_hms(2026, 11, 26, 9, 30, s).single().expect("time");
        let a = new(t(0), [0xff; 4]);
        let b = new(t(1), [0; 4]);
        assert_eq!(a, "20261126T093000000Z-ffffffff");
        assert!(a < b && is_valid(&a) && is_valid(&b));
    }

    #[test]
    fn names_that_would_escape_or_break_a_target_are_refused() {
        for bad in ["", ".hidden", "a/b", "a\\b", "a b", "ä", "a\0", &"x".repeat(MAX_LEN + 1)] {
            assert!(!is_valid(bad), "{bad:?}");
        }
        assert!(is_valid(&"x".repeat(MAX_LEN)));
        assert!(is_valid("call-1_a.b"));
    }
}
