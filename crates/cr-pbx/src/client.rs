//! A SIPREC client (SRC) core, sans-I/O: places recording sessions with two G.711
//! streams and RFC 7865 metadata, and ends them with BYE. RTP itself is produced by
//! [`crate::RtpSender`]; the driver (e.g. `cr-loadgen`) paces it at 50 packets/s.

use crate::common::{ClientTx, Input, TagGen, Timers, Transport};
use crate::sdp::{Codec, Sdp};
use crate::sip::{SipMessage, StartLine, uri_of};
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Id of a call placed by [`Src`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SrcCallId(pub u64);

/// Client configuration.
#[derive(Debug, Clone)]
pub struct SrcConfig {
    /// Our SIP address (Via, Contact) — the socket the driver sends from.
    pub local: SocketAddr,
    /// RFC 3261 timers.
    pub timers: Timers,
    /// Seed for Call-IDs, tags and branches.
    pub seed: u64,
}

/// What call to place.
#[derive(Debug, Clone)]
pub struct CallSpec {
    /// The SRS.
    pub target: SocketAddr,
    /// Transport to it.
    pub transport: Transport,
    /// Caller number (metadata participant 1, sends stream label 1).
    pub caller: String,
    /// Callee number (participant 2, sends stream label 2).
    pub callee: String,
    /// Our RTP ports for the caller's and the callee's stream (written into the offer).
    pub rtp_ports: [u16; 2],
    /// PCMU or PCMA (a codec without a static payload type, L16, is offered as PCMU).
    pub codec: Codec,
}

/// Events of the client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SrcEvent {
    /// 200 OK received and ACKed; RTP destinations of stream 1 (caller) and 2 (callee)
    /// from the answer (None where the SRS rejected the stream).
    Answered {
        /// Call.
        id: SrcCallId,
        /// Per stream, in offer order.
        rtp: Vec<Option<SocketAddr>>,
    },
    /// The INVITE failed (final status >= 300, or 408 on timeout).
    Failed {
        /// Call.
        id: SrcCallId,
        /// Status received (408 for a timeout).
        status: u16,
        /// Reason phrase.
        reason: String,
    },
    /// The call is over (our BYE answered or timed out, or the SRS sent BYE).
    Ended {
        /// Call.
        id: SrcCallId,
        /// True if the SRS hung up.
        by_remote: bool,
    },
}

/// Output of [`Src::poll_output`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SrcOutput {
    /// Send these bytes.
    Transmit {
        /// Destination.
        dest: SocketAddr,
        /// Transport.
        transport: Transport,
        /// SIP message.
        bytes: Vec<u8>,
    },
    /// Something happened.
    Event(SrcEvent),
    /// Call `handle_input(Input::Timeout, t)` at this instant.
    Timeout(Instant),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    Calling,
    Established,
    Terminating,
}

#[derive(Debug)]
struct Call {
    spec: CallSpec,
    call_id: String,
    from_tag: String,
    to_hdr: String,
    remote_target: String,
    cseq: u32,
    invite_cseq: u32,
    state: CallState,
    invite: SipMessage,
    ack: Option<Vec<u8>>,
    tx: Option<ClientTx>,
    /// CANCEL sent: a 200 OK that crosses it is ACKed and ended with BYE at once.
    cancelled: bool,
}

/// The SIPREC client core.
#[derive(Debug)]
pub struct Src {
    cfg: SrcConfig,
    tags: TagGen,
    calls: HashMap<SrcCallId, Call>,
    by_call_id: HashMap<String, SrcCallId>,
    out: VecDeque<SrcOutput>,
    next: u64,
    last_now: Option<Instant>,
    pending_bye: Vec<SrcCallId>,
}

/// The RFC 7865 metadata the client sends: two participants (caller first), two streams
/// labelled `1` (sent by the caller) and `2` (sent by the callee).
pub fn client_metadata(caller: &str, callee: &str, domain: &str, call_id: &str) -> String {
    let mut x = String::new();
    let _ = write!(
        x,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n\
<recording xmlns=\"urn:ietf:params:xml:ns:recording:1\">\r\n\
<datamode>complete</datamode>\r\n\
<session session_id=\"c2Vzc2lvbg==\"><sipSessionID>{call_id}</sipSessionID></session>\r\n\
<participant participant_id=\"cA==\"><nameID aor=\"sip:{caller}@{domain}\"/></participant>\r\n\
<participant participant_id=\"cQ==\"><nameID aor=\"sip:{callee}@{domain}\"/></participant>\r\n\
<stream stream_id=\"czE=\" session_id=\"c2Vzc2lvbg==\"><label>1</label></stream>\r\n\
<stream stream_id=\"czI=\" session_id=\"c2Vzc2lvbg==\"><label>2</label></stream>\r\n\
<participantstreamassoc participant_id=\"cA==\"><send>czE=</send><recv>czI=</recv></participantstreamassoc>\r\n\
<participantstreamassoc participant_id=\"cQ==\"><send>czI=</send><recv>czE=</recv></participantstreamassoc>\r\n\
</recording>\r\n"
    );
    x
}

impl Src {
    /// A new client core.
    pub fn new(cfg: SrcConfig) -> Self {
        Src {
            tags: TagGen::new(cfg.seed),
            cfg,
            calls: HashMap::new(),
            by_call_id: HashMap::new(),
            out: VecDeque::new(),
            next: 1,
            last_now: None,
            pending_bye: Vec::new(),
        }
    }

    /// Calls in progress.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    fn host(&self) -> String {
        match self.cfg.local {
            SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        }
    }

    /// Places a recording session.
    pub fn start_call(&mut self, spec: CallSpec, now: Instant) -> SrcCallId {
        self.last_now = Some(now);
        let id = SrcCallId(self.next);
        self.next += 1;
        let call_id = format!("{}-{}", self.tags.tag(), id.0);
        let from_tag = self.tags.tag();
        let branch = self.tags.branch();
        let host = self.host();
        let ip = self.cfg.local.ip();
        let ipv = if ip.is_ipv4() { "IP4" } else { "IP6" };
        let (pt, name) = match spec.codec.static_pt() {
            Some(pt) => (pt, spec.codec.name()),
            None => (0, Codec::Pcmu.name()),
        };
        let mut sdp = format!(
            "v=0\r\no=src {} 1 IN {ipv} {ip}\r\ns=SIPREC\r\nc=IN {ipv} {ip}\r\nt=0 0\r\n",
            id.0
        );
        for (i, port) in spec.rtp_ports.iter().enumerate() {
            let _ = write!(
                sdp,
                "m=audio {port} RTP/AVP {pt} 101\r\na=rtpmap:{pt} {name}/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=label:{}\r\na=sendonly\r\n",
                i + 1
            );
        }
        let md = client_metadata(&spec.caller, &spec.callee, "callrec.invalid", &call_id);
        let boundary = "callrec-boundary-1";
        let body = format!(
            "--{boundary}\r\nContent-Type: application/sdp\r\n\r\n{sdp}\r\n--{boundary}\r\nContent-Type: application/rs-metadata+xml\r\nContent-Disposition: recording-session\r\n\r\n{md}\r\n--{boundary}--\r\n"
        );
        let target = match spec.target {
            SocketAddr::V4(a) => format!("sip:srs@{}:{}", a.ip(), a.port()),
            SocketAddr::V6(a) => format!("sip:srs@[{}]:{}", a.ip(), a.port()),
        };
        let transport_param = spec.transport.as_str().to_ascii_lowercase();
        let mut m = SipMessage {
            start: StartLine::Request {
                method: "INVITE".into(),
                uri: format!("{target};transport={transport_param}"),
            },
            headers: Vec::new(),
            body: body.into_bytes(),
        };
        m.push_header(
            "Via",
            format!(
                "SIP/2.0/{} {host};branch={branch};rport",
                spec.transport.as_str()
            ),
        );
        m.push_header("Max-Forwards", "70");
        m.push_header("From", format!("<sip:src@{host}>;tag={from_tag}"));
        m.push_header("To", format!("<{target}>"));
        m.push_header("Call-ID", call_id.clone());
        m.push_header("CSeq", "1 INVITE");
        m.push_header(
            "Contact",
            format!("<sip:src@{host};transport={transport_param}>;+sip.src"),
        );
        m.push_header("Require", "siprec");
        m.push_header("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS");
        m.push_header(
            "Content-Type",
            format!("multipart/mixed;boundary={boundary}"),
        );
        let bytes = m.to_bytes();
        let tx = ClientTx::new(
            branch,
            "INVITE",
            spec.target,
            spec.transport,
            bytes.clone(),
            &self.cfg.timers,
            now,
        );
        self.out.push_back(SrcOutput::Transmit {
            dest: spec.target,
            transport: spec.transport,
            bytes,
        });
        let to_hdr = format!("<{target}>");
        self.by_call_id.insert(call_id.clone(), id);
        self.calls.insert(
            id,
            Call {
                spec,
                call_id,
                from_tag,
                to_hdr,
                remote_target: target,
                cseq: 1,
                invite_cseq: 1,
                state: CallState::Calling,
                invite: m,
                ack: None,
                tx: Some(tx),
                cancelled: false,
            },
        );
        id
    }

    /// Ends an established call with BYE (or CANCELs one not yet answered).
    pub fn hangup(&mut self, id: SrcCallId, now: Instant) {
        self.last_now = Some(now);
        let branch = self.tags.branch();
        let host = self.host();
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let (method, cseq, uri, to, via_branch) = match c.state {
            CallState::Established => {
                c.cseq += 1;
                (
                    "BYE",
                    c.cseq,
                    c.remote_target.clone(),
                    c.to_hdr.clone(),
                    branch,
                )
            }
            CallState::Calling => {
                // CANCEL uses the INVITE's branch, CSeq number and Request-URI.
                let inv_branch = c.invite.top_branch().unwrap_or("").to_owned();
                let uri = match &c.invite.start {
                    StartLine::Request { uri, .. } => uri.clone(),
                    StartLine::Response { .. } => c.remote_target.clone(),
                };
                ("CANCEL", c.invite_cseq, uri, c.to_hdr.clone(), inv_branch)
            }
            CallState::Terminating => return,
        };
        let mut m = SipMessage {
            start: StartLine::Request {
                method: method.into(),
                uri,
            },
            headers: Vec::new(),
            body: Vec::new(),
        };
        m.push_header(
            "Via",
            format!(
                "SIP/2.0/{} {host};branch={via_branch};rport",
                c.spec.transport.as_str()
            ),
        );
        m.push_header("Max-Forwards", "70");
        m.push_header("From", format!("<sip:src@{host}>;tag={}", c.from_tag));
        m.push_header("To", to);
        m.push_header("Call-ID", c.call_id.clone());
        m.push_header("CSeq", format!("{cseq} {method}"));
        let bytes = m.to_bytes();
        let tx = ClientTx::new(
            via_branch,
            method,
            c.spec.target,
            c.spec.transport,
            bytes.clone(),
            &self.cfg.timers,
            now,
        );
        self.out.push_back(SrcOutput::Transmit {
            dest: c.spec.target,
            transport: c.spec.transport,
            bytes,
        });
        if method == "BYE" {
            c.state = CallState::Terminating;
            c.tx = Some(tx);
        } else {
            // The CANCEL is sent once (not retransmitted); the INVITE transaction stays,
            // and a 487 ends the call. If the CANCEL is lost and the SRS answers 200, the
            // call is ACKed and ended with BYE right away.
            let _ = tx;
            c.cancelled = true;
        }
    }

    /// Feeds input at time `now`.
    pub fn handle_input(&mut self, input: Input<'_>, now: Instant) {
        self.last_now = Some(now);
        match input {
            Input::Timeout => self.on_timeout(now),
            Input::Datagram {
                source,
                transport,
                bytes,
            } => {
                let Ok(msg) = SipMessage::parse(bytes) else {
                    return;
                };
                if msg.is_request() {
                    self.on_request(msg, source, transport);
                } else {
                    self.on_response(msg, now);
                }
            }
        }
    }

    /// Next output.
    pub fn poll_output(&mut self) -> SrcOutput {
        if let Some(o) = self.out.pop_front() {
            return o;
        }
        let now = self.last_now.unwrap_or_else(Instant::now);
        let t = self
            .calls
            .values()
            .filter_map(|c| c.tx.as_ref().map(|t| t.next_deadline()))
            .min()
            .unwrap_or(now + Duration::from_secs(3600));
        SrcOutput::Timeout(t)
    }

    fn on_request(&mut self, msg: SipMessage, source: SocketAddr, transport: Transport) {
        let method = msg.method().unwrap_or("").to_owned();
        if method == "ACK" {
            return;
        }
        let id = msg.call_id().and_then(|c| self.by_call_id.get(c)).copied();
        let (code, reason) = match (method.as_str(), id) {
            ("BYE", Some(_)) => (200, "OK"),
            ("OPTIONS", _) => (200, "OK"),
            (_, None) => (481, "Call/Transaction Does Not Exist"),
            _ => (200, "OK"),
        };
        let r = msg.response(code, reason, None);
        self.out.push_back(SrcOutput::Transmit {
            dest: source,
            transport,
            bytes: r.to_bytes(),
        });
        if method == "BYE"
            && let Some(id) = id
        {
            self.finish(id);
            self.out.push_back(SrcOutput::Event(SrcEvent::Ended {
                id,
                by_remote: true,
            }));
        }
    }

    fn finish(&mut self, id: SrcCallId) {
        if let Some(c) = self.calls.remove(&id) {
            self.by_call_id.remove(&c.call_id);
        }
    }

    fn on_response(&mut self, msg: SipMessage, now: Instant) {
        let Some(&id) = msg.call_id().and_then(|c| self.by_call_id.get(c)) else {
            return;
        };
        let status = msg.status().unwrap_or(0);
        let Some((_, method)) = msg.cseq() else {
            return;
        };
        let method = method.to_owned();
        let timers = self.cfg.timers;
        let host = self.host();
        let mut event = None;
        let mut ended = false;
        {
            let Some(c) = self.calls.get_mut(&id) else {
                return;
            };
            match method.as_str() {
                "INVITE" => {
                    if status < 200 {
                        if let Some(tx) = &mut c.tx
                            && tx.invite
                        {
                            tx.on_provisional(&timers, now);
                        }
                        return;
                    }
                    let to = msg.header("To").unwrap_or("").to_owned();
                    if status < 300 {
                        if let Some(a) = &c.ack {
                            // retransmitted 2xx: ACK again
                            self.out.push_back(SrcOutput::Transmit {
                                dest: c.spec.target,
                                transport: c.spec.transport,
                                bytes: a.clone(),
                            });
                            return;
                        }
                        if c.state != CallState::Calling {
                            return;
                        }
                        c.to_hdr = to.clone();
                        if let Some(ct) = msg.header("Contact") {
                            c.remote_target = uri_of(ct).to_owned();
                        }
                        let branch = self.tags.branch();
                        let mut ack = SipMessage {
                            start: StartLine::Request {
                                method: "ACK".into(),
                                uri: c.remote_target.clone(),
                            },
                            headers: Vec::new(),
                            body: Vec::new(),
                        };
                        ack.push_header(
                            "Via",
                            format!(
                                "SIP/2.0/{} {host};branch={branch};rport",
                                c.spec.transport.as_str()
                            ),
                        );
                        ack.push_header("Max-Forwards", "70");
                        ack.push_header("From", format!("<sip:src@{host}>;tag={}", c.from_tag));
                        ack.push_header("To", to);
                        ack.push_header("Call-ID", c.call_id.clone());
                        ack.push_header("CSeq", format!("{} ACK", c.invite_cseq));
                        let bytes = ack.to_bytes();
                        c.ack = Some(bytes.clone());
                        self.out.push_back(SrcOutput::Transmit {
                            dest: c.spec.target,
                            transport: c.spec.transport,
                            bytes,
                        });
                        c.tx = None;
                        c.state = CallState::Established;
                        let rtp = match Sdp::parse(&msg.body) {
                            Ok(sdp) => (0..sdp.media.len())
                                .map(|i| {
                                    let m = &sdp.media[i];
                                    (m.port != 0)
                                        .then(|| {
                                            sdp.connection_of(i)
                                                .map(|ip| SocketAddr::new(ip, m.port))
                                        })
                                        .flatten()
                                })
                                .collect(),
                            Err(_) => Vec::new(),
                        };
                        if c.cancelled {
                            self.pending_bye.push(id);
                        } else {
                            event = Some(SrcEvent::Answered { id, rtp });
                        }
                    } else {
                        // ACK the failure within the INVITE transaction (same branch).
                        let mut ack = SipMessage {
                            start: c.invite.start.clone(),
                            headers: Vec::new(),
                            body: Vec::new(),
                        };
                        if let StartLine::Request { method, .. } = &mut ack.start {
                            *method = "ACK".into();
                        }
                        ack.push_header("Via", c.invite.header("Via").unwrap_or("").to_owned());
                        ack.push_header("Max-Forwards", "70");
                        ack.push_header("From", c.invite.header("From").unwrap_or("").to_owned());
                        ack.push_header("To", to);
                        ack.push_header("Call-ID", c.call_id.clone());
                        ack.push_header("CSeq", format!("{} ACK", c.invite_cseq));
                        self.out.push_back(SrcOutput::Transmit {
                            dest: c.spec.target,
                            transport: c.spec.transport,
                            bytes: ack.to_bytes(),
                        });
                        if c.state == CallState::Calling {
                            let reason = match &msg.start {
                                StartLine::Response { reason, .. } => reason.clone(),
                                StartLine::Request { .. } => String::new(),
                            };
                            event = Some(SrcEvent::Failed { id, status, reason });
                            ended = true;
                        }
                    }
                }
                "BYE" if status >= 200 => {
                    event = Some(SrcEvent::Ended {
                        id,
                        by_remote: false,
                    });
                    ended = true;
                }
                _ => {}
            }
        }
        if ended {
            self.finish(id);
        }
        if let Some(e) = event {
            self.out.push_back(SrcOutput::Event(e));
        }
        for id in std::mem::take(&mut self.pending_bye) {
            self.hangup(id, now);
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        let timers = self.cfg.timers;
        let mut done = Vec::new();
        let mut ids: Vec<SrcCallId> = self.calls.keys().copied().collect();
        ids.sort();
        for id in ids {
            let Some(c) = self.calls.get_mut(&id) else {
                continue;
            };
            let Some(tx) = &mut c.tx else { continue };
            match tx.on_timeout(&timers, now) {
                Ok(Some(t)) => self.out.push_back(SrcOutput::Transmit {
                    dest: t.dest,
                    transport: t.transport,
                    bytes: t.bytes,
                }),
                Ok(None) => {}
                Err(()) => {
                    let ev = if c.state == CallState::Calling {
                        SrcEvent::Failed {
                            id,
                            status: 408,
                            reason: "Request Timeout".into(),
                        }
                    } else {
                        SrcEvent::Ended {
                            id,
                            by_remote: false,
                        }
                    };
                    done.push((id, ev));
                }
            }
        }
        for (id, ev) in done {
            self.finish(id);
            self.out.push_back(SrcOutput::Event(ev));
        }
    }
}
