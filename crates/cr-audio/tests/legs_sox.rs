//! Leg writer + finalize, judged by sox: channel placement, alignment, exact durations
//! under loss, reordering, timestamp jumps and SSRC changes, and recovery after a kill.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::*;
use cr_audio::{
    ChannelMode, Codec, LegOptions, LegWriter, RecoverAction, RtpFrame, finalize, g711, recover,
};

const RATE: u32 = 8000;

/// One generated packet: payload and RTP fields, plus when it "arrives".
#[derive(Clone)]
struct Pkt {
    seq: u16,
    ts: u32,
    ssrc: u32,
    payload: Vec<u8>,
    arrive: Duration,
}

/// `n` packets of 20 ms µ-law of a `freq` Hz tone, arriving on time (+ jitter < 10 ms
/// except the first, which is on time: it anchors the leg).
fn tone_packets(freq: f64, n: u32, ts0: u32, ssrc: u32, rng: &mut Rng) -> Vec<Pkt> {
    (0..n)
        .map(|p| {
            let payload = (0..160)
                .map(|i| g711::ulaw_encode(tone(freq, RATE, (p * 160 + i) as u64, 8000.0)))
                .collect();
            let jitter = if p == 0 { 0 } else { rng.below(10_000) };
            Pkt {
                seq: p as u16,
                ts: ts0.wrapping_add(p * 160),
                ssrc,
                payload,
                arrive: Duration::from_millis(20 * p as u64) + Duration::from_micros(jitter),
            }
        })
        .collect()
}

fn write_leg(path: &Path, started_at: SystemTime, pkts: &[Pkt]) -> cr_audio::LegSummary {
    let mut leg = LegWriter::create(path, LegOptions::new(RATE, started_at)).unwrap();
    let mut order: Vec<&Pkt> = pkts.iter().collect();
    order.sort_by_key(|p| p.arrive);
    for p in order {
        let f = RtpFrame {
            seq: p.seq,
            timestamp: p.ts,
            ssrc: p.ssrc,
            codec: Codec::Pcmu,
            payload: &p.payload,
        };
        leg.push_rtp(f, p.arrive).unwrap();
        leg.tick(p.arrive).unwrap();
    }
    leg.finish().unwrap()
}

fn first_nonzero(x: &[i16]) -> usize {
    x.iter().position(|&s| s != 0).unwrap_or(x.len())
}

#[test]
fn stereo_tones_land_left_right_aligned_and_exact() {
    if !have("sox") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(42);
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    // Caller: 10 s of 1 kHz from t0. Callee: 10 s of 300 Hz, its leg starting 0.5 s later.
    let caller = write_leg(
        &dir.path().join("a.wav"),
        t0,
        &tone_packets(1000.0, 500, 0xFFFF_F000, 1, &mut rng),
    );
    let callee = write_leg(
        &dir.path().join("b.wav"),
        t0 + Duration::from_millis(500),
        &tone_packets(300.0, 500, 77, 2, &mut rng),
    );
    assert_eq!(soxi_samples(&caller.path), 80_000);
    assert_eq!(soxi_samples(&callee.path), 80_000);

    let files = finalize(
        &caller.path,
        &callee.path,
        ChannelMode::Stereo,
        dir.path(),
        "call",
    )
    .unwrap();
    assert_eq!(files, vec![dir.path().join("call.wav")]);
    let out = &files[0];
    assert_eq!(soxi_channels_rate(out), (2, 8000));
    assert_eq!(soxi_samples(out), 84_000, "0.5 s offset + 10 s callee");
    let left_f = sox_stat(out, &["remix", "1", "trim", "0", "9"], "Rough   frequency");
    let right_f = sox_stat(
        out,
        &["remix", "2", "trim", "0.5", "9"],
        "Rough   frequency",
    );
    assert!((left_f - 1000.0).abs() < 50.0, "left {left_f} Hz");
    assert!((right_f - 300.0).abs() < 10.0, "right {right_f} Hz");
    // Left carries no 300 Hz energy and right no 1 kHz: the legs did not swap or mix.
    let left_rms = sox_stat(out, &["remix", "1", "trim", "1", "5"], "RMS     amplitude");
    let right_rms = sox_stat(out, &["remix", "2", "trim", "1", "5"], "RMS     amplitude");
    assert!(left_rms > 0.1 && right_rms > 0.1);

    let left = sox_to_s16(out, &["remix", "1"], dir.path());
    let right = sox_to_s16(out, &["remix", "2"], dir.path());
    assert!(first_nonzero(&left) <= 1);
    let onset = first_nonzero(&right) as i64;
    assert!(
        (onset - 4000).abs() <= 160,
        "callee onset at sample {onset}, expected 4000 ± one frame"
    );
    // The caller's leg ended at 10 s: the rest of the left channel is padding.
    assert!(left[80_000..].iter().all(|&s| s == 0));
    assert!(left[79_000..80_000].iter().any(|&s| s != 0));
}

#[test]
fn separate_and_single_modes_name_and_fill_files() {
    if !have("sox") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(7);
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    let a = write_leg(
        &dir.path().join("a.wav"),
        t0,
        &tone_packets(1000.0, 100, 0, 1, &mut rng),
    );
    let b = write_leg(
        &dir.path().join("b.wav"),
        t0 + Duration::from_millis(100),
        &tone_packets(300.0, 50, 0, 2, &mut rng),
    );
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let sep = finalize(&a.path, &b.path, ChannelMode::Separate, &out, "x").unwrap();
    assert_eq!(
        sep,
        vec![out.join("x-caller.wav"), out.join("x-callee.wav")]
    );
    assert_eq!(soxi_samples(&sep[0]), 16_000);
    assert_eq!(
        soxi_samples(&sep[1]),
        800 + 8_000,
        "callee delayed by its later start"
    );
    let c = finalize(
        &a.path,
        Path::new("/nonexistent"),
        ChannelMode::Caller,
        &out,
        "c",
    )
    .unwrap();
    assert_eq!(c, vec![out.join("c.wav")]);
    assert_eq!(soxi_channels_rate(&c[0]), (1, 8000));
    assert_eq!(soxi_samples(&c[0]), 16_000);
    let e = finalize(
        Path::new("/nonexistent"),
        &b.path,
        ChannelMode::Callee,
        &out,
        "e",
    )
    .unwrap();
    assert_eq!(soxi_samples(&e[0]), 8_000);
    let f = sox_stat(&e[0], &[], "Rough   frequency");
    assert!((f - 300.0).abs() < 10.0);
    // No temporary files are left behind.
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
}

#[test]
fn loss_and_reordering_keep_duration_exact_and_samples_in_place() {
    if !have("sox") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(2024);
    let all = tone_packets(440.0, 3000, 123_456, 9, &mut rng); // 60 s
    // sox decodes the complete stream: that is what the leg must hold where packets arrived.
    let ul: Vec<u8> = all.iter().flat_map(|p| p.payload.clone()).collect();
    let raw = dir.path().join("all.ul");
    std::fs::write(&raw, &ul).unwrap();
    let wav = dir.path().join("all.wav");
    run(
        "sox",
        &[
            "-t",
            "ul",
            "-r",
            "8000",
            "-c",
            "1",
            raw.to_str().unwrap(),
            "-e",
            "signed",
            "-b",
            "16",
            wav.to_str().unwrap(),
        ],
    );
    let reference = sox_to_s16(&wav, &[], dir.path());
    // 5 % loss (never the first or last), 10 % delayed by 40–150 ms (reordered).
    let mut lost = vec![false; all.len()];
    let mut sent = Vec::new();
    for (i, p) in all.iter().enumerate() {
        if i != 0 && i != all.len() - 1 && rng.below(100) < 5 {
            lost[i] = true;
            continue;
        }
        let mut p = p.clone();
        if i != 0 && rng.below(100) < 10 {
            p.arrive += Duration::from_millis(40 + rng.below(110));
        }
        sent.push(p);
    }
    assert!(lost.iter().filter(|&&l| l).count() > 100);
    let leg = write_leg(&dir.path().join("leg.wav"), SystemTime::now(), &sent);
    assert_eq!(leg.late_packets, 0);
    assert_eq!(soxi_samples(&leg.path), 480_000);
    let got = sox_to_s16(&leg.path, &[], dir.path());
    for (i, l) in lost.iter().enumerate() {
        let r = i * 160..(i + 1) * 160;
        if *l {
            assert!(got[r].iter().all(|&s| s == 0), "lost packet {i} is silence");
        } else {
            assert_eq!(got[r.clone()], reference[r], "packet {i} in place");
        }
    }
}

#[test]
fn timestamp_jump_and_ssrc_change_start_new_segments_at_arrival_time() {
    if !have("sox") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(5);
    // 2 s normal, then the timestamp jumps ahead by 3 hours (2 s more), then a new SSRC with
    // a timestamp base far behind (2 s), after 1 s of hold with no packets at all.
    let mut pkts = tone_packets(1000.0, 100, 1000, 1, &mut rng);
    for mut p in tone_packets(1000.0, 100, 1000 + 3 * 3600 * 8000, 1, &mut rng) {
        p.arrive += Duration::from_secs(2);
        p.seq += 100; // the sequence continues, only the timestamp jumps
        pkts.push(p);
    }
    for mut p in tone_packets(1000.0, 100, 5, 99, &mut rng) {
        p.arrive += Duration::from_secs(5);
        pkts.push(p);
    }
    let mut leg = LegWriter::create(
        &dir.path().join("j.wav"),
        LegOptions::new(RATE, SystemTime::now()),
    )
    .unwrap();
    for p in &pkts {
        let f = RtpFrame {
            seq: p.seq,
            timestamp: p.ts,
            ssrc: p.ssrc,
            codec: Codec::Pcmu,
            payload: &p.payload,
        };
        leg.push_rtp(f, p.arrive).unwrap();
        leg.tick(p.arrive).unwrap();
    }
    let s = leg.finish().unwrap();
    assert_eq!(s.segments, 3);
    // 7 s of wall time; arrival jitter of a segment's first packet may shift it by < 10 ms.
    let n = soxi_samples(&s.path) as i64;
    assert!(
        (n - 56_000).abs() <= 80,
        "{n} samples, expected 56000 (no hours-long gap)"
    );
    let hold = sox_stat(&s.path, &["trim", "4.1", "0.8"], "RMS     amplitude");
    assert_eq!(hold, 0.0, "hold is silence");
}

fn copy_at(src: &Path, dst: PathBuf, len: u64) -> PathBuf {
    let mut b = std::fs::read(src).unwrap();
    b.truncate(len as usize);
    std::fs::write(&dst, b).unwrap();
    dst
}

#[test]
fn killed_leg_recovers_to_within_a_second_and_sox_reads_it() {
    if !have("sox") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let crashed = dir.path().join("crashed");
    std::fs::create_dir(&crashed).unwrap();
    let mut rng = Rng(99);
    let path = dir.path().join("live.wav");
    let mut leg = LegWriter::create(&path, LegOptions::new(RATE, SystemTime::now())).unwrap();
    let pkts = tone_packets(1000.0, 1500, 0, 3, &mut rng); // 30 s
    let mut snapshots = Vec::new();
    for (i, p) in pkts.iter().enumerate() {
        let f = RtpFrame {
            seq: p.seq,
            timestamp: p.ts,
            ssrc: p.ssrc,
            codec: Codec::Pcmu,
            payload: &p.payload,
        };
        leg.push_rtp(f, p.arrive).unwrap();
        leg.tick(p.arrive).unwrap();
        if rng.below(60) == 0 {
            // What a SIGKILL at this moment leaves: the file as the OS has it.
            let len = std::fs::metadata(&path).unwrap().len();
            let snap = copy_at(&path, crashed.join(format!("kill-{i:04}.wav")), len);
            snapshots.push((snap, (i as u64 + 1) * 160));
        }
    }
    // Also cut at random byte positions (a torn last write), including mid-sample.
    let full_len = std::fs::metadata(&path).unwrap().len();
    for k in 0..10 {
        let len = 112 + rng.below(full_len - 112);
        copy_at(&path, crashed.join(format!("torn-{k}.wav")), len);
    }
    leg.finish().unwrap();
    std::fs::copy(&path, crashed.join("done.wav")).unwrap();
    std::fs::write(crashed.join("notes.wav"), b"not a wav").unwrap();
    assert!(snapshots.len() > 5);

    let report = recover(&crashed).unwrap();
    assert_eq!(
        report.len(),
        snapshots.len() + 11,
        "every leg reported, other files ignored"
    );
    for r in &report {
        let name = r.path.file_name().unwrap().to_str().unwrap().to_string();
        if name == "done.wav" {
            assert_eq!(r.action, RecoverAction::AlreadyFinished);
        } else {
            assert!(
                matches!(r.action, RecoverAction::Repaired { .. }),
                "{name}: {:?}",
                r.action
            );
        }
        // sox agrees with the report and reads the whole file.
        assert_eq!(soxi_samples(&r.path), r.samples, "{name}");
        sox_stat(&r.path, &[], "RMS     amplitude");
    }
    for (snap, pushed) in snapshots {
        let got = soxi_samples(&snap);
        assert!(
            got + 8000 >= pushed,
            "{}: {got} samples recovered of {pushed} pushed (> 1 s lost)",
            snap.display()
        );
    }
    // A second pass finds everything finished.
    assert!(
        recover(&crashed)
            .unwrap()
            .iter()
            .all(|r| r.action == RecoverAction::AlreadyFinished)
    );
}

#[test]
fn stereo_of_legs_started_together_equals_sox_merge() {
    if !have("sox") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(11);
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    let a = write_leg(
        &dir.path().join("a.wav"),
        t0,
        &tone_packets(1000.0, 700, 0, 1, &mut rng),
    );
    let b = write_leg(
        &dir.path().join("b.wav"),
        t0,
        &tone_packets(300.0, 450, 0, 2, &mut rng),
    );
    let ours = finalize(&a.path, &b.path, ChannelMode::Stereo, dir.path(), "m").unwrap();
    let merged = dir.path().join("sox-merged.wav");
    run(
        "sox",
        &[
            "-M",
            a.path.to_str().unwrap(),
            b.path.to_str().unwrap(),
            merged.to_str().unwrap(),
        ],
    );
    assert_eq!(soxi_all(&ours[0]), soxi_all(&merged));
    assert_eq!(
        sox_to_s16(&ours[0], &[], dir.path()),
        sox_to_s16(&merged, &[], dir.path())
    );
}

#[test]
fn leg_on_disk_is_a_valid_wav_within_a_second_at_any_moment() {
    // S32 without any repair: what sox sees in a live leg lags by at most the header
    // interval (1 s) + the reordering window (0.2 s) + one packet.
    if !have("sox") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(314);
    let path = dir.path().join("live.wav");
    let mut leg = LegWriter::create(&path, LegOptions::new(RATE, SystemTime::now())).unwrap();
    let pkts = tone_packets(1000.0, 1000, 0, 3, &mut rng);
    let mut checked = 0;
    for (i, p) in pkts.iter().enumerate() {
        let f = RtpFrame {
            seq: p.seq,
            timestamp: p.ts,
            ssrc: p.ssrc,
            codec: Codec::Pcmu,
            payload: &p.payload,
        };
        leg.push_rtp(f, p.arrive).unwrap();
        leg.tick(p.arrive).unwrap();
        if rng.below(40) == 0 {
            let snap = dir.path().join(format!("snap-{i}.wav"));
            std::fs::copy(&path, &snap).unwrap();
            let pushed = (i as i64 + 1) * 160;
            let seen = soxi_samples(&snap) as i64;
            assert!(
                seen <= pushed && pushed - seen <= 8000 + 1600 + 160,
                "packet {i}: sox sees {seen} of {pushed}"
            );
            checked += 1;
        }
    }
    assert!(checked > 10);
    leg.finish().unwrap();
}
