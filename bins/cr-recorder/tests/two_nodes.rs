//! Two cr-recorder nodes on one PostgreSQL journal behind Kamailio (dispatcher, OPTIONS
//! probing, failover; packaging/kamailio/dispatcher.cfg), SIPREC calls from sipp. One node
//! is SIGKILLed mid-run: new calls go to the other node and are sealed there, the dead
//! node's calls in progress come out sealed and flagged `recovered` when it restarts, and the
//! sets of both nodes verify with the one certificate and form one chain without a gap.
//!
//! Needs kamailio, PostgreSQL (initdb, pg_ctl) and sipp; skips loudly without them, fails
//! under CALLREC_TEST_STRICT=1.
#![allow(clippy::unwrap_used)]

#[path = "../../../crates/cr-pbx/tests/pcap/mod.rs"]
mod pcap;
#[path = "../../../crates/cr-journal/tests/common/pg_cluster.rs"]
mod pg_cluster;
mod support;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pg_cluster::{Auth, Cluster};
use support::*;


/// Calls before the kill (spread over both nodes) and after it (all on the survivor).
const CALLS_BEFORE: usize = 6;
const CALLS_AFTER: usize = 4;

/// Kamailio in the foreground, in its own process group (it forks workers); `Drop` stops
/// the whole group.
struct Kamailio {
    child: Child,
    port: u16,
}

impl Kamailio {
    /// Fills in packaging/kamailio/dispatcher.cfg for `recorders` (SIP ports on loopback) and
    /// starts it; returns when it answers OPTIONS.
    fn start(dir: &Path, recorders: &[u16]) -> Self {
        let port = free_udp_port();
        let list = dir.join("dispatcher.list");
        let lines: Vec<String> = recorders
            .iter()
            .map(|p| format!("1 sip:127.0.0.1:{p} 0 0\n"))
            .collect();
        std::fs::write(&list, lines.concat()).unwrap();
        let template = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../packaging/kamailio/dispatcher.cfg"
        ))
        .unwrap();
        let mut cfg = template;
        for (key, value) in [
            ("@LISTEN@", format!("udp:127.0.0.1:{port}")),
            ("@DISPATCHER_LIST@", list.display().to_string()),
            ("@PING_INTERVAL@", "1".to_owned()),
            ("@FR_TIMER@", "2000".to_owned()),
        ] {
            assert!(cfg.contains(key), "the template names {key}");
            cfg = cfg.replace(key, &value);
        }
        let file = dir.join("kamailio.cfg");
        std::fs::write(&file, cfg).unwrap();
        let log = std::fs::File::create(dir.join("kamailio.log")).unwrap();
        let child = Command::new("kamailio")
            .args(["-DD", "-E", "-m", "32", "-M", "8", "-f"])
            .arg(&file)
            .arg("-w")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap();
        let mut k = Self { child, port };
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let me = sock.local_addr().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        for n in 0.. {
            let options = format!(
                "OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-ready{n}\r\nFrom: <sip:test@{me}>;tag=r{n}\r\nTo: <sip:127.0.0.1:{port}>\r\nCall-ID: ready-{n}@test\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            );
            let _ = sock.send_to(options.as_bytes(), ("127.0.0.1", port));
            let mut buf = [0u8; 2048];
            if let Ok(n) = sock.recv(&mut buf)
                && buf[..n].starts_with(b"SIP/2.0 200")
            {
                return k;
            }
            if let Some(status) = k.child.try_wait().unwrap() {
                panic!(
                    "kamailio exited with {status}: {}",
                    std::fs::read_to_string(dir.join("kamailio.log")).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "kamailio does not answer OPTIONS"
            );
        }
        unreachable!()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &group])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

/// sipp as a child process; killed when dropped (a failing test leaves no sipp behind).
struct Sipp(Child);

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts sipp with `calls` SIPREC calls at `rate` calls/s, sent to Kamailio.
fn sipp(dir: &Path, scenario: &Path, kamailio: u16, calls: usize, rate: u32, name: &str) -> Sipp {
    let media = loop {
        let p = free_udp_port() & !1;
        if std::net::UdpSocket::bind(("127.0.0.1", p + 2)).is_ok() {
            break p;
        }
    };
    Sipp(
        Command::new("sipp")
            .arg("-sf")
            .arg(scenario)
            .args([
                "-m",
                &calls.to_string(),
                "-r",
                &rate.to_string(),
                "-l",
                &calls.to_string(),
            ])
            .args([
                "-i",
                "127.0.0.1",
                "-nostdin",
                "-timeout",
                "60",
                "-timeout_error",
                "-t",
                "u1",
            ])
            .args([
                "-p",
                &free_udp_port().to_string(),
                "-mp",
                &media.to_string(),
            ])
            .arg("-trace_err")
            .arg("-error_file")
            .arg(dir.join(format!("{name}-errors.log")))
            .arg(format!("127.0.0.1:{kamailio}"))
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Waits for `child` to end (failing instead of hanging) and returns whether it succeeded.
fn wait_for(child: &mut Child, what: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.success();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not end");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The last lines of a log, for failure messages.
fn tail(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// The value of an unlabelled metric.
fn metric(rec: &Recorder, name: &str) -> u64 {
    let (_, m) = rec.http("GET", "/metrics", "");
    m.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{name} not in {m}"))
        .trim()
        .parse()
        .unwrap()
}

/// Waits until `cond` holds (failing instead of hanging).
fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A sealed set as read back from a spool: verified, with its metadata.
struct Set {
    member: cr_sign::ChainMember,
    meta: serde_json::Value,
}

fn sets_of(inst: &Install, cert: &cr_sign::Certificate) -> Vec<Set> {
    sets_below(&inst.path("data/spool"))
        .iter()
        .map(|sums| {
            let report = cr_sign::verify_set(sums, cert);
            assert!(report.is_ok(), "{}: {:?}", sums.display(), report.problems);
            let meta: serde_json::Value = serde_json::from_slice(
                &std::fs::read(sums.with_file_name(format!("{}.json", report.id))).unwrap(),
            )
            .unwrap();
            let member = cr_sign::ChainMember {
                id: report.id.clone(),
                seq: meta["chain"]["seq"].as_u64().unwrap(),
                prev_sha256: meta["chain"]["prev_sha256"].as_str().unwrap().to_owned(),
                checksum_sha256: report.checksum_sha256.clone(),
            };
            Set { member, meta }
        })
        .collect()
}

fn flags(set: &Set) -> Vec<String> {
    set.meta["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect()
}

/// The sipp process id in the Call-IDs of one sipp run (`<n>-<pid>@<ip>`).
fn from_run(set: &Set, pid: u32) -> bool {
    set.meta["pbx_call_id"]
        .as_str()
        .unwrap()
        .contains(&format!("-{pid}@"))
}

#[test]
fn two_nodes_one_journal_survive_a_node_killed_mid_run_with_one_gap_free_chain() {
    if !(have("kamailio") && have("sipp")) {
        return;
    }
    let started = Instant::now();
    let Some(pg) = Cluster::start(Auth::Trust) else { return };
    let body = format!("{CONFIG}\n[journal]\nurl = \"{}\"\n", pg.url("postgres"));
    let a = Install::new(&body, true);
    let b = Install::new(&body, true);
    // One key pair for both nodes: node B gets node A's keystore and certificate.
    for f in ["data/keystore.p12", "data/cert.pem"] {
        std::fs::copy(a.path(f), b.path(f)).unwrap();
    }
    let cert = a.cert();
    let rec_a = a.start();
    let rec_b = b.start();
    let kam = Kamailio::start(a.dir.path(), &[a.sip_port, b.sip_port]);

    // ~8 s calls: 400 packets of 20 ms on each stream, BYE after 8 s.
    let pcap = a.path("two.pcap");
    pcap::write_pcap(&pcap, 6000, 440.0, 1000.0, 400, &[]);
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/sipp/siprec_call.xml"
    ))
    .unwrap();
    assert!(
        text.contains("<pause milliseconds=\"3000\"/>"),
        "the scenario's pause before BYE"
    );
    let scenario = a.path("siprec_call.xml");
    std::fs::write(
        &scenario,
        text.replace("@PCAP@", pcap.to_str().unwrap()).replace(
            "<pause milliseconds=\"3000\"/>",
            "<pause milliseconds=\"8000\"/>",
        ),
    )
    .unwrap();

    // Before the kill: the calls are spread over both nodes.
    let mut before = sipp(a.dir.path(), &scenario, kam.port, CALLS_BEFORE, 3, "before");
    until("not every call started", || {
        metric(&rec_a, "callrec_active_calls") + metric(&rec_b, "callrec_active_calls")
            == CALLS_BEFORE as u64
    });
    let on_a = metric(&rec_a, "callrec_active_calls") as usize;
    assert!(
        (1..CALLS_BEFORE).contains(&on_a),
        "round-robin puts calls on both nodes: {on_a} of {CALLS_BEFORE} on A"
    );
    // Let them record a while (the legs' headers are brought up to date every second).
    std::thread::sleep(Duration::from_secs(2));
    rec_a.kill();
    assert_eq!(
        std::fs::read_dir(a.path("data/legs")).unwrap().count(),
        on_a,
        "one legs directory per call open on A"
    );

    // After the kill: every new call is answered and sealed by B (Kamailio fails over from
    // A while its probe has not yet failed, then leaves A out).
    let mut after = sipp(b.dir.path(), &scenario, kam.port, CALLS_AFTER, 2, "after");
    let after_pid = after.0.id();
    assert!(
        wait_for(&mut after.0, "sipp (after the kill)"),
        "every call after the kill succeeds; sipp: {}\nkamailio: {}",
        tail(&b.path("after-errors.log")),
        tail(&a.path("kamailio.log"))
    );
    // The calls open on A cannot end (their BYE finds no recorder); sipp reports them failed.
    let before_pid = before.0.id();
    let _ = wait_for(&mut before.0, "sipp (before the kill)");
    let on_b = CALLS_BEFORE - on_a + CALLS_AFTER;
    until("B did not seal its calls", || {
        metric(&rec_b, "callrec_recorded_total") == on_b as u64
    });
    assert_eq!(
        sets_below(&a.path("data/spool")).len(),
        0,
        "A sealed nothing before it was killed"
    );

    // A restarts: recovery seals its calls in progress before it reports healthy.
    let rec_a = a.start();
    rec_a.stop();
    rec_b.stop();
    drop(kam);

    let sets_a = sets_of(&a, &cert);
    let sets_b = sets_of(&b, &cert);
    // (a) new calls after the kill: all on B, sealed there, none recovered.
    assert_eq!(sets_b.len(), on_b);
    assert_eq!(
        sets_b.iter().filter(|s| from_run(s, after_pid)).count(),
        CALLS_AFTER,
        "every call after the kill is on B"
    );
    assert!(
        !sets_a.iter().any(|s| from_run(s, after_pid)),
        "no call after the kill on A"
    );
    for s in &sets_b {
        assert!(!flags(s).contains(&"recovered".to_owned()), "{}", s.meta);
    }
    // (b) A's calls in progress: sealed on restart, flagged `recovered`.
    assert_eq!(sets_a.len(), on_a);
    for s in &sets_a {
        assert!(from_run(s, before_pid), "{}", s.meta);
        assert!(flags(s).contains(&"recovered".to_owned()), "{}", s.meta);
    }
    assert_eq!(
        std::fs::read_dir(a.path("data/legs")).unwrap().count(),
        0,
        "nothing left for a third start"
    );
    // (c) one chain over both nodes, seqs 1..N, no gap.
    let members: Vec<cr_sign::ChainMember> = sets_a
        .iter()
        .chain(&sets_b)
        .map(|s| s.member.clone())
        .collect();
    let mut seqs: Vec<u64> = members.iter().map(|m| m.seq).collect();
    seqs.sort();
    let n = (CALLS_BEFORE + CALLS_AFTER) as u64;
    assert_eq!(seqs, (1..=n).collect::<Vec<_>>());
    let problems = cr_sign::check_chain(&members);
    assert!(problems.is_empty(), "{problems:?}");
    drop(pg);
    eprintln!(
        "two nodes: {on_a} calls on A recovered, {on_b} sealed on B, chain 1..{n}, in {:?}",
        started.elapsed()
    );
}
