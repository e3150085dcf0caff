//! SDP parser and codec selection.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = cr_pbx::Sdp::parse(data) {
        for (i, m) in s.media.iter().enumerate() {
            let _ = m.choose_codec();
            let _ = m.telephone_event();
            let _ = s.direction_of(i);
            let _ = s.connection_of(i);
        }
    }
});
