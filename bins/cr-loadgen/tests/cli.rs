//! cr-loadgen against the cr-pbx SRS driver on loopback.

use cr_pbx::Event;
use cr_pbx::driver::{Command, MediaEvent, SrsDriverConfig, start_srs};
use std::process::Command as Proc;

#[test]
fn three_calls_all_packets_arrive() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let lo = 46000 + (std::process::id() % 50) as u16 * 20;
    let mut h = rt
        .block_on(start_srs(SrsDriverConfig::new(
            vec!["udp:127.0.0.1:0".into()],
            format!("{lo}-{}", lo + 19),
        )))
        .expect("srs");
    let target = h.local_addrs[0].addr;
    let counter = rt.spawn(async move {
        let (mut packets, mut ended, mut closed, mut callers) = (0u64, 0usize, 0usize, Vec::new());
        while ended < 3 || closed < 6 {
            tokio::select! {
                e = h.events.recv() => match e {
                    Some(Event::NewSession { id, facts, .. }) => {
                        callers.push(facts.caller.clone().unwrap_or_default());
                        let _ = h.commands.send(Command::Accept(id));
                    }
                    Some(Event::SessionEnded { .. }) => ended += 1,
                    Some(_) => {}
                    None => break,
                },
                m = h.media.recv() => {
                    let Some(batch) = m else { break };
                    for m in batch {
                        match m {
                            MediaEvent::Packet(_) => packets += 1,
                            MediaEvent::StreamClosed { .. } => closed += 1,
                            _ => {}
                        }
                    }
                }
            }
        }
        (packets, callers)
    });
    let out = Proc::new(env!("CARGO_BIN_EXE_cr-loadgen"))
        .args([
            "--target",
            &format!("udp:{target}"),
            "--calls",
            "3",
            "--duration",
            "2s",
            "--rate",
            "10",
        ])
        .output()
        .expect("run cr-loadgen");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}: {stdout} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("TOTAL calls=3 failed=0 packets_sent=600 "),
        "{stdout}"
    );
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("call ") && l.contains(" OK "))
            .count(),
        3
    );
    let (packets, mut callers) = rt.block_on(counter).expect("counter");
    assert_eq!(packets, 600, "2 streams x 3 calls x 100 packets received");
    callers.sort();
    assert_eq!(callers, vec!["+49305550", "+49305551", "+49305552"]);
}

#[test]
fn bad_arguments_exit_2() {
    let out = Proc::new(env!("CARGO_BIN_EXE_cr-loadgen"))
        .args(["--target", "sctp:127.0.0.1:5060"])
        .output()
        .expect("run cr-loadgen");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("udp"));
}

#[test]
fn refused_calls_exit_1() {
    // A stand-in SRS that answers every INVITE with 503.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = sock.local_addr().expect("addr");
    let responder = std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        let (n, from) = sock.recv_from(&mut buf).expect("INVITE");
        let inv = cr_pbx::SipMessage::parse(&buf[..n]).expect("INVITE parses");
        assert_eq!(inv.method(), Some("INVITE"));
        let r = inv.response(503, "Service Unavailable", Some("x"));
        sock.send_to(&r.to_bytes(), from).expect("send 503");
        // the ACK
        let _ = sock.recv_from(&mut buf);
    });
    let out = Proc::new(env!("CARGO_BIN_EXE_cr-loadgen"))
        .args([
            "--target",
            &format!("udp:{addr}"),
            "--calls",
            "1",
            "--duration",
            "1s",
        ])
        .output()
        .expect("run cr-loadgen");
    responder.join().expect("responder");
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("call 0 FAILED 503"), "{stdout}");
    assert!(
        stdout.contains("TOTAL calls=1 failed=1 packets_sent=0"),
        "{stdout}"
    );
}
