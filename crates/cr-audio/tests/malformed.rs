//! Malformed WAV input gives typed errors, never a panic (STYLE: input never panics).
//! Mutates valid files of every form at random (bytes, sizes, truncation) and reads
//! each result completely through every entry point: reader, finalize, recover,
//! announcements.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::Rng;
use cr_audio::{
    Announcement, ChannelMode, FinalizeOptions, WavReader, WavWriter, finalize_with, recover,
};

fn header(tag: u16, ch: u16, rate: u32, bits: u16, extra: &[u8], data: &[u8]) -> Vec<u8> {
    let mut fmt = Vec::new();
    fmt.extend_from_slice(&tag.to_le_bytes());
    fmt.extend_from_slice(&ch.to_le_bytes());
    fmt.extend_from_slice(&rate.to_le_bytes());
    let ba = ch * bits / 8;
    fmt.extend_from_slice(&rate.wrapping_mul(ba as u32).to_le_bytes());
    fmt.extend_from_slice(&ba.to_le_bytes());
    fmt.extend_from_slice(&bits.to_le_bytes());
    fmt.extend_from_slice(extra);
    let mut b = b"RIFF\0\0\0\0WAVE".to_vec();
    b.extend_from_slice(b"fmt ");
    b.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
    b.extend_from_slice(&fmt);
    b.extend_from_slice(b"LIST\x04\0\0\0INFO");
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(data);
    let n = (b.len() - 8) as u32;
    b[4..8].copy_from_slice(&n.to_le_bytes());
    b
}

fn seeds(dir: &Path) -> Vec<Vec<u8>> {
    let data: Vec<u8> = (0..960u32).map(|i| (i * 37) as u8).collect();
    let mut ext = vec![22, 0, 16, 0, 4, 0, 0, 0, 1, 0, 0, 0];
    ext.extend_from_slice(&[0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71]);
    let mut v = vec![
        header(1, 1, 8000, 16, &[], &data),
        header(1, 2, 44100, 24, &[], &data),
        header(3, 1, 48000, 32, &[], &data),
        header(7, 1, 8000, 8, &[], &data),
        header(6, 2, 8000, 8, &[], &data),
        header(1, 1, 22050, 8, &[], &data),
        header(0xFFFE, 1, 16000, 16, &ext, &data),
    ];
    // A leg file and an RF64-form header from our own writer.
    let p = dir.join("seed-writer.wav");
    let mut w = WavWriter::create(&p, 8000, 2, None).unwrap();
    w.write_samples(&[1, 2, 3, 4, 5, 6]).unwrap();
    w.finish().unwrap();
    v.push(std::fs::read(&p).unwrap());
    v
}

fn exercise(path: &Path, dir: &Path, with_finalize: bool) {
    if let Ok(mut r) = WavReader::open(path) {
        let mut buf = vec![0i16; 4096];
        while let Ok(n) = r.read_mono(&mut buf) {
            if n == 0 {
                break;
            }
        }
    }
    let _ = Announcement::load(path);
    if with_finalize {
        // finalize reads the whole file twice and writes a copy: not every round.
        let _ = finalize_with(
            path,
            path,
            ChannelMode::Stereo,
            dir,
            "out",
            &FinalizeOptions::default().sync(false),
        );
    }
}

#[test]
fn random_corruption_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = seeds(dir.path());
    let fuzz = dir.path().join("fuzz");
    std::fs::create_dir(&fuzz).unwrap();
    let mut rng = Rng(0xC0FFEE);
    for round in 0..3000 {
        let mut b = seeds[round % seeds.len()].clone();
        match rng.below(4) {
            0 => {
                let cut = rng.below(b.len() as u64) as usize;
                b.truncate(cut);
            }
            1 => {
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(b.len() as u64) as usize;
                    b[i] = rng.next() as u8;
                }
            }
            2 => {
                // Overwrite a size or rate field with an extreme value.
                let i = (rng.below(b.len().min(80) as u64 / 4) * 4) as usize;
                let v = [0u32, 1, 0x7FFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFE, 3][rng.below(6) as usize];
                if i + 4 <= b.len() {
                    b[i..i + 4].copy_from_slice(&v.to_le_bytes());
                }
            }
            _ => {
                let n = rng.below(64) as usize;
                b.extend((0..n).map(|_| rng.next() as u8));
                let i = rng.below(b.len() as u64) as usize;
                b[i] ^= 0xFF;
            }
        }
        // A new name each round: rewriting a file in place makes ext4 flush it to disk.
        let p = fuzz.join(format!("f{round}.wav"));
        std::fs::write(&p, &b).unwrap();
        exercise(&p, dir.path(), round % 5 == 0);
        if round < 2950 {
            std::fs::remove_file(&p).unwrap();
        }
    }
    // recover on a directory full of garbage and legs.
    let _ = recover(&fuzz).unwrap();
}

#[test]
fn named_malformations_give_typed_errors() {
    use cr_audio::AudioError::*;
    let dir = tempfile::tempdir().unwrap();
    let data = vec![0u8; 100];
    let good = header(1, 1, 8000, 16, &[], &data);
    type Check = fn(&cr_audio::AudioError) -> bool;
    let cases: Vec<(&str, Vec<u8>, Check)> = vec![
        ("empty", vec![], |e| matches!(e, NotWav { .. })),
        ("truncated data", good[..good.len() - 10].to_vec(), |e| {
            matches!(e, Truncated { .. })
        }),
        ("truncated header", good[..30].to_vec(), |e| {
            matches!(e, Truncated { .. } | BadChunk { .. })
        }),
        ("absurd rate", header(1, 1, 0, 16, &[], &data), |e| {
            matches!(e, Unsupported { .. })
        }),
        (
            "rate 4 GHz",
            header(1, 1, 4_000_000_000, 16, &[], &data),
            |e| matches!(e, Unsupported { .. }),
        ),
        ("12-bit", header(1, 1, 8000, 12, &[], &data), |e| {
            matches!(e, Unsupported { .. } | BadChunk { .. })
        }),
        ("ADPCM", header(2, 1, 8000, 4, &[], &data), |e| {
            matches!(e, Unsupported { .. })
        }),
        ("9 channels", header(1, 9, 8000, 16, &[], &data), |e| {
            matches!(e, Unsupported { .. })
        }),
        (
            "fmt too short",
            {
                let mut b = good.clone();
                b[16..20].copy_from_slice(&8u32.to_le_bytes());
                b
            },
            |e| matches!(e, BadChunk { .. }),
        ),
        (
            "chunk past end",
            {
                let mut b = good.clone();
                b[40..44].copy_from_slice(&0x7000_0000u32.to_le_bytes());
                b
            },
            |e| matches!(e, BadChunk { .. }),
        ),
        (
            "not RIFF",
            b"ID3\x04hello world, this is an mp3".to_vec(),
            |e| matches!(e, NotWav { .. }),
        ),
    ];
    for (name, bytes, ok) in cases {
        let p = dir.path().join(format!("{}.wav", name.replace(' ', "_")));
        std::fs::write(&p, &bytes).unwrap();
        let e = WavReader::open(&p)
            .err()
            .unwrap_or_else(|| panic!("{name}: accepted"));
        assert!(ok(&e), "{name}: wrong error {e:?}");
        assert!(
            e.to_string()
                .contains(p.file_name().unwrap().to_str().unwrap()),
            "{name}: {e} names no file"
        );
    }
}
