//! From the facts of a SIPREC session (cr-pbx) to the call facts the policy decides on
//! (cr-policy): the direction is classified against the directory, the diversions are read
//! from the INVITE's `Diversion` headers.

use cr_policy::{CallFacts, Direction};

/// Classifies a SIPREC call: SIPREC metadata does not say whether a call is incoming or
/// outgoing. Incoming is tried first (the callee is a recorded group or user), then
/// outgoing (the caller is a recorded user or active member); when neither records, the
/// facts of the incoming reading are kept. `records` answers whether the policy records
/// a call with these facts (`|f| policy.decide(f).record`).
pub fn classify(facts: &cr_pbx::CallFacts, records: impl Fn(&CallFacts) -> bool) -> CallFacts {
    let caller = facts.caller.clone().unwrap_or_default();
    let callee = facts.callee.clone().unwrap_or_default();
    let diversions = diversions(&facts.headers);
    let incoming = CallFacts::new(Direction::Incoming, caller.clone(), callee.clone()).diverted_from(diversions.clone());
    if records(&incoming) {
        return incoming;
    }
    let outgoing = CallFacts::new(Direction::Outgoing, caller, callee).diverted_from(diversions);
    if records(&outgoing) {
        return outgoing;
    }
    incoming
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

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(headers: &[(&str, &str)]) -> cr_pbx::CallFacts {
        cr_pbx::CallFacts {
            call_id: "c1".into(),
            caller: Some("+4930999888".into()),
            caller_aor: None,
            caller_name: None,
            callee: Some("300".into()),
            callee_aor: None,
            callee_name: None,
            source: cr_pbx::FactsSource::Metadata,
            participants: vec![],
            recorded_session_ids: vec![],
            from_uri: "sip:src@pbx".into(),
            to_uri: "sip:srs@rec".into(),
            contact: None,
            src_feature: true,
            source_addr: std::net::SocketAddr::from(([127, 0, 0, 1], 5060)),
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
        }
    }

    // Guards against: the SIPREC diversions dropped on the way to the policy (a call to
    // 301 forwarded to 300 must reach the policy as "diverted from 301").
    #[test]
    fn siprec_diversions_reach_the_policy_oldest_first() {
        let f = facts(&[
            ("Via", "SIP/2.0/UDP pbx"),
            ("Diversion", "<sip:302@pbx;user=phone>;reason=unconditional;counter=1, \"Desk, A\" <tel:301>;reason=no-answer"),
            ("diversion", "<sip:+4930555777@pbx>;reason=user-busy"),
        ]);
        assert_eq!(diversions(&f.headers), ["+4930555777", "301", "302"]);
        let got = classify(&f, |_| true);
        assert_eq!(got.diversions, ["+4930555777", "301", "302"]);
        assert_eq!(got.direction, Direction::Incoming);
    }

    #[test]
    fn direction_is_incoming_first_then_outgoing() {
        let f = facts(&[]);
        let out = classify(&f, |c| c.direction == Direction::Outgoing);
        assert_eq!(out.direction, Direction::Outgoing);
        assert!(out.diversions.is_empty());
        let none = classify(&f, |_| false);
        assert_eq!(none, CallFacts::incoming("+4930999888", "300"));
    }

    #[test]
    fn malformed_diversion_headers_give_what_they_hold() {
        let f = facts(&[("Diversion", ",,<,>\",<sip:@x>"), ("Diversion", "")]);
        // Nothing panics; an entry without a user part is skipped.
        let got = diversions(&f.headers);
        assert!(got.iter().all(|d| !d.is_empty()), "{got:?}");
    }
}
