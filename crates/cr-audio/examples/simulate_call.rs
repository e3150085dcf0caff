//! Simulates a call: writes a caller leg (1 kHz tone) and a callee leg (300 Hz, starting
//! 0.25 s later) from 20 ms µ-law RTP packets with 2 % loss, then finalizes them.
//!
//! ```sh
//! cargo run -p cr-audio --example simulate_call -- /tmp/call 60 stereo
//! soxi /tmp/call/call.wav
//! ```
//! Arguments: output directory, seconds (default 10), channel mode (default stereo;
//! "none" keeps only the legs, `caller.leg.wav` and `callee.leg.wav`).

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use cr_audio::{ChannelMode, Codec, LegOptions, LegWriter, RtpFrame, finalize, g711};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: simulate_call OUT_DIR [SECONDS] [MODE|none]")?,
    );
    let secs: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(10);
    let mode = args.next().unwrap_or_else(|| "stereo".into());
    std::fs::create_dir_all(&dir)?;
    let t0 = SystemTime::now();
    let began = Instant::now();
    let mut paths = Vec::new();
    for (name, freq, offset_ms) in [("caller", 1000.0, 0u64), ("callee", 300.0, 250)] {
        let path = dir.join(format!("{name}.leg.wav"));
        let mut leg = LegWriter::create(
            &path,
            LegOptions::new(8000, t0 + Duration::from_millis(offset_ms)),
        )?;
        // One period of the tone as µ-law, cycled (8000 / freq samples).
        let period = (8000.0 / freq) as usize;
        let table: Vec<u8> = (0..period)
            .map(|i| {
                g711::ulaw_encode(
                    (8000.0 * (2.0 * std::f64::consts::PI * i as f64 / period as f64).sin()) as i16,
                )
            })
            .collect();
        let mut payload = [0u8; 160];
        let mut lcg: u32 = 1;
        for p in 0..secs * 50 {
            lcg = lcg.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let now = Duration::from_millis(20 * p);
            if p != 0 && p != secs * 50 - 1 && (lcg >> 24) < 5 {
                leg.tick(now)?; // 2 % loss
                continue;
            }
            for (i, b) in payload.iter_mut().enumerate() {
                *b = table[(p as usize * 160 + i) % period];
            }
            let ts = 90_000u32.wrapping_add(p as u32 * 160);
            leg.push_rtp(
                RtpFrame {
                    seq: p as u16,
                    timestamp: ts,
                    ssrc: 0x1234,
                    codec: Codec::Pcmu,
                    payload: &payload,
                },
                now,
            )?;
            leg.tick(now)?;
        }
        let s = leg.finish()?;
        println!(
            "{name}: {} samples ({:?}), {} packets",
            s.samples, s.duration, s.packets
        );
        paths.push(s.path);
    }
    println!("legs written in {:?}", began.elapsed());
    if mode != "none" {
        let mode: ChannelMode = mode.parse()?;
        let files = finalize(&paths[0], &paths[1], mode, &dir, "call")?;
        for f in files {
            println!("{}", f.display());
        }
    }
    Ok(())
}
