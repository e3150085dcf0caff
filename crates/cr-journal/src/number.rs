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
}
