//! Call facts from the SIPREC INVITE and its RFC 7865 metadata: caller and callee (from
//! the metadata's participants, else From/To), the recorded sessions' ids, the SRC's
//! Contact and the INVITE's headers.

use crate::metadata::{Metadata, Participant};
use crate::sip::{SipMessage, uri_of, user_of};
use std::net::SocketAddr;

/// Where the caller/callee facts came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactsSource {
    /// RFC 7865 metadata participants (first = caller, second = callee).
    Metadata,
    /// No usable metadata: From/To of the SIPREC INVITE (see docs/siprec.md).
    Fallback,
}

/// Raw facts about the recorded call. The integrator classifies the direction against
/// the directory: metadata does not say incoming/outgoing reliably.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFacts {
    /// Call-ID of the SIPREC dialog.
    pub call_id: String,
    /// Caller's number/user (user part of the aor or URI).
    pub caller: Option<String>,
    /// Caller's full aor/URI.
    pub caller_aor: Option<String>,
    /// Caller display name.
    pub caller_name: Option<String>,
    /// Callee's number/user.
    pub callee: Option<String>,
    /// Callee's full aor/URI.
    pub callee_aor: Option<String>,
    /// Callee display name.
    pub callee_name: Option<String>,
    /// Where caller/callee came from.
    pub source: FactsSource,
    /// All participants of the metadata, document order.
    pub participants: Vec<Participant>,
    /// `<sipSessionID>`s of the recorded call (metadata).
    pub recorded_session_ids: Vec<String>,
    /// From URI of the SIPREC INVITE.
    pub from_uri: String,
    /// To URI of the SIPREC INVITE.
    pub to_uri: String,
    /// Contact of the SRC; `src_feature` tells whether it carried `+sip.src`.
    pub contact: Option<String>,
    /// Contact had the `+sip.src` feature tag (RFC 7866).
    pub src_feature: bool,
    /// Where the INVITE came from.
    pub source_addr: SocketAddr,
    /// All headers of the INVITE (vendor headers such as X-… or Diversion).
    pub headers: Vec<(String, String)>,
}

/// The facts of an initial INVITE from `source`, with its metadata if it has usable metadata.
pub(super) fn make_facts(msg: &SipMessage, md: Option<&Metadata>, source: SocketAddr) -> CallFacts {
    let from_uri = uri_of(msg.header("From").unwrap_or("")).to_owned();
    let to_uri = uri_of(msg.header("To").unwrap_or("")).to_owned();
    let contact = msg.header("Contact").map(str::to_owned);
    let src_feature = contact
        .as_deref()
        .is_some_and(|c| c.to_ascii_lowercase().contains("+sip.src"));
    let party = |uri: &str| number_of(uri).map(|n| (n, uri.to_owned()));
    let (caller, caller_aor) = party(&from_uri).unzip();
    let (callee, callee_aor) = party(&to_uri).unzip();
    let mut f = CallFacts {
        call_id: msg.call_id().unwrap_or("").to_owned(),
        caller,
        caller_aor,
        caller_name: None,
        callee,
        callee_aor,
        callee_name: None,
        source: FactsSource::Fallback,
        participants: Vec::new(),
        recorded_session_ids: Vec::new(),
        from_uri,
        to_uri,
        contact,
        src_feature,
        source_addr: source,
        headers: msg.headers.clone(),
    };
    apply_metadata(&mut f, md);
    f
}

/// A party's number: the user part of its URI. A URI without one (`sip:192.0.2.10:5060`, an
/// SRC's own To) names no party.
fn number_of(uri: &str) -> Option<String> {
    Some(user_of(uri)).filter(|u| !u.is_empty()).map(str::to_owned)
}

/// Takes caller, callee and participants from `md` (RFC 7865) where it names them.
pub(super) fn apply_metadata(f: &mut CallFacts, md: Option<&Metadata>) {
    let Some(md) = md else { return };
    f.participants = md.participants.clone();
    f.recorded_session_ids = md.sip_session_ids.clone();
    let parties = md.parties();
    if let Some(c) = parties.first() {
        f.source = FactsSource::Metadata;
        f.caller_aor = c.aor.clone();
        f.caller = c.aor.as_deref().and_then(number_of);
        f.caller_name = c.name.clone();
        let d = parties.get(1);
        f.callee_aor = d.and_then(|d| d.aor.clone());
        f.callee = f.callee_aor.as_deref().and_then(number_of);
        f.callee_name = d.and_then(|d| d.name.clone());
    }
}
