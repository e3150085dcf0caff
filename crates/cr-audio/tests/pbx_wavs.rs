//! Finalize from WAV files a PBX recorded itself (Asterisk MixMonitor r()/t() legs and
//! similar): different rates and encodings, no start-time chunk.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use cr_audio::{ChannelMode, finalize};

#[test]
fn mixmonitor_style_legs_of_different_forms_merge_to_stereo() {
    if !have("sox") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("call-r.wav");
    let b = dir.path().join("call-t.wav");
    // Caller: 8 kHz 16-bit, 3 s of 1 kHz. Callee: 16 kHz 8-bit unsigned, 2 s of 300 Hz.
    run(
        "sox",
        &[
            "-n",
            "-r",
            "8000",
            "-b",
            "16",
            "-c",
            "1",
            a.to_str().unwrap(),
            "synth",
            "3",
            "sine",
            "1000",
            "vol",
            "0.5",
        ],
    );
    run(
        "sox",
        &[
            "-n",
            "-r",
            "16000",
            "-b",
            "8",
            "-e",
            "unsigned",
            "-c",
            "1",
            b.to_str().unwrap(),
            "synth",
            "2",
            "sine",
            "300",
            "vol",
            "0.5",
        ],
    );
    let out = finalize(&a, &b, ChannelMode::Stereo, dir.path(), "pbx").unwrap();
    assert_eq!(
        soxi_all(&out[0]),
        (2, 16000, 48_000),
        "resampled to the higher rate, padded to the longer leg"
    );
    let lf = sox_stat(
        &out[0],
        &["remix", "1", "trim", "0", "2.9"],
        "Rough   frequency",
    );
    let rf = sox_stat(
        &out[0],
        &["remix", "2", "trim", "0", "1.9"],
        "Rough   frequency",
    );
    assert!((lf - 1000.0).abs() < 30.0, "left {lf}");
    assert!((rf - 300.0).abs() < 10.0, "right {rf}");
    let lr = sox_stat(
        &out[0],
        &["remix", "1", "trim", "0", "2.9"],
        "RMS     amplitude",
    );
    assert!(
        (lr - 0.5 / 2f64.sqrt()).abs() < 0.02,
        "level kept through resampling: {lr}"
    );
    let tail = sox_stat(
        &out[0],
        &["remix", "2", "trim", "2.01"],
        "RMS     amplitude",
    );
    assert_eq!(tail, 0.0, "callee padded with silence");
}

#[test]
fn g711_wav_legs_are_decoded() {
    if !have("sox") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.wav");
    let b = dir.path().join("b.wav");
    run(
        "sox",
        &[
            "-n",
            "-r",
            "8000",
            "-e",
            "mu-law",
            "-c",
            "1",
            a.to_str().unwrap(),
            "synth",
            "1.5",
            "sine",
            "700",
            "vol",
            "0.5",
        ],
    );
    run(
        "sox",
        &[
            "-n",
            "-r",
            "8000",
            "-e",
            "a-law",
            "-c",
            "1",
            b.to_str().unwrap(),
            "synth",
            "1.5",
            "sine",
            "400",
            "vol",
            "0.5",
        ],
    );
    let out = finalize(&a, &b, ChannelMode::Separate, dir.path(), "g").unwrap();
    assert_eq!(soxi_all(&out[0]), (1, 8000, 12_000));
    assert_eq!(
        run("soxi", &["-e", out[0].to_str().unwrap()]).trim(),
        "Signed Integer PCM"
    );
    assert_eq!(run("soxi", &["-b", out[1].to_str().unwrap()]).trim(), "16");
    // The 16-bit output equals sox's own decode of the µ-law leg.
    let ours = sox_to_s16(&out[0], &[], dir.path());
    let sox = sox_to_s16(&a, &[], dir.path());
    assert_eq!(ours, sox);
}

#[test]
fn silent_call_with_empty_legs_gives_valid_empty_files() {
    if !have("sox") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t0 = std::time::SystemTime::now();
    let mut paths = Vec::new();
    for name in ["a", "b"] {
        let p = dir.path().join(format!("{name}.wav"));
        let leg = cr_audio::LegWriter::create(&p, cr_audio::LegOptions::new(8000, t0)).unwrap();
        paths.push(leg.finish().unwrap().path);
    }
    for mode in [
        ChannelMode::Stereo,
        ChannelMode::Separate,
        ChannelMode::Caller,
    ] {
        for f in finalize(&paths[0], &paths[1], mode, dir.path(), &format!("e-{mode}")).unwrap() {
            assert_eq!(soxi_samples(&f), 0, "{mode}: {}", f.display());
        }
    }
}
