//! Words of the call: direction and channel mode, with the names the configuration, the
//! journal and the signed metadata use (docs/reference.md §2).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A name that is not one of a fixed set (`channels = "quad"`): what was given and what
/// would have been accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// What the name was for (`"channel mode"`, `"direction"`).
    pub what: &'static str,
    /// The name given.
    pub given: String,
    /// The accepted names.
    pub expected: &'static [&'static str],
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let expected: Vec<String> = self.expected.iter().map(|e| format!("{e:?}")).collect();
        let (last, rest) = expected.split_last().map_or(("", &[][..]), |(l, r)| (l.as_str(), r));
        write!(f, "unknown {} {:?}: use {} or {last}", self.what, self.given, rest.join(", "))
    }
}

impl std::error::Error for UnknownName {}

/// Which way a call goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From outside into the PBX.
    Incoming,
    /// From a PBX user to outside.
    Outgoing,
    /// From one PBX user to another.
    Internal,
}

impl Direction {
    const NAMES: &'static [&'static str] = &["incoming", "outgoing", "internal"];

    /// `incoming`, `outgoing` or `internal`: the stored and printed form.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Incoming => "incoming",
            Direction::Outgoing => "outgoing",
            Direction::Internal => "internal",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }
}

impl FromStr for Direction {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "incoming" => Ok(Direction::Incoming),
            "outgoing" => Ok(Direction::Outgoing),
            "internal" => Ok(Direction::Internal),
            other => Err(UnknownName { what: "direction", given: other.to_owned(), expected: Self::NAMES }),
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which audio a recording keeps (SPEC S10, S11; config key `channels`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channels {
    /// Only the caller's leg, `<id>.wav`, mono.
    Caller,
    /// Only the callee's leg, `<id>.wav`, mono.
    Callee,
    /// One stereo file `<id>.wav`: channel 0 (left) = caller, channel 1 (right) = callee
    /// (the default).
    #[default]
    Stereo,
    /// Two mono files, `<id>-caller.wav` and `<id>-callee.wav`.
    Separate,
}

impl Channels {
    const NAMES: &'static [&'static str] = &["caller", "callee", "stereo", "separate"];

    /// The name used in the configuration, in decisions and in the metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Channels::Caller => "caller",
            Channels::Callee => "callee",
            Channels::Stereo => "stereo",
            Channels::Separate => "separate",
        }
    }
}

impl FromStr for Channels {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "caller" => Ok(Channels::Caller),
            "callee" => Ok(Channels::Callee),
            "stereo" => Ok(Channels::Stereo),
            "separate" => Ok(Channels::Separate),
            other => Err(UnknownName { what: "channel mode", given: other.to_owned(), expected: Self::NAMES }),
        }
    }
}

impl fmt::Display for Channels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_json() {
        for c in [Channels::Caller, Channels::Callee, Channels::Stereo, Channels::Separate] {
            assert_eq!(c.as_str().parse::<Channels>(), Ok(c));
            assert_eq!(serde_json::to_string(&c).ok(), Some(format!("\"{}\"", c.as_str())));
        }
        for d in [Direction::Incoming, Direction::Outgoing, Direction::Internal] {
            assert_eq!(Direction::parse(d.as_str()), Some(d));
            assert_eq!(serde_json::from_str::<Direction>(&format!("\"{d}\"")).ok(), Some(d));
        }
    }

    #[test]
    fn an_unknown_name_says_what_would_do() {
        let e = "quad".parse::<Channels>().err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(r#"unknown channel mode "quad": use "caller", "callee", "stereo" or "separate""#)
        );
        assert_eq!(Direction::parse("Incoming"), None);
    }
}
