//! Classifies a SIPREC call the way the recorder does and prints the call facts the
//! policy decides on: `cargo run -p cr-call --example classify`.

fn main() {
    let facts = cr_pbx::CallFacts {
        call_id: "example-1".into(),
        caller: Some("+4930999888".into()),
        caller_aor: Some("sip:+4930999888@pbx".into()),
        caller_name: None,
        callee: Some("300".into()),
        callee_aor: Some("sip:300@pbx".into()),
        callee_name: None,
        source: cr_pbx::FactsSource::Metadata,
        participants: vec![],
        recorded_session_ids: vec![],
        from_uri: "sip:src@pbx".into(),
        to_uri: "sip:srs@recorder".into(),
        contact: None,
        src_feature: true,
        source_addr: std::net::SocketAddr::from(([192, 0, 2, 10], 5060)),
        headers: vec![("Diversion".into(), "<sip:301@pbx>;reason=no-answer".into())],
    };
    // A directory in which only calls to the group at 300 are recorded.
    let facts = cr_call::classify(&facts, |f| f.direction == cr_policy::Direction::Incoming && f.callee == "300");
    println!("{}", serde_json::to_string(&facts).unwrap_or_default());
}
