//! Helpers shared by the integration tests: finding sox/soxi/ffmpeg, running them,
//! generating tones and RTP packets.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

/// Whether `tool` is on the PATH. When it is not, a test skips loudly, or fails when
/// CALLREC_TEST_STRICT=1 (as CI sets).
pub fn have(tool: &str) -> bool {
    let ok = Command::new(tool).arg("--version").output().is_ok();
    if !ok {
        if std::env::var("CALLREC_TEST_STRICT").as_deref() == Ok("1") {
            panic!(
                "{tool} is not installed and CALLREC_TEST_STRICT=1 (install it: scripts/install-deps.sh)"
            );
        }
        eprintln!("SKIPPED: {tool} is not installed; this test needs it as the independent judge");
    }
    ok
}

/// Runs a command, panics with its stderr when it fails, returns stdout+stderr.
pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd} {args:?} failed:\n{text}");
    text
}

/// `soxi -s`: number of samples (per channel) sox sees in the file.
pub fn soxi_samples(p: &Path) -> u64 {
    run("soxi", &["-s", p.to_str().unwrap()])
        .trim()
        .parse()
        .expect("soxi -s prints a number")
}

/// `soxi -c` and `soxi -r`.
pub fn soxi_channels_rate(p: &Path) -> (u32, u32) {
    let c = run("soxi", &["-c", p.to_str().unwrap()])
        .trim()
        .parse()
        .unwrap();
    let r = run("soxi", &["-r", p.to_str().unwrap()])
        .trim()
        .parse()
        .unwrap();
    (c, r)
}

/// A value from `sox FILE -n <effects> stat` (e.g. "RMS     amplitude", "Rough   frequency").
pub fn sox_stat(p: &Path, effects: &[&str], key: &str) -> f64 {
    let mut args = vec![p.to_str().unwrap(), "-n"];
    args.extend_from_slice(effects);
    args.push("stat");
    let text = run("sox", &args);
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(key) {
            let v = rest
                .trim_start_matches(':')
                .trim()
                .trim_start_matches(':')
                .trim();
            return v.parse().unwrap_or_else(|_| panic!("stat {key}: {v}"));
        }
    }
    panic!("no {key} in sox stat output:\n{text}");
}

/// Decodes `p` with sox to raw signed 16-bit samples (after `effects`).
pub fn sox_to_s16(p: &Path, effects: &[&str], tmp: &Path) -> Vec<i16> {
    let out = tmp.join(format!("sox-{}.raw", rand_u64()));
    let mut args = vec![
        "-D",
        p.to_str().unwrap(),
        "-t",
        "s16",
        "-e",
        "signed",
        "-b",
        "16",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(effects);
    run("sox", &args);
    let b = std::fs::read(&out).unwrap();
    std::fs::remove_file(&out).ok();
    b.chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

fn rand_u64() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed) ^ (std::process::id() as u64) << 32
}

/// A small deterministic PRNG (xorshift64*), so failures are reproducible.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Sample `i` of a sine of `freq` Hz at `rate`, amplitude `amp`.
pub fn tone(freq: f64, rate: u32, i: u64, amp: f64) -> i16 {
    (amp * (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin()).round() as i16
}

/// One `soxi` call (each call of soxi on an RF64 file past 4 GiB reads the whole file):
/// (channels, rate, samples per channel).
pub fn soxi_all(p: &Path) -> (u32, u32, u64) {
    let text = run("soxi", &[p.to_str().unwrap()]);
    let field = |key: &str| -> String {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {key} in soxi output:\n{text}"))
    };
    let ch = field("Channels").parse().unwrap();
    let rate = field("Sample Rate").parse().unwrap();
    let dur = field("Duration");
    let samples = dur
        .split('=')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("duration {dur}"));
    (ch, rate, samples)
}
