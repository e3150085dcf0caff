//! The decisions on a session: a new INVITE refused, offered to the application,
//! accepted (ports, then media, then the 200), declined, re-offered and ended.

use super::answer::{answer_media, contact};
use super::facts::{apply_metadata, make_facts};
use super::offer::{build_streams, cap_streams, parse_offer, usable_audio};
use super::timer::SessionTimer;
use super::*;
use crate::sdp::write_answer;

/// Where a session is.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(super) enum SessState {
    AwaitingDecision,
    /// Accepted, ports assigned; waiting for [`Srs::media_ready`] before the 200.
    AwaitingMedia,
    Established,
}

/// The initial INVITE of a session until it is answered.
#[derive(Debug)]
pub(super) struct Decision {
    /// Its transaction.
    pub(super) tx: TxKey,
    /// The INVITE, until the final response is sent.
    pub(super) invite: Option<SipMessage>,
    /// When 480 is sent if the application has not decided (or the driver not reported).
    pub(super) decide_by: Option<Instant>,
}

/// The media of a session: the SRC's current offer and our streams.
#[derive(Debug)]
pub(super) struct SessionMedia {
    pub(super) offer: Sdp,
    pub(super) streams: Vec<StreamInfo>,
    /// Version of our next SDP answer (`o=` line).
    pub(super) sdp_version: u64,
    /// SDP offers received (see [`StreamInfo::offer`]).
    pub(super) offers: u32,
    pub(super) drop_media: bool,
}

/// What is known about the recorded call.
#[derive(Debug)]
pub(super) struct CallRecord {
    pub(super) metadata: Option<Metadata>,
    pub(super) facts: CallFacts,
}

/// One recording session, grouped by idea.
#[derive(Debug)]
pub(super) struct Session {
    pub(super) dialog: Dialog,
    pub(super) state: SessState,
    pub(super) decision: Decision,
    pub(super) media: SessionMedia,
    pub(super) call: CallRecord,
    /// Our 2xx to the last INVITE, until its ACK.
    pub(super) pending_2xx: Option<Pending2xx>,
    pub(super) timer: SessionTimer,
    /// A re-offer that added streams, answered once their sockets are bound.
    pub(super) reoffer: Option<Reoffer>,
}

/// A re-INVITE/UPDATE whose new streams wait for [`Srs::media_ready`] before the answer.
#[derive(Debug)]
pub(super) struct Reoffer {
    request: SipMessage,
    is_invite: bool,
    /// The ports assigned to the streams it added.
    added: Vec<u16>,
}

impl Session {
    /// The next deadline of the session: decision, 2xx retransmission or give-up, expiry.
    pub(super) fn poll_timeout(&self, pressure: bool, ack_wait: Duration) -> Option<Instant> {
        [
            self.decision.decide_by,
            self.pending_2xx.as_ref().map(|p| p.poll_timeout(pressure, ack_wait)),
            self.timer.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

impl Srs {
    pub(super) fn on_initial_invite(
        &mut self,
        msg: SipMessage,
        key: &TxKey,
        source: SocketAddr,
        transport: Transport,
        now: Instant,
    ) {
        // Refused before any work: a source over its limit of unanswered INVITEs (one
        // source cannot hold every port with INVITEs it never ACKs), or no port left.
        let retry = [("Retry-After", RETRY_AFTER_SECS.to_string())];
        if self.unanswered_from(source.ip()) >= self.cfg.max_pending_per_source {
            self.counters.refused_source_limit += 1;
            let why = "Service Unavailable (too many unanswered INVITEs from this source)";
            self.respond(&msg, key, Reply::new(503, why).headers(&retry), now);
            return;
        }
        if self.ports.free() == 0 {
            self.counters.refused_no_ports += 1;
            let why = "Service Unavailable (no free RTP port)";
            self.respond(&msg, key, Reply::new(503, why).headers(&retry), now);
            return;
        }
        // 100 Trying right away.
        self.respond(&msg, key, Reply::new(100, "Trying"), now);
        let Some(offer) = self.offer_of(&msg, key, now) else {
            return;
        };
        let Some(sdp) = offer.sdp else {
            let why = "No SDP offer (delayed offer is not supported)";
            self.respond(&msg, key, Reply::new(488, why), now);
            return;
        };
        if let Err(reason) = usable_audio(&sdp, self.cfg.srtp) {
            self.respond(&msg, key, Reply::new(488, reason), now);
            return;
        }
        let se = match SessionTimer::requested(&msg, self.cfg.min_se) {
            Ok(se) => se,
            Err(too_small) => {
                let min = [("Min-SE", too_small.min_se.to_string())];
                self.respond(&msg, key, Reply::new(422, "Session Interval Too Small").headers(&min), now);
                return;
            }
        };
        let (metadata, metadata_error) = match &offer.metadata_xml {
            Some(x) => match Metadata::parse(x.as_bytes()) {
                Ok(m) => (Some(m), None),
                Err(e) => (None, Some(e.to_string())),
            },
            None => (None, None),
        };
        let id = SessionId(self.next_id);
        self.next_id += 1;
        let local_tag = self.random_tag();
        let mut streams = build_streams(&sdp, metadata.as_ref(), &[], 1, self.cfg.srtp);
        cap_streams(&mut streams, self.cfg.max_streams);
        let facts = make_facts(&msg, metadata.as_ref(), source);
        let dialog = Dialog::from_invite(&msg, source, transport, local_tag);
        let dialog_key = dialog.key();
        let sess = Session {
            dialog,
            state: SessState::AwaitingDecision,
            decision: Decision {
                tx: key.clone(),
                invite: Some(msg),
                decide_by: Some(now + self.cfg.decision_timeout),
            },
            media: SessionMedia {
                offer: sdp,
                streams: streams.clone(),
                sdp_version: 1,
                offers: 1,
                drop_media: false,
            },
            call: CallRecord {
                metadata,
                facts: facts.clone(),
            },
            pending_2xx: None,
            timer: SessionTimer::new(se),
            reoffer: None,
        };
        self.txs.set_session(key, id);
        self.dialogs.insert(dialog_key, id);
        self.sessions.insert(id, sess);
        self.emit(Event::NewSession {
            id,
            facts: Box::new(facts),
            streams,
            metadata_xml: offer.metadata_xml,
            metadata_error,
        });
    }

    /// The offer in the body of `msg`; None after refusing a body that cannot be read.
    fn offer_of(&mut self, msg: &SipMessage, key: &TxKey, now: Instant) -> Option<super::offer::Offer> {
        match parse_offer(msg) {
            Ok(o) => Some(o),
            Err(r) => {
                self.respond(msg, key, Reply::new(r.code, &r.reason).headers(&r.extra), now);
                None
            }
        }
    }

    /// Accepts a session: assigns RTP ports and emits [`Event::StreamsChanged`]; the 200 OK
    /// with the SDP answer waits for [`Srs::media_ready`]. No port free: 503 and
    /// [`EndReason::NoPorts`].
    pub fn accept(&mut self, id: SessionId, now: Instant) {
        self.answer(id, false, now);
    }

    /// The driver's report after an [`Event::StreamsChanged`]: `Ok` when every stream's
    /// socket is bound, then the 200 OK leaves; an error answers 503 ("no RTP port could
    /// be bound"), releases the ports and ends the session ([`EndReason::MediaFailed`]).
    /// After a re-INVITE/UPDATE that added streams, the answer waits for it too: an error
    /// then rejects the added streams (port 0 in the answer) and keeps the others.
    /// Ignored unless the session waits for it.
    pub fn media_ready(&mut self, id: SessionId, result: Result<(), MediaError>, now: Instant) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        if s.state == SessState::Established {
            if let Some(r) = s.reoffer.take() {
                self.finish_reoffer(id, r, result.is_ok(), now);
            }
            return;
        }
        if s.state != SessState::AwaitingMedia {
            return;
        }
        if result.is_err() {
            self.counters.refused_media_failed += 1;
            let why = "Service Unavailable (no RTP port could be bound)";
            self.reject_pending(id, 503, why, EndReason::MediaFailed, now);
            return;
        }
        s.state = SessState::Established;
        s.decision.decide_by = None;
        let Some(inv) = s.decision.invite.take() else { return };
        self.send_answer(id, &inv, true, now);
    }

    /// Declines a session.
    pub fn decline(&mut self, id: SessionId, how: Decline, now: Instant) {
        match how {
            Decline::AcceptDropMedia => self.answer(id, true, now),
            Decline::Reject(code) => {
                let Some(s) = self.sessions.get(&id) else {
                    return;
                };
                if s.state != SessState::AwaitingDecision {
                    return;
                }
                let code = if (400..700).contains(&code) {
                    code
                } else {
                    403
                };
                let reason = match code {
                    403 => "Forbidden (not recorded by policy)",
                    480 => "Temporarily Unavailable",
                    _ => "Declined",
                };
                self.reject_pending(id, code, reason, EndReason::Declined(code), now);
            }
        }
    }

    pub(super) fn reject_pending(&mut self, id: SessionId, code: u16, reason: &str, why: EndReason, now: Instant) {
        let Some(mut s) = self.sessions.remove(&id) else {
            return;
        };
        self.dialogs.remove(&s.dialog.key());
        if let Some(inv) = s.decision.invite.take() {
            let tag = s.dialog.local_tag.clone();
            self.respond(&inv, &s.decision.tx, Reply::new(code, reason).tag(&tag), now);
        }
        self.ports.release(&s.media.streams);
        self.emit(Event::SessionEnded { id, reason: why });
    }

    fn answer(&mut self, id: SessionId, drop_media: bool, now: Instant) {
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        if s.state != SessState::AwaitingDecision {
            return;
        }
        let mut streams = s.media.streams.clone();
        if !self.ports.assign(&mut streams) {
            self.counters.refused_no_ports += 1;
            let why = "Service Unavailable (no free RTP port)";
            self.reject_pending(id, 503, why, EndReason::NoPorts, now);
            return;
        }
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        s.media.streams = streams.clone();
        s.media.drop_media = drop_media;
        // The decision timeout keeps running: a driver that never reports gets 480.
        s.state = SessState::AwaitingMedia;
        self.emit(Event::StreamsChanged {
            id,
            streams,
            drop_media,
        });
    }

    /// Sends a 2xx with our current SDP answer to an INVITE/UPDATE of session `id`.
    fn send_answer(&mut self, id: SessionId, req: &SipMessage, is_invite: bool, now: Instant) {
        let key = TxKey::of(req);
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        let media = answer_media(&s.media.offer, &s.media.streams);
        let body = write_answer(id.0, s.media.sdp_version, self.cfg.advertise, &media).into_bytes();
        s.media.sdp_version += 1;
        let transport = s.dialog.transport;
        let mut extra: Vec<(&str, String)> = vec![
            ("Contact", contact(self.cfg.advertise, self.cfg.port_of(transport), transport)),
            ("Allow", ALLOW.to_owned()),
            ("Supported", "siprec, timer".to_owned()),
        ];
        extra.extend(s.timer.answer_headers());
        s.timer.refresh(now);
        let tag = s.dialog.local_tag.clone();
        let cseq = req.cseq().map(|c| c.0).unwrap_or(0);
        let reply = Reply::new(200, "OK").tag(&tag).headers(&extra).body("application/sdp", &body);
        self.respond(req, &key, reply, now);
        if is_invite {
            let bytes = self.txs.get(&key).and_then(|t| t.last.clone()).unwrap_or_default();
            let timers = self.cfg.timers;
            if let Some(s) = self.sessions.get_mut(&id) {
                let initial = s.decision.tx == key;
                s.pending_2xx = Some(Pending2xx::new(bytes, cseq, initial, transport.reliable(), &timers, now));
            }
        }
    }

    pub(super) fn on_reoffer(&mut self, id: SessionId, msg: SipMessage, key: &TxKey, is_invite: bool, now: Instant) {
        let (state, pending, reoffer_pending) = match self.sessions.get(&id) {
            Some(s) => (s.state, s.pending_2xx.is_some(), s.reoffer.is_some()),
            None => return,
        };
        if state != SessState::Established {
            self.respond(&msg, key, Reply::new(491, "Request Pending"), now);
            return;
        }
        if is_invite || reoffer_pending {
            if pending || reoffer_pending {
                self.respond(&msg, key, Reply::new(491, "Request Pending"), now);
                return;
            }
        }
        if is_invite {
            self.respond(&msg, key, Reply::new(100, "Trying"), now);
        }
        let Some(offer) = self.offer_of(&msg, key, now) else {
            return;
        };
        let sdp_in_request = offer.sdp.is_some();
        let srtp = self.cfg.srtp;
        let (min_se, max_streams) = (self.cfg.min_se, self.cfg.max_streams);
        let mut events = Vec::new();
        let (old_ports, mut streams, drop_media) = {
            let Some(s) = self.sessions.get_mut(&id) else {
                return;
            };
            s.timer.renegotiate(&msg, min_se);
            if let Some(x) = &offer.metadata_xml
                && let Ok(update) = Metadata::parse(x.as_bytes())
            {
                let mut md = s.call.metadata.take().unwrap_or_default();
                md.merge(update);
                s.call.metadata = Some(md);
                let mut facts = s.call.facts.clone();
                apply_metadata(&mut facts, s.call.metadata.as_ref());
                s.call.facts = facts.clone();
                events.push(Event::MetadataUpdated {
                    id,
                    facts: Box::new(facts),
                    metadata_xml: x.clone(),
                });
            }
            // no SDP: a session refresh or metadata-only update; streams stay
            if let Some(sdp) = offer.sdp {
                s.media.offer = sdp;
                s.media.offers += 1;
            }
            let old: Vec<u16> = s
                .media
                .streams
                .iter()
                .map(|st| st.local_port)
                .filter(|p| *p != 0)
                .collect();
            let m = &s.media;
            let mut new_streams = build_streams(&m.offer, s.call.metadata.as_ref(), &m.streams, m.offers, srtp);
            cap_streams(&mut new_streams, max_streams);
            (old, new_streams, m.drop_media)
        };
        if !self.ports.assign(&mut streams) {
            // no port left: reject the new streams (port 0)
            for st in streams.iter_mut() {
                if st.local_port == 0 {
                    st.codec = None;
                }
            }
        }
        self.ports.release_unused(&old_ports, &streams);
        let added: Vec<u16> = streams
            .iter()
            .map(|st| st.local_port)
            .filter(|p| *p != 0 && !old_ports.contains(p))
            .collect();
        let answers_sdp = is_invite || sdp_in_request;
        {
            let Some(s) = self.sessions.get_mut(&id) else {
                return;
            };
            if answers_sdp && !added.is_empty() {
                // No answer names a port before its socket is bound (see media_ready).
                s.reoffer = Some(Reoffer {
                    request: msg.clone(),
                    is_invite,
                    added,
                });
            }
            let changed = s.media.streams != streams;
            s.media.streams = streams.clone();
            s.timer.refresh(now);
            if changed || !events.is_empty() {
                events.push(Event::StreamsChanged {
                    id,
                    streams,
                    drop_media,
                });
            }
        }
        for e in events {
            self.emit(e);
        }
        if self.sessions.get(&id).is_some_and(|s| s.reoffer.is_some()) {
            return;
        }
        if answers_sdp {
            self.send_answer(id, &msg, is_invite, now);
        } else {
            self.respond(&msg, key, Reply::new(200, "OK"), now);
        }
    }

    /// Answers a re-offer whose added streams the driver has reported on: when their
    /// sockets could not be bound, those streams are rejected (port 0, their ports freed)
    /// and the driver is told, and the answer says so to the SRC.
    fn finish_reoffer(&mut self, id: SessionId, r: Reoffer, bound: bool, now: Instant) {
        if !bound {
            self.counters.streams_refused_media_failed += r.added.len() as u64;
            let Some(s) = self.sessions.get_mut(&id) else {
                return;
            };
            let mut rejected = Vec::new();
            for st in s.media.streams.iter_mut().filter(|st| r.added.contains(&st.local_port)) {
                rejected.push(st.clone());
                st.local_port = 0;
                st.codec = None;
            }
            let (streams, drop_media) = (s.media.streams.clone(), s.media.drop_media);
            self.ports.release(&rejected);
            self.emit(Event::StreamsChanged {
                id,
                streams,
                drop_media,
            });
        }
        self.send_answer(id, &r.request, r.is_invite, now);
    }

    pub(super) fn end_session(&mut self, id: SessionId, reason: EndReason) {
        if let Some(s) = self.sessions.remove(&id) {
            self.dialogs.remove(&s.dialog.key());
            self.ports.release(&s.media.streams);
            self.emit(Event::SessionEnded { id, reason });
        }
    }

    /// Ends a session from our side: sends BYE and emits [`Event::SessionEnded`].
    pub fn hangup(&mut self, id: SessionId, now: Instant) {
        self.send_bye(id, now);
        self.end_session(id, EndReason::LocalHangup);
        // keep the BYE transaction alive for retransmission
    }
}
