//! RTP source pinning in the real driver (issue 11, probe 1): a stream takes packets only
//! from the address and port of the SRC's SDP and only of the first SSRC; a new offer moves
//! the source and releases the SSRC; an unusable SDP address (0.0.0.0) latches to the
//! first source and SSRC. Everything refused is counted by reason. Plain UDP sockets play
//! the SRC and the attacker, on loopback.

use cr_pbx::driver::{Command, DriverStats, MediaEvent, SrsDriverConfig, StreamStats, start_srs};
use cr_pbx::{Event, SessionId};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Each test its own RTP range (tests run in parallel).
static NEXT_RANGE: AtomicU16 = AtomicU16::new(0);

#[derive(Default)]
struct Seen {
    /// (session, RTP sequence number, SSRC) of every packet passed on.
    packets: Vec<(SessionId, u16, u32)>,
    closed: Vec<(SessionId, StreamStats)>,
}

struct Server {
    rt: tokio::runtime::Runtime,
    sip: SocketAddr,
    stats: Arc<DriverStats>,
    seen: Arc<Mutex<Seen>>,
}

fn start() -> Server {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let k = NEXT_RANGE.fetch_add(1, Ordering::SeqCst);
    let lo = 51000 + (std::process::id() % 20) as u16 * 200 + k * 40;
    let h = rt
        .block_on(start_srs(SrsDriverConfig::new(
            vec!["udp:127.0.0.1:0".into()],
            format!("{lo}-{}", lo + 39),
        )))
        .expect("start srs");
    let sip = h.local_addrs[0].addr;
    let stats = h.stats.clone();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s2 = seen.clone();
    rt.spawn(async move {
        let mut h = h;
        loop {
            tokio::select! {
                e = h.events.recv() => {
                    let Some(e) = e else { break };
                    if let Event::NewSession { id, .. } = e {
                        let _ = h.commands.send(Command::Accept(id));
                    }
                }
                b = h.media.recv() => {
                    let Some(b) = b else { break };
                    let mut st = s2.lock().expect("lock");
                    for m in b {
                        match m {
                            MediaEvent::Packet(p) => st.packets.push((p.session, p.header.sequence, p.header.ssrc)),
                            MediaEvent::StreamClosed { session, stats, .. } => st.closed.push((session, stats)),
                            _ => {}
                        }
                    }
                }
            }
        }
    });
    Server {
        rt,
        sip,
        stats,
        seen,
    }
}

/// A SIPREC client over a plain UDP socket, one audio stream (PCMU, telephone-event 101).
struct Src {
    sock: UdpSocket,
    srs: SocketAddr,
    to_tag: String,
    cseq: u32,
}

fn sdp(ip: &str, port: u16) -> String {
    format!(
        "v=0\r\no=src 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=label:1\r\na=sendonly\r\n"
    )
}

impl Src {
    fn request(&mut self, method: &str, body: &str) -> String {
        let me = self.sock.local_addr().expect("addr");
        self.cseq += 1;
        let to = if self.to_tag.is_empty() {
            String::new()
        } else {
            format!(";tag={}", self.to_tag)
        };
        let ct = if body.is_empty() {
            String::new()
        } else {
            "Content-Type: application/sdp\r\n".to_owned()
        };
        let msg = format!(
            "{method} sip:srs@{srs} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKpin{n}\r\nFrom: <sip:+4930111@pbx>;tag=pin\r\nTo: <sip:srs@{srs}>{to}\r\nCall-ID: pin-{port}\r\nCSeq: {n} {method}\r\nContact: <sip:src@{me}>;+sip.src\r\nMax-Forwards: 70\r\n{ct}Content-Length: {}\r\n\r\n{body}",
            body.len(),
            srs = self.srs,
            n = self.cseq,
            port = me.port(),
        );
        self.sock.send_to(msg.as_bytes(), self.srs).expect("send");
        let mut buf = vec![0u8; 65536];
        loop {
            let (n, _) = self
                .sock
                .recv_from(&mut buf)
                .expect("an answer from the SRS");
            let r = String::from_utf8_lossy(&buf[..n]).into_owned();
            if r.starts_with("SIP/2.0 1") {
                continue;
            }
            assert!(r.starts_with("SIP/2.0 200"), "{r}");
            if self.to_tag.is_empty() {
                let t = r
                    .lines()
                    .find(|l| l.starts_with("To:"))
                    .and_then(|l| l.split(";tag=").nth(1))
                    .expect("to-tag");
                self.to_tag = t.trim().to_owned();
            }
            return r;
        }
    }

    fn ack(&mut self) {
        let me = self.sock.local_addr().expect("addr");
        let msg = format!(
            "ACK sip:srs@{srs} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKack{n}\r\nFrom: <sip:+4930111@pbx>;tag=pin\r\nTo: <sip:srs@{srs}>;tag={tag}\r\nCall-ID: pin-{port}\r\nCSeq: {n} ACK\r\nContent-Length: 0\r\n\r\n",
            srs = self.srs,
            n = self.cseq,
            tag = self.to_tag,
            port = me.port(),
        );
        self.sock.send_to(msg.as_bytes(), self.srs).expect("send");
    }

    /// INVITE (or re-INVITE) announcing `ip:port`; returns the SRS's RTP port.
    fn invite(&mut self, ip: &str, port: u16) -> u16 {
        let r = self.request("INVITE", &sdp(ip, port));
        self.ack();
        r.lines()
            .find_map(|l| l.strip_prefix("m=audio "))
            .and_then(|l| l.split(' ').next())
            .and_then(|p| p.parse().ok())
            .expect("m=audio port in the answer")
    }
}

fn sip_client(srv: &Server) -> Src {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    Src {
        sock,
        srs: srv.sip,
        to_tag: String::new(),
        cseq: 0,
    }
}

fn rtp(pt: u8, seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(seq as u32 * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xffu8; 160]);
    p
}

fn udp() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").expect("bind")
}

/// BYE, then the stream's closing report (the documented completion signal).
fn hang_up(srv: &Server, src: &mut Src) -> StreamStats {
    src.request("BYE", "");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some((_, st)) = srv.seen.lock().expect("lock").closed.first() {
            return *st;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "stream never reported closed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn passed(srv: &Server) -> Vec<(u16, u32)> {
    srv.seen
        .lock()
        .expect("lock")
        .packets
        .iter()
        .map(|p| (p.1, p.2))
        .collect()
}

// Guards against RTP from another port or SSRC being mixed into a stream (issue 11,
// probe 1): only the announced source's first SSRC passes; the rest is counted.
#[test]
fn rtp_from_another_port_or_ssrc_is_refused_and_counted() {
    let srv = start();
    let real = udp();
    let attacker = udp();
    let mut src = sip_client(&srv);
    let port = src.invite("127.0.0.1", real.local_addr().expect("addr").port());
    let to: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    for seq in 1..=10u16 {
        if seq == 4 || seq == 7 {
            continue; // lost on the way
        }
        real.send_to(&rtp(0, seq, 0xAAAA), to).expect("send");
        attacker
            .send_to(&rtp(0, 500 + seq, 0xBBBB), to)
            .expect("send");
        attacker.send_to(&rtp(0, seq, 0xAAAA), to).expect("send"); // even with the real SSRC
        std::thread::sleep(Duration::from_millis(5));
    }
    real.send_to(&rtp(0, 11, 0xCCCC), to).expect("send"); // a second SSRC, right source
    real.send_to(&rtp(101, 12, 0xAAAA), to).expect("send"); // telephone-event: ignored
    real.send_to(&rtp(96, 13, 0xAAAA), to).expect("send"); // not negotiated
    real.send_to(b"\x01junk", to).expect("send"); // not RTP
    real.send_to(&rtp(0, 14, 0xAAAA), to).expect("send");
    let st = hang_up(&srv, &mut src);
    let want: Vec<(u16, u32)> = [1, 2, 3, 5, 6, 8, 9, 10, 14]
        .iter()
        .map(|&s| (s, 0xAAAA))
        .collect();
    assert_eq!(passed(&srv), want, "only the announced source's first SSRC");
    assert_eq!(
        (
            st.packets,
            st.rejected_source,
            st.rejected_ssrc,
            st.rejected_payload_type,
            st.rejected_malformed
        ),
        (9, 16, 1, 1, 1),
        "{st:?}"
    );
    // 1 to 14 from SSRC 0xAAAA: 4, 7 never sent, 11 came from another SSRC; 12 and 13
    // arrived (not audio, but in the sender's sequence).
    assert_eq!(st.lost, 3, "{st:?}");
    let s = &srv.stats;
    assert_eq!(s.rtp_rejected_source.load(Ordering::Relaxed), 16);
    assert_eq!(s.rtp_rejected_ssrc.load(Ordering::Relaxed), 1);
    assert_eq!(s.rtp_rejected_payload_type.load(Ordering::Relaxed), 1);
    assert_eq!(s.rtp_rejected_malformed.load(Ordering::Relaxed), 1);
    drop(srv.rt);
}

// Guards against a pin that ignores re-INVITEs: the latest SDP's source is followed, the
// old one refused, and a new SSRC is taken only after the new offer.
#[test]
fn new_offer_moves_the_source_and_releases_the_ssrc() {
    let srv = start();
    let (first, second) = (udp(), udp());
    let mut src = sip_client(&srv);
    let port = src.invite("127.0.0.1", first.local_addr().expect("addr").port());
    let to: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    first.send_to(&rtp(0, 1, 0x1111), to).expect("send");
    first.send_to(&rtp(0, 2, 0x1111), to).expect("send");
    std::thread::sleep(Duration::from_millis(100));
    let again = src.invite("127.0.0.1", second.local_addr().expect("addr").port());
    assert_eq!(again, port, "the stream keeps its port");
    std::thread::sleep(Duration::from_millis(100));
    first.send_to(&rtp(0, 3, 0x1111), to).expect("send"); // old source: refused
    second.send_to(&rtp(0, 100, 0x2222), to).expect("send"); // new source, new SSRC
    second.send_to(&rtp(0, 101, 0x2222), to).expect("send");
    second.send_to(&rtp(0, 4, 0x1111), to).expect("send"); // the old SSRC is not the locked one now
    let st = hang_up(&srv, &mut src);
    assert_eq!(
        passed(&srv),
        vec![(1, 0x1111), (2, 0x1111), (100, 0x2222), (101, 0x2222)]
    );
    assert_eq!(
        (st.rejected_source, st.rejected_ssrc, st.lost),
        (1, 1, 0),
        "{st:?}"
    );
}

// Guards against latching that follows whoever sends: with c=0.0.0.0 the first valid
// packet's source and SSRC are locked, and nothing else passes.
#[test]
fn unusable_sdp_address_latches_the_first_source_and_ssrc() {
    let srv = start();
    let (first, other) = (udp(), udp());
    let mut src = sip_client(&srv);
    let port = src.invite("0.0.0.0", 9);
    let to: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    first.send_to(b"\x01junk", to).expect("send"); // not RTP: latches nothing
    std::thread::sleep(Duration::from_millis(50));
    first.send_to(&rtp(0, 1, 0x5151), to).expect("send");
    std::thread::sleep(Duration::from_millis(50));
    other.send_to(&rtp(0, 2, 0x5151), to).expect("send");
    first.send_to(&rtp(0, 3, 0x6161), to).expect("send");
    first.send_to(&rtp(0, 4, 0x5151), to).expect("send");
    let st = hang_up(&srv, &mut src);
    assert_eq!(passed(&srv), vec![(1, 0x5151), (4, 0x5151)]);
    assert_eq!(
        (st.rejected_source, st.rejected_ssrc, st.rejected_malformed),
        (1, 1, 1),
        "{st:?}"
    );
}
