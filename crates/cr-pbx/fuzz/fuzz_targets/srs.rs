//! The whole SRS core: arbitrary datagrams (split on a 0xff byte) fed in sequence, every
//! new session accepted, timeouts driven forward. Also the RTP parser.
#![no_main]
use libfuzzer_sys::fuzz_target;
use cr_pbx::{Event, Input, Output, Srs, SrsConfig, Transport};
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let _ = cr_pbx::parse_rtp(data);
    let mut srs = Srs::new(SrsConfig::new("127.0.0.1".parse().expect("ip"), 5060));
    let src = "127.0.0.1:5070".parse().expect("addr");
    let mut now = Instant::now();
    for msg in data.split(|&b| b == 0xff) {
        srs.handle_input(Input::Datagram { source: src, transport: Transport::Udp, bytes: msg }, now);
        loop {
            match srs.poll_output() {
                Output::Event(Event::NewSession { id, .. }) => srs.accept(id, now),
                Output::Event(Event::StreamsChanged { id, .. }) => srs.media_ready(id, Ok(()), now),
                Output::Timeout(t) => {
                    now = now.max(t.min(now + Duration::from_secs(40)));
                    break;
                }
                _ => {}
            }
        }
        srs.handle_input(Input::Timeout, now);
    }
});
