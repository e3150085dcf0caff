//! SIP transactions of the SRS (RFC 3261 §17): server transactions keyed by a typed
//! [`TxKey`] (branch or, for pre-RFC 3261 peers, Call-ID/From tag/CSeq, and the
//! [`Method`]), their retransmission and end timers, and the client transactions of the
//! BYEs we send.

use super::SessionId;
use crate::common::{ClientTx, Timers, Transmit, Transport};
use crate::sip::SipMessage;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A SIP request method, as the SRS tells them apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Method {
    /// INVITE (initial or re-INVITE).
    Invite,
    /// ACK.
    Ack,
    /// BYE.
    Bye,
    /// CANCEL.
    Cancel,
    /// OPTIONS.
    Options,
    /// UPDATE (RFC 3311).
    Update,
    /// INFO.
    Info,
    /// PRACK.
    Prack,
    /// Any other method, by its name (empty for a response).
    Other(String),
}

impl Method {
    /// The method of a request line (case-sensitive, RFC 3261 §7.1).
    pub(super) fn of(msg: &SipMessage) -> Method {
        match msg.method().unwrap_or("") {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "UPDATE" => Method::Update,
            "INFO" => Method::Info,
            "PRACK" => Method::Prack,
            other => Method::Other(other.to_owned()),
        }
    }
}

/// What identifies a server transaction (RFC 3261 §17.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum TxId {
    /// The top Via branch, when it has the RFC 3261 magic cookie `z9hG4bK`.
    Branch(String),
    /// An RFC 2543 peer: Call-ID, From tag and CSeq number.
    Legacy {
        call_id: String,
        from_tag: String,
        cseq: u32,
    },
}

/// The key of a server transaction: its id and method. An ACK has the key of the INVITE
/// it acknowledges; [`TxKey::invite_of`] names the INVITE a CANCEL cancels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct TxKey {
    id: TxId,
    method: Method,
}

impl TxKey {
    /// The key of the transaction `msg` belongs to.
    pub(super) fn of(msg: &SipMessage) -> TxKey {
        let method = match Method::of(msg) {
            Method::Ack => Method::Invite,
            m => m,
        };
        let id = match msg.top_branch() {
            Some(b) if b.starts_with("z9hG4bK") => TxId::Branch(b.to_owned()),
            _ => TxId::Legacy {
                call_id: msg.call_id().unwrap_or("").to_owned(),
                from_tag: msg.from_tag().unwrap_or("").to_owned(),
                cseq: msg.cseq().map(|c| c.0).unwrap_or(0),
            },
        };
        TxKey { id, method }
    }

    /// The INVITE transaction with the same id (what a CANCEL with this key cancels).
    pub(super) fn invite_of(&self) -> TxKey {
        TxKey {
            id: self.id.clone(),
            method: Method::Invite,
        }
    }
}

/// Where a server transaction is (RFC 3261 §17.2.1, §17.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TxState {
    /// No final response yet.
    Proceeding,
    /// A final response sent (retransmitted over UDP for INVITE's non-2xx).
    Completed,
    /// INVITE: the ACK came (or a 2xx ended it).
    Confirmed,
}

/// One server transaction.
#[derive(Debug)]
pub(super) struct ServerTx {
    invite: bool,
    pub(super) peer: SocketAddr,
    pub(super) transport: Transport,
    /// The last response sent (what a retransmitted request gets again).
    pub(super) last: Option<Vec<u8>>,
    pub(super) state: TxState,
    retx_at: Option<Instant>,
    interval: Duration,
    end_at: Option<Instant>,
    /// The session an initial INVITE created.
    pub(super) session: Option<SessionId>,
}

/// The server transactions of the core.
#[derive(Debug, Default)]
pub(super) struct ServerTransactions {
    txs: HashMap<TxKey, ServerTx>,
}

impl ServerTransactions {
    /// The transaction of `key`.
    pub(super) fn get(&self, key: &TxKey) -> Option<&ServerTx> {
        self.txs.get(key)
    }

    /// Starts the transaction of a new request from `peer`.
    pub(super) fn start(&mut self, key: TxKey, peer: SocketAddr, transport: Transport, timers: &Timers) {
        let invite = key.method == Method::Invite;
        self.txs.insert(
            key,
            ServerTx {
                invite,
                peer,
                transport,
                last: None,
                state: TxState::Proceeding,
                retx_at: None,
                interval: timers.t1,
                end_at: None,
                session: None,
            },
        );
    }

    /// Links the transaction of an initial INVITE to its session.
    pub(super) fn set_session(&mut self, key: &TxKey, id: SessionId) {
        if let Some(tx) = self.txs.get_mut(key) {
            tx.session = Some(id);
        }
    }

    /// Records a response of status `code` sent in transaction `key` and moves it on
    /// (Timers G, H, J); returns where to send it, None if the transaction is gone.
    pub(super) fn respond(
        &mut self,
        key: &TxKey,
        code: u16,
        bytes: &[u8],
        timers: &Timers,
        now: Instant,
    ) -> Option<(SocketAddr, Transport)> {
        let tx = self.txs.get_mut(key)?;
        let (peer, transport) = (tx.peer, tx.transport);
        tx.last = Some(bytes.to_vec());
        if code >= 200 {
            let t = timers;
            if tx.invite && code >= 300 {
                tx.state = TxState::Completed;
                if !transport.reliable() {
                    tx.retx_at = Some(now + t.t1);
                    tx.interval = t.t1;
                }
                tx.end_at = Some(now + t.t1 * 64); // Timer H
            } else if tx.invite {
                // 2xx: the transaction ends; the session retransmits until ACK.
                tx.state = TxState::Confirmed;
                tx.end_at = Some(now + t.t1 * 64);
            } else {
                tx.state = TxState::Completed;
                // Timer J
                tx.end_at = Some(if transport.reliable() {
                    now
                } else {
                    now + t.t1 * 64
                });
            }
        }
        Some((peer, transport))
    }

    /// An ACK for a non-2xx final response of INVITE transaction `key`: true if it was
    /// one (the transaction is confirmed and ends after Timer I).
    pub(super) fn ack_non_2xx(&mut self, key: &TxKey, timers: &Timers, now: Instant) -> bool {
        let Some(tx) = self.txs.get_mut(key) else {
            return false;
        };
        if !(tx.invite && tx.state == TxState::Completed) {
            return false;
        }
        tx.state = TxState::Confirmed;
        tx.retx_at = None;
        tx.end_at = Some(if tx.transport.reliable() {
            now
        } else {
            now + timers.t4
        });
        true
    }

    /// The next retransmission or end of a transaction.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.txs
            .values()
            .flat_map(|tx| [tx.retx_at, tx.end_at])
            .flatten()
            .min()
    }

    /// Ends the transactions whose time is up and returns the responses to retransmit.
    pub(super) fn on_timeout(&mut self, timers: &Timers, now: Instant) -> Vec<Transmit> {
        let mut resend = Vec::new();
        self.txs.retain(|_, tx| {
            if let Some(e) = tx.end_at
                && now >= e
            {
                return false;
            }
            if let Some(r) = tx.retx_at
                && now >= r
                && tx.state == TxState::Completed
            {
                tx.interval = (tx.interval * 2).min(timers.t2);
                tx.retx_at = Some(now + tx.interval);
                if let Some(b) = &tx.last {
                    resend.push(Transmit {
                        dest: tx.peer,
                        transport: tx.transport,
                        bytes: b.clone(),
                    });
                }
            }
            true
        });
        resend
    }
}

/// The client transactions of the BYEs the core sends (they outlive their session).
#[derive(Debug, Default)]
pub(super) struct ClientTransactions {
    txs: Vec<ClientTx>,
}

impl ClientTransactions {
    /// Starts one; returns its first transmission.
    pub(super) fn start(&mut self, tx: ClientTx) -> Transmit {
        let first = tx.transmit();
        self.txs.push(tx);
        first
    }

    /// A response to one of ours: a provisional one slows the retransmissions, a final
    /// one ends the transaction.
    pub(super) fn on_response(&mut self, msg: &SipMessage, timers: &Timers, now: Instant) {
        let Some(branch) = msg.top_branch() else {
            return;
        };
        let Some(pos) = self.txs.iter().position(|t| t.branch == branch) else {
            return;
        };
        if msg.status().unwrap_or(0) < 200 {
            self.txs[pos].on_provisional(timers, now);
        } else {
            self.txs.remove(pos);
        }
    }

    /// The next retransmission or timeout.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.txs.iter().map(ClientTx::next_deadline).min()
    }

    /// Retransmits and times out; returns what to send.
    pub(super) fn on_timeout(&mut self, timers: &Timers, now: Instant) -> Vec<Transmit> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.txs.len() {
            match self.txs[i].on_timeout(timers, now) {
                Err(()) => {
                    self.txs.remove(i);
                }
                Ok(Some(tr)) => {
                    out.push(tr);
                    i += 1;
                }
                Ok(None) => i += 1,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(method: &str, branch: &str) -> SipMessage {
        let text = format!(
            "{method} sip:srs@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;branch={branch}\r\nFrom: <sip:a@pbx>;tag=f\r\nTo: <sip:srs@10.0.0.1>\r\nCall-ID: c1\r\nCSeq: 7 {method}\r\nContent-Length: 0\r\n\r\n"
        );
        SipMessage::parse(text.as_bytes()).unwrap_or_else(|e| panic!("test message: {e}"))
    }

    // Guards against the string keys of old, where the CANCEL's INVITE was found by
    // rewriting "|CANCEL" in the key text.
    #[test]
    fn ack_and_cancel_find_their_invite_by_key_not_by_text() {
        for branch in ["z9hG4bK|CANCEL|x", "old-style"] {
            let invite = TxKey::of(&msg("INVITE", branch));
            assert_eq!(TxKey::of(&msg("ACK", branch)), invite);
            let cancel = TxKey::of(&msg("CANCEL", branch));
            assert_ne!(cancel, invite);
            assert_eq!(cancel.invite_of(), invite);
            assert_ne!(TxKey::of(&msg("BYE", branch)), invite);
        }
        assert_eq!(Method::of(&msg("invite", "z9hG4bK1")), Method::Other("invite".into()));
    }
}
