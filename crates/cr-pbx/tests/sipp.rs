//! sipp (package `sip-tester`) as the SRC against our tokio driver, over UDP and TCP.
//!
//! Each test starts the driver in-process on free loopback ports, runs one scenario from
//! `scripts/sipp/`, and checks what the application side saw: events, roles, RTP.
//! Without `sipp` the tests skip loudly; `CALLREC_TEST_STRICT=1` turns the skip into a
//! failure.

#[path = "pcap/mod.rs"]
mod pcap;
use pcap::write_pcap;

use cr_pbx::driver::{Command, MediaEvent, MediaPacket, SrsDriverConfig, SrsHandle, start_srs};
use cr_pbx::{EndReason, Event, FactsSource, Role, SessionId, StreamInfo};
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn sipp_available() -> bool {
    let ok = std::process::Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        if std::env::var("CALLREC_TEST_STRICT").as_deref() == Ok("1") {
            panic!("sipp is not installed (package sip-tester) and CALLREC_TEST_STRICT=1");
        }
        eprintln!(
            "SKIPPED: sipp is not installed (apt-get install sip-tester); SIPREC interop not tested"
        );
    }
    ok
}

fn scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/sipp")
}

/// Each test gets its own RTP range so tests can run in parallel.
static NEXT_RANGE: AtomicU16 = AtomicU16::new(0);
fn rtp_range() -> String {
    let k = NEXT_RANGE.fetch_add(1, Ordering::SeqCst);
    let pid_off = (std::process::id() % 8) as u16 * 2000;
    let lo = 42000 + pid_off + k * 100;
    format!("{lo}-{}", lo + 99)
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Kills sipp when the test ends, however it ends.
struct ChildGuard(Child);
impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Default)]
struct Seen {
    events: Vec<Event>,
    /// (session, label) -> packets
    media: HashMap<(SessionId, String), Vec<MediaPacket>>,
    /// Streams reported closed (no packet of theirs follows).
    closed: Vec<SessionId>,
}

struct Server {
    _rt: tokio::runtime::Runtime,
    udp: SocketAddr,
    tcp: SocketAddr,
    seen: Arc<Mutex<Seen>>,
}

fn start_server() -> Server {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let h: SrsHandle = rt
        .block_on(start_srs(SrsDriverConfig::new(
            vec!["udp:127.0.0.1:0".into(), "tcp:127.0.0.1:0".into()],
            rtp_range(),
        )))
        .expect("start srs");
    let udp = h.local_addrs[0].addr;
    let tcp = h.local_addrs[1].addr;
    let s2 = seen.clone();
    rt.spawn(async move {
        let mut h = h;
        loop {
            tokio::select! {
                e = h.events.recv() => {
                    let Some(e) = e else { break };
                    if let Event::NewSession { id, facts, .. } = &e {
                        // The CANCEL scenario's caller never gets a decision.
                        if facts.caller.as_deref() != Some("cancel-me") {
                            let _ = h.commands.send(Command::Accept(*id));
                        }
                    }
                    s2.lock().expect("lock").events.push(e);
                }
                batch = h.media.recv() => {
                    let Some(batch) = batch else { break };
                    let mut st = s2.lock().expect("lock");
                    for m in batch {
                        match m {
                            MediaEvent::Packet(p) => {
                                let label = p.stream_label.as_deref().unwrap_or("-").to_owned();
                                st.media.entry((p.session, label)).or_default().push(p);
                            }
                            MediaEvent::StreamClosed { session, .. } => st.closed.push(session),
                            _ => {}
                        }
                    }
                }
            }
        }
    });
    Server {
        _rt: rt,
        udp,
        tcp,
        seen,
    }
}

/// Runs a scenario; returns sipp's exit status (0 = scenario passed) and its error log.
fn run_sipp(srv: &Server, scenario: &str, tcp: bool, pcap: Option<&Path>) -> (i32, String) {
    run_sipp_edited(srv, scenario, |t| t, tcp, pcap)
}

/// [`run_sipp`] of the scenario's text as `edit` changes it.
fn run_sipp_edited(
    srv: &Server,
    scenario: &str,
    edit: impl Fn(String) -> String,
    tcp: bool,
    pcap: Option<&Path>,
) -> (i32, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = edit(std::fs::read_to_string(scenario_dir().join(scenario)).expect("scenario"));
    if let Some(p) = pcap {
        text = text.replace("@PCAP@", &p.display().to_string());
    }
    let file = dir.path().join(scenario);
    std::fs::write(&file, text).expect("write scenario");
    let err = dir.path().join("errors.log");
    let target = if tcp { srv.tcp } else { srv.udp };
    let child = std::process::Command::new("sipp")
        .arg("-sf")
        .arg(&file)
        .args([
            "-m",
            "1",
            "-i",
            "127.0.0.1",
            "-nostdin",
            "-timeout",
            "60",
            "-timeout_error",
        ])
        .args([
            "-p",
            &free_port().to_string(),
            "-mp",
            &(free_port() & !1).to_string(),
        ])
        .args(["-t", if tcp { "t1" } else { "u1" }])
        .arg("-trace_err")
        .arg("-error_file")
        .arg(&err)
        .arg(target.to_string())
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sipp");
    let mut guard = ChildGuard(child);
    let status = guard.0.wait().expect("wait sipp");
    let log = std::fs::read_to_string(&err).unwrap_or_default();
    (status.code().unwrap_or(-1), log)
}

impl Server {
    /// Waits until `n` streams of session `id` are closed: the media channel then holds
    /// every packet of theirs (SessionEnded comes on the other channel, possibly earlier).
    fn wait_closed(&self, id: SessionId, n: usize) {
        for _ in 0..200 {
            if self.seen.lock().expect("lock").closed.iter().filter(|s| **s == id).count() >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("fewer than {n} streams of session {id} closed");
    }

    /// Waits until `n` sessions ended (the driver runs on its own threads).
    fn wait_ended(&self, n: usize) -> Vec<(SessionId, EndReason)> {
        for _ in 0..200 {
            let ended: Vec<_> = self
                .seen
                .lock()
                .expect("lock")
                .events
                .iter()
                .filter_map(|e| match e {
                    Event::SessionEnded { id, reason } => Some((*id, reason.clone())),
                    _ => None,
                })
                .collect();
            if ended.len() >= n {
                return ended;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "fewer than {n} sessions ended; events: {:?}",
            self.seen.lock().expect("lock").events
        );
    }

    fn new_sessions(
        &self,
    ) -> Vec<(
        SessionId,
        cr_pbx::CallFacts,
        Vec<StreamInfo>,
        Option<String>,
    )> {
        self.seen
            .lock()
            .expect("lock")
            .events
            .iter()
            .filter_map(|e| match e {
                Event::NewSession {
                    id,
                    facts,
                    streams,
                    metadata_xml,
                    ..
                } => Some((
                    *id,
                    (**facts).clone(),
                    streams.clone(),
                    metadata_xml.clone(),
                )),
                _ => None,
            })
            .collect()
    }

    fn streams_changed(&self) -> Vec<Vec<StreamInfo>> {
        self.seen
            .lock()
            .expect("lock")
            .events
            .iter()
            .filter_map(|e| match e {
                Event::StreamsChanged { streams, .. } => Some(streams.clone()),
                _ => None,
            })
            .collect()
    }
}

// ------------------------------------------------------------------ media fixture

/// G.711 A-law decoding (ITU-T G.711), written independently of the encoder in cr-pbx.
fn alaw_to_linear(a: u8) -> i16 {
    let a = a ^ 0x55;
    let seg = ((a & 0x70) >> 4) as i32;
    let mut t = ((a & 0x0f) as i32) << 4;
    t = match seg {
        0 => t + 8,
        1 => t + 0x108,
        _ => (t + 0x108) << (seg - 1),
    };
    if a & 0x80 != 0 { t as i16 } else { -t as i16 }
}

/// Goertzel power of `freq` in `x` (8 kHz).
fn power(x: &[f64], freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / 8000.0;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s0 = v + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - c * s1 * s2
}

fn dominant(packets: &[MediaPacket]) -> (f64, f64) {
    let x: Vec<f64> = packets
        .iter()
        .flat_map(|p| p.payload.iter().map(|&b| alaw_to_linear(b) as f64))
        .collect();
    (power(&x, 440.0), power(&x, 1000.0))
}

fn two_stream_call(tcp: bool, skip: &[u16]) {
    if !sipp_available() {
        return;
    }
    let srv = start_server();
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("two.pcap");
    // 440 Hz on the capture's first port (lands on stream label 1), 1000 Hz on the second
    // (label 2). The scenario's metadata says the caller sends label 2.
    write_pcap(&pcap, 6000, 440.0, 1000.0, 100, skip);
    let (code, log) = run_sipp(&srv, "siprec_call.xml", tcp, Some(&pcap));
    assert_eq!(code, 0, "sipp failed: {log}");
    let ended = srv.wait_ended(1);
    assert_eq!(ended[0].1, EndReason::Bye);
    let news = srv.new_sessions();
    let (id, facts, streams, md) = &news[0];
    assert_eq!(facts.caller.as_deref(), Some("+4930999888"));
    assert_eq!(facts.callee.as_deref(), Some("300"));
    assert_eq!(facts.source, FactsSource::Metadata);
    assert!(facts.src_feature, "+sip.src seen in Contact");
    assert!(
        md.as_deref()
            .is_some_and(|m| m.contains("participantstreamassoc")),
        "original XML kept"
    );
    let role = |l: &str| {
        streams
            .iter()
            .find(|s| s.label.as_deref() == Some(l))
            .map(|s| s.role)
    };
    assert_eq!(
        role("2"),
        Some(Role::Caller),
        "metadata: participant 1 sends label 2"
    );
    assert_eq!(role("1"), Some(Role::Callee));
    let changed = srv.streams_changed();
    let ports: Vec<u16> = changed[0].iter().map(|s| s.local_port).collect();
    assert_eq!(ports[0] % 2, 0);
    assert_eq!(ports[1], ports[0] + 2, "consecutive even ports within a session");
    srv.wait_closed(*id, 2);
    let seen = srv.seen.lock().expect("lock");
    let caller = seen
        .media
        .get(&(*id, "2".into()))
        .expect("RTP on the caller's stream");
    let callee = seen
        .media
        .get(&(*id, "1".into()))
        .expect("RTP on the callee's stream");
    let expect = 100 - skip.len();
    assert_eq!(caller.len(), expect, "caller packets");
    assert_eq!(callee.len(), expect, "callee packets");
    assert!(caller.iter().all(|p| p.role == Role::Caller));
    assert!(callee.iter().all(|p| p.role == Role::Callee));
    // The caller's audio (what goes left in stereo) is the 1000 Hz tone sent on label 2.
    let (c440, c1000) = dominant(caller);
    assert!(
        c1000 > 100.0 * c440,
        "caller stream carries 1000 Hz: {c440} vs {c1000}"
    );
    let (d440, d1000) = dominant(callee);
    assert!(
        d440 > 100.0 * d1000,
        "callee stream carries 440 Hz: {d440} vs {d1000}"
    );
    // sequence gaps are visible to the consumer
    let seqs: Vec<u16> = caller.iter().map(|p| p.header.sequence).collect();
    let gaps = seqs
        .windows(2)
        .filter(|w| w[1].wrapping_sub(w[0]) != 1)
        .count();
    assert_eq!(gaps > 0, !skip.is_empty());
}

#[test]
fn sipp_two_stream_call_udp() {
    two_stream_call(false, &[]);
}

#[test]
fn sipp_two_stream_call_tcp() {
    two_stream_call(true, &[]);
}

#[test]
fn sipp_bye_after_lost_rtp() {
    // packets 40..60 and the last 10 never arrive; BYE still ends the session cleanly
    let skip: Vec<u16> = (40..60).chain(90..100).collect();
    two_stream_call(false, &skip);
}

#[test]
fn sipp_hold_reinvite() {
    if !sipp_available() {
        return;
    }
    let srv = start_server();
    let (code, log) = run_sipp(&srv, "siprec_hold.xml", false, None);
    assert_eq!(
        code, 0,
        "sipp failed (hold answer must carry a=inactive, resume a=recvonly): {log}"
    );
    srv.wait_ended(1);
    let changed = srv.streams_changed();
    assert!(changed.len() >= 3, "accept, hold, resume: {changed:?}");
    assert!(changed[0].iter().all(|s| s.active));
    assert!(
        changed[1].iter().all(|s| !s.active),
        "hold: streams inactive"
    );
    assert!(changed[2].iter().all(|s| s.active), "resumed");
    assert_eq!(
        changed[1][0].local_port, changed[0][0].local_port,
        "ports kept over hold"
    );
}

#[test]
fn sipp_cancel_before_answer() {
    if !sipp_available() {
        return;
    }
    let srv = start_server();
    let (code, log) = run_sipp(&srv, "siprec_cancel.xml", false, None);
    assert_eq!(
        code, 0,
        "sipp failed (expects 200 to CANCEL and 487): {log}"
    );
    let ended = srv.wait_ended(1);
    assert_eq!(ended[0].1, EndReason::Cancelled);
}

#[test]
fn sipp_cancel_before_answer_tcp() {
    if !sipp_available() {
        return;
    }
    let srv = start_server();
    let (code, log) = run_sipp(&srv, "siprec_cancel.xml", true, None);
    assert_eq!(code, 0, "sipp failed: {log}");
    assert_eq!(srv.wait_ended(1)[0].1, EndReason::Cancelled);
}

fn variant(scenario: &str) -> Option<(Server, cr_pbx::CallFacts, Vec<StreamInfo>)> {
    variant_edited(scenario, |t| t)
}

/// [`variant`] of the scenario's text as `edit` changes it.
fn variant_edited(
    scenario: &str,
    edit: impl Fn(String) -> String,
) -> Option<(Server, cr_pbx::CallFacts, Vec<StreamInfo>)> {
    if !sipp_available() {
        return None;
    }
    let srv = start_server();
    let (code, log) = run_sipp_edited(&srv, scenario, edit, false, None);
    assert_eq!(code, 0, "sipp failed on {scenario}: {log}");
    let ended = srv.wait_ended(1);
    assert_eq!(ended[0].1, EndReason::Bye, "{scenario}");
    let (_, facts, streams, _) = srv.new_sessions().remove(0);
    Some((srv, facts, streams))
}

#[test]
fn sipp_variant_cisco_gtd_part_ignored() {
    let Some((_, facts, streams)) = variant("variant_cisco_gtd.xml") else {
        return;
    };
    assert_eq!(facts.caller.as_deref(), Some("+4930999888"));
    assert_eq!(streams.len(), 2);
    assert_eq!(streams[1].role, Role::Caller);
}

#[test]
fn sipp_variant_no_metadata_falls_back() {
    let Some((_, facts, streams)) = variant("variant_no_metadata.xml") else {
        return;
    };
    assert_eq!(facts.source, FactsSource::Fallback);
    assert_eq!(facts.caller.as_deref(), Some("+4930111222"), "From user");
    assert_eq!(streams[0].role, Role::Caller, "first m-line");
    assert_eq!(streams[1].role, Role::Callee);
}

#[test]
fn sipp_variant_broadworks_metadata_first_mixed_stream() {
    let Some((_, facts, streams)) = variant("variant_broadworks.xml") else {
        return;
    };
    assert_eq!(facts.caller.as_deref(), Some("+4930777666"));
    assert_eq!(facts.callee.as_deref(), Some("2001"));
    assert_eq!(streams.len(), 1);
    assert_eq!(streams[0].role, Role::Mixed);
}

#[test]
fn sipp_variant_broadworks_draft_schema_terminating_half_mixed() {
    let Some((_, facts, streams)) = variant("variant_broadworks_draft.xml") else {
        return;
    };
    assert_eq!(facts.source, FactsSource::Metadata);
    // termCall: the far end (BroadWorks' callingPartyNumber, listed second) called the user.
    assert_eq!(facts.caller.as_deref(), Some("0301234567"));
    assert_eq!(facts.callee.as_deref(), Some("4930555000"));
    assert_eq!(streams.len(), 1);
    assert_eq!(streams[0].role, Role::Mixed);
}

#[test]
fn sipp_variant_webex_draft_schema_two_separate_streams() {
    let Some((_, facts, streams)) = variant("variant_webex_draft.xml") else {
        return;
    };
    assert_eq!(facts.caller.as_deref(), Some("0301234567"));
    assert_eq!(facts.callee.as_deref(), Some("4930555000"));
    // Label 1 is sent by the user (the called party), label 2 by the caller.
    assert_eq!(streams[0].role, Role::Callee);
    assert_eq!(streams[1].role, Role::Caller);
}

#[test]
fn sipp_variant_draft_schema_without_metadata_to_without_user_part_is_no_party() {
    // The BroadWorks scenario's To names only the recorder's host: with the metadata's
    // root renamed (unusable), the fallback takes From, and no callee rather than an IP.
    let Some((_, facts, streams)) =
        variant_edited("variant_broadworks_draft.xml", |t| t.replace("recording_metadata", "recording_metadatum"))
    else {
        return;
    };
    assert_eq!(facts.source, FactsSource::Fallback);
    assert_eq!(facts.callee, None, "{facts:?}");
    assert_eq!(facts.callee_aor, None);
    assert!(facts.to_uri.starts_with("sip:127.0.0.1:"), "{}", facts.to_uri);
    assert_eq!(streams[0].role, Role::Mixed, "a single stream without metadata is mixed");
}

#[test]
fn sipp_variant_sonus_prefix_old_namespace() {
    let Some((_, facts, streams)) = variant("variant_sonus.xml") else {
        return;
    };
    assert_eq!(facts.caller.as_deref(), Some("+4930222333"));
    assert_eq!(facts.callee.as_deref(), Some("301"));
    assert_eq!(streams[1].role, Role::Caller);
    assert_eq!(streams[0].role, Role::Callee);
}

#[test]
fn sipp_variant_audiocodes_rs_metadata_without_xml_suffix() {
    let Some((_, facts, streams)) = variant("variant_audiocodes.xml") else {
        return;
    };
    assert_eq!(facts.source, FactsSource::Metadata);
    assert_eq!(facts.caller.as_deref(), Some("+4930444555"));
    assert_eq!(streams[1].role, Role::Caller);
}

#[test]
fn sipp_variant_avaya_placeholder_then_update() {
    let Some((srv, facts, _)) = variant("variant_avaya_update.xml") else {
        return;
    };
    assert_eq!(facts.caller.as_deref(), Some("anonymous"));
    let updated: Vec<_> = srv
        .seen
        .lock()
        .expect("lock")
        .events
        .iter()
        .filter_map(|e| match e {
            Event::MetadataUpdated { facts, .. } => Some(facts.caller.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(updated, vec![Some("+4930666777".to_owned())]);
}

#[test]
fn sipp_malformed_bodies_are_answered() {
    if !sipp_available() {
        return;
    }
    let srv = start_server();
    let (code, log) = run_sipp(&srv, "malformed_bodies.xml", false, None);
    assert_eq!(code, 0, "expected 415, 488, 400, 400, 400: {log}");
    assert!(srv.new_sessions().is_empty());
    // still alive
    let (code, log) = run_sipp(&srv, "options.xml", false, None);
    assert_eq!(code, 0, "OPTIONS after malformed input: {log}");
}

/// Raw socket: LF-only messages and bodies (AudioCodes) and garbage.
#[test]
fn lf_only_invite_and_garbage_over_raw_udp() {
    let srv = start_server();
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let me = sock.local_addr().expect("addr");
    let recv = |want: &str| -> String {
        let mut buf = [0u8; 65536];
        loop {
            let (n, _) = sock.recv_from(&mut buf).expect("a response");
            let s = String::from_utf8_lossy(&buf[..n]).into_owned();
            if s.contains(want) || !s.starts_with("SIP/2.0 100") {
                return s;
            }
        }
    };
    // garbage: no answer, no crash
    sock.send_to(b"\x00\x01garbage\r\n\r\n", srv.udp)
        .expect("send");
    sock.send_to(
        b"INVITE sip:x SIP/2.0\r\nContent-Length: 99999\r\n\r\n",
        srv.udp,
    )
    .expect("send");
    // missing headers: 400
    let bad = format!(
        "OPTIONS sip:srs@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKbad1\r\nCSeq: 1 OPTIONS\r\n\r\n"
    );
    sock.send_to(bad.as_bytes(), srv.udp).expect("send");
    let r = recv("400");
    assert!(r.starts_with("SIP/2.0 400"), "{r}");
    // Content-Length larger than the datagram: 400
    let bad = format!(
        "OPTIONS sip:srs@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKbad2\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 500\r\n\r\nshort"
    );
    sock.send_to(bad.as_bytes(), srv.udp).expect("send");
    let r = recv("400");
    assert!(r.starts_with("SIP/2.0 400"), "{r}");

    let md = "<?xml version=\"1.0\"?>\n<recording xmlns=\"urn:ietf:params:xml:ns:recording:1\">\n<participant participant_id=\"a\"><nameID aor=\"sip:+4930888999@ac\"/></participant>\n<participant participant_id=\"b\"><nameID aor=\"sip:305@ac\"/></participant>\n<stream stream_id=\"s1\"><label>10</label></stream><stream stream_id=\"s2\"><label>11</label></stream>\n<participantstreamassoc participant_id=\"a\"><send>s1</send></participantstreamassoc>\n<participantstreamassoc participant_id=\"b\"><send>s2</send></participantstreamassoc>\n</recording>\n";
    let sdp = "v=0\no=AC 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 7000 RTP/AVP 0\na=label:10\na=sendonly\nm=audio 7002 RTP/AVP 0\na=label:11\na=sendonly\n";
    let body = format!(
        "--b1\nContent-Type: application/sdp\n\n{sdp}\n--b1\nContent-Type: application/rs-metadata\nContent-Disposition: recording-session\n\n{md}\n--b1--\n"
    );
    let inv = format!(
        "INVITE sip:srs@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP {me};branch=z9hG4bKlf1\nFrom: <sip:ac@127.0.0.1>;tag=lf\nTo: <sip:srs@127.0.0.1>\nCall-ID: lf-only-1\nCSeq: 1 INVITE\nContact: <sip:ac@{me}>;+sip.src\nRequire: siprec\nContent-Type: multipart/mixed;boundary=b1\nContent-Length: {}\n\n{body}",
        body.len()
    );
    sock.send_to(inv.as_bytes(), srv.udp).expect("send");
    let r = recv("200 OK");
    assert!(r.starts_with("SIP/2.0 200 OK"), "{r}");
    assert!(
        r.contains("Content-Type: application/sdp"),
        "plain SDP answer: {r}"
    );
    assert!(r.contains("a=recvonly"));
    let news = srv.new_sessions();
    assert_eq!(news[0].1.caller.as_deref(), Some("+4930888999"));
    assert_eq!(news[0].2[0].role, Role::Caller);
    assert_eq!(news[0].2[1].role, Role::Callee);
}
