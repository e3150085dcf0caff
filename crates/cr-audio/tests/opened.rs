//! Legs read through a descriptor the caller opened (`WavReader::from_file`,
//! `finalize_opened`), and errors that never quote a file's bytes.
#![allow(clippy::unwrap_used)]

use cr_audio::{
    AudioError, ChannelMode, FinalizeOptions, WavReader, WavWriter, finalize_opened, read_info,
};

fn tone(path: &std::path::Path, frames: usize) {
    let mut w = WavWriter::create(path, 8000, 1, None).unwrap();
    let s: Vec<i16> = (0..frames)
        .map(|i| ((i as f64 / 8.0).sin() * 8000.0) as i16)
        .collect();
    w.write_samples(&s).unwrap();
    w.finish().unwrap();
}

#[test]
fn finalize_reads_the_opened_descriptors_not_the_paths() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
    tone(&a, 8000);
    tone(&b, 16000);
    let ra = WavReader::from_file(std::fs::File::open(&a).unwrap(), &a).unwrap();
    let rb = WavReader::from_file(std::fs::File::open(&b).unwrap(), &b).unwrap();
    // Once opened, the names may point elsewhere: what was opened is what is read.
    std::fs::remove_file(&a).unwrap();
    let other = dir.path().join("other");
    std::fs::write(&other, b"replaced").unwrap();
    std::fs::rename(&other, &b).unwrap();
    let out = finalize_opened(
        Some(ra),
        Some(rb),
        ChannelMode::Stereo,
        dir.path(),
        "set",
        &FinalizeOptions::default(),
    )
    .unwrap();
    let info = read_info(&out[0]).unwrap();
    assert_eq!((info.channels, info.frames()), (2, 16000));
}

#[test]
fn finalize_opened_names_a_missing_leg_the_mode_needs() {
    let dir = tempfile::tempdir().unwrap();
    let e = finalize_opened(
        None,
        None,
        ChannelMode::Caller,
        dir.path(),
        "set",
        &FinalizeOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(e, AudioError::InvalidArgument(_)) && e.to_string().contains("caller leg"),
        "{e}"
    );
}

// Guards against: file content in an error (issue 11: `/etc/shadow: not a WAV file (starts with "root"…)`).
#[test]
fn not_a_wav_error_does_not_quote_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("shadow");
    std::fs::write(&p, "root:$6$salt$hash:19000:0:99999:7:::\n").unwrap();
    let e = WavReader::open(&p).unwrap_err();
    assert!(matches!(e, AudioError::NotWav { .. }), "{e:?}");
    assert!(
        !e.to_string().contains("root") && !format!("{e:?}").contains("root"),
        "{e}"
    );
}
