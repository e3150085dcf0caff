//! SRTP calls into cr-recorder, judged by an independent implementation: libsrtp2 (through
//! Python's pylibsrtp) protects G.711 tones made by sox; the sealed WAV must hold exactly
//! sox's decoding of what was sent. A SIP client on a plain UDP socket plays the SBC.

mod support;

use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::*;


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

/// Every `Install` of one test process gets the same RTP range: the tests of this file take
/// turns, so two recorders never bind the same ports.
static ONE_RECORDER: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_recorder() -> std::sync::MutexGuard<'static, ()> {
    ONE_RECORDER.lock().unwrap_or_else(|e| e.into_inner())
}

fn b64(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    // Small standard base64 encoder, so the test does not lean on the recorder's crates.
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                let _ = write!(s, "{}", T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

fn free_even_port() -> u16 {
    loop {
        let p = free_udp_port();
        if p.is_multiple_of(2) {
            return p;
        }
    }
}

/// Raw 16-bit samples of a sox-readable file (channel `remix` of it), by sox.
fn samples(file: &Path, args: &[&str], remix: Option<u32>) -> Vec<i16> {
    let out = file.with_extension(format!("{}.s16", remix.unwrap_or(0)));
    let mut cmd = Command::new("sox");
    cmd.args(args)
        .arg(file)
        .args(["-t", "raw", "-e", "signed", "-b", "16", "-L"])
        .arg(&out);
    if let Some(c) = remix {
        cmd.args(["remix", &c.to_string()]);
    }
    run(&mut cmd);
    std::fs::read(&out)
        .unwrap()
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// `want` must appear in `got` exactly, at the place its first non-zero sample says, with
/// silence around it.
fn assert_holds_exactly(got: &[i16], want: &[i16], what: &str) {
    let k = want.iter().position(|&s| s != 0).unwrap();
    let r = got
        .iter()
        .position(|&s| s != 0)
        .unwrap_or_else(|| panic!("{what}: channel is silent"));
    assert!(r >= k, "{what}: audio starts too early");
    let at = r - k;
    assert!(
        got.len() >= at + want.len(),
        "{what}: {} samples recorded from {at}, {} sent",
        got.len() - at,
        want.len()
    );
    let differ = got[at..at + want.len()]
        .iter()
        .zip(want)
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(
        differ,
        0,
        "{what}: {differ} of {} samples differ",
        want.len()
    );
    assert!(
        got[at + want.len()..].iter().all(|&s| s == 0),
        "{what}: nothing after the tone"
    );
}

struct Sbc {
    sock: UdpSocket,
    call_id: String,
}

impl Sbc {
    fn new(call_id: &str) -> Sbc {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Sbc {
            sock,
            call_id: call_id.to_owned(),
        }
    }

    fn send(&self, inst: &Install, method: &str, cseq: u32, to: &str, ct_body: Option<&str>) {
        let me = self.sock.local_addr().unwrap();
        let body = ct_body.unwrap_or("");
        let ct = if ct_body.is_some() {
            "Content-Type: application/sdp\r\n"
        } else {
            ""
        };
        let msg = format!(
            "{method} sip:srs@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{}{method}{cseq}\r\nFrom: <sip:+4930999888@sbc>;tag=sbc\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\nContact: <sip:sbc@{me}>;+sip.src\r\n{ct}Content-Length: {}\r\n\r\n{body}",
            self.call_id,
            self.call_id,
            body.len()
        );
        self.sock
            .send_to(msg.as_bytes(), ("127.0.0.1", inst.sip_port))
            .unwrap();
    }

    /// INVITE; returns the final response.
    fn invite(&self, inst: &Install, sdp: &str) -> String {
        self.send(inst, "INVITE", 1, "<sip:300@127.0.0.1>", Some(sdp));
        let mut buf = [0u8; 65536];
        loop {
            let (n, _) = self
                .sock
                .recv_from(&mut buf)
                .expect("a final response to the INVITE");
            let s = String::from_utf8_lossy(&buf[..n]).into_owned();
            if !s.starts_with("SIP/2.0 1") {
                return s;
            }
        }
    }

    fn ack_and_bye(&self, inst: &Install, ok: &str) {
        let to = ok
            .lines()
            .find_map(|l| l.strip_prefix("To:"))
            .unwrap()
            .trim()
            .to_owned();
        self.send(inst, "ACK", 1, &to, None);
        self.send(inst, "BYE", 2, &to, None);
    }
}

fn status(resp: &str) -> u16 {
    resp.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Our answer's port for m-line `i`.
fn answered_port(resp: &str, i: usize) -> u16 {
    let body = resp.split_once("\r\n\r\n").unwrap().1;
    let m = body.split("m=").nth(i + 1).unwrap();
    assert!(
        m.contains("a=crypto:"),
        "SRTP answer carries a crypto line: {resp}"
    );
    m.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn wait_metric(rec: &Recorder, line: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, m) = rec.http("GET", "/metrics", "");
        if m.contains(line) {
            return m;
        }
        assert!(Instant::now() < deadline, "no {line:?} in {m}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

// Guards against ciphertext recorded as noise: each of the four suites, as libsrtp2 protects
// it, comes out of the sealed set sample for sample.
#[test]
fn srtp_call_from_libsrtp2_records_tones_exactly() {
    let Some(py) = srtp_python() else { return };
    if !have("sox") {
        return;
    }
    let _turn = one_recorder();
    let inst = Install::new(CONFIG, true);
    let rec = inst.start();
    let caller_ul = inst.path("caller.ul");
    let callee_ul = inst.path("callee.ul");
    for (f, freq) in [(&caller_ul, "440"), (&callee_ul, "1000")] {
        run(Command::new("sox")
            .args(["-n", "-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw"])
            .arg(f)
            .args(["synth", "2", "sine", freq, "vol", "0.5"]));
    }
    let ul = ["-t", "ul", "-r", "8000", "-c", "1"];
    let caller_pcm = samples(&caller_ul, &ul, None);
    let callee_pcm = samples(&callee_ul, &ul, None);
    assert_eq!(caller_pcm.len(), 16_000);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/srtp/srtp_send.py"
    );
    let calls = [
        ("AES_CM_128_HMAC_SHA1_80", 30, "AES_CM_128_HMAC_SHA1_32", 30),
        ("AEAD_AES_128_GCM", 28, "AEAD_AES_256_GCM", 44),
    ];
    let mut keys = Vec::new();
    for (n, (s1, l1, s2, l2)) in calls.into_iter().enumerate() {
        let k1: Vec<u8> = (0..l1).map(|i| (i * 3 + n * 11 + 1) as u8).collect();
        let k2: Vec<u8> = (0..l2).map(|i| (i * 5 + n * 17 + 2) as u8).collect();
        keys.extend([b64(&k1), b64(&k2)]);
        let (p1, p2) = (free_even_port(), free_even_port());
        let sdp = format!(
            "v=0\r\no=SBC 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {p1} RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\na=crypto:1 {s1} inline:{}\r\na=label:1\r\na=sendonly\r\n\
             m=audio {p2} RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\na=crypto:1 {s2} inline:{}\r\na=label:2\r\na=sendonly\r\n",
            b64(&k1),
            b64(&k2)
        );
        let sbc = Sbc::new(&format!("srtp-e2e-{n}"));
        let ok = sbc.invite(&inst, &sdp);
        assert_eq!(status(&ok), 200, "{ok}");
        let (l1p, l2p) = (answered_port(&ok, 0), answered_port(&ok, 1));
        keys.extend(ok.lines().filter_map(|l| l.split("inline:").nth(1)).map(|k| k.trim().to_owned()));
        let send = |suite: &str, key: &[u8], from: u16, to: u16, file: &Path| {
            Command::new(py)
                .arg(script)
                .args(["--suite", suite, "--key", &b64(key)])
                .args([
                    "--bind",
                    &format!("127.0.0.1:{from}"),
                    "--dest",
                    &format!("127.0.0.1:{to}"),
                ])
                .arg("--payload")
                .arg(file)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        };
        let mut a = send(s1, &k1, p1, l1p, &caller_ul);
        let mut b = send(s2, &k2, p2, l2p, &callee_ul);
        assert!(
            a.wait().unwrap().success() && b.wait().unwrap().success(),
            "srtp_send.py failed"
        );
        sbc.ack_and_bye(&inst, &ok);
        wait_metric(&rec, &format!("callrec_recorded_total {}\n", n + 1));
    }
    let m = wait_metric(&rec, "callrec_rtp_packets_total 400\n");
    assert!(
        m.contains("callrec_srtp_rejected_total{reason=\"auth\"} 0\n"),
        "{m}"
    );
    rec.stop();
    // Keys are secrets: neither the SRC's nor ours is in the recorder's log.
    assert_eq!(keys.len(), 8, "4 offered, 4 answered");
    for entry in std::fs::read_dir(inst.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("recorder-") {
            let log = std::fs::read_to_string(&path).unwrap();
            assert!(!log.is_empty(), "the recorder logs at info");
            for k in &keys {
                assert!(!log.contains(k.as_str()), "an SRTP key is in the log");
            }
        }
    }

    let sets = sets_below(&inst.path("data/spool"));
    assert_eq!(sets.len(), 2);
    for set in &sets {
        let report = cr_sign::verify_set(set, &inst.cert());
        assert!(report.is_ok(), "{:?}", report.problems);
        let wav = set.with_file_name(format!("{}.wav", report.id));
        assert_eq!(soxi(&wav).0, 2);
        let meta: serde_json::Value = serde_json::from_slice(
            &std::fs::read(set.with_file_name(format!("{}.json", report.id))).unwrap(),
        )
        .unwrap();
        assert_eq!(
            meta["flags"],
            serde_json::json!([]),
            "nothing lost, nothing flagged"
        );
        assert_holds_exactly(&samples(&wav, &[], Some(1)), &caller_pcm, "caller (left)");
        assert_holds_exactly(&samples(&wav, &[], Some(2)), &callee_pcm, "callee (right)");
    }
}

// Guards against `srtp = "off"` answering an SRTP offer with 200 and recording ciphertext.
#[test]
fn srtp_offer_while_off_gets_488() {
    // Written before any table of CONFIG, this line lands in [pbx.siprec].
    let _turn = one_recorder();
    let inst = Install::new(&format!("srtp = \"off\"\n{CONFIG}"), true);
    let rec = inst.start();
    let sdp = format!(
        "v=0\r\no=SBC 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{}\r\na=sendonly\r\n",
        free_even_port(),
        b64(&[7u8; 30])
    );
    let r = Sbc::new("srtp-off-e2e").invite(&inst, &sdp);
    assert_eq!(status(&r), 488, "{r}");
    let (_, m) = rec.http("GET", "/metrics", "");
    assert!(m.contains("callrec_active_calls 0\n"), "{m}");
    rec.stop();
    assert!(
        sets_below(&inst.path("data/spool")).is_empty(),
        "nothing sealed"
    );
}

// Guards against a recording that silently misses audio: packets that failed SRTP
// authentication are dropped, counted, and the sealed set is flagged `srtp_rejected`.
#[test]
fn srtp_packets_failing_authentication_are_flagged_in_the_sealed_set() {
    let Some(py) = srtp_python() else { return };
    if !have("sox") {
        return;
    }
    let _turn = one_recorder();
    let inst = Install::new(CONFIG, true);
    let rec = inst.start();
    let ul = inst.path("tone.ul");
    run(Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw"])
        .arg(&ul)
        .args(["synth", "1", "sine", "440"]));
    let key: Vec<u8> = (0..30).map(|i| (i * 7 + 3) as u8).collect();
    let port = free_even_port();
    let sdp = format!(
        "v=0\r\no=SBC 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{}\r\na=sendonly\r\n",
        b64(&key)
    );
    let sbc = Sbc::new("srtp-tampered-e2e");
    let ok = sbc.invite(&inst, &sdp);
    assert_eq!(status(&ok), 200, "{ok}");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/srtp/srtp_send.py"
    );
    let st = Command::new(py)
        .arg(script)
        .args(["--suite", "AES_CM_128_HMAC_SHA1_80", "--key", &b64(&key)])
        .args([
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--dest",
            &format!("127.0.0.1:{}", answered_port(&ok, 0)),
        ])
        .arg("--payload")
        .arg(&ul)
        .args(["--tamper", "5", "--tamper", "6"])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    sbc.ack_and_bye(&inst, &ok);
    let m = wait_metric(&rec, "callrec_recorded_total 1\n");
    assert!(
        m.contains("callrec_srtp_rejected_total{reason=\"auth\"} 2\n"),
        "{m}"
    );
    assert!(m.contains("callrec_rtp_packets_total 48\n"), "{m}");
    rec.stop();
    let sets = sets_below(&inst.path("data/spool"));
    let report = cr_sign::verify_set(&sets[0], &inst.cert());
    assert!(report.is_ok(), "{:?}", report.problems);
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(sets[0].with_file_name(format!("{}.json", report.id))).unwrap(),
    )
    .unwrap();
    // The two tampered packets are real audio lost: the stream's sequence has a gap of 2,
    // so the set is flagged media_lost as well, and `quality` (2 of 50 packets, past the
    // default 1 % loss). Its one stream comes without metadata, so nothing says whose voice
    // it carries: `mixed`.
    assert_eq!(
        meta["flags"],
        serde_json::json!(["srtp_rejected", "mixed", "media_lost", "quality"]),
        "{meta}"
    );
    assert_eq!(meta["quality"]["reasons"], serde_json::json!(["loss"]), "{meta}");
    assert_eq!(meta["streams"][0]["lost"], 2, "{meta}");
}
