//! G.711 and G.722 against independent implementations (sox, ffmpeg), the WAV reader
//! against files sox writes, and announcements.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;
use cr_audio::{Announcement, AudioError, G722Decoder, WavReader, g711};

#[test]
fn g711_decode_is_bit_exact_with_sox() {
    if !have("sox") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let codes: Vec<u8> = (0..=255u8).collect();
    for (ty, dec) in [
        ("ul", g711::ulaw_decode as fn(u8) -> i16),
        ("al", g711::alaw_decode),
    ] {
        let raw = dir.path().join(format!("c.{ty}"));
        std::fs::write(&raw, &codes).unwrap();
        let wav = dir.path().join(format!("{ty}.wav"));
        run(
            "sox",
            &[
                "-D",
                "-t",
                ty,
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
        let sox = sox_to_s16(&wav, &[], dir.path());
        let ours: Vec<i16> = codes.iter().map(|&c| dec(c)).collect();
        assert_eq!(ours, sox, "{ty} decode differs from sox");
    }
}

#[test]
fn g711_encode_agrees_with_sox_for_every_16_bit_value() {
    if !have("sox") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let all: Vec<i16> = (i16::MIN..=i16::MAX).collect();
    let raw = dir.path().join("all.s16");
    std::fs::write(
        &raw,
        all.iter()
            .flat_map(|s| s.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    for (ty, enc) in [
        ("ul", g711::ulaw_encode as fn(i16) -> u8),
        ("al", g711::alaw_encode),
    ] {
        let out = dir.path().join(format!("all.{ty}"));
        run(
            "sox",
            &[
                "-D",
                "-t",
                "s16",
                "-r",
                "8000",
                "-c",
                "1",
                raw.to_str().unwrap(),
                "-t",
                ty,
                out.to_str().unwrap(),
            ],
        );
        let sox = std::fs::read(&out).unwrap();
        let ours: Vec<u8> = all.iter().map(|&s| enc(s)).collect();
        let diff = ours.iter().zip(&sox).filter(|(a, b)| a != b).count();
        assert_eq!(diff, 0, "{ty}: {diff} of 65536 codes differ from sox");
    }
}

#[test]
fn reader_reads_what_sox_writes_in_every_common_form() {
    if !have("sox") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A 1 s source: 440 Hz left, 660 Hz right, 44.1 kHz float.
    let src = dir.path().join("src.wav");
    run(
        "sox",
        &[
            "-n",
            "-r",
            "16000",
            "-c",
            "2",
            "-b",
            "16",
            src.to_str().unwrap(),
            "synth",
            "1",
            "sine",
            "440",
            "sine",
            "660",
            "vol",
            "0.5",
        ],
    );
    let forms: &[(&str, &[&str])] = &[
        ("u8", &["-b", "8", "-e", "unsigned"]),
        ("s16", &["-b", "16"]),
        ("s24", &["-b", "24"]),
        ("s32", &["-b", "32"]),
        ("f32", &["-b", "32", "-e", "floating-point"]),
        ("f64", &["-b", "64", "-e", "floating-point"]),
        ("ulaw", &["-e", "mu-law"]),
        ("alaw", &["-e", "a-law"]),
    ];
    for (name, opts) in forms {
        for ch in ["1", "2"] {
            let f = dir.path().join(format!("{name}-{ch}.wav"));
            let mut args = vec!["-D", src.to_str().unwrap()];
            args.extend_from_slice(opts);
            args.extend_from_slice(&["-c", ch, f.to_str().unwrap()]);
            run("sox", &args);
            let mut r = WavReader::open(&f).unwrap_or_else(|e| panic!("{name}/{ch}: {e}"));
            assert_eq!(r.info().sample_rate, 16000);
            assert_eq!(r.info().channels.to_string(), ch);
            let mut ours = vec![0i16; 20_000];
            let n = r.read_mono(&mut ours).unwrap();
            ours.truncate(n);
            assert_eq!(n as u64, soxi_samples(&f), "{name}/{ch}");
            // sox's own conversion of the same file to 16-bit mono.
            let sox = sox_to_s16(&f, &["remix", "-"], dir.path());
            assert_eq!(sox.len(), n);
            let tol = if ch == "1" { 1 } else { 2 };
            let worst = ours
                .iter()
                .zip(&sox)
                .map(|(a, b)| (*a as i32 - *b as i32).abs())
                .max()
                .unwrap();
            assert!(
                worst <= tol,
                "{name}/{ch}: differs from sox by up to {worst}"
            );
        }
    }
}

#[test]
fn g722_decode_is_bit_exact_with_ffmpeg() {
    if !have("ffmpeg") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let g = dir.path().join("t.g722");
    let pcm = dir.path().join("t.s16");
    let q = ["-hide_banner", "-loglevel", "error", "-y"];
    let mut a = q.to_vec();
    a.extend_from_slice(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=1000:sample_rate=16000:duration=2,volume=0.3",
        "-ac",
        "1",
        "-c:a",
        "g722",
        "-f",
        "g722",
        g.to_str().unwrap(),
    ]);
    run("ffmpeg", &a);
    let mut b = q.to_vec();
    b.extend_from_slice(&[
        "-f",
        "g722",
        "-i",
        g.to_str().unwrap(),
        "-f",
        "s16le",
        "-ac",
        "1",
        pcm.to_str().unwrap(),
    ]);
    run("ffmpeg", &b);
    let codes = std::fs::read(&g).unwrap();
    let theirs: Vec<i16> = std::fs::read(&pcm)
        .unwrap()
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    let mut ours = Vec::new();
    let mut d = G722Decoder::new();
    for chunk in codes.chunks(160) {
        d.decode_into(chunk, &mut ours);
    }
    assert_eq!(theirs.len(), 32_000, "2 s at 16 kHz");
    assert_eq!(ours.len(), theirs.len());
    let diff = ours.iter().zip(&theirs).filter(|(a, b)| a != b).count();
    assert_eq!(
        diff,
        0,
        "{diff} of {} samples differ from ffmpeg",
        ours.len()
    );
}

#[test]
fn announcements_load_common_forms_as_8khz_g711_frames() {
    if !have("sox") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let forms: &[(&str, &[&str])] = &[
        ("8k-s16-mono", &["-r", "8000", "-b", "16", "-c", "1"]),
        ("16k-s16-mono", &["-r", "16000", "-b", "16", "-c", "1"]),
        ("44k-s24-stereo", &["-r", "44100", "-b", "24", "-c", "2"]),
        (
            "48k-f32-stereo",
            &["-r", "48000", "-b", "32", "-e", "floating-point", "-c", "2"],
        ),
        (
            "22k-u8-mono",
            &["-r", "22050", "-b", "8", "-e", "unsigned", "-c", "1"],
        ),
        ("8k-ulaw", &["-r", "8000", "-e", "mu-law", "-c", "1"]),
    ];
    for (name, opts) in forms {
        let f = dir.path().join(format!("{name}.wav"));
        let mut args = vec!["-n"];
        args.extend_from_slice(opts);
        args.extend_from_slice(&[
            f.to_str().unwrap(),
            "synth",
            "1.23",
            "sine",
            "500",
            "vol",
            "0.5",
        ]);
        run("sox", &args);
        let a = Announcement::load(&f).unwrap_or_else(|e| panic!("{name}: {e}"));
        // 1.23 s = 61.5 frames of 20 ms -> 62 frames.
        let frames = a.frames_alaw();
        assert_eq!(frames.len(), 62, "{name}");
        assert_eq!(a.frames_ulaw().len(), 62);
        // sox decodes the A-law frames and finds the 500 Hz tone.
        let raw = dir.path().join(format!("{name}.al"));
        std::fs::write(&raw, frames.concat()).unwrap();
        let wav = dir.path().join(format!("{name}-out.wav"));
        run(
            "sox",
            &[
                "-t",
                "al",
                "-r",
                "8000",
                "-c",
                "1",
                raw.to_str().unwrap(),
                wav.to_str().unwrap(),
            ],
        );
        let freq = sox_stat(&wav, &["trim", "0", "1.2"], "Rough   frequency");
        assert!((freq - 500.0).abs() < 25.0, "{name}: {freq} Hz");
        let rms = sox_stat(&wav, &["trim", "0", "1.2"], "RMS     amplitude");
        assert!(
            (rms - 0.5 / 2f64.sqrt()).abs() < 0.03,
            "{name}: level {rms}"
        );
    }
}

#[test]
fn unsupported_announcements_are_refused_naming_the_file() {
    if !have("sox") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &[&str])] = &[
        ("96k", &["-r", "96000", "-c", "1"]),
        ("4ch", &["-r", "8000", "-c", "4"]),
        ("6k", &["-r", "6000", "-c", "1"]),
    ];
    for (name, opts) in cases {
        let f = dir.path().join(format!("{name}.wav"));
        let mut args = vec!["-n"];
        args.extend_from_slice(opts);
        args.extend_from_slice(&[f.to_str().unwrap(), "synth", "0.5", "sine", "500"]);
        run("sox", &args);
        let e = Announcement::load(&f).unwrap_err();
        assert!(matches!(e, AudioError::Unsupported { .. }), "{name}: {e}");
        assert!(e.to_string().contains(f.to_str().unwrap()), "{e}");
    }
    let txt = dir.path().join("notes.wav");
    std::fs::write(&txt, "this is text").unwrap();
    assert!(matches!(
        Announcement::load(&txt),
        Err(AudioError::NotWav { .. })
    ));
    assert!(matches!(
        Announcement::load(Path::new("/nonexistent/a.wav")),
        Err(AudioError::Io { .. })
    ));
}
