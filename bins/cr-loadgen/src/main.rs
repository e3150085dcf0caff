//! `cr-loadgen`: places N concurrent SIPREC recording sessions against an SRS, each with
//! two G.711 streams at 50 packets/s, over real UDP; prints per-call results and totals.
//!
//! Exit status: 0 every call was answered and ended cleanly, 1 at least one call failed,
//! 2 could not run.
use anyhow::Context;
use clap::Parser;
use cr_pbx::Codec;
use cr_pbx::driver::{Impairment, LoadSpec, parse_listen, run_calls};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// SIPREC load generator (the SRC side of callrec's SIPREC support).
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// The SRS, e.g. udp:127.0.0.1:5060 (only udp is supported).
    #[arg(long)]
    target: String,
    /// Number of concurrent calls.
    #[arg(long, default_value_t = 1)]
    calls: usize,
    /// Media duration per call, e.g. 30s, 2m.
    #[arg(long, default_value = "30s")]
    duration: String,
    /// Call start rate in calls per second (default: all within about 2 s, at least 50/s).
    #[arg(long)]
    rate: Option<f64>,
    /// G.711 variant: pcmu or pcma.
    #[arg(long, default_value = "pcmu")]
    codec: String,
    /// Local IP to send from.
    #[arg(long, default_value = "127.0.0.1")]
    local_ip: String,
    /// Print only the totals, not one line per call.
    #[arg(long)]
    quiet: bool,
    /// Leave every N-th packet of each caller stream unsent (N = 20: 5 % loss); sequence
    /// numbers and timestamps advance as if it had been sent. 0: none.
    #[arg(long, default_value_t = 0, value_name = "N")]
    drop_every: u64,
    /// Leave a run of packets of each caller stream unsent, as FIRST:COUNT (0-based packet
    /// numbers; 150:150 is a 3 s gap after 3 s), e.g. an outage on the way.
    #[arg(long, value_name = "FIRST:COUNT")]
    gap: Option<String>,
}

fn main() -> ExitCode {
    if let Some(code) = cr_clidoc::generate_if_asked(<Args as clap::CommandFactory>::command) {
        return code;
    }
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cr-loadgen: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn cpu_seconds() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some(rest) = s.rsplit(')').next() else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

fn run() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let target = parse_listen(&args.target)?;
    if target.transport != cr_pbx::Transport::Udp {
        anyhow::bail!("--target must be udp:ADDR:PORT (TCP load is not implemented)");
    }
    let duration: Duration = cr_config::parse_duration(&args.duration)
        .map_err(|e| anyhow::anyhow!("--duration {}: {e}", args.duration))?;
    let codec = match args.codec.to_ascii_lowercase().as_str() {
        "pcmu" => Codec::Pcmu,
        "pcma" => Codec::Pcma,
        other => anyhow::bail!("--codec {other}: use pcmu or pcma"),
    };
    let mut spec = LoadSpec::new(target.addr, args.calls, duration);
    spec.codec = codec;
    spec.local_ip = args.local_ip.parse().context("--local-ip")?;
    let gap = match args.gap.as_deref() {
        None => None,
        Some(g) => {
            let parsed = g.split_once(':').and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)));
            Some(parsed.with_context(|| format!("--gap {g}: write FIRST:COUNT, e.g. 150:150"))?)
        }
    };
    spec.caller_impairment = Impairment { drop_every: args.drop_every, gap };
    spec.rate = args
        .rate
        .unwrap_or_else(|| (args.calls as f64 / 2.0).max(50.0));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let t0 = Instant::now();
    let results = rt.block_on(run_calls(spec))?;
    let wall = t0.elapsed();
    let mut failed = 0;
    let mut sent = 0u64;
    let mut skipped = 0u64;
    let mut setup_max = Duration::ZERO;
    for r in &results {
        sent += r.packets_sent[0] + r.packets_sent[1];
        skipped += r.packets_skipped[0] + r.packets_skipped[1];
        if let Some(s) = r.setup {
            setup_max = setup_max.max(s);
        }
        let ok = r.answered && r.ended_cleanly;
        if !ok {
            failed += 1;
        }
        if !args.quiet || !ok {
            match &r.failure {
                Some((code, reason)) => println!("call {} FAILED {code} {reason}", r.index),
                None => println!(
                    "call {} {} setup_ms={} packets={}+{} skipped={}+{}",
                    r.index,
                    if ok { "OK" } else { "INCOMPLETE" },
                    r.setup.map(|s| s.as_millis()).unwrap_or(0),
                    r.packets_sent[0],
                    r.packets_sent[1],
                    r.packets_skipped[0],
                    r.packets_skipped[1]
                ),
            }
        }
    }
    println!(
        "TOTAL calls={} failed={failed} packets_sent={sent} packets_skipped={skipped} setup_max_ms={} wall_s={:.1} cpu_s={:.2}",
        results.len(),
        setup_max.as_millis(),
        wall.as_secs_f64(),
        cpu_seconds()
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
