//! SIP message parser, printer round trip, and the TCP stream framer.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = cr_pbx::SipMessage::parse(data) {
        let _ = m.top_branch();
        let _ = m.cseq();
        let _ = m.from_tag();
        let printed = m.to_bytes();
        let again = cr_pbx::SipMessage::parse(&printed).expect("printed message reparses");
        assert_eq!(again.start, m.start);
        let _ = m.response(200, "OK", Some("t"));
    }
    let mut f = cr_pbx::StreamFramer::new();
    for chunk in data.chunks(7) {
        f.push(chunk);
        while let Ok(Some(_)) = f.next_message() {}
    }
});
