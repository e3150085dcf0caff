//! Recordings past 4 GiB (SPEC S31): the writer turns into RF64, sox reads the whole
//! duration, and audio written after the 4 GiB mark is where it belongs.
//!
//! sox 14.4 computes the end of an RF64 data chunk modulo 2^32 when it looks for chunks
//! after the data, and from there walks the file chunk header by chunk header. Over
//! digital silence that walk is 8 bytes per step (a minute for 4 GB); over any other
//! audio it leaves the file at once. So one second of -1 LSB (inaudible) is put where
//! sox lands; everything else is silence, as fast to write as it gets.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use cr_audio::{WavReader, WavWriter};

#[test]
fn stereo_recording_past_4_gib_reads_back_in_sox() {
    if !have("sox") {
        return;
    }
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("long.wav");
    let rate = 8000u32;
    // 38 h 12 min of stereo 8 kHz: 1.1e9 frames, 4.4 GB of samples (> 4 GiB). Written as
    // it is generated: tone, silence, tone; nothing is held twice.
    let frames: u64 = 1_100_000_000;
    let marker = rate as u64; // 1 s of tone at the start and at the end
    let tone_block = |f_left: f64, f_right: f64| -> Vec<i16> {
        (0..marker)
            .flat_map(|i| {
                [
                    tone(f_left, rate, i, 10000.0),
                    tone(f_right, rate, i, 10000.0),
                ]
            })
            .collect()
    };
    let mut w = WavWriter::create(&path, rate, 2, None).unwrap();
    w.write_samples(&tone_block(1000.0, 300.0)).unwrap();
    let sox_lands = frames - (1 << 30); // frame at (header + data) mod 2^32
    w.write_silence(sox_lands - marker).unwrap();
    w.write_samples(&vec![-1i16; 2 * marker as usize]).unwrap();
    w.write_silence(frames - 3 * marker - sox_lands + marker)
        .unwrap();
    let end_block = tone_block(300.0, 1000.0);
    w.write_samples(&end_block).unwrap();
    assert_eq!(w.finish().unwrap(), frames);
    assert!(std::fs::metadata(&path).unwrap().len() > 1 << 32);
    let mut magic = [0u8; 4];
    use std::io::Read;
    std::fs::File::open(&path)
        .unwrap()
        .read_exact(&mut magic)
        .unwrap();
    assert_eq!(&magic, b"RF64");

    assert_eq!(
        soxi_all(&path),
        (2, rate, frames),
        "sox sees both channels and the full duration"
    );

    // ffmpeg, the other common reader, agrees on the length.
    if have("ffprobe") {
        let out = run(
            "ffprobe",
            &[
                "-v",
                "error",
                "-show_entries",
                "stream=channels,sample_rate,duration_ts",
                "-of",
                "compact",
                path.to_str().unwrap(),
            ],
        );
        assert!(
            out.contains(&format!("duration_ts={frames}")) && out.contains("channels=2"),
            "ffprobe: {out}"
        );
    }

    // sox finds the tones written after the 4 GiB mark where they belong: left 300 Hz,
    // right 1 kHz (sox seeks there).
    let end = format!("{}s", frames - marker);
    let lf = sox_stat(&path, &["trim", &end, "remix", "1"], "Rough   frequency");
    let rf = sox_stat(&path, &["trim", &end, "remix", "2"], "Rough   frequency");
    assert!(
        (lf - 300.0).abs() < 10.0 && (rf - 1000.0).abs() < 50.0,
        "end markers {lf} / {rf} Hz"
    );

    // Our own reader agrees, sample for sample.
    let mut r = WavReader::open(&path).unwrap();
    assert!(r.info().rf64);
    assert_eq!(r.info().frames(), frames);
    r.skip_frames(frames - marker).unwrap();
    let mut tail = vec![0i16; marker as usize + 10];
    assert_eq!(r.read_mono(&mut tail).unwrap(), marker as usize);
    let expect: Vec<i16> = end_block
        .chunks(2)
        .map(|c| ((c[0] as i32 + c[1] as i32) / 2) as i16)
        .collect();
    assert_eq!(&tail[..marker as usize], &expect[..]);
    drop(r);
    std::fs::remove_file(&path).unwrap();
}
