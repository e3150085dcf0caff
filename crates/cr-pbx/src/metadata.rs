//! SIPREC recording metadata (RFC 7865) with quick-xml.
//!
//! Tolerant by design: element names are matched by local name only, so any prefix
//! (`tns:`) and any namespace (`urn:ietf:params:xml:ns:recording:1`, the older
//! `urn:ietf:params:xml:ns:recording`, none) work. Both the RFC form
//! (`participant_id`/`stream_id` attributes, `<participantstreamassoc>` with `<send>`/`<recv>`)
//! and the older draft form (`id` attributes, `<send>`/`<recv>` inside `<participant>`,
//! `<aor>` elements, stream ids nested as `<send><id>…</id></send>`) are read, under the
//! RFC's root `<recording>` or the draft's `<recording_metadata>` (namespace
//! `urn:ietf:params:xml:ns:siprec`, sent by BroadWorks and Webex Calling). BroadWorks'
//! extension names the calling party (`<callingPartyNumber>` of its `<origCall>` or
//! `<termCall>`); when that is not the first participant, it is still the caller.

use crate::error::ParseError;
use crate::sip::user_of;
use quick_xml::events::Event as XmlEvent;

/// A participant of the recorded call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Participant {
    /// `participant_id` (or draft `id`).
    pub id: String,
    /// `nameID aor` (or draft `<aor>`), e.g. `sip:+4930123@pbx`.
    pub aor: Option<String>,
    /// Display name (`<name>`).
    pub name: Option<String>,
    /// Stream ids this participant sends.
    pub send: Vec<String>,
    /// Stream ids this participant receives.
    pub recv: Vec<String>,
}

/// A stream of the metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetaStream {
    /// `stream_id` (or draft `id`).
    pub id: String,
    /// `<label>`: matches the SDP `a=label:`.
    pub label: Option<String>,
    /// The draft's `<mode>`: `mixed` (both parties in one stream) or `separate`.
    pub mode: Option<String>,
}

/// Parsed recording metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata {
    /// `<datamode>`: `complete` or `partial`.
    pub datamode: Option<String>,
    /// Participants in document order.
    pub participants: Vec<Participant>,
    /// Streams in document order.
    pub streams: Vec<MetaStream>,
    /// `<sipSessionID>` values (the recorded call's session ids).
    pub sip_session_ids: Vec<String>,
    /// BroadWorks' `<callingPartyNumber>` (its extension data): who placed the call, as a
    /// URI. On a terminating call half (`<termCall>`) the recorded user, listed first, is
    /// the called party, so this decides who the caller is.
    pub calling_party: Option<String>,
}

/// Which side of the call a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The calling party's voice (left channel in stereo).
    Caller,
    /// The called party's voice (right channel in stereo).
    Callee,
    /// Both voices mixed in one stream (e.g. BroadWorks' single mixed stream).
    Mixed,
    /// Not known.
    Unknown,
}

impl Role {
    /// `caller` / `callee` / `mixed` / `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Caller => "caller",
            Role::Callee => "callee",
            Role::Mixed => "mixed",
            Role::Unknown => "unknown",
        }
    }
}

fn attr(e: &quick_xml::events::BytesStart<'_>, names: &[&str]) -> Option<String> {
    for a in e.attributes().flatten() {
        let key = a.key.local_name();
        let key: &str = key.as_ref();
        if names.iter().any(|n| n.eq_ignore_ascii_case(key)) {
            return a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.trim().to_owned());
        }
    }
    None
}

fn resolve_ref(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let n = name.strip_prefix('#')?;
            let code = match n.strip_prefix('x') {
                Some(h) => u32::from_str_radix(h, 16).ok()?,
                None => n.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Participant(usize),
    Stream(usize),
    Assoc(usize),
    Other,
}

impl Metadata {
    /// Parses the metadata XML.
    pub fn parse(xml: &[u8]) -> Result<Metadata, ParseError> {
        let text = std::str::from_utf8(xml)
            .map_err(|_| ParseError::Metadata("metadata is not UTF-8".into()))?;
        let mut reader = quick_xml::Reader::from_str(text);
        let mut md = Metadata::default();
        // element stack: (local name, context)
        let mut stack: Vec<(String, Ctx)> = Vec::new();
        let mut text_buf = String::new();
        let mut saw_root = false;
        loop {
            let ev = reader.read_event().map_err(|e| {
                ParseError::Metadata(format!(
                    "XML error at byte {}: {e}",
                    reader.buffer_position()
                ))
            })?;
            match ev {
                XmlEvent::Start(ref e) | XmlEvent::Empty(ref e) => {
                    let empty = matches!(ev, XmlEvent::Empty(_));
                    let local = AsRef::<str>::as_ref(&e.local_name()).to_ascii_lowercase();
                    if stack.is_empty() {
                        if local != "recording" && local != "recording_metadata" {
                            return Err(ParseError::Metadata(format!(
                                "root element is <{local:.30}>, expected <recording> or <recording_metadata>"
                            )));
                        }
                        saw_root = true;
                    }
                    if stack.len() > 64 {
                        return Err(ParseError::Metadata("nesting too deep".into()));
                    }
                    let parent = stack.last().map(|(_, c)| *c).unwrap_or(Ctx::Other);
                    let ctx = match local.as_str() {
                        "participant" => {
                            let id = attr(e, &["participant_id", "id"]).unwrap_or_default();
                            let idx = md.participant_index(&id);
                            Ctx::Participant(idx)
                        }
                        "stream" => {
                            let id = attr(e, &["stream_id", "id"]).unwrap_or_default();
                            md.streams.push(MetaStream { id, label: None, mode: None });
                            Ctx::Stream(md.streams.len() - 1)
                        }
                        "participantstreamassoc" => {
                            let id = attr(e, &["participant_id", "id"]).unwrap_or_default();
                            Ctx::Assoc(md.participant_index(&id))
                        }
                        "nameid" => {
                            if let Ctx::Participant(i) = parent
                                && let Some(aor) = attr(e, &["aor"])
                                && !aor.is_empty()
                            {
                                md.participants[i].aor = Some(aor);
                            }
                            parent
                        }
                        _ => parent,
                    };
                    text_buf.clear();
                    if !empty {
                        stack.push((local, ctx));
                    }
                }
                XmlEvent::Text(t) => {
                    text_buf.push_str(&t.xml10_content());
                }
                XmlEvent::CData(t) => {
                    text_buf.push_str(&t.into_inner());
                }
                XmlEvent::GeneralRef(r) => {
                    let name = r.into_inner().into_owned();
                    if let Some(c) = resolve_ref(&name) {
                        text_buf.push(c);
                    }
                }
                XmlEvent::End(_) => {
                    let Some((local, ctx)) = stack.pop() else {
                        return Err(ParseError::Metadata("unbalanced end tag".into()));
                    };
                    let value = text_buf.trim().to_owned();
                    text_buf.clear();
                    // The draft nests a stream id in `<send><id>…</id></send>`.
                    let within = |name: &str| stack.last().is_some_and(|(n, _)| n == name);
                    let local = match local.as_str() {
                        "id" if within("send") => "send",
                        "id" if within("recv") => "recv",
                        other => other,
                    };
                    match (local, ctx) {
                        ("label", Ctx::Stream(i)) => md.streams[i].label = Some(value),
                        ("mode", Ctx::Stream(i)) if !value.is_empty() => {
                            md.streams[i].mode = Some(value.to_ascii_lowercase())
                        }
                        ("callingpartynumber", _) if md.calling_party.is_none() && !value.is_empty() => {
                            md.calling_party = Some(value)
                        }
                        ("aor", Ctx::Participant(i)) if !value.is_empty() => {
                            md.participants[i].aor = Some(value)
                        }
                        ("name", Ctx::Participant(i)) if !value.is_empty() => {
                            md.participants[i].name = Some(value)
                        }
                        ("send", Ctx::Participant(i) | Ctx::Assoc(i)) if !value.is_empty() => {
                            md.participants[i].send.push(value)
                        }
                        ("recv", Ctx::Participant(i) | Ctx::Assoc(i)) if !value.is_empty() => {
                            md.participants[i].recv.push(value)
                        }
                        ("datamode", _) => md.datamode = Some(value),
                        ("sipsessionid", _) => md.sip_session_ids.push(value),
                        _ => {}
                    }
                }
                XmlEvent::Eof => break,
                _ => {}
            }
        }
        if !saw_root {
            return Err(ParseError::Metadata("no <recording> element".into()));
        }
        if !stack.is_empty() {
            return Err(ParseError::Metadata(
                "document ends inside an element".into(),
            ));
        }
        Ok(md)
    }

    fn participant_index(&mut self, id: &str) -> usize {
        if !id.is_empty()
            && let Some(i) = self.participants.iter().position(|p| p.id == id)
        {
            return i;
        }
        self.participants.push(Participant {
            id: id.to_owned(),
            ..Default::default()
        });
        self.participants.len() - 1
    }

    /// Merges a partial update (`datamode` partial) into this metadata: participants and
    /// streams with a known id are updated, new ones added. A complete update replaces.
    pub fn merge(&mut self, update: Metadata) {
        if update.datamode.as_deref() != Some("partial") {
            *self = update;
            return;
        }
        if update.calling_party.is_some() {
            self.calling_party = update.calling_party;
        }
        for p in update.participants {
            match self.participants.iter_mut().find(|q| q.id == p.id) {
                Some(q) => {
                    if p.aor.is_some() {
                        q.aor = p.aor;
                    }
                    if p.name.is_some() {
                        q.name = p.name;
                    }
                    if !p.send.is_empty() {
                        q.send = p.send;
                    }
                    if !p.recv.is_empty() {
                        q.recv = p.recv;
                    }
                }
                None => self.participants.push(p),
            }
        }
        for s in update.streams {
            match self.streams.iter_mut().find(|q| q.id == s.id) {
                Some(q) => *q = s,
                None => self.streams.push(s),
            }
        }
    }

    /// Participants that take part in the call (those with an aor or a stream), in document
    /// order, except that the participant BroadWorks names as the calling party
    /// ([`calling_party`](Self::calling_party), matched by user part) comes first. The
    /// first is taken as the caller, the second as the callee (RFC 7865 has no caller flag;
    /// SRCs list the originating party first, BroadWorks its own user first).
    pub fn parties(&self) -> Vec<&Participant> {
        let mut parties: Vec<&Participant> = self
            .participants
            .iter()
            .filter(|p| p.aor.is_some() || !p.send.is_empty() || !p.recv.is_empty())
            .collect();
        let calling = self.calling_party.as_deref().map(user_of).filter(|u| !u.is_empty());
        if let Some(calling) = calling
            && let Some(i) = parties.iter().position(|p| p.aor.as_deref().map(user_of) == Some(calling))
        {
            let caller = parties.remove(i);
            parties.insert(0, caller);
        }
        parties
    }

    /// The role of the stream with SDP label `label`, from `participantstreamassoc`:
    /// sent by the caller -> Caller; by the callee -> Callee; by both -> Mixed. When no one
    /// is said to send it, a stream received only by the callee is the caller's and vice
    /// versa. `None` when the metadata does not say.
    pub fn role_of_label(&self, label: &str) -> Option<Role> {
        let parties = self.parties();
        let caller = parties.first()?;
        let callee = parties.get(1);
        let labelled: Vec<&MetaStream> = self.streams.iter().filter(|s| s.label.as_deref() == Some(label)).collect();
        if labelled.is_empty() {
            return None;
        }
        if labelled.iter().any(|s| s.mode.as_deref() == Some("mixed")) {
            return Some(Role::Mixed);
        }
        let ids: Vec<&str> = labelled.iter().map(|s| s.id.as_str()).collect();
        let sends = |p: &Participant| p.send.iter().any(|s| ids.contains(&s.as_str()));
        let recvs = |p: &Participant| p.recv.iter().any(|s| ids.contains(&s.as_str()));
        let by_caller = sends(caller);
        let by_callee = callee.is_some_and(|c| sends(c));
        match (by_caller, by_callee) {
            (true, true) => Some(Role::Mixed),
            (true, false) => Some(Role::Caller),
            (false, true) => Some(Role::Callee),
            (false, false) => {
                // Someone else (a third party) may send it; only receivers left to judge.
                let others_send = parties.iter().skip(2).any(|p| sends(p));
                if others_send {
                    return Some(Role::Unknown);
                }
                match (recvs(caller), callee.is_some_and(|c| recvs(c))) {
                    (false, true) => Some(Role::Caller),
                    (true, false) => Some(Role::Callee),
                    _ => None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const RFC: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns='urn:ietf:params:xml:ns:recording:1'>
  <datamode>complete</datamode>
  <session session_id="hVpd7YQgRW2nD22h7q60JQ=="><sipSessionID>ab30317f1a784dc48ff824d0d3715d86;remote=47755a9de7794ba387653f2099600ef2</sipSessionID></session>
  <participant participant_id="srfBElmCRp2QB23b7Mpk0w==">
    <nameID aor="sip:+4930999888@example.com"><name xml:lang="it">Bob &amp; Co</name></nameID>
  </participant>
  <participant participant_id="zSfPoSvdSDCmU3A3TRDxAw==">
    <nameID aor="sip:300@example.com"/>
  </participant>
  <stream stream_id="UAAMm5GRQKSCMVvLyl4rFw==" session_id="hVpd7YQgRW2nD22h7q60JQ=="><label>96</label></stream>
  <stream stream_id="i1Pz3to5hGk8fuXl+PbwCw==" session_id="hVpd7YQgRW2nD22h7q60JQ=="><label>97</label></stream>
  <participantstreamassoc participant_id="srfBElmCRp2QB23b7Mpk0w==">
    <send>i1Pz3to5hGk8fuXl+PbwCw==</send><recv>UAAMm5GRQKSCMVvLyl4rFw==</recv>
  </participantstreamassoc>
  <participantstreamassoc participant_id="zSfPoSvdSDCmU3A3TRDxAw==">
    <send>UAAMm5GRQKSCMVvLyl4rFw==</send><recv>i1Pz3to5hGk8fuXl+PbwCw==</recv>
  </participantstreamassoc>
</recording>"#;

    #[test]
    fn rfc_example_roles() {
        let m = Metadata::parse(RFC.as_bytes()).expect("parse");
        assert_eq!(m.participants.len(), 2);
        assert_eq!(
            m.participants[0].aor.as_deref(),
            Some("sip:+4930999888@example.com")
        );
        assert_eq!(m.participants[0].name.as_deref(), Some("Bob & Co"));
        assert_eq!(m.role_of_label("97"), Some(Role::Caller));
        assert_eq!(m.role_of_label("96"), Some(Role::Callee));
        assert_eq!(m.role_of_label("5"), None);
    }

    #[test]
    fn sonus_prefix_old_namespace_draft_form() {
        let x = r#"<tns:recording xmlns:tns="urn:ietf:params:xml:ns:recording">
 <tns:participant id="p1"><tns:aor>sip:201@pbx</tns:aor><tns:send>s1</tns:send></tns:participant>
 <tns:participant id="p2"><tns:aor>sip:202@pbx</tns:aor><tns:send>s2</tns:send></tns:participant>
 <tns:stream id="s2"><tns:label>b</tns:label></tns:stream>
 <tns:stream id="s1"><tns:label>a</tns:label></tns:stream>
</tns:recording>"#;
        let m = Metadata::parse(x.as_bytes()).expect("parse");
        assert_eq!(m.role_of_label("a"), Some(Role::Caller));
        assert_eq!(m.role_of_label("b"), Some(Role::Callee));
        assert_eq!(m.parties()[1].aor.as_deref(), Some("sip:202@pbx"));
    }

    #[test]
    fn partial_merge_replaces_placeholder() {
        let first = r#"<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>complete</datamode>
<participant participant_id="a"><nameID aor="sip:placeholder@avaya"/></participant>
<participant participant_id="b"><nameID aor="sip:300@pbx"/></participant></recording>"#;
        let upd = r#"<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>partial</datamode>
<participant participant_id="a"><nameID aor="sip:+49301@pbx"/></participant></recording>"#;
        let mut m = Metadata::parse(first.as_bytes()).expect("parse");
        m.merge(Metadata::parse(upd.as_bytes()).expect("parse"));
        assert_eq!(m.parties()[0].aor.as_deref(), Some("sip:+49301@pbx"));
        assert_eq!(m.parties()[1].aor.as_deref(), Some("sip:300@pbx"));
    }

    /// The draft schema as BroadWorks writes it, in our own words: root
    /// `<recording_metadata>` in the `siprec` namespace, `<aor>` elements, stream ids nested
    /// in `<send><id>`, one stream sent by both parties and marked `mixed`, and the
    /// extension naming the calling party of a terminating call half (the recorded user,
    /// listed first, was called).
    const DRAFT_TERMINATING_MIXED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<recording_metadata xmlns="urn:ietf:params:xml:ns:siprec">
<dataMode>complete</dataMode>
<recording id="urn:uuid:r1"><requestor>SRC</requestor><type>selective</type></recording>
<session id="urn:uuid:s1"><start-time>2026-12-07T10:00:00+00:00</start-time></session>
<participant id="urn:uuid:user" session="urn:uuid:s1">
<aor>sip:4930555@bw.example.net</aor>
<send>
<id>urn:uuid:m1</id>
</send>
</participant>
<participant id="urn:uuid:far" session="urn:uuid:s1">
<aor>sip:0301234@10.1.2.3;user=phone</aor>
<send><id>urn:uuid:m1</id></send>
</participant>
<stream id="urn:uuid:m1" session="urn:uuid:s1"><label>1</label><mode>mixed</mode></stream>
<extensiondata id="urn:uuid:x1" parent="urn:uuid:s1">
<broadWorksRecordingMetadata xmlns="http://schema.broadsoft.com/broadworksCallRecording" version="1.0">
<userID>4930555@bw.example.net</userID>
<callType><termCall>
<callingPartyNumber>sip:0301234@10.1.2.3;user=phone</callingPartyNumber>
<calledPartyNumber>sip:555@10.1.2.3</calledPartyNumber>
<redirectInfo><lastRedirectNumber>sip:777@10.1.2.3</lastRedirectNumber></redirectInfo>
</termCall></callType>
</broadWorksRecordingMetadata>
</extensiondata>
</recording_metadata>"#;

    #[test]
    fn draft_root_nested_send_ids_mixed_mode_and_the_calling_party_first() {
        let m = Metadata::parse(DRAFT_TERMINATING_MIXED.as_bytes()).expect("parse");
        assert_eq!(m.datamode.as_deref(), Some("complete"));
        assert_eq!(m.participants.len(), 2);
        // `<send><id>X</id></send>` keeps X (once, not the whitespace around it).
        assert_eq!(m.participants[0].send, ["urn:uuid:m1"]);
        assert_eq!(m.participants[1].send, ["urn:uuid:m1"]);
        assert_eq!(m.streams[0].mode.as_deref(), Some("mixed"));
        assert_eq!(m.calling_party.as_deref(), Some("sip:0301234@10.1.2.3;user=phone"));
        // The calling party leads although the user is listed first.
        let parties: Vec<_> = m.parties().iter().map(|p| p.aor.clone().unwrap()).collect();
        assert_eq!(parties, ["sip:0301234@10.1.2.3;user=phone", "sip:4930555@bw.example.net"]);
        assert_eq!(m.role_of_label("1"), Some(Role::Mixed));
    }

    #[test]
    fn a_stream_marked_mixed_is_mixed_even_when_one_party_sends_it() {
        let x = DRAFT_TERMINATING_MIXED.replace("<send><id>urn:uuid:m1</id></send>", "");
        let m = Metadata::parse(x.as_bytes()).expect("parse");
        assert_eq!(m.participants[1].send, Vec::<String>::new());
        assert_eq!(m.role_of_label("1"), Some(Role::Mixed));
        // Without the mark, the one sender owns it: here the user, the called party.
        let m = Metadata::parse(x.replace("<mode>mixed</mode>", "<mode>separate</mode>").as_bytes()).expect("parse");
        assert_eq!(m.role_of_label("1"), Some(Role::Callee));
    }

    #[test]
    fn two_separate_streams_of_an_originating_call_keep_document_order() {
        // An originating half: the user placed the call and is the calling party.
        let x = DRAFT_TERMINATING_MIXED
            .replace("termCall>", "origCall>")
            .replace("sip:0301234@10.1.2.3;user=phone</callingPartyNumber>", "sip:4930555@10.1.2.3</callingPartyNumber>")
            .replace("<send><id>urn:uuid:m1</id></send>", "<send><id>urn:uuid:m2</id></send>")
            .replace("<mode>mixed</mode>", "<mode>separate</mode>")
            .replace("<extensiondata", "<stream id=\"urn:uuid:m2\"><label>2</label><mode>separate</mode></stream>\n<extensiondata");
        let m = Metadata::parse(x.as_bytes()).expect("parse");
        assert_eq!(m.parties()[0].aor.as_deref(), Some("sip:4930555@bw.example.net"));
        assert_eq!(m.role_of_label("1"), Some(Role::Caller));
        assert_eq!(m.role_of_label("2"), Some(Role::Callee));
    }

    #[test]
    fn a_calling_party_no_participant_matches_changes_nothing() {
        let x = DRAFT_TERMINATING_MIXED.replace("sip:0301234@10.1.2.3;user=phone</callingPartyNumber>", "sip:999@10.1.2.3</callingPartyNumber>");
        let m = Metadata::parse(x.as_bytes()).expect("parse");
        assert_eq!(m.parties()[0].aor.as_deref(), Some("sip:4930555@bw.example.net"));
    }

    #[test]
    fn a_partial_update_keeps_the_calling_party() {
        let mut m = Metadata::parse(DRAFT_TERMINATING_MIXED.as_bytes()).expect("parse");
        let upd = r#"<recording_metadata xmlns="urn:ietf:params:xml:ns:siprec"><dataMode>partial</dataMode>
<participant id="urn:uuid:far"><aor>sip:0301234@10.1.2.3;user=phone</aor><name>Far End</name></participant></recording_metadata>"#;
        m.merge(Metadata::parse(upd.as_bytes()).expect("parse"));
        assert_eq!(m.parties()[0].name.as_deref(), Some("Far End"));
    }

    #[test]
    fn malformed() {
        assert!(Metadata::parse(b"<recording><participant></recording>").is_err());
        assert!(Metadata::parse(b"<foo/>").is_err());
        assert!(Metadata::parse(b"<recording_metadata><participant></recording_metadata>").is_err());
        assert!(Metadata::parse(b"").is_err());
        assert!(Metadata::parse(&[0xff, 0xfe]).is_err());
    }
}
