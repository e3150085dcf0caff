//! SIP dialogs of the SRS (RFC 3261 §12): what an initial INVITE establishes (tags,
//! route set, remote target, CSeq numbers), the index from (Call-ID, From tag) to the
//! session, and the BYE we send in a dialog.

use super::SessionId;
use crate::common::Transport;
use crate::sip::{SipMessage, StartLine, uri_of};
use std::collections::HashMap;
use std::net::SocketAddr;

/// What identifies a dialog on our side: its Call-ID and the SRC's tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct DialogKey {
    call_id: String,
    remote_tag: String,
}

impl DialogKey {
    /// The dialog a request from the SRC names (a missing Call-ID or From tag counts as
    /// empty, as on the INVITE that created it).
    pub(super) fn of(msg: &SipMessage) -> DialogKey {
        DialogKey {
            call_id: msg.call_id().unwrap_or("").to_owned(),
            remote_tag: msg.from_tag().unwrap_or("").to_owned(),
        }
    }
}

/// One dialog.
#[derive(Debug)]
pub(super) struct Dialog {
    pub(super) call_id: String,
    pub(super) remote_tag: String,
    /// Our To tag.
    pub(super) local_tag: String,
    /// Where the SRC's requests come from (and ours go).
    pub(super) peer: SocketAddr,
    pub(super) transport: Transport,
    /// The highest CSeq of the SRC's requests.
    pub(super) remote_cseq: u32,
    /// The CSeq of our last request.
    pub(super) local_cseq: u32,
    /// The SRC's Contact (or From URI).
    remote_target: String,
    /// Record-Route of the INVITE, in its order.
    route_set: Vec<String>,
    /// From of the INVITE (our To).
    from_hdr: String,
    /// To of the INVITE with our tag (our From).
    to_hdr: String,
}

impl Dialog {
    /// The dialog an initial INVITE from `peer` creates, with our tag `local_tag`.
    pub(super) fn from_invite(msg: &SipMessage, peer: SocketAddr, transport: Transport, local_tag: String) -> Self {
        let mut to_hdr = msg.header("To").unwrap_or("").to_owned();
        to_hdr.push_str(";tag=");
        to_hdr.push_str(&local_tag);
        Dialog {
            call_id: msg.call_id().unwrap_or("").to_owned(),
            remote_tag: msg.from_tag().unwrap_or("").to_owned(),
            local_tag,
            peer,
            transport,
            remote_cseq: msg.cseq().map(|c| c.0).unwrap_or(0),
            local_cseq: 0,
            remote_target: msg
                .header("Contact")
                .map(|c| uri_of(c).to_owned())
                .unwrap_or_else(|| uri_of(msg.header("From").unwrap_or("")).to_owned()),
            route_set: msg.headers_all("Record-Route").map(str::to_owned).collect(),
            from_hdr: msg.header("From").unwrap_or("").to_owned(),
            to_hdr,
        }
    }

    /// The key of this dialog.
    pub(super) fn key(&self) -> DialogKey {
        DialogKey {
            call_id: self.call_id.clone(),
            remote_tag: self.remote_tag.clone(),
        }
    }

    /// A BYE in this dialog, sent via `via_host:via_port` with `branch`.
    pub(super) fn bye(&mut self, branch: &str, via_host: &str, via_port: u16) -> SipMessage {
        self.local_cseq += 1;
        let mut m = SipMessage {
            start: StartLine::Request {
                method: "BYE".into(),
                uri: self.remote_target.clone(),
            },
            headers: Vec::new(),
            body: Vec::new(),
        };
        m.push_header(
            "Via",
            format!(
                "SIP/2.0/{} {via_host}:{via_port};branch={branch};rport",
                self.transport.as_str(),
            ),
        );
        m.push_header("Max-Forwards", "70");
        for r in self.route_set.iter().rev() {
            m.push_header("Route", r.clone());
        }
        m.push_header("From", self.to_hdr.clone());
        m.push_header("To", self.from_hdr.clone());
        m.push_header("Call-ID", self.call_id.clone());
        m.push_header("CSeq", format!("{} BYE", self.local_cseq + 100));
        m
    }
}

/// The index of dialogs to their sessions.
#[derive(Debug, Default)]
pub(super) struct Dialogs {
    by_key: HashMap<DialogKey, SessionId>,
}

impl Dialogs {
    /// Records the dialog `key` of session `id`.
    pub(super) fn insert(&mut self, key: DialogKey, id: SessionId) {
        self.by_key.insert(key, id);
    }

    /// Forgets the dialog `key`.
    pub(super) fn remove(&mut self, key: &DialogKey) {
        self.by_key.remove(key);
    }

    /// The session of dialog `key`.
    pub(super) fn get(&self, key: &DialogKey) -> Option<SessionId> {
        self.by_key.get(key).copied()
    }
}
