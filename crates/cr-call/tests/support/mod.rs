//! What the tests of cr-call share: a SIPREC session's facts and a call record.
#![allow(dead_code)]

use cr_call::CallRecord;

/// The facts cr-pbx reports for a call from +4930999888 to 300, with these INVITE headers.
pub fn pbx_facts(call_id: &str, headers: &[(&str, &str)]) -> cr_pbx::CallFacts {
    cr_pbx::CallFacts {
        call_id: call_id.into(),
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

/// The record of a recorded call: set `id`, journal row `n`, PBX call id `call-<n>`.
pub fn record(id: &str, n: u64) -> CallRecord {
    serde_json::from_value(serde_json::json!({
        "id": id,
        "pbx_call_id": format!("call-{n}"),
        "journal_call": n,
        "facts": {"direction": "incoming", "caller": "+4930999888", "callee": "300"},
        "decision": {"record": true, "configuration": "trading", "channels": "stereo", "announcement": null,
                     "targets": ["nas"], "reason": "incoming call to group trading (300)"},
        "started_at": "2026-11-26T09:30:00Z",
        "source": "siprec",
    }))
    .expect("a call record")
}
