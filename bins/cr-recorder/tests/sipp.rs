//! sipp as a real SRC against cr-recorder: a two-stream SIPREC call whose metadata says the
//! caller sends the stream labelled 2 (1000 Hz) and the callee label 1 (440 Hz). The sealed
//! set verifies, and sox finds the caller's tone left and the callee's right.

mod support;
#[path = "../../../crates/cr-pbx/tests/pcap/mod.rs"]
mod pcap;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;


/// RMS (dB) of one channel within a frequency band, by sox.
fn band_db(file: &std::path::Path, channel: u32, band: &str) -> f64 {
    let out = run(Command::new("sox").arg(file).arg("-n").args(["remix", &channel.to_string(), "sinc", band, "stats"]));
    let v = out.lines().find(|l| l.starts_with("RMS lev dB")).unwrap().split_whitespace().last().unwrap().to_owned();
    if v == "-inf" { -200.0 } else { v.parse().unwrap() }
}

#[test]
fn sipp_siprec_call_is_sealed_with_the_callers_stream_left() {
    if !(have("sipp") && have("sox")) {
        return;
    }
    let inst = Install::new(CONFIG, true);
    let rec = inst.start();
    let pcap = inst.path("two.pcap");
    pcap::write_pcap(&pcap, 6000, 440.0, 1000.0, 100, &[]);
    let scenario = inst.path("siprec_call.xml");
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/sipp/siprec_call.xml")).unwrap();
    std::fs::write(&scenario, text.replace("@PCAP@", pcap.to_str().unwrap())).unwrap();
    let status = Command::new("sipp")
        .arg("-sf")
        .arg(&scenario)
        .args(["-m", "1", "-i", "127.0.0.1", "-nostdin", "-timeout", "60", "-timeout_error", "-t", "u1"])
        .args(["-p", &free_udp_port().to_string(), "-mp", &(free_udp_port() & !1).to_string()])
        .arg(format!("127.0.0.1:{}", inst.sip_port))
        .current_dir(inst.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "sipp: {status}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, m) = rec.http("GET", "/metrics", "");
        if m.contains("callrec_recorded_total 1\n") {
            // 100 packets on each of the two streams, none lost on loopback.
            assert!(m.contains("callrec_rtp_packets_total 200\n"), "{m}");
            break;
        }
        assert!(Instant::now() < deadline, "the call was not sealed: {m}");
        std::thread::sleep(Duration::from_millis(100));
    }
    rec.stop();

    let sets = sets_below(&inst.path("data/spool"));
    assert_eq!(sets.len(), 1);
    let report = cr_sign::verify_set(&sets[0], &inst.cert());
    assert!(report.is_ok(), "{:?}", report.problems);
    assert!(sets[0].with_file_name(format!("{}.siprec.xml", report.id)).exists(), "metadata kept in the set");
    let wav = sets[0].with_file_name(format!("{}.wav", report.id));
    let (channels, samples, rate) = soxi(&wav);
    assert_eq!((channels, rate), (2, 8000));
    // 100 packets of 20 ms = 16000 samples each, after the moment of the answer.
    assert!((16_000..=24_000).contains(&samples), "{samples} samples");
    let (l1000, l440) = (band_db(&wav, 1, "900-1100"), band_db(&wav, 1, "340-540"));
    let (r1000, r440) = (band_db(&wav, 2, "900-1100"), band_db(&wav, 2, "340-540"));
    assert!(l1000 > l440 + 20.0, "left must be the caller's 1000 Hz: {l1000} dB vs 440 Hz {l440} dB");
    assert!(r440 > r1000 + 20.0, "right must be the callee's 440 Hz: {r440} dB vs 1000 Hz {r1000} dB");
}
