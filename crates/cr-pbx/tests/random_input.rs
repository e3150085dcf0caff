//! Random and mutated input to every parser and to the SRS core (the cargo-fuzz targets in
//! `fuzz/` do the same for longer). Nothing may panic; valid messages must survive a
//! print/parse round trip.

use cr_pbx::{
    ContentType, Event, Input, Metadata, Output, Sdp, SipMessage, Srs, SrsConfig, StreamFramer,
    Transport, parse_rtp, split_body, split_multipart,
};
use proptest::prelude::*;
use std::time::{Duration, Instant};

const INVITE: &str = "INVITE sip:srs@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK77\r\nFrom: <sip:src@127.0.0.1>;tag=1\r\nTo: <sip:srs@127.0.0.1>\r\nCall-ID: rnd\r\nCSeq: 1 INVITE\r\nContact: <sip:src@127.0.0.1:5070>;+sip.src\r\nContent-Type: multipart/mixed;boundary=bb\r\nContent-Length: @LEN@\r\n\r\n@BODY@";
const BODY: &str = "--bb\r\nContent-Type: application/sdp\r\n\r\nv=0\r\no=s 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=label:1\r\na=sendonly\r\nm=audio 7002 RTP/AVP 8\r\na=label:2\r\na=sendonly\r\n\r\n--bb\r\nContent-Type: application/rs-metadata+xml\r\n\r\n<recording xmlns=\"urn:ietf:params:xml:ns:recording:1\"><participant participant_id=\"a\"><nameID aor=\"sip:1@x\"/></participant><participant participant_id=\"b\"><nameID aor=\"sip:2@x\"/></participant><stream stream_id=\"s1\"><label>1</label></stream><stream stream_id=\"s2\"><label>2</label></stream><participantstreamassoc participant_id=\"a\"><send>s1</send></participantstreamassoc><participantstreamassoc participant_id=\"b\"><send>s2</send></participantstreamassoc></recording>\r\n--bb--\r\n";

fn invite() -> Vec<u8> {
    INVITE
        .replace("@LEN@", &BODY.len().to_string())
        .replace("@BODY@", BODY)
        .into_bytes()
}

/// Applies byte mutations: (position, new byte) pairs, plus optional truncation.
fn mutate(mut v: Vec<u8>, edits: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    for &(p, b) in edits {
        if !v.is_empty() {
            let i = p % v.len();
            v[i] = b;
        }
    }
    if let Some(c) = cut
        && !v.is_empty()
    {
        v.truncate(c % v.len());
    }
    v
}

fn all_parsers(bytes: &[u8]) {
    if let Ok(m) = SipMessage::parse(bytes) {
        let printed = m.to_bytes();
        let again = SipMessage::parse(&printed).expect("a printed message parses again");
        assert_eq!(again.start, m.start);
        assert_eq!(again.body, m.body);
        let _ = split_body(m.header("Content-Type"), &m.body);
    }
    let mut f = StreamFramer::new();
    for c in bytes.chunks(5) {
        f.push(c);
        while let Ok(Some(_)) = f.next_message() {}
    }
    let _ = Sdp::parse(bytes);
    if let Ok(md) = Metadata::parse(bytes) {
        let _ = md.role_of_label("1");
    }
    let _ = split_multipart(bytes, "bb");
    let _ = split_body(Some("multipart/mixed;boundary=bb"), bytes);
    let _ = ContentType::parse(&String::from_utf8_lossy(bytes));
    let _ = parse_rtp(bytes);
}

fn drive_srs(messages: &[Vec<u8>]) {
    let mut srs = Srs::new(SrsConfig::new("127.0.0.1".parse().expect("ip"), 5060));
    let src = "127.0.0.1:5070".parse().expect("addr");
    let mut now = Instant::now();
    for m in messages {
        srs.handle_input(
            Input::Datagram {
                source: src,
                transport: Transport::Udp,
                bytes: m,
            },
            now,
        );
        loop {
            match srs.poll_output() {
                Output::Event(Event::NewSession { id, .. }) => srs.accept(id, now),
                Output::Event(Event::StreamsChanged { id, .. }) => srs.media_ready(id, Ok(()), now),
                Output::Timeout(t) => {
                    now = now.max(t.min(now + Duration::from_secs(10)));
                    break;
                }
                _ => {}
            }
        }
        srs.handle_input(Input::Timeout, now);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        all_parsers(&bytes);
        drive_srs(&[bytes]);
    }

    #[test]
    fn mutated_invite_never_panics(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let m = mutate(invite(), &edits, cut);
        all_parsers(&m);
        drive_srs(&[invite(), m.clone(), m]);
    }

    #[test]
    fn mutated_bodies_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
        let b = mutate(BODY.as_bytes().to_vec(), &edits, None);
        all_parsers(&b);
        let _ = split_body(Some("multipart/mixed;boundary=bb"), &b);
    }
}

#[test]
fn valid_invite_is_recognised() {
    // guards the mutation tests above: the unmutated INVITE must reach NewSession
    let mut srs = Srs::new(SrsConfig::new("127.0.0.1".parse().expect("ip"), 5060));
    let src = "127.0.0.1:5070".parse().expect("addr");
    srs.handle_input(
        Input::Datagram {
            source: src,
            transport: Transport::Udp,
            bytes: &invite(),
        },
        Instant::now(),
    );
    let mut saw = false;
    loop {
        match srs.poll_output() {
            Output::Event(Event::NewSession { streams, .. }) => {
                saw = true;
                assert_eq!(streams.len(), 2);
            }
            Output::Timeout(_) => break,
            _ => {}
        }
    }
    assert!(saw);
}
