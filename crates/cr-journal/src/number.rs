//! Party numbers in a form that can be searched.

/// Suffix matching applies only when the shorter side has at least this many digits, so
/// that an internal extension such as `201` does not match every number ending in 201.
pub const SUFFIX_MIN_DIGITS: usize = 7;

/// The searchable form of a party number: its digits only, leading zeros removed.
///
/// `+49 (30) 555-201`, `0049 30 555201` and `tel:+4930555201` all become `4930555201`;
/// the national form `030 555201` becomes `30555201`, which a search finds by suffix
/// (see [`numbers_match`]). Anything that is not an ASCII digit (`+`, spaces, `sip:`, a host
/// part's letters) is dropped, so a SIP URI's user part is kept with its host's digits:
/// strip URIs to their user part before storing them.
///
/// ```
/// assert_eq!(cr_journal::normalize_number("+49 (30) 555-201"), "4930555201");
/// assert_eq!(cr_journal::normalize_number("030 555201"), "30555201");
/// assert_eq!(cr_journal::normalize_number("anonymous"), "");
/// ```
pub fn normalize_number(number: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    digits.trim_start_matches('0').to_owned()
}

/// A search by any part of a number ([`number_found`]) finds a party whose digits contain the searched
/// digits anywhere when at least this many were given; fewer must equal the party's digits.
pub const PART_MIN_DIGITS: usize = 3;

/// The parts of a party's digits stored for searching by any part (schema 8's
/// `call_number_parts`) are at most this long: a search for a longer run of digits looks up
/// its first `PART_MAX_DIGITS` and confirms the rest on the call's digits. Longer than any
/// E.164 number (15 digits), so that in practice the index alone answers.
pub const PART_MAX_DIGITS: usize = 16;

/// Whether a search by any part ([`SearchQuery::any_part`](crate::SearchQuery::any_part))
/// for `query` finds a party with the digits `stored` (both normalized): they match as
/// [`numbers_match`] says, or `query` has at least [`PART_MIN_DIGITS`] digits and occurs
/// anywhere in `stored` (a middle part of the number, its start, its end).
///
/// ```
/// use cr_journal::number_found;
/// assert!(number_found("4930555201", "3055"));
/// assert!(number_found("4930555201", "4930"));
/// assert!(number_found("30555201", "4930555201"));
/// assert!(!number_found("4930555201", "55"));
/// assert!(number_found("55", "55"));
/// ```
pub fn number_found(stored: &str, query: &str) -> bool {
    numbers_match(stored, query, false) || (query.len() >= PART_MIN_DIGITS && stored.contains(query))
}

/// The parts of a party's digits that `call_number_parts` holds: from every position that
/// leaves at least [`PART_MIN_DIGITS`] digits, the next [`PART_MAX_DIGITS`] (or up to the
/// end), so that every run of 3 or more digits in the number begins one of them.
///
/// ```
/// let parts: Vec<&str> = cr_journal::number_parts("49305").collect();
/// assert_eq!(parts, ["49305", "9305", "305"]);
/// ```
pub fn number_parts(digits: &str) -> impl Iterator<Item = &str> {
    let n = digits.len();
    (0..(n + 1).saturating_sub(PART_MIN_DIGITS)).map(move |i| &digits[i..n.min(i + PART_MAX_DIGITS)])
}

/// Whether a stored number and a searched number (both normalized) match: equal, or —
/// unless `exact` — one ends with the other and the shorter has at least
/// [`SUFFIX_MIN_DIGITS`] digits (so the national form finds the international one).
///
/// ```
/// use cr_journal::numbers_match;
/// assert!(numbers_match("4930555201", "30555201", false));
/// assert!(numbers_match("30555201", "4930555201", false));
/// assert!(!numbers_match("4930555201", "201", false));
/// assert!(numbers_match("201", "201", false));
/// assert!(!numbers_match("4930555201", "30555201", true));
/// ```
pub fn numbers_match(stored: &str, query: &str, exact: bool) -> bool {
    if stored.is_empty() || query.is_empty() {
        return false;
    }
    if stored == query {
        return true;
    }
    if exact {
        return false;
    }
    let (short, long) = if stored.len() < query.len() {
        (stored, query)
    } else {
        (query, stored)
    };
    short.len() >= SUFFIX_MIN_DIGITS && long.ends_with(short)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_forms_of_one_number() {
        for n in [
            "+4930555201",
            "0049 30 555201",
            "tel:+49-30-555-201",
            "+49 (30) 555 201",
        ] {
            assert_eq!(normalize_number(n), "4930555201", "{n}");
        }
        assert_eq!(normalize_number(""), "");
        assert_eq!(normalize_number("000"), "");
        assert_eq!(normalize_number("ünïcode 12"), "12");
    }

    #[test]
    fn short_numbers_only_match_exactly() {
        assert!(!numbers_match("555201", "4930555201", false));
        assert!(numbers_match("3055520", "493055520", false));
        assert!(!numbers_match("", "", false));
    }

    #[test]
    fn parts_begin_every_run_of_three_digits() {
        assert_eq!(number_parts("12").count(), 0);
        assert_eq!(number_parts("123").collect::<Vec<_>>(), ["123"]);
        let long = "12345678901234567890";
        let parts: Vec<&str> = number_parts(long).collect();
        assert_eq!(parts.len(), long.len() - 2);
        assert!(parts.iter().all(|p| p.len() <= PART_MAX_DIGITS && p.len() >= PART_MIN_DIGITS));
        for i in 0..long.len() - 2 {
            assert!(parts[i].starts_with(&long[i..long.len().min(i + PART_MAX_DIGITS)]));
        }
    }

    #[test]
    fn search_finds_any_part_of_three_digits_or_more() {
        assert!(number_found("4930555201", "305"));
        assert!(!number_found("4930555201", "30"));
        assert!(!number_found("4930555201", "306"));
        assert!(!number_found("", ""));
        assert!(!number_found("555201", "4930555201"), "6 digits are too few for a suffix");
    }
}
