//! Measures the memory of open leg writers: opens N legs (default 1000), feeds each 10 s
//! of 20 ms packets, and prints the growth of resident memory per leg.
//!
//! ```sh
//! cargo run --release -p cr-audio --example leg_memory -- /tmp/legs 1000
//! ```

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use cr_audio::{Codec, LegOptions, LegWriter, RtpFrame};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: leg_memory DIR [N]")?);
    let n: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1000);
    std::fs::create_dir_all(&dir)?;
    let before = rss_kib();
    let t0 = SystemTime::now();
    let mut legs = Vec::with_capacity(n);
    for i in 0..n {
        legs.push(LegWriter::create(
            &dir.join(format!("leg{i}.wav")),
            LegOptions::new(8000, t0),
        )?);
    }
    let payload = [0x55u8; 160];
    for p in 0..500u32 {
        let now = Duration::from_millis(20 * p as u64);
        for leg in &mut legs {
            leg.push_rtp(
                RtpFrame {
                    seq: p as u16,
                    timestamp: p * 160,
                    ssrc: 1,
                    codec: Codec::Pcmu,
                    payload: &payload,
                },
                now,
            )?;
            leg.tick(now)?;
        }
    }
    let after = rss_kib();
    let per_leg = (after.saturating_sub(before)) * 1024 / n as u64;
    println!(
        "legs={n} rss_growth_kib={} bytes_per_leg={per_leg} memory_bytes_estimate={}",
        after - before,
        legs[0].memory_bytes()
    );
    for leg in legs {
        leg.finish()?;
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
