//! Resource exhaustion never loses a call silently (docs/security.md).
//!
//! Regression: SIP over TCP's accept loop ended at the first `EMFILE` and never came back,
//! and nothing closed idle connections, so a few hundred half-open connections took the
//! recorder's descriptors for good.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::*;

const CONFIG: &str = r#"
[[users]]
id = "desk"
numbers = ["70"]

[[recordings]]
name = "desk"
users = ["desk"]
channels = "stereo"
targets = ["archive"]

[[targets]]
name = "archive"
kind = "folder"
path = "$ROOT/archive"
directory = "$Y/$M/$D"
"#;

/// Sends OPTIONS over a new TCP connection; true when a `SIP/2.0 200` comes back.
fn options_over_tcp(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let msg = format!(
        "OPTIONS sip:srs@127.0.0.1:{port};transport=tcp SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-probe{}\r\n\
         From: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:srs@127.0.0.1>\r\nCall-ID: probe-{}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        free_port(),
        free_port()
    );
    if s.write_all(msg.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 2048];
    matches!(s.read(&mut buf), Ok(n) if n > 0 && buf[..n].starts_with(b"SIP/2.0 200"))
}

#[test]
fn idle_tcp_connections_exhausting_descriptors_are_closed_and_calls_go_on() {
    if !have("prlimit") {
        return;
    }
    let inst = Install::new(CONFIG, true);
    std::fs::create_dir_all(inst.path("archive")).unwrap();
    // SIP over TCP beside UDP, with a short idle timeout.
    let text = std::fs::read_to_string(&inst.config).unwrap();
    let udp = format!("listen = [\"udp:127.0.0.1:{}\"]", inst.sip_port);
    let tcp_port = free_port();
    let text = text.replace(
        &udp,
        &format!("listen = [\"udp:127.0.0.1:{}\", \"tcp:127.0.0.1:{tcp_port}\"]\ntcp_idle_timeout = \"1s\"", inst.sip_port),
    );
    std::fs::write(&inst.config, text).unwrap();
    // Few descriptors: a hundred idle connections take them all.
    let rec = inst.start_wrapped(&["prlimit", "--nofile=80"]);
    assert!(options_over_tcp(tcp_port), "SIP over TCP answers before the flood");

    let mut idle: Vec<TcpStream> = (0..150).map(|_| TcpStream::connect(("127.0.0.1", tcp_port)).unwrap()).collect();
    // Every one of them is closed by the recorder in the end (accepted as descriptors free
    // up, then idle for a second): reading gives end of file.
    let deadline = Instant::now() + Duration::from_secs(120);
    for (i, c) in idle.iter_mut().enumerate() {
        c.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let mut b = [0u8; 16];
        loop {
            match c.read(&mut b) {
                Ok(0) => break,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                _ => {}
            }
            assert!(Instant::now() < deadline, "idle connection {i} was never closed");
        }
    }
    drop(idle);

    // The listener is back, and a normal call is recorded.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !options_over_tcp(tcp_port) {
        assert!(Instant::now() < deadline, "SIP over TCP never answered again after descriptors ran out");
        std::thread::sleep(Duration::from_millis(200));
    }
    let target = format!("127.0.0.1:{}", inst.sip_port).parse().unwrap();
    let mut spec = cr_pbx::driver::LoadSpec::new(target, 1, Duration::from_secs(2));
    spec.callee_prefix = "7".into();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let results = rt.block_on(cr_pbx::driver::run_calls(spec)).unwrap();
    assert_eq!(results.len(), 1);
    let (_, metrics) = rec.http("GET", "/metrics", "");
    let value = |name: &str| -> u64 {
        metrics.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    assert!(value("callrec_sip_tcp_accept_errors_total") > 0, "descriptors really ran out: {metrics}");
    assert!(value("callrec_sip_tcp_idle_closed_total") >= 150, "{metrics}");
    rec.stop();
    let sets = sets_below(&inst.path("data/spool"));
    assert_eq!(sets.len(), 1, "the call after the flood is sealed");
    assert!(cr_sign::verify_set(&sets[0], &inst.cert()).is_ok());
}
