//! From the facts of a SIPREC session (cr-pbx) to the call facts the policy decides on
//! (cr-policy): the direction is classified against the directory, the diversions are read
//! from the INVITE's `Diversion` headers.

use cr_policy::CallFacts;

/// Classifies a SIPREC call: SIPREC metadata does not say whether a call is incoming or
/// outgoing ([`cr_policy::classify_direction`]: incoming first, then outgoing, else the
/// incoming reading). `records` answers whether the policy records a call with these
/// facts (`|f| policy.decide(f).record`).
pub fn classify(facts: &cr_pbx::CallFacts, records: impl Fn(&CallFacts) -> bool) -> CallFacts {
    let caller = facts.caller.clone().unwrap_or_default();
    let callee = facts.callee.clone().unwrap_or_default();
    cr_policy::classify_direction(caller, callee, diversions(&facts.headers), records)
}

/// The numbers a call was diverted from, oldest first, from the `Diversion` headers of
/// the SIPREC INVITE (RFC 5806: one entry per diversion, the most recent on top; entries
/// may share a header, separated by commas). Each entry gives the user part of its URI.
pub fn diversions(headers: &[(String, String)]) -> Vec<String> {
    let mut newest_first = Vec::new();
    for (_, value) in headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("Diversion")) {
        for entry in split_entries(value) {
            let user = cr_pbx::user_of(cr_pbx::uri_of(entry));
            if !user.is_empty() {
                newest_first.push(user.to_owned());
            }
        }
    }
    newest_first.reverse();
    newest_first
}

/// Splits a header value at the commas that lie outside `<…>` and quotes.
fn split_entries(value: &str) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0u32, false, 0);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth = depth.saturating_sub(1),
            ',' if !quoted && depth == 0 => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts.into_iter().map(str::trim).filter(|p| !p.is_empty())
}
