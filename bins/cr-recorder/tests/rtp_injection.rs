//! An attacker on the same network against a recorded call (issue 11, probes 1 and 7):
//! sipp is the real SRC (tones from the ports its SDP announces), a plain UDP socket is the
//! attacker, aiming at the recorder's RTP sockets of the call. What is sealed is judged by
//! sox: only the SRC's tones, in step, and the set and /metrics say what was refused.
// A test that cannot set up panics; unwrap says so as well as expect would.
#![allow(clippy::unwrap_used)]

#[path = "../../../crates/cr-pbx/tests/pcap/mod.rs"]
mod pcap;
mod support;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::*;


/// The tests share one RTP range (the installation's) and two cores: one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Kills sipp when the test ends, however it ends.
struct Sipp(Child);
impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// RMS (dB) of one channel within a frequency band, by sox.
fn band_db(file: &Path, channel: u32, band: &str) -> f64 {
    let out = run(Command::new("sox").arg(file).arg("-n").args([
        "remix",
        &channel.to_string(),
        "sinc",
        band,
        "stats",
    ]));
    let v = out
        .lines()
        .find(|l| l.starts_with("RMS lev dB"))
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap()
        .to_owned();
    if v == "-inf" {
        -200.0
    } else {
        v.parse().unwrap()
    }
}

/// The samples of both channels as sox decodes them (left, right).
fn samples(file: &Path) -> (Vec<i16>, Vec<i16>) {
    let out = Command::new("sox")
        .arg(file)
        .args(["-t", "s16", "-e", "signed-integer", "-L", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let all: Vec<i16> = out
        .stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    (
        all.iter().step_by(2).copied().collect(),
        all.iter().skip(1).step_by(2).copied().collect(),
    )
}

/// Where the tone of a channel begins and ends, and the longest stretch of silence in
/// between (a tone of amplitude 8000 is never quiet for more than a sample or two).
fn tone_span(ch: &[i16]) -> (usize, usize, usize) {
    let loud = |x: &i16| x.unsigned_abs() > 200;
    let first = ch.iter().position(loud).unwrap_or(0);
    let last = ch.iter().rposition(loud).unwrap_or(0);
    let (mut gap, mut run) = (0, 0);
    for x in &ch[first..=last] {
        if loud(x) {
            run = 0;
        } else {
            run += 1;
            gap = gap.max(run);
        }
    }
    (first, last + 1, gap)
}

fn rtp_range(inst: &Install) -> (u16, u16) {
    let text = std::fs::read_to_string(&inst.config).unwrap();
    let line = text.lines().find(|l| l.starts_with("rtp_ports")).unwrap();
    let (a, b) = line.split('"').nth(1).unwrap().split_once('-').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

/// The recorder's bound UDP ports within its RTP range, from /proc/net/udp (what an
/// attacker who scans the range would find).
fn rtp_sockets(range: (u16, u16)) -> Vec<u16> {
    let text = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    let mut ports: Vec<u16> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter_map(|local| local.split_once(':'))
        .filter(|(ip, _)| *ip == "0100007F")
        .filter_map(|(_, port)| u16::from_str_radix(port, 16).ok())
        .filter(|p| (range.0..=range.1).contains(p))
        .collect();
    ports.sort();
    ports.dedup();
    ports
}

/// Starts sipp as the SRC: `packets` 20 ms packets per stream (1000 Hz caller, 440 Hz
/// callee), or none when `play` is false; BYE after `hold_ms`.
fn start_call(inst: &Install, packets: u16, play: bool, hold_ms: u32) -> Sipp {
    let pcap = inst.path("two.pcap");
    pcap::write_pcap(&pcap, 6000, 440.0, 1000.0, packets, &[]);
    let scenario = inst.path("siprec_call.xml");
    let mut text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/sipp/siprec_call.xml"
    ))
    .unwrap();
    if !play {
        let line = text
            .lines()
            .find(|l| l.contains("<exec play_pcap_audio"))
            .unwrap()
            .to_owned();
        text = text.replace(&line, "");
    }
    text = text.replace(
        "<pause milliseconds=\"3000\"/>",
        &format!("<pause milliseconds=\"{hold_ms}\"/>"),
    );
    std::fs::write(&scenario, text.replace("@PCAP@", pcap.to_str().unwrap())).unwrap();
    let child = Command::new("sipp")
        .arg("-sf")
        .arg(&scenario)
        .args([
            "-m",
            "1",
            "-i",
            "127.0.0.1",
            "-nostdin",
            "-timeout",
            "60",
            "-timeout_error",
            "-t",
            "u1",
        ])
        .args([
            "-p",
            &free_udp_port().to_string(),
            "-mp",
            &(free_udp_port() & !1).to_string(),
        ])
        .arg(format!("127.0.0.1:{}", inst.sip_port))
        .current_dir(inst.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Sipp(child)
}

/// Waits until the call's two RTP sockets are bound; returns them.
fn call_ports(inst: &Install) -> Vec<SocketAddr> {
    let range = rtp_range(inst);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ports = rtp_sockets(range);
        if ports.len() == 2 {
            return ports
                .into_iter()
                .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "the call's RTP sockets never appeared: {ports:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A-law, from the G.711 segment table (as the fixture does).
fn alaw(s: i16) -> u8 {
    let (mask, v) = if s >= 0 {
        (0xd5u8, s as i32)
    } else {
        (0x55u8, -(s as i32) - 1)
    };
    let ends = [0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff, 0x3fff, 0x7fff];
    let seg = ends.iter().position(|&e| v <= e).unwrap_or(7) as i32;
    let aval = if seg < 2 {
        (v >> 4) & 0x0f
    } else {
        (v >> (seg + 3)) & 0x0f
    } | (seg << 4);
    (aval as u8) ^ mask
}

/// One attacker's RTP packet: PCMA (as negotiated) of a loud 2500 Hz tone.
fn attack_packet(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 8];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(seq as u32 * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    for i in 0..160u32 {
        let t = (seq as u32 * 160 + i) as f64 / 8000.0;
        p.push(alaw(
            (20000.0 * (2.0 * std::f64::consts::PI * 2500.0 * t).sin()) as i16,
        ));
    }
    p
}

/// From its own port, every 20 ms, to each of `targets`: the 2500 Hz tone under a foreign
/// SSRC and under both of the SRC's own SSRCs (0x1000, 0x1001), until `stop`.
fn spray(targets: Vec<SocketAddr>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (mut seq, mut sent) = (1000u16, 0u64);
        while !stop.load(Ordering::Relaxed) {
            for t in &targets {
                for ssrc in [0xBAD0_0BADu32, 0x1000, 0x1001] {
                    if sock.send_to(&attack_packet(seq, ssrc), t).is_ok() {
                        sent += 1;
                    }
                }
            }
            seq = seq.wrapping_add(1);
            std::thread::sleep(Duration::from_millis(20));
        }
        sent
    })
}

/// Waits for the set to be sealed; returns its files (checksum file, WAV), its metadata
/// and the final /metrics text.
fn sealed(inst: &Install, rec: Recorder) -> (PathBuf, PathBuf, serde_json::Value, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let (_, m) = rec.http("GET", "/metrics", "");
        if m.contains("callrec_recorded_total 1\n") {
            break m;
        }
        assert!(Instant::now() < deadline, "the call was not sealed: {m}");
        std::thread::sleep(Duration::from_millis(100));
    };
    rec.stop();
    let sets = sets_below(&inst.path("data/spool"));
    assert_eq!(sets.len(), 1);
    let report = cr_sign::verify_set(&sets[0], &inst.cert());
    assert!(report.is_ok(), "{:?}", report.problems);
    let wav = sets[0].with_file_name(format!("{}.wav", report.id));
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(sets[0].with_file_name(format!("{}.json", report.id))).unwrap(),
    )
    .unwrap();
    (sets[0].clone(), wav, meta, metrics)
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing: {text}"))
}

fn flags(meta: &serde_json::Value) -> Vec<String> {
    meta["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect()
}

fn sum(meta: &serde_json::Value, field: &str) -> u64 {
    meta["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s[field].as_u64().unwrap())
        .sum()
}

// Guards against RTP from another port and SSRC being mixed into the sealed audio
// (issue 11, probe 1: 4,113 of 8,163 samples were the attacker's).
#[test]
fn rtp_from_second_port_is_not_sealed() {
    if !(have("sipp") && have("sox")) {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let inst = Install::new(CONFIG, true);
    let rec = inst.start();
    let mut sipp = start_call(&inst, 100, true, 3000);
    let stop = Arc::new(AtomicBool::new(false));
    let attacker = spray(call_ports(&inst), stop.clone());
    let st = sipp.0.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    let sent = attacker.join().unwrap();
    assert!(st.success(), "sipp: {st}");
    assert!(sent > 100, "the attacker sent {sent}");
    let (_, wav, meta, metrics) = sealed(&inst, rec);
    // The SRC's tones are there, the attacker's 2500 Hz is not (sox, band by band).
    for (ch, real) in [(1, "900-1100"), (2, "340-540")] {
        let (tone, attack) = (band_db(&wav, ch, real), band_db(&wav, ch, "2400-2600"));
        eprintln!("channel {ch}: real tone {tone:.1} dB, attacker's band {attack:.1} dB");
        assert!(tone > -25.0, "channel {ch} lost the real tone: {tone} dB");
        assert!(
            attack < tone - 40.0,
            "channel {ch} holds the attacker's tone: {attack} dB vs {tone} dB"
        );
    }
    let f = flags(&meta);
    assert!(f.contains(&"rtp_rejected".to_owned()), "{meta}");
    assert!(!f.contains(&"no_media".to_owned()), "{meta}");
    assert_eq!(sum(&meta, "packets"), 200, "{meta}");
    let refused = sum(&meta, "rejected_source");
    assert!(refused > 0, "{meta}");
    assert_eq!(
        metric(&metrics, "callrec_rtp_rejected_total{reason=\"source\"}"),
        refused,
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "callrec_rtp_packets_total"),
        200,
        "{metrics}"
    );
}

// Guards against an attacker's audio filling a call whose SRC sends nothing (issue 11,
// probe 1): the set holds silence and says so.
#[test]
fn attacker_alone_seals_no_audio() {
    if !(have("sipp") && have("sox")) {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let inst = Install::new(CONFIG, true);
    let rec = inst.start();
    let mut sipp = start_call(&inst, 100, false, 3000);
    let stop = Arc::new(AtomicBool::new(false));
    let attacker = spray(call_ports(&inst), stop.clone());
    let st = sipp.0.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    let sent = attacker.join().unwrap();
    assert!(st.success(), "sipp: {st}");
    assert!(sent > 100, "the attacker sent {sent}");
    let (_, wav, meta, metrics) = sealed(&inst, rec);
    // Not one sample of the attacker's (with no packet from the SRC the legs hold none).
    let (left, right) = samples(&wav);
    eprintln!("sealed: {} samples per channel", left.len());
    assert!(
        left.iter().chain(&right).all(|&x| x == 0),
        "the set holds audio: {meta}"
    );
    let f = flags(&meta);
    assert!(
        f.contains(&"no_media".to_owned()) && f.contains(&"rtp_rejected".to_owned()),
        "{meta}"
    );
    assert_eq!(sum(&meta, "packets"), 0, "{meta}");
    assert!(sum(&meta, "rejected_source") > 0, "{meta}");
    assert_eq!(
        metric(&metrics, "callrec_rtp_packets_total"),
        0,
        "{metrics}"
    );
}

// Guards against a flooded stream port pushing the real stream out of step (issue 11,
// probe 7: 550 junk packets/s put the caller's channel a second behind; 50k/s for 3 s left
// 80 of 24,000 samples).
#[test]
fn junk_flood_does_not_displace_real_stream() {
    if !(have("sipp") && have("sox")) {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let inst = Install::new(CONFIG, true);
    let rec = inst.start();
    // 4 s of tone per stream.
    let mut sipp = start_call(&inst, 200, true, 5000);
    let ports = call_ports(&inst);
    let target = ports[0];
    // 20,000 junk packets/s for 2 s at one stream port, from another port: small RTP-looking
    // packets of noise with a foreign SSRC, and bare garbage.
    let flood = std::thread::spawn(move || {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let start = Instant::now();
        let mut sent = 0u64;
        let mut pkt = attack_packet(1, 0xF100D);
        pkt.truncate(32);
        while start.elapsed() < Duration::from_secs(2) {
            // Catch up to 20 packets per millisecond of elapsed time.
            let due = (start.elapsed().as_micros() as u64) * 20 / 1000;
            while sent < due {
                let junk: &[u8] = if sent.is_multiple_of(2) { &pkt } else { b"\xff\x00junk" };
                let _ = sock.send_to(junk, target);
                sent += 1;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        (sent, start.elapsed())
    });
    let st = sipp.0.wait().unwrap();
    let (sent, took) = flood.join().unwrap();
    assert!(st.success(), "sipp: {st}");
    eprintln!("flood: {sent} packets in {took:?} at {target}");
    assert!(sent >= 39_000, "the flood sent only {sent}");
    let (_, wav, meta, metrics) = sealed(&inst, rec);
    let (left, right) = samples(&wav);
    let (l, r) = (tone_span(&left), tone_span(&right));
    eprintln!(
        "caller: tone from sample {} to {} ({} samples, longest silence {}); callee: {} to {} ({} samples, longest silence {}); streams {}",
        l.0,
        l.1,
        l.1 - l.0,
        l.2,
        r.0,
        r.1,
        r.1 - r.0,
        r.2,
        meta["streams"]
    );
    // 200 packets of 160 samples each side, both sides starting and ending together. A
    // real packet the kernel dropped while this shared machine starved the receiver would
    // leave 160 samples of silence in place (never a shift) and must be flagged; more than
    // 2 of 400 is not a stall but the receiver falling behind.
    let lost = sum(&meta, "lost");
    assert!(lost <= 2, "{lost} real packets lost: {meta}");
    for (side, (first, end, gap)) in [("caller", l), ("callee", r)] {
        let len = end - first;
        assert!(
            (31_840..=32_000).contains(&len),
            "{side}: {len} samples of tone, sent 32,000"
        );
        assert!(
            gap < 20 + 160 * lost as usize,
            "{side}: {gap} samples of silence inside the tone"
        );
    }
    let (step, end_step) = (l.0.abs_diff(r.0), l.1.abs_diff(r.1));
    assert!(
        step <= 160 && end_step <= 160,
        "the channels are out of step: {step} samples at the start, {end_step} at the end"
    );
    assert_eq!(sum(&meta, "packets") + lost, 400, "{meta}");
    assert_eq!(sum(&meta, "late"), 0, "{meta}");
    let f = flags(&meta);
    assert!(f.contains(&"rtp_rejected".to_owned()), "{meta}");
    assert_eq!(f.contains(&"media_lost".to_owned()), lost > 0, "{meta}");
    let refused = metric(&metrics, "callrec_rtp_rejected_total{reason=\"source\"}");
    eprintln!("refused as from another source: {refused} of {sent}");
    assert_eq!(refused, sum(&meta, "rejected_source"), "{metrics}");
}
