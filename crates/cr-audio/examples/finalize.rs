//! Finalizes two legs (leg files or PBX-written WAVs) and reports time and peak memory.
//!
//! ```sh
//! cargo run --release -p cr-audio --example finalize -- CALLER.wav CALLEE.wav stereo OUT_DIR ID
//! ```
//! Prints the output files, then `elapsed_s=<seconds> vmhwm_kib=<peak resident KiB>`.
//! With env `NOSYNC=1` the outputs are not fsynced (the same work as `sox -M`).

use std::path::Path;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let [caller, callee, mode, out, id] = a.as_slice() else {
        return Err(
            "usage: finalize CALLER CALLEE caller|callee|stereo|separate OUT_DIR ID".into(),
        );
    };
    let t = Instant::now();
    let opts = cr_audio::FinalizeOptions::default().sync(std::env::var_os("NOSYNC").is_none());
    let files = cr_audio::finalize_with(
        Path::new(caller),
        Path::new(callee),
        mode.parse()?,
        Path::new(out),
        id,
        &opts,
    )?;
    let elapsed = t.elapsed().as_secs_f64();
    for f in files {
        println!("{}", f.display());
    }
    let hwm = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
        })
        .unwrap_or_else(|| "0".into());
    println!("elapsed_s={elapsed:.3} vmhwm_kib={hwm}");
    Ok(())
}
