//! `multipart/mixed` bodies (RFC 2046 §5.1) as SIPREC SRCs send them: CRLF or LF-only line
//! ends, quoted or bare boundaries, optional preamble, missing close delimiter tolerated.

use crate::error::ParseError;

/// A parsed `Content-Type` value: lower-case `type/subtype` plus parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    /// e.g. `multipart/mixed`, lower case.
    pub mime: String,
    /// Parameters with lower-case names, values unquoted.
    pub params: Vec<(String, String)>,
}

impl ContentType {
    /// Parses `multipart/mixed;boundary="abc"`.
    pub fn parse(value: &str) -> Result<ContentType, ParseError> {
        let mut parts = split_params(value);
        let mime = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        if !mime.contains('/') {
            return Err(ParseError::Body(format!("bad content type {mime:.40}")));
        }
        let mut params = Vec::new();
        for p in parts {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            params.push((k.trim().to_ascii_lowercase(), v.to_owned()));
        }
        Ok(ContentType { mime, params })
    }

    /// A parameter by (lower-case) name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Splits on `;` outside double quotes.
fn split_params(v: &str) -> impl Iterator<Item = &str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in v.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => {
                out.push(&v[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&v[start..]);
    out.into_iter()
}

/// One body part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Part headers (names as received).
    pub headers: Vec<(String, String)>,
    /// Part content.
    pub body: Vec<u8>,
}

impl Part {
    /// A part header (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The part's MIME type in lower case (`text/plain` when absent, RFC 2046).
    pub fn mime(&self) -> String {
        self.header("Content-Type")
            .and_then(|v| ContentType::parse(v).ok())
            .map(|c| c.mime)
            .unwrap_or_else(|| "text/plain".into())
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from >= hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Splits a multipart body by `boundary`.
pub fn split_multipart(body: &[u8], boundary: &str) -> Result<Vec<Part>, ParseError> {
    if boundary.is_empty() || boundary.len() > 200 {
        return Err(ParseError::Body(
            "missing or overlong multipart boundary".into(),
        ));
    }
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    // Find delimiters that sit at the start of a line.
    let mut positions = Vec::new();
    let mut from = 0;
    while let Some(p) = find(body, delim, from) {
        if p == 0 || body[p - 1] == b'\n' {
            positions.push(p);
        }
        from = p + delim.len();
    }
    if positions.is_empty() {
        return Err(ParseError::Body(format!(
            "boundary {boundary:.40} not found in body"
        )));
    }
    let mut parts = Vec::new();
    for (i, &p) in positions.iter().enumerate() {
        let after = p + delim.len();
        if body[after..].starts_with(b"--") {
            break; // close delimiter
        }
        // rest of delimiter line (transport padding) up to LF
        let Some(nl) = body[after..].iter().position(|&b| b == b'\n') else {
            break;
        };
        let content_start = after + nl + 1;
        let mut content_end = positions.get(i + 1).copied().unwrap_or(body.len());
        if positions.get(i + 1).is_some() {
            // the line break before the next delimiter belongs to the delimiter
            if content_end > content_start && body[content_end - 1] == b'\n' {
                content_end -= 1;
                if content_end > content_start && body[content_end - 1] == b'\r' {
                    content_end -= 1;
                }
            }
        }
        if content_end < content_start {
            content_end = content_start;
        }
        parts.push(parse_part(&body[content_start..content_end])?);
    }
    Ok(parts)
}

fn parse_part(raw: &[u8]) -> Result<Part, ParseError> {
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut pos = 0;
    loop {
        let Some(nl) = raw[pos..].iter().position(|&b| b == b'\n') else {
            // no blank line: treat the rest as headers only if it looks like one, else body
            let line = &raw[pos..];
            if line.is_empty() {
                return Ok(Part {
                    headers,
                    body: Vec::new(),
                });
            }
            return Ok(Part {
                headers,
                body: line.to_vec(),
            });
        };
        let line = &raw[pos..pos + nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        pos += nl + 1;
        if line.is_empty() {
            break;
        }
        let text = std::str::from_utf8(line)
            .map_err(|_| ParseError::Body("part header is not UTF-8".into()))?;
        if text.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(text.trim());
            }
            continue;
        }
        let Some((n, v)) = text.split_once(':') else {
            // No headers at all: the part is body only (some SRCs omit the blank line).
            if headers.is_empty() {
                return Ok(Part {
                    headers,
                    body: raw.to_vec(),
                });
            }
            return Err(ParseError::Body(format!(
                "bad part header line: {text:.40}"
            )));
        };
        headers.push((n.trim().to_owned(), v.trim().to_owned()));
    }
    Ok(Part {
        headers,
        body: raw[pos..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "preamble\r\n--xyz\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n\r\n--xyz\r\nContent-Type: application/rs-metadata+xml\r\nContent-Disposition: recording-session\r\n\r\n<x/>\r\n--xyz--\r\n";

    #[test]
    fn splits_crlf() {
        let parts = split_multipart(BODY.as_bytes(), "xyz").expect("split");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].mime(), "application/sdp");
        assert_eq!(parts[0].body, b"v=0\r\n");
        assert_eq!(parts[1].body, b"<x/>");
        assert_eq!(
            parts[1].header("content-disposition"),
            Some("recording-session")
        );
    }

    #[test]
    fn splits_lf_only_without_close() {
        let lf = BODY.replace("\r\n", "\n").replace("--xyz--\n", "");
        let parts = split_multipart(lf.as_bytes(), "xyz").expect("split");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].body, b"v=0\n");
        assert_eq!(parts[1].body, b"<x/>\n");
    }

    #[test]
    fn content_type_quoted() {
        let ct = ContentType::parse("Multipart/Mixed; boundary=\"a;b\"").expect("ct");
        assert_eq!(ct.mime, "multipart/mixed");
        assert_eq!(ct.param("boundary"), Some("a;b"));
    }

    #[test]
    fn missing_boundary_is_error() {
        assert!(split_multipart(b"no parts", "xyz").is_err());
        assert!(split_multipart(b"--xyz", "").is_err());
    }
}
