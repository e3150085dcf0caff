//! A focused SIP message parser and printer (RFC 3261 §7): start line, headers (compact
//! forms, folding, repeated headers), Content-Length, and a stream framer for TCP.

use crate::error::ParseError;
use std::fmt::Write as _;

/// The first line of a SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// `METHOD uri SIP/2.0`
    Request {
        /// Method, e.g. `INVITE` (case as received; SIP methods are case-sensitive).
        method: String,
        /// Request-URI as text.
        uri: String,
    },
    /// `SIP/2.0 code reason`
    Response {
        /// Status code (100..=699).
        code: u16,
        /// Reason phrase.
        reason: String,
    },
}

/// A parsed SIP message: start line, headers in order (names in their long form), body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipMessage {
    /// Request or status line.
    pub start: StartLine,
    /// Headers in received order; compact names are expanded (`v` -> `Via`).
    pub headers: Vec<(String, String)>,
    /// The body (exactly Content-Length bytes when the header is present).
    pub body: Vec<u8>,
}

/// Expands a compact header name (RFC 3261 §7.3.3 and later RFCs) to its long form.
pub fn expand_compact(name: &str) -> &str {
    if name.len() != 1 {
        return name;
    }
    match name.as_bytes()[0].to_ascii_lowercase() {
        b'v' => "Via",
        b'f' => "From",
        b't' => "To",
        b'i' => "Call-ID",
        b'm' => "Contact",
        b'l' => "Content-Length",
        b'c' => "Content-Type",
        b'k' => "Supported",
        b's' => "Subject",
        b'e' => "Content-Encoding",
        b'x' => "Session-Expires",
        b'o' => "Event",
        b'r' => "Refer-To",
        b'b' => "Referred-By",
        b'u' => "Allow-Events",
        _ => name,
    }
}

/// Largest message we accept (headers + body).
pub const MAX_MESSAGE: usize = 256 * 1024;

/// Finds the end of the header block: returns (index where headers end, index where body starts).
fn header_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < buf.len() {
        if buf[i] == b'\n' {
            // "\n\n" or "\n\r\n"
            if buf.get(i + 1) == Some(&b'\n') {
                return Some((i, i + 2));
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some((i, i + 3));
            }
        }
        i += 1;
    }
    None
}

impl SipMessage {
    /// Parses one complete message (a UDP datagram). Leading CRLFs (keep-alives) are skipped.
    /// A body longer than Content-Length is cut; a shorter one is an error.
    pub fn parse(buf: &[u8]) -> Result<SipMessage, ParseError> {
        let start = buf
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .ok_or(ParseError::Sip("empty message".into()))?;
        let buf = &buf[start..];
        if buf.len() > MAX_MESSAGE {
            return Err(ParseError::Sip("message too large".into()));
        }
        let (hend, bstart) = match header_end(buf) {
            Some(x) => x,
            // A message without a blank line: accept if it ends with a line end (no body).
            None => (buf.len(), buf.len()),
        };
        let mut msg = Self::parse_head(&buf[..hend])?;
        let rest = &buf[bstart.min(buf.len())..];
        match msg.content_length()? {
            Some(n) if n > rest.len() => {
                return Err(ParseError::Sip(format!(
                    "Content-Length {n} but only {} body bytes",
                    rest.len()
                )));
            }
            Some(n) => msg.body = rest[..n].to_vec(),
            None => msg.body = rest.to_vec(),
        }
        Ok(msg)
    }

    fn parse_head(head: &[u8]) -> Result<SipMessage, ParseError> {
        let text = std::str::from_utf8(head)
            .map_err(|_| ParseError::Sip("headers are not UTF-8".into()))?;
        let mut lines: Vec<&str> = Vec::new();
        for l in text.split('\n') {
            lines.push(l.strip_suffix('\r').unwrap_or(l));
        }
        let mut it = lines.into_iter();
        let first = it.next().ok_or(ParseError::Sip("no start line".into()))?;
        let start = parse_start_line(first)?;
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in it {
            if line.is_empty() {
                continue;
            }
            if line.starts_with(' ') || line.starts_with('\t') {
                // folded continuation
                let Some(last) = headers.last_mut() else {
                    return Err(ParseError::Sip(
                        "continuation line before any header".into(),
                    ));
                };
                last.1.push(' ');
                last.1.push_str(line.trim());
                continue;
            }
            let Some(colon) = line.find(':') else {
                return Err(ParseError::Sip(format!(
                    "header line without colon: {:.40}",
                    line
                )));
            };
            let name = line[..colon].trim();
            if name.is_empty() || name.contains(' ') {
                return Err(ParseError::Sip(format!("bad header name: {:.40}", name)));
            }
            let name = expand_compact(name).to_owned();
            headers.push((name, line[colon + 1..].trim().to_owned()));
        }
        Ok(SipMessage {
            start,
            headers,
            body: Vec::new(),
        })
    }

    /// The value of Content-Length, if present; an error if present but not a number.
    pub fn content_length(&self) -> Result<Option<usize>, ParseError> {
        match self.header("Content-Length") {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<usize>()
                .map(Some)
                .map_err(|_| ParseError::Sip(format!("bad Content-Length: {v:.20}"))),
        }
    }

    /// First header with this name (case-insensitive; compact names accepted).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = expand_compact(name);
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in order; comma-separated values are NOT split.
    pub fn headers_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let name = expand_compact(name);
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Replaces (or appends) a header.
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        if let Some(h) = self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            h.1 = value;
        } else {
            self.headers.push((name.to_owned(), value));
        }
    }

    /// Appends a header.
    pub fn push_header(&mut self, name: &str, value: impl Into<String>) {
        self.headers.push((name.to_owned(), value.into()));
    }

    /// The method of a request, or the CSeq method of a response.
    pub fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => self.cseq().map(|(_, m)| m),
        }
    }

    /// True for requests.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// Status code of a response.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// `Call-ID`.
    pub fn call_id(&self) -> Option<&str> {
        self.header("Call-ID")
    }

    /// `CSeq` as (number, method).
    pub fn cseq(&self) -> Option<(u32, &str)> {
        let v = self.header("CSeq")?;
        let mut it = v.split_whitespace();
        let n = it.next()?.parse().ok()?;
        let m = it.next()?;
        Some((n, m))
    }

    /// The `branch` parameter of the top Via.
    pub fn top_branch(&self) -> Option<&str> {
        let via = self.header("Via")?;
        let first = via.split(',').next()?;
        param(first, "branch")
    }

    /// `tag` parameter of From.
    pub fn from_tag(&self) -> Option<&str> {
        param(self.header("From")?, "tag")
    }

    /// `tag` parameter of To.
    pub fn to_tag(&self) -> Option<&str> {
        param(self.header("To")?, "tag")
    }

    /// Checks that the headers every request needs are present.
    pub fn validate_request(&self) -> Result<(), ParseError> {
        for h in ["Via", "From", "To", "Call-ID", "CSeq"] {
            if self.header(h).is_none() {
                return Err(ParseError::Sip(format!("missing {h} header")));
            }
        }
        if self.cseq().is_none() {
            return Err(ParseError::Sip("malformed CSeq".into()));
        }
        Ok(())
    }

    /// Prints the message; Content-Length is always (re)written to match the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = String::with_capacity(512);
        match &self.start {
            StartLine::Request { method, uri } => {
                let _ = write!(s, "{method} {uri} SIP/2.0\r\n");
            }
            StartLine::Response { code, reason } => {
                let _ = write!(s, "SIP/2.0 {code} {reason}\r\n");
            }
        }
        for (n, v) in &self.headers {
            if n.eq_ignore_ascii_case("Content-Length") {
                continue;
            }
            let _ = write!(s, "{n}: {v}\r\n");
        }
        let _ = write!(s, "Content-Length: {}\r\n\r\n", self.body.len());
        let mut out = s.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }

    /// The 400 (with `reason`) to a request that [`SipMessage::parse`] refused, when its
    /// head is readable enough to answer: a lenient reading of the start line and of Via,
    /// From, To, Call-ID and CSeq (lossy UTF-8, lines without a colon skipped). None for
    /// a response, an ACK (never answered), or a head without Via or CSeq.
    pub(crate) fn bad_request_for(bytes: &[u8], reason: &str) -> Option<SipMessage> {
        let text = String::from_utf8_lossy(bytes);
        let mut headers = Vec::new();
        let mut lines = text.split('\n').map(|l| l.trim_end_matches('\r'));
        let is_request = !lines.next().unwrap_or("").starts_with("SIP/");
        for line in lines {
            if line.is_empty() {
                break;
            }
            if let Some((n, v)) = line.split_once(':') {
                let n = expand_compact(n.trim()).to_owned();
                if ["Via", "From", "To", "Call-ID", "CSeq"]
                    .iter()
                    .any(|h| h.eq_ignore_ascii_case(&n))
                {
                    headers.push((n, v.trim().to_owned()));
                }
            }
        }
        let has = |h: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(h));
        if !is_request || !has("Via") || !has("CSeq") || text.contains(" ACK\r\n") {
            return None;
        }
        if headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("CSeq") && v.trim_end().ends_with("ACK"))
        {
            return None;
        }
        Some(SipMessage {
            start: StartLine::Response {
                code: 400,
                reason: reason.to_owned(),
            },
            headers,
            body: Vec::new(),
        })
    }

    /// Builds a response to this request: copies Via (all), From, To, Call-ID, CSeq; adds
    /// `to_tag` to To when given and To has none.
    pub fn response(&self, code: u16, reason: &str, to_tag: Option<&str>) -> SipMessage {
        let mut headers = Vec::new();
        for (n, v) in &self.headers {
            if n.eq_ignore_ascii_case("Via")
                || n.eq_ignore_ascii_case("From")
                || n.eq_ignore_ascii_case("Call-ID")
                || n.eq_ignore_ascii_case("CSeq")
            {
                headers.push((n.clone(), v.clone()));
            } else if n.eq_ignore_ascii_case("To") {
                let mut v = v.clone();
                if let Some(tag) = to_tag
                    && param(&v, "tag").is_none()
                {
                    v.push_str(";tag=");
                    v.push_str(tag);
                }
                headers.push((n.clone(), v));
            }
        }
        for v in self.headers_all("Record-Route") {
            // Record-Route copied for dialog-creating responses (RFC 3261 §12.1.1).
            if (101..300).contains(&code) {
                headers.push(("Record-Route".into(), v.to_owned()));
            }
        }
        SipMessage {
            start: StartLine::Response {
                code,
                reason: reason.to_owned(),
            },
            headers,
            body: Vec::new(),
        }
    }
}

fn parse_start_line(line: &str) -> Result<StartLine, ParseError> {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let rest = rest.trim_start();
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let code: u16 = code
            .parse()
            .map_err(|_| ParseError::Sip(format!("bad status code: {code:.10}")))?;
        if !(100..=699).contains(&code) {
            return Err(ParseError::Sip(format!("status code out of range: {code}")));
        }
        return Ok(StartLine::Response {
            code,
            reason: reason.to_owned(),
        });
    }
    let mut it = line.split(' ').filter(|s| !s.is_empty());
    let (Some(method), Some(uri), Some(version), None) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return Err(ParseError::Sip(format!("bad start line: {line:.60}")));
    };
    if !version.eq_ignore_ascii_case("SIP/2.0") {
        return Err(ParseError::Sip(format!(
            "unsupported version: {version:.20}"
        )));
    }
    if !method
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
    {
        return Err(ParseError::Sip(format!("bad method: {method:.20}")));
    }
    Ok(StartLine::Request {
        method: method.to_owned(),
        uri: uri.to_owned(),
    })
}

/// A `;name=value` parameter of a header value (outside `<...>`), case-insensitive name.
pub fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    // skip anything inside <...>
    let after = match value.rfind('>') {
        Some(i) => &value[i + 1..],
        None => value,
    };
    for p in after.split(';').skip(1) {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        if k.trim().eq_ignore_ascii_case(name) {
            return Some(v.trim().trim_matches('"'));
        }
    }
    None
}

/// The URI of a name-addr or addr-spec (`"Bob" <sip:bob@x>;tag=1` -> `sip:bob@x`).
pub fn uri_of(value: &str) -> &str {
    if let (Some(a), Some(b)) = (value.find('<'), value.find('>'))
        && a < b
    {
        return value[a + 1..b].trim();
    }
    value.split(';').next().unwrap_or(value).trim()
}

/// The user part of a SIP/tel URI (`sip:+4930123@host;user=phone` -> `+4930123`), or `""`
/// when it has none: a `sip:`/`sips:` URI without `@` names a host only (`sip:192.0.2.10:5060`,
/// an SRC's own To), and so does a bare `host`, `host:port` or IP address. A `tel:` URI and
/// a bare number (`7602922411`, as Metaswitch writes its AORs) are all user part.
pub fn user_of(uri: &str) -> &str {
    let u = uri.trim();
    let lower = |p: &str| u.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
    let (scheme, rest) = ["sips:", "sip:", "tel:"]
        .into_iter()
        .find(|p| lower(p))
        .map_or(("", u), |p| (p, &u[p.len()..]));
    let user = match rest.split_once('@') {
        Some((user, _)) => user,
        None if scheme == "tel:" => rest,
        None if !scheme.is_empty() => return "",
        None => {
            let bare = rest.split([';', '?']).next().unwrap_or(rest);
            let host_name = bare.contains('.') && bare.chars().any(|c| c.is_ascii_alphabetic());
            if bare.contains([':', '[']) || host_name || bare.parse::<std::net::IpAddr>().is_ok() {
                return "";
            }
            bare
        }
    };
    let user = user.split([';', '?']).next().unwrap_or(user);
    user.split(':').next().unwrap_or(user)
}

/// A TCP stream framer: feed bytes, take complete messages (framed by Content-Length).
#[derive(Debug, Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
    /// How much of `buf` is known to hold no header-block end: the next search resumes
    /// there (less the two bytes a terminator split across reads may have begun with), so
    /// a header trickled in one byte per read costs linear time, not quadratic.
    scanned: usize,
}

impl StreamFramer {
    /// A new, empty framer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Takes the next complete message's bytes. `Ok(None)`: need more data. An error means
    /// the stream cannot be framed any more (close the connection).
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, ParseError> {
        // skip keep-alive CRLFs
        let skip = self
            .buf
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        if skip > 0 {
            self.buf.drain(..skip);
            self.scanned = 0;
        }
        if self.buf.is_empty() {
            return Ok(None);
        }
        let from = self.scanned.saturating_sub(2);
        let Some((hend, bstart)) = header_end(&self.buf[from..]).map(|(h, b)| (from + h, from + b))
        else {
            self.scanned = self.buf.len();
            if self.buf.len() > MAX_MESSAGE {
                return Err(ParseError::Sip("header block too large".into()));
            }
            return Ok(None);
        };
        let head = Self::parse_lengths(&self.buf[..hend])?;
        let total = bstart + head;
        if total > MAX_MESSAGE {
            return Err(ParseError::Sip("message too large".into()));
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let msg: Vec<u8> = self.buf.drain(..total).collect();
        self.scanned = 0;
        Ok(Some(msg))
    }

    fn parse_lengths(head: &[u8]) -> Result<usize, ParseError> {
        let text = String::from_utf8_lossy(head);
        for line in text.split('\n') {
            let line = line.trim_end_matches('\r');
            if let Some((n, v)) = line.split_once(':') {
                let n = expand_compact(n.trim());
                if n.eq_ignore_ascii_case("Content-Length") {
                    return v
                        .trim()
                        .parse()
                        .map_err(|_| ParseError::Sip("bad Content-Length on stream".into()));
                }
            }
        }
        // RFC 3261 §18.3: Content-Length is mandatory on streams.
        Err(ParseError::Sip(
            "no Content-Length on a stream transport".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INV: &str = "INVITE sip:srs@10.0.0.1 SIP/2.0\r\nv: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP 10.0.0.3;branch=z9hG4bK0\r\nf: <sip:src@10.0.0.2>;tag=a\r\nt: <sip:srs@10.0.0.1>\r\ni: abc@10.0.0.2\r\nCSeq: 1 INVITE\r\nSubject: long\r\n  folded\r\nl: 4\r\n\r\nbodyEXTRA";

    #[test]
    fn parses_compact_folded_and_cuts_body() {
        let m = SipMessage::parse(INV.as_bytes()).expect("parse");
        assert_eq!(m.method(), Some("INVITE"));
        assert_eq!(m.headers_all("Via").count(), 2);
        assert_eq!(m.top_branch(), Some("z9hG4bK1"));
        assert_eq!(m.call_id(), Some("abc@10.0.0.2"));
        assert_eq!(m.header("subject"), Some("long folded"));
        assert_eq!(m.body, b"body");
        assert_eq!(m.from_tag(), Some("a"));
        assert_eq!(m.to_tag(), None);
    }

    #[test]
    fn lf_only_message_parses() {
        let lf = INV.replace("\r\n", "\n");
        let m = SipMessage::parse(lf.as_bytes()).expect("parse");
        assert_eq!(m.body, b"body");
    }

    #[test]
    fn short_body_is_error() {
        let bad = INV.replace("l: 4", "l: 400");
        assert!(SipMessage::parse(bad.as_bytes()).is_err());
    }

    #[test]
    fn response_round_trip() {
        let m = SipMessage::parse(INV.as_bytes()).expect("parse");
        let r = m.response(200, "OK", Some("xyz"));
        let bytes = r.to_bytes();
        let back = SipMessage::parse(&bytes).expect("reparse");
        assert_eq!(back.status(), Some(200));
        assert_eq!(back.to_tag(), Some("xyz"));
        assert_eq!(back.headers_all("Via").count(), 2);
        assert_eq!(back.cseq(), Some((1, "INVITE")));
    }

    #[test]
    fn framer_splits_stream() {
        let mut f = StreamFramer::new();
        let one = INV.replace("EXTRA", "");
        let two = format!("\r\n\r\n{one}{one}");
        let bytes = two.as_bytes();
        f.push(&bytes[..10]);
        assert_eq!(f.next_message().expect("ok"), None);
        f.push(&bytes[10..]);
        let a = f.next_message().expect("ok").expect("first");
        let b = f.next_message().expect("ok").expect("second");
        assert_eq!(a, b);
        assert_eq!(f.next_message().expect("ok"), None);
    }

    // Regression (found fuzzing `sip`): every read rescanned the whole buffer for the end of
    // the header block, so a header trickled one byte per TCP read cost quadratic CPU
    // (256 KiB: ~3.4e10 byte steps per connection). The search resumes where it stopped.
    #[test]
    fn framer_trickled_header_is_not_rescanned_from_the_start() {
        let mut f = StreamFramer::new();
        let junk = format!("INVITE sip:srs@x SIP/2.0\r\nSubject: {}", "a".repeat(4000));
        for (i, b) in junk.bytes().enumerate() {
            f.push(&[b]);
            assert_eq!(f.next_message().expect("ok"), None);
            assert_eq!(f.scanned, i + 1, "searched up to the end, and remembers it");
        }
    }

    // Regression guard for the resumed search: a terminator split across reads, one byte
    // at a time ("\r\n\r\n" and LF-only "\n\n"), is still found, and the message after it too.
    #[test]
    fn framer_finds_a_header_end_split_across_one_byte_reads() {
        for one in [
            INV.replace("EXTRA", ""),
            INV.replace("EXTRA", "").replace("\r\n", "\n"),
        ] {
            let two = format!("{one}\r\n{one}");
            let mut f = StreamFramer::new();
            let mut got = Vec::new();
            for b in two.bytes() {
                f.push(&[b]);
                while let Some(m) = f.next_message().expect("frames") {
                    got.push(m);
                }
            }
            assert_eq!(got, vec![one.as_bytes().to_vec(), one.as_bytes().to_vec()]);
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(
            uri_of("\"Bob\" <sip:bob@x;transport=udp>;tag=1"),
            "sip:bob@x;transport=udp"
        );
        assert_eq!(user_of("sip:+4930123@host;user=phone"), "+4930123");
        assert_eq!(user_of("tel:+4930123"), "+4930123");
        assert_eq!(user_of("tel:+4930123;phone-context=example.com"), "+4930123");
        assert_eq!(user_of("SIP:200@pbx"), "200");
        assert_eq!(user_of("sip:alice:secret@pbx"), "alice");
        // No user part: a host, never a party.
        assert_eq!(user_of("sip:192.0.2.10:5060"), "");
        assert_eq!(user_of("sips:pbx.example.com;transport=tls"), "");
        assert_eq!(user_of("192.0.2.10"), "");
        assert_eq!(user_of("pbx.example.com:5060"), "");
        assert_eq!(user_of("[2001:db8::1]:5060"), "");
        // Bare AORs without a scheme (Metaswitch, Intrado).
        assert_eq!(user_of("7602922411"), "7602922411");
        assert_eq!(user_of("4058327108@10.105.190.136:5060"), "4058327108");
        assert_eq!(user_of("+49 (30) 1234-5"), "+49 (30) 1234-5");
        assert_eq!(param("<sip:a@b;tag=no>;tag=yes", "tag"), Some("yes"));
    }

    // Guards the 400 to an unparsable request (the lenient head reader that used to live
    // in the SRS core): the head is echoed, an ACK or a response is never answered.
    #[test]
    fn bad_request_for_echoes_the_head_and_never_answers_ack() {
        let head = "INVITE sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nX-Other: 1\r\nContent-Length: 99\r\n\r\nshort";
        assert!(SipMessage::parse(head.as_bytes()).is_err());
        let r = SipMessage::bad_request_for(head.as_bytes(), "Bad Request").unwrap_or_else(|| panic!("a 400"));
        assert_eq!(r.status(), Some(400));
        assert_eq!(r.header("Via"), Some("SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK1"));
        assert_eq!(r.header("X-Other"), None);
        let ack = head.replace("CSeq: 1 INVITE", "CSeq: 1 ACK");
        assert!(SipMessage::bad_request_for(ack.as_bytes(), "x").is_none());
        assert!(SipMessage::bad_request_for(b"SIP/2.0 200 OK\r\nVia: v\r\nCSeq: 1 INVITE\r\n", "x").is_none());
        assert!(SipMessage::bad_request_for(b"\xff\xfe", "x").is_none());
    }
}
