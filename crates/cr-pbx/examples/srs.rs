//! A minimal SIPREC recording server on the tokio driver: accepts every call and counts
//! RTP packets per stream (no audio is written). Used by the load benchmark and the sipp
//! tests.
//!
//! ```text
//! cargo run -p cr-pbx --example srs -- [--listen udp:127.0.0.1:5060]... [--rtp-ports 30000-39999]
//!     [--decline 403|480|drop] [--exit-after N]
//! ```
//!
//! Prints one line per event (`NEW`, `STREAMS`, `METADATA`, `END`) and, when a session
//! ends, one `STREAM` line per stream with its packet count and sequence gaps; a `TOTAL`
//! line whenever no session is left (packets, lost, CPU seconds and peak RSS). Exits after
//! `--exit-after` sessions ended (default: never).
use cr_pbx::driver::{Command, MediaEvent, MediaPacket, SrsDriverConfig, start_srs};
use cr_pbx::{Decline, Event, SessionId};
use std::collections::HashMap;
use std::io::Write;

#[derive(Default)]
struct StreamCount {
    label: String,
    role: &'static str,
    packets: u64,
    first_seq: Option<u16>,
    ext_max: i64,
    last_ext: i64,
    last: u16,
    ssrc_changes: u64,
    ssrc: u32,
}

impl StreamCount {
    fn add(&mut self, p: &MediaPacket) {
        self.packets += 1;
        self.role = p.role.as_str();
        let s = p.header.sequence;
        if self.first_seq.is_none() || p.header.ssrc != self.ssrc {
            if self.first_seq.is_some() {
                self.ssrc_changes += 1;
            }
            self.ssrc = p.header.ssrc;
            self.first_seq = Some(s);
            self.ext_max = s as i64;
            self.last_ext = s as i64;
            self.last = s;
            return;
        }
        // extended sequence number with wrap-around (reordering-safe)
        let delta = s.wrapping_sub(self.last) as i16 as i64;
        self.last_ext += delta;
        self.last = s;
        self.ext_max = self.ext_max.max(self.last_ext);
    }
    fn lost(&self) -> i64 {
        match self.first_seq {
            Some(f) => (self.ext_max - f as i64 + 1) - self.packets as i64,
            None => 0,
        }
    }
}

fn cpu_seconds() -> f64 {
    // utime + stime from /proc/self/stat (clock ticks of 100 Hz on Linux)
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

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut listen = Vec::new();
    let mut rtp_ports = "30000-39999".to_owned();
    let mut decline: Option<Decline> = None;
    let mut exit_after: Option<usize> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen.push(args.next().unwrap_or_default()),
            "--rtp-ports" => rtp_ports = args.next().unwrap_or_default(),
            "--decline" => {
                decline = match args.next().as_deref() {
                    Some("drop") => Some(Decline::AcceptDropMedia),
                    Some(code) => Some(Decline::Reject(code.parse().unwrap_or(403))),
                    None => None,
                }
            }
            "--exit-after" => exit_after = args.next().and_then(|v| v.parse().ok()),
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    if listen.is_empty() {
        listen.push("udp:127.0.0.1:5060".into());
    }
    let mut h = match start_srs(SrsDriverConfig::new(listen, rtp_ports)).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("srs: {e}");
            std::process::exit(2);
        }
    };
    let out = std::io::stdout();
    for a in &h.local_addrs {
        let _ = writeln!(out.lock(), "LISTEN {} {}", a.transport.as_str(), a.addr);
    }
    let mut counts: HashMap<(SessionId, usize), StreamCount> = HashMap::new();
    let (mut total_packets, mut total_lost, mut ended, mut live) = (0u64, 0i64, 0usize, 0usize);
    'main: loop {
        tokio::select! {
            e = h.events.recv() => {
                let Some(e) = e else { break };
                let mut o = out.lock();
                match e {
                    Event::NewSession { id, facts, streams, metadata_xml, metadata_error } => {
                        live += 1;
                        let roles: Vec<String> = streams.iter().map(|s| format!("{}={}", s.label.as_deref().unwrap_or("-"), s.role.as_str())).collect();
                        let _ = writeln!(o, "NEW {id} caller={} callee={} source={:?} streams={} metadata={} error={}",
                            facts.caller.as_deref().unwrap_or("-"), facts.callee.as_deref().unwrap_or("-"),
                            facts.source, roles.join(","), metadata_xml.map(|m| m.len()).unwrap_or(0),
                            metadata_error.as_deref().unwrap_or("-"));
                        let cmd = match decline { Some(d) => Command::Decline(id, d), None => Command::Accept(id) };
                        let _ = h.commands.send(cmd);
                    }
                    Event::StreamsChanged { id, streams, drop_media } => {
                        let s: Vec<String> = streams.iter().map(|s| format!("{}:{}:{}:{}:{}",
                            s.label.as_deref().unwrap_or("-"), s.role.as_str(), s.local_port,
                            s.codec.map(|c| c.0.name()).unwrap_or("-"), if s.active { "active" } else { "inactive" })).collect();
                        let _ = writeln!(o, "STREAMS {id} drop={drop_media} {}", s.join(" "));
                    }
                    Event::MetadataUpdated { id, facts, .. } => {
                        let _ = writeln!(o, "METADATA {id} caller={} callee={}",
                            facts.caller.as_deref().unwrap_or("-"), facts.callee.as_deref().unwrap_or("-"));
                    }
                    Event::SessionEnded { id, reason } => {
                        live = live.saturating_sub(1);
                        ended += 1;
                        let _ = writeln!(o, "END {id} {reason:?}");
                        let _ = o.flush();
                        if exit_after.is_some_and(|n| ended >= n) && counts.is_empty() {
                            break;
                        }
                    }
                    _ => {}
                }
                let _ = o.flush();
            }
            m = h.media.recv() => {
                let Some(batch) = m else { break };
                for m in batch { match m {
                    MediaEvent::Packet(p) => {
                        let c = counts.entry((p.session, p.stream_index)).or_default();
                        if c.label.is_empty() {
                            c.label = p.stream_label.as_deref().unwrap_or("-").to_owned();
                        }
                        c.add(&p);
                    }
                    MediaEvent::StreamClosed { session, stream_index, .. } => {
                        let c = counts.remove(&(session, stream_index)).unwrap_or_default();
                        total_packets += c.packets;
                        total_lost += c.lost().max(0);
                        let mut o = out.lock();
                        let _ = writeln!(o, "STREAM {session} label={} role={} packets={} lost={} ssrc_changes={}",
                            c.label, c.role, c.packets, c.lost(), c.ssrc_changes);
                        if live == 0 && counts.is_empty() {
                            let n = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
                            let _ = writeln!(o, "TOTAL ended={ended} packets={total_packets} lost={total_lost} cpu_s={:.2} peak_rss_kb={} ignored={} bind_failures={} rejected_source={} rejected_ssrc={}",
                                cpu_seconds(), peak_rss_kb(), n(&h.stats.rtp_ignored), n(&h.stats.bind_failures),
                                n(&h.stats.rtp_rejected_source), n(&h.stats.rtp_rejected_ssrc));
                        }
                        let _ = o.flush();
                        if exit_after.is_some_and(|n| ended >= n) && counts.is_empty() {
                            break 'main;
                        }
                    }
                    _ => {}
                } }
            }
        }
    }
}
