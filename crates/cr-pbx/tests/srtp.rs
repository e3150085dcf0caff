//! SRTP offers against the real driver over UDP: a SIP client on a plain socket sends
//! INVITEs (as an SBC would) and reads what the recorder answers.

use cr_pbx::driver::{Command, MediaEvent, MediaPacket, SrsDriverConfig, SrsHandle, start_srs};
use cr_pbx::{Event, Sdp, SessionId, SrtpPolicy};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Each server gets its own RTP range so tests can run in parallel.
static NEXT_RANGE: AtomicU16 = AtomicU16::new(0);
fn rtp_range() -> String {
    let k = NEXT_RANGE.fetch_add(1, Ordering::SeqCst);
    let pid_off = (std::process::id() % 8) as u16 * 1000;
    let lo = 22000 + pid_off + k * 50;
    format!("{lo}-{}", lo + 49)
}

#[derive(Default)]
struct Seen {
    events: Vec<Event>,
    packets: Vec<MediaPacket>,
    /// Streams closed: session, packets that failed SRTP authentication.
    closed: Vec<(SessionId, u64)>,
}

struct Server {
    _rt: tokio::runtime::Runtime,
    sip: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    stats: Arc<cr_pbx::driver::DriverStats>,
}

fn start(policy: SrtpPolicy) -> Server {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut cfg = SrsDriverConfig::new(vec!["udp:127.0.0.1:0".into()], rtp_range());
    cfg.srtp = policy;
    let h: SrsHandle = rt.block_on(start_srs(cfg)).expect("start srs");
    let sip = h.local_addrs[0].addr;
    let stats = h.stats.clone();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s2 = seen.clone();
    rt.spawn(async move {
        let mut h = h;
        loop {
            tokio::select! {
                e = h.events.recv() => {
                    let Some(e) = e else { break };
                    if let Event::NewSession { id, .. } = &e {
                        let _ = h.commands.send(Command::Accept(*id));
                    }
                    s2.lock().expect("lock").events.push(e);
                }
                batch = h.media.recv() => {
                    let Some(batch) = batch else { break };
                    let mut st = s2.lock().expect("lock");
                    for m in batch {
                        match m {
                            MediaEvent::Packet(p) => st.packets.push(p),
                            MediaEvent::StreamClosed {
                                session,
                                srtp_rejected,
                                ..
                            } => st.closed.push((session, srtp_rejected)),
                            _ => {}
                        }
                    }
                }
            }
        }
    });
    Server {
        _rt: rt,
        sip,
        seen,
        stats,
    }
}

/// A SIP client on a plain UDP socket.
struct Client {
    sock: UdpSocket,
    me: SocketAddr,
    call_id: String,
}

impl Client {
    fn new(call_id: &str) -> Client {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let me = sock.local_addr().expect("addr");
        Client {
            sock,
            me,
            call_id: call_id.to_owned(),
        }
    }

    /// Sends an INVITE with `sdp` and returns the final response.
    fn invite(&self, srv: &Server, sdp: &str) -> String {
        let inv = format!(
            "INVITE sip:srs@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{cid}1\r\nFrom: <sip:+4930111@sbc>;tag=sbc1\r\nTo: <sip:srs@127.0.0.1>\r\nCall-ID: {cid}\r\nCSeq: 1 INVITE\r\nContact: <sip:sbc@{me}>;+sip.src\r\nRequire: siprec\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len(),
            me = self.me,
            cid = self.call_id,
        );
        self.sock.send_to(inv.as_bytes(), srv.sip).expect("send");
        let mut buf = [0u8; 65536];
        loop {
            let (n, _) = self.sock.recv_from(&mut buf).expect("a final response");
            let s = String::from_utf8_lossy(&buf[..n]).into_owned();
            if !s.starts_with("SIP/2.0 1") {
                return s;
            }
        }
    }
}

fn status(resp: &str) -> u16 {
    resp.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn body(resp: &str) -> &str {
    resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("")
}

fn offer(media: &[(&str, u16, &str)]) -> String {
    let mut s =
        "v=0\r\no=SBC 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n".to_owned();
    for (i, (proto, port, extra)) in media.iter().enumerate() {
        s.push_str(&format!(
            "m=audio {port} {proto} 0\r\na=rtpmap:0 PCMU/8000\r\n{extra}a=label:{}\r\na=sendonly\r\n",
            i + 1
        ));
    }
    s
}

const CRYPTO_80: &str =
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n";

// Guards against the old answer: 200 OK with RTP/SAVP and no crypto line, ciphertext recorded.
#[test]
fn srtp_offer_while_off_gets_488_never_200_without_crypto() {
    let srv = start(SrtpPolicy::Off);
    let c = Client::new("srtp-off-1");
    let r = c.invite(
        &srv,
        &offer(&[("RTP/SAVP", 7000, CRYPTO_80), ("RTP/SAVP", 7002, CRYPTO_80)]),
    );
    assert_eq!(status(&r), 488, "{r}");
    assert!(r.contains("SRTP"), "the reason names SRTP: {r}");
    let r = Client::new("srtp-off-2").invite(&srv, &offer(&[("RTP/SAVPF", 7000, CRYPTO_80)]));
    assert_eq!(status(&r), 488, "SAVPF too: {r}");
    let seen = srv.seen.lock().expect("lock");
    assert!(
        !seen
            .events
            .iter()
            .any(|e| matches!(e, Event::NewSession { .. })),
        "no session is offered to the application"
    );
}

// Guards against recording an encrypted stream beside a plain one: only the plain one is taken.
#[test]
fn srtp_stream_beside_a_plain_one_while_off_is_answered_with_port_0() {
    let srv = start(SrtpPolicy::Off);
    let c = Client::new("srtp-off-mixed");
    let r = c.invite(
        &srv,
        &offer(&[("RTP/AVP", 7000, ""), ("RTP/SAVP", 7002, CRYPTO_80)]),
    );
    assert_eq!(status(&r), 200, "{r}");
    let answer = Sdp::parse(body(&r).as_bytes()).expect("answer SDP");
    assert_eq!(answer.media.len(), 2);
    assert_ne!(answer.media[0].port, 0, "the plain stream is recorded");
    assert_eq!(answer.media[1].port, 0, "the SRTP stream is refused: {r}");
    assert!(!body(&r).contains("a=crypto"), "{r}");
}

// Guards against `require` letting unencrypted media through.
#[test]
fn plain_rtp_offer_while_srtp_is_required_gets_488() {
    let srv = start(SrtpPolicy::Require);
    let r = Client::new("srtp-req-1").invite(
        &srv,
        &offer(&[("RTP/AVP", 7000, ""), ("RTP/AVP", 7002, "")]),
    );
    assert_eq!(status(&r), 488, "{r}");
    assert!(r.contains("requires SRTP"), "{r}");
}

// ------------------------------------------------------------- SRTP from libsrtp2

/// The Python that can import pylibsrtp (Debian's python3-pylibsrtp on libsrtp2-1 first,
/// then the `python3` on PATH); otherwise a loud skip, or a failure under
/// CALLREC_TEST_STRICT=1.
fn srtp_python() -> Option<&'static str> {
    let found = ["/usr/bin/python3", "python3"].into_iter().find(|py| {
        std::process::Command::new(py)
            .args(["-c", "import pylibsrtp"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        assert!(
            std::env::var("CALLREC_TEST_STRICT").as_deref() != Ok("1"),
            "pylibsrtp is required (package python3-pylibsrtp; scripts/install-deps.sh installs it) and CALLREC_TEST_STRICT=1"
        );
        eprintln!(
            "SKIPPED: no python3 with pylibsrtp (apt-get install python3-pylibsrtp); SRTP not judged against libsrtp2"
        );
    }
    found
}

fn have_sox() -> bool {
    let ok = std::process::Command::new("sox")
        .arg("--version")
        .output()
        .is_ok();
    if !ok {
        assert!(
            std::env::var("CALLREC_TEST_STRICT").as_deref() != Ok("1"),
            "sox is required"
        );
        eprintln!("SKIPPED: sox is not installed");
    }
    ok
}

/// `secs` seconds of a `freq` Hz tone as raw µ-law, made by sox.
fn ulaw_tone(dir: &std::path::Path, freq: u32, secs: u32) -> Vec<u8> {
    let f = dir.join(format!("tone{freq}.ul"));
    let st = std::process::Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw"])
        .arg(&f)
        .args([
            "synth",
            &secs.to_string(),
            "sine",
            &freq.to_string(),
            "vol",
            "0.5",
        ])
        .status()
        .expect("sox");
    assert!(st.success());
    std::fs::read(&f).expect("tone")
}

const SUITES: [(&str, usize); 4] = [
    ("AES_CM_128_HMAC_SHA1_80", 30),
    ("AES_CM_128_HMAC_SHA1_32", 30),
    ("AEAD_AES_128_GCM", 28),
    ("AEAD_AES_256_GCM", 44),
];

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn free_even_port() -> u16 {
    loop {
        let p = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .map(|a| a.port())
            .expect("free port");
        if p.is_multiple_of(2) {
            return p;
        }
    }
}

impl Client {
    fn ack_and_bye(&self, srv: &Server, ok: &str) {
        let to = ok
            .lines()
            .find(|l| l.starts_with("To:"))
            .map(|l| l[3..].trim().to_owned())
            .expect("To in 200");
        for (n, m) in [(1, "ACK"), (2, "BYE")] {
            let req = format!(
                "{m} sip:srs@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{cid}{m}\r\nFrom: <sip:+4930111@sbc>;tag=sbc1\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: {n} {m}\r\nContent-Length: 0\r\n\r\n",
                me = self.me,
                cid = self.call_id,
            );
            self.sock.send_to(req.as_bytes(), srv.sip).expect("send");
        }
    }
}

/// The port our answer gave stream `i`, and its `a=crypto:` value.
fn answered(resp: &str, i: usize) -> (u16, Option<String>) {
    let mut media = body(resp).split("m=").skip(1);
    let m = media.nth(i).expect("m-line in the answer");
    let port = m
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("port");
    let crypto = m
        .lines()
        .find_map(|l| l.strip_prefix("a=crypto:"))
        .map(|c| c.trim().to_owned());
    (port, crypto)
}

impl Server {
    fn wait_closed(&self, n: usize) {
        for _ in 0..400 {
            if self.seen.lock().expect("lock").closed.len() >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("fewer than {n} streams closed");
    }
}

/// Sends `audio` from `from` to `to` as SRTP by libsrtp2; returns what the script printed.
fn send_srtp(
    py: &str,
    suite: &str,
    key: &[u8],
    from: u16,
    to: u16,
    audio: &[u8],
    extra: &[&str],
) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("audio.ul");
    std::fs::write(&f, audio).expect("write");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/srtp/srtp_send.py"
    );
    let out = std::process::Command::new(py)
        .arg(script)
        .args(["--suite", suite, "--key", &b64(key)])
        .args([
            "--bind",
            &format!("127.0.0.1:{from}"),
            "--dest",
            &format!("127.0.0.1:{to}"),
        ])
        .arg("--payload")
        .arg(&f)
        .args(extra)
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "srtp_send.py: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// One SRTP call: offer `suite` with `key`, let libsrtp2 send `audio`, hang up; returns the
/// packets the driver passed on.
fn srtp_call(
    py: &str,
    srv: &Server,
    call_id: &str,
    suite: &str,
    key: &[u8],
    audio: &[u8],
    extra: &[&str],
) -> Vec<MediaPacket> {
    let port = free_even_port();
    let crypto = format!(
        "a=crypto:7 FOO_BAR_SUITE inline:{}\r\na=crypto:3 {suite} inline:{}|2^31\r\n",
        b64(&[1u8; 30]),
        b64(key)
    );
    let c = Client::new(call_id);
    let r = c.invite(srv, &offer(&[("RTP/SAVP", port, &crypto)]));
    assert_eq!(status(&r), 200, "{r}");
    let (local, answer) = answered(&r, 0);
    let answer = answer.unwrap_or_else(|| panic!("an SRTP answer carries a=crypto: {r}"));
    // The tag and suite of the first supported attribute, and a key of our own.
    let mut it = answer.split_whitespace();
    assert_eq!(
        it.next(),
        Some("3"),
        "tag of the chosen attribute: {answer}"
    );
    assert_eq!(it.next(), Some(suite));
    let ours = it
        .next()
        .and_then(|k| k.strip_prefix("inline:"))
        .expect("inline key");
    use base64::Engine as _;
    let ours = base64::engine::general_purpose::STANDARD
        .decode(ours)
        .expect("base64 key");
    assert_eq!(ours.len(), key.len(), "key||salt length of {suite}");
    assert_ne!(ours, key, "our key is our own");
    let closed_before = srv.seen.lock().expect("lock").closed.len();
    send_srtp(py, suite, key, port, local, audio, extra);
    c.ack_and_bye(srv, &r);
    srv.wait_closed(closed_before + 1);
    let seen = srv.seen.lock().expect("lock");
    let id = seen
        .events
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::NewSession { id, facts, .. } if facts.call_id == call_id => Some(*id),
            _ => None,
        })
        .expect("session");
    seen.packets
        .iter()
        .filter(|p| p.session == id)
        .cloned()
        .collect()
}

// Guards against recording ciphertext: libsrtp2's packets of every suite decrypt to exactly
// the G.711 bytes sent (across a sequence-number wrap).
#[test]
fn srtp_from_libsrtp2_decrypts_to_the_exact_payload_for_every_suite() {
    let Some(py) = srtp_python() else { return };
    if !have_sox() {
        return;
    }
    let srv = start(SrtpPolicy::Allow);
    let dir = tempfile::tempdir().expect("tempdir");
    let audio = ulaw_tone(dir.path(), 440, 1);
    for (n, (suite, len)) in SUITES.iter().enumerate() {
        let key: Vec<u8> = (0..*len).map(|i| (i * 7 + n * 31 + 1) as u8).collect();
        let got = srtp_call(
            py,
            &srv,
            &format!("srtp-suite-{n}"),
            suite,
            &key,
            &audio,
            &[],
        );
        assert_eq!(got.len(), 50, "{suite}: all 50 packets");
        let bytes: Vec<u8> = got.iter().flat_map(|p| p.payload.iter().copied()).collect();
        assert!(
            bytes == audio,
            "{suite}: decrypted payload differs from what was sent"
        );
        assert!(got.iter().all(|p| p.header.ssrc == 0x1234ABCD));
    }
    assert_eq!(srv.stats.srtp_rejected_auth.load(Ordering::Relaxed), 0);
}

// Guards against recording forged or replayed packets: each is dropped and counted.
#[test]
fn tampered_and_replayed_srtp_packets_are_dropped_and_counted() {
    let Some(py) = srtp_python() else { return };
    if !have_sox() {
        return;
    }
    let srv = start(SrtpPolicy::Allow);
    let dir = tempfile::tempdir().expect("tempdir");
    let audio = ulaw_tone(dir.path(), 1000, 1);
    let key: Vec<u8> = (0..30).map(|i| (i * 13 + 5) as u8).collect();
    let extra = [
        "--tamper", "10", "--tamper", "40", "--replay", "20", "--replay", "41",
    ];
    let got = srtp_call(
        py,
        &srv,
        "srtp-tamper",
        "AES_CM_128_HMAC_SHA1_80",
        &key,
        &audio,
        &extra,
    );
    let first = 65500u16;
    let seqs: Vec<u16> = got.iter().map(|p| p.header.sequence).collect();
    let want: Vec<u16> = (0..50u16)
        .filter(|i| *i != 10 && *i != 40)
        .map(|i| first.wrapping_add(i))
        .collect();
    assert_eq!(
        seqs, want,
        "the tampered packets are missing, the replays are not doubled"
    );
    assert_eq!(
        srv.stats.srtp_rejected_auth.load(Ordering::Relaxed),
        2,
        "tampered"
    );
    assert_eq!(
        srv.stats.srtp_rejected_replay.load(Ordering::Relaxed),
        2,
        "replayed"
    );
    let closed = srv.seen.lock().expect("lock").closed.clone();
    assert_eq!(
        closed.iter().map(|c| c.1).sum::<u64>(),
        2,
        "the stream reports its losses"
    );
    for p in &got {
        let i = p.header.sequence.wrapping_sub(first) as usize;
        assert!(
            p.payload[..] == audio[i * 160..(i + 1) * 160],
            "packet {i} decrypted exactly"
        );
    }
}

// Guards against SRTP keys nobody can decrypt with: an offer with only an MKI key is refused.
#[test]
fn srtp_offer_with_only_unsupported_crypto_gets_488() {
    let srv = start(SrtpPolicy::Allow);
    let key = b64(&[9u8; 30]);
    let crypto = format!(
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key}|2^20|1:4\r\na=crypto:2 F8_128_HMAC_SHA1_80 inline:{key}\r\n"
    );
    let r = Client::new("srtp-mki").invite(&srv, &offer(&[("RTP/SAVP", 7000, &crypto)]));
    assert_eq!(status(&r), 488, "{r}");
    assert!(!r.contains(&key), "the key is not echoed: {r}");
}

impl Client {
    /// Sends `method` with `cseq` in the dialog of the 200 `ok` (with an SDP body if given).
    fn in_dialog(&self, srv: &Server, ok: &str, method: &str, cseq: u32, sdp: Option<&str>) {
        let to = ok
            .lines()
            .find_map(|l| l.strip_prefix("To:"))
            .map(|t| t.trim().to_owned())
            .expect("To in 200");
        let body = sdp.unwrap_or("");
        let ct = if sdp.is_some() {
            "Content-Type: application/sdp\r\n"
        } else {
            ""
        };
        let msg = format!(
            "{method} sip:srs@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{cid}{method}{cseq}\r\nFrom: <sip:+4930111@sbc>;tag=sbc1\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: {cseq} {method}\r\nContact: <sip:sbc@{me}>\r\n{ct}Content-Length: {}\r\n\r\n{body}",
            body.len(),
            me = self.me,
            cid = self.call_id,
        );
        self.sock.send_to(msg.as_bytes(), srv.sip).expect("send");
    }

    /// ACK for the 200 `ok`, then a re-INVITE with `sdp`; returns its final response.
    fn ack_and_reinvite(&self, srv: &Server, ok: &str, sdp: &str) -> String {
        self.in_dialog(srv, ok, "ACK", 1, None);
        self.in_dialog(srv, ok, "INVITE", 2, Some(sdp));
        let mut buf = [0u8; 65536];
        loop {
            let (n, _) = self.sock.recv_from(&mut buf).expect("a final response");
            let r = String::from_utf8_lossy(&buf[..n]).into_owned();
            if r.contains("CSeq: 2 INVITE") && !r.starts_with("SIP/2.0 1") {
                return r;
            }
        }
    }
}

// Guards against a re-key by re-INVITE leaving the stream on the old keys (all new packets
// rejected) or re-opening it: both halves decrypt exactly.
#[test]
fn srtp_rekey_by_reinvite_decrypts_both_halves() {
    let Some(py) = srtp_python() else { return };
    if !have_sox() {
        return;
    }
    let srv = start(SrtpPolicy::Allow);
    let dir = tempfile::tempdir().expect("tempdir");
    let audio = ulaw_tone(dir.path(), 440, 1);
    let (half1, half2) = audio.split_at(audio.len() / 2);
    let suite = "AEAD_AES_128_GCM";
    let key_a: Vec<u8> = (0..28).map(|i| (i * 3 + 1) as u8).collect();
    let key_b: Vec<u8> = (0..28).map(|i| (i * 5 + 2) as u8).collect();
    let port = free_even_port();
    let sdp = |tag: u32, key: &[u8]| {
        offer(&[(
            "RTP/SAVP",
            port,
            &format!("a=crypto:{tag} {suite} inline:{}\r\n", b64(key)),
        )])
    };
    let c = Client::new("srtp-rekey");
    let ok = c.invite(&srv, &sdp(1, &key_a));
    assert_eq!(status(&ok), 200, "{ok}");
    let (local, _) = answered(&ok, 0);
    send_srtp(py, suite, &key_a, port, local, half1, &[]);
    let re = c.ack_and_reinvite(&srv, &ok, &sdp(2, &key_b).replace("o=SBC 1 1", "o=SBC 1 2"));
    assert_eq!(status(&re), 200, "{re}");
    let (local2, crypto) = answered(&re, 0);
    assert_eq!(local2, local, "same port after the re-key");
    assert!(
        crypto.is_some_and(|c| c.starts_with("2 AEAD_AES_128_GCM inline:")),
        "{re}"
    );
    send_srtp(
        py,
        suite,
        &key_b,
        port,
        local,
        half2,
        &["--seq", "65525", "--ts", "523456"],
    );
    c.in_dialog(&srv, &re, "ACK", 2, None);
    c.in_dialog(&srv, &re, "BYE", 3, None);
    srv.wait_closed(1);
    let seen = srv.seen.lock().expect("lock");
    let bytes: Vec<u8> = seen
        .packets
        .iter()
        .flat_map(|p| p.payload.iter().copied())
        .collect();
    assert_eq!(
        seen.packets.len(),
        50,
        "auth failures: {}",
        srv.stats.srtp_rejected_auth.load(Ordering::Relaxed)
    );
    assert!(bytes == audio, "both halves decrypted exactly");
}
