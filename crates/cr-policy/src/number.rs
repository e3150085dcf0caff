//! Phone numbers as PBXs send them, normalised for exact matching, and redacted for logs.

use std::borrow::Cow;
use std::fmt;

use crate::error::NumberError;

/// How numbers of this installation are written: its country calling code and area code.
///
/// With a country code, national forms (`030555201`) become international (`+4930555201`).
/// With a country *and* an area code, a bare local number that the directory does not know
/// (`555201`) is also looked up as `+4930555201`. Without them, numbers are matched exactly
/// as normalised (the default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NumberPlan {
    country_code: Option<String>,
    area_code: Option<String>,
}

impl NumberPlan {
    /// A plan with neither country nor area code (default).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the country calling code: 1 to 3 digits, a leading `+` or `00` is accepted
    /// (`"49"`, `"+49"`). Default: none.
    pub fn with_country_code(mut self, code: &str) -> Result<Self, NumberError> {
        let c = code.trim();
        let c = c.strip_prefix('+').or_else(|| c.strip_prefix("00")).unwrap_or(c);
        if c.is_empty() || c.len() > 3 || !c.bytes().all(|b| b.is_ascii_digit()) || c.starts_with('0') {
            return Err(NumberError::BadCountryCode { code: code.to_owned() });
        }
        self.country_code = Some(c.to_owned());
        Ok(self)
    }

    /// Sets the area code without the trunk prefix (`"30"` for Berlin; a leading `0` is
    /// dropped). Only used together with a country code. Default: none.
    pub fn with_area_code(mut self, code: &str) -> Result<Self, NumberError> {
        let c = code.trim().trim_start_matches('0');
        if c.is_empty() || c.len() > 6 || !c.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NumberError::BadAreaCode { code: code.to_owned() });
        }
        self.area_code = Some(c.to_owned());
        Ok(self)
    }

    /// The country calling code, if set.
    pub fn country_code(&self) -> Option<&str> {
        self.country_code.as_deref()
    }

    /// The area code, if set.
    pub fn area_code(&self) -> Option<&str> {
        self.area_code.as_deref()
    }

    /// Normalises a number as a PBX reports it, for exact matching.
    ///
    /// - SIP and TEL URIs are reduced to their user part: `"Alice" <sip:201@pbx;user=phone>`,
    ///   `sip:+4930555201@pbx`, `tel:+49-30-555201;phone-context=x` (display name, scheme,
    ///   host, parameters and headers are dropped).
    /// - Spaces, dashes, dots, slashes and brackets are dropped; `+49 (0)30 ...` loses the
    ///   `(0)`.
    /// - A leading `00` becomes `+`; with a country code, a leading single `0` (national
    ///   form) becomes `+<country code>`.
    /// - Anything that is not a number (a SIP user name such as `alice`) is kept in lower
    ///   case, so that it too matches exactly.
    ///
    /// Normalising is idempotent: `normalize(normalize(x)) == normalize(x)`.
    ///
    /// ```
    /// let plan = cr_policy::NumberPlan::new().with_country_code("49").unwrap();
    /// assert_eq!(plan.normalize("<sip:+49 30 555-201@pbx;user=phone>").unwrap(), "+4930555201");
    /// assert_eq!(plan.normalize("030 555201").unwrap(), "+4930555201");
    /// assert_eq!(plan.normalize("0049 (0)30 555201").unwrap(), "+4930555201");
    /// assert_eq!(plan.normalize("tel:201").unwrap(), "201");
    /// ```
    pub fn normalize(&self, raw: &str) -> Result<String, NumberError> {
        let mut s = raw.trim();
        // Display name: `"Alice" <sip:...>` -> the part in angle brackets.
        if let Some(open) = s.find('<') {
            let inner = &s[open + 1..];
            s = inner.split('>').next().unwrap_or(inner).trim();
        }
        for scheme in ["sips:", "sip:", "tel:"] {
            if s.get(..scheme.len()).is_some_and(|p| p.eq_ignore_ascii_case(scheme)) {
                s = &s[scheme.len()..];
                break;
            }
        }
        if let Some(end) = s.find(['@', ';', '?']) {
            s = &s[..end];
        }
        let s = s.trim();
        let international = s.starts_with('+') || s.starts_with("00");
        let mut out = String::with_capacity(s.len() + 4);
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            if international && rest.starts_with("(0)") {
                rest = &rest[3..];
                continue;
            }
            if c.is_ascii_alphanumeric() || matches!(c, '+' | '*' | '#' | '_') {
                out.push(c.to_ascii_lowercase());
            }
            rest = &rest[c.len_utf8()..];
        }
        let (plus, body) = match out.strip_prefix('+') {
            Some(b) => (true, b),
            None => (false, out.as_str()),
        };
        let numeric = !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit() || b == b'*' || b == b'#');
        if !numeric {
            if !out.bytes().any(|b| b.is_ascii_alphanumeric()) {
                return Err(NumberError::NotANumber { raw: raw.to_owned() });
            }
            return Ok(out);
        }
        if plus {
            return Ok(out);
        }
        if let Some(intl) = body.strip_prefix("00") {
            if intl.is_empty() {
                return Err(NumberError::NotANumber { raw: raw.to_owned() });
            }
            return Ok(format!("+{intl}"));
        }
        if let (Some(cc), Some(national)) = (&self.country_code, body.strip_prefix('0'))
            && !national.is_empty()
        {
            return Ok(format!("+{cc}{national}"));
        }
        Ok(out)
    }

    /// [`normalize`](Self::normalize) without allocating when `raw` is already in normal
    /// form (plain digits or `+` and digits), which is how most PBXs send numbers.
    pub(crate) fn normalize_cow<'a>(&self, raw: &'a str) -> Result<Cow<'a, str>, NumberError> {
        let b = raw.as_bytes();
        let digits = |d: &[u8]| !d.is_empty() && d.iter().all(u8::is_ascii_digit);
        let canonical = match b.first() {
            Some(b'+') => digits(&b[1..]),
            Some(b'0') => digits(b) && self.country_code.is_none() && !raw.starts_with("00"),
            Some(_) => digits(b),
            None => false,
        };
        if canonical {
            return Ok(Cow::Borrowed(raw));
        }
        self.normalize(raw).map(Cow::Owned)
    }

    /// [`local_to_international`](Self::local_to_international) into a buffer on the stack.
    pub(crate) fn local_to_international_in<'b>(&self, normalized: &str, buf: &'b mut [u8; 64]) -> Option<&'b str> {
        let (Some(cc), Some(area)) = (&self.country_code, &self.area_code) else {
            return None;
        };
        if normalized.is_empty() || !normalized.bytes().all(|b| b.is_ascii_digit()) || normalized.starts_with('0') {
            return None;
        }
        let len = 1 + cc.len() + area.len() + normalized.len();
        if len > buf.len() {
            return None;
        }
        buf[0] = b'+';
        let mut at = 1;
        for part in [cc.as_str(), area.as_str(), normalized] {
            buf[at..at + part.len()].copy_from_slice(part.as_bytes());
            at += part.len();
        }
        std::str::from_utf8(&buf[..len]).ok()
    }

    /// The international form of a bare local number (`555201` -> `+4930555201`) when
    /// country and area code are set; `None` for anything else.
    pub fn local_to_international(&self, normalized: &str) -> Option<String> {
        let (Some(cc), Some(area)) = (&self.country_code, &self.area_code) else {
            return None;
        };
        if normalized.is_empty() || !normalized.bytes().all(|b| b.is_ascii_digit()) || normalized.starts_with('0') {
            return None;
        }
        Some(format!("+{cc}{area}{normalized}"))
    }
}

/// Shows a phone number (or any personal identifier) for logs: only its last three
/// characters, e.g. `***201`; numbers of four characters or fewer show as `***`.
///
/// ```
/// use cr_policy::Redacted;
/// assert_eq!(Redacted("+4930555201").to_string(), "***201");
/// assert_eq!(Redacted("300").to_string(), "***");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Redacted<'a>(pub &'a str);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chars: Vec<char> = self.0.chars().collect();
        f.write_str("***")?;
        if chars.len() > 4 {
            for c in &chars[chars.len() - 3..] {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// Redacts every run of four or more digits in free text (for reasons whose structure is
/// unknown, e.g. one received as JSON).
pub(crate) fn redact_digit_runs(text: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let mut run = String::new();
    let flush = |run: &mut String, f: &mut fmt::Formatter<'_>| -> fmt::Result {
        if run.len() >= 4 {
            write!(f, "{}", Redacted(run))?;
        } else {
            f.write_str(run)?;
        }
        run.clear();
        Ok(())
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, f)?;
            write!(f, "{c}")?;
        }
    }
    flush(&mut run, f)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn de() -> NumberPlan {
        NumberPlan::new().with_country_code("49").unwrap().with_area_code("030").unwrap()
    }

    #[test]
    fn uri_forms_reduce_to_the_user_part() {
        let p = NumberPlan::new();
        for (raw, want) in [
            ("sip:300@pbx;user=phone", "300"),
            ("<sip:300@pbx>", "300"),
            ("\"Trading Desk\" <sip:300@pbx.example:5060;transport=tcp>;tag=abc", "300"),
            ("SIP:300@PBX", "300"),
            ("sips:300@pbx", "300"),
            ("tel:+49-30-555201;phone-context=example.com", "+4930555201"),
            ("tel:201", "201"),
            ("sip:Alice@pbx", "alice"),
            ("sip:201?subject=x", "201"),
        ] {
            assert_eq!(p.normalize(raw).unwrap(), want, "{raw}");
        }
    }

    #[test]
    fn separators_and_prefixes() {
        let p = NumberPlan::new();
        for (raw, want) in [
            (" +49 30 555-201 ", "+4930555201"),
            ("+49 (30) 555.201", "+4930555201"),
            ("+49 (0)30 555201", "+4930555201"),
            ("0049 30 555201", "+4930555201"),
            ("0049/30/555201", "+4930555201"),
            ("030555201", "030555201"),
            ("*21#", "*21#"),
        ] {
            assert_eq!(p.normalize(raw).unwrap(), want, "{raw}");
        }
    }

    #[test]
    fn national_form_needs_the_country_code() {
        assert_eq!(de().normalize("030 555201").unwrap(), "+4930555201");
        assert_eq!(de().normalize("(030) 555-201").unwrap(), "+4930555201");
        assert_eq!(de().normalize("201").unwrap(), "201");
        assert_eq!(de().local_to_international("555201").as_deref(), Some("+4930555201"));
        assert_eq!(NumberPlan::new().local_to_international("555201"), None);
        assert_eq!(de().local_to_international("+4930555201"), None);
        let mut buf = [0u8; 64];
        assert_eq!(de().local_to_international_in("555201", &mut buf), Some("+4930555201"));
        assert_eq!(de().local_to_international_in(&"1".repeat(70), &mut buf), None);
    }

    #[test]
    fn fast_path_agrees_with_the_full_normalisation() {
        for plan in [NumberPlan::new(), de()] {
            for raw in ["201", "+4930555201", "030555201", "0049301", "00", "0", "+", "", "2a", "+49 30", "1-2"] {
                assert_eq!(plan.normalize_cow(raw).map(|c| c.into_owned()), plan.normalize(raw), "{raw:?} {plan:?}");
            }
        }
    }

    #[test]
    fn garbage_is_refused_not_panicked_on() {
        let p = de();
        for raw in ["", "   ", "+", "00", "<>", "sip:@pbx", "---", "<sip:", "\u{1F600}"] {
            assert!(p.normalize(raw).is_err(), "{raw:?} -> {:?}", p.normalize(raw));
        }
    }

    #[test]
    fn bad_plan_codes() {
        assert!(NumberPlan::new().with_country_code("+49").is_ok());
        assert!(NumberPlan::new().with_country_code("4a").is_err());
        assert!(NumberPlan::new().with_country_code("").is_err());
        assert!(NumberPlan::new().with_country_code("0049").is_ok());
        assert!(NumberPlan::new().with_area_code("x").is_err());
        assert_eq!(NumberPlan::new().with_area_code("030").unwrap().area_code(), Some("30"));
    }

    #[test]
    fn redaction_keeps_only_three_characters() {
        assert_eq!(Redacted("+4930555201").to_string(), "***201");
        assert_eq!(Redacted("2011").to_string(), "***");
        assert_eq!(Redacted("").to_string(), "***");
        assert_eq!(Redacted("ääääää").to_string(), "***äää");
    }
}
