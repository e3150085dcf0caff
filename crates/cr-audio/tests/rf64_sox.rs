//! Recordings past 4 GiB (SPEC S31): the writer turns into RF64, sox reads the whole
//! duration, and audio written after the 4 GiB mark is where it belongs.
//!
//! Takes about half a minute of CPU, most of it in soxi, which reads an RF64 file past
//! 4 GiB from end to end even to print its header.

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
    w.write_silence(frames - 2 * marker).unwrap();
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

    // The tone after the 4 GiB mark is in place (read back by seeking).
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
