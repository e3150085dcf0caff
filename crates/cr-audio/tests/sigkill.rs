//! A leg writer in a real process killed with SIGKILL mid-call: `recover` makes the leg
//! valid, sox reads it, and every recovered sample is the audio that was sent.
//!
//! The test runs its own binary again as the child (test `child_leg_writer`, which does
//! nothing unless CR_AUDIO_CHILD_LEG is set).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use common::*;
use cr_audio::{Codec, LegOptions, LegWriter, RecoverAction, RtpFrame, g711, recover};

fn payload(p: u64) -> Vec<u8> {
    (0..160)
        .map(|i| g711::ulaw_encode(tone(1000.0, 8000, p * 160 + i, 8000.0)))
        .collect()
}

#[test]
fn child_leg_writer() {
    let Some(path) = std::env::var_os("CR_AUDIO_CHILD_LEG") else {
        return;
    };
    let mut leg = LegWriter::create(
        &PathBuf::from(path),
        LegOptions::new(8000, SystemTime::now()),
    )
    .unwrap();
    // Simulated time, 50 packets per second of audio; about 1000x real time. Stops by
    // itself after 20 minutes of audio if nobody kills it.
    for p in 0..60_000u64 {
        let now = Duration::from_millis(20 * p);
        let pl = payload(p);
        leg.push_rtp(
            RtpFrame {
                seq: p as u16,
                timestamp: (p * 160) as u32,
                ssrc: 5,
                codec: Codec::Pcmu,
                payload: &pl,
            },
            now,
        )
        .unwrap();
        leg.tick(now).unwrap();
        if p % 50 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[test]
fn sigkilled_leg_writer_is_recovered() {
    if !have("sox") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let leg = dir.path().join("leg.wav");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_leg_writer",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CR_AUDIO_CHILD_LEG", &leg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until about 60 s of audio is on disk, then SIGKILL (Child::kill sends SIGKILL).
    while std::fs::metadata(&leg).map(|m| m.len()).unwrap_or(0) < 1_000_000 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "child ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let report = recover(dir.path()).unwrap();
    assert_eq!(report.len(), 1);
    let r = &report[0];
    assert!(
        matches!(r.action, RecoverAction::Repaired { .. }),
        "{:?}",
        r.action
    );
    assert!(r.samples >= 400_000, "{} samples recovered", r.samples);
    let (ch, rate, n) = soxi_all(&r.path);
    assert_eq!((ch, rate, n), (1, 8000, r.samples));
    // Every recovered sample is what was sent: sox decodes the same µ-law.
    let sent: Vec<u8> = (0..r.samples.div_ceil(160)).flat_map(payload).collect();
    let raw = dir.path().join("sent.ul");
    std::fs::write(&raw, &sent).unwrap();
    let sent_wav = dir.path().join("sent.wav");
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
            "-b",
            "16",
            "-e",
            "signed",
            sent_wav.to_str().unwrap(),
        ],
    );
    let expect = sox_to_s16(&sent_wav, &[], dir.path());
    let got = sox_to_s16(&r.path, &[], dir.path());
    assert_eq!(got.len() as u64, r.samples);
    assert!(
        got == expect[..got.len()],
        "recovered audio differs from what was sent"
    );
}
