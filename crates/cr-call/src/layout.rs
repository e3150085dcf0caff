//! The legs directory of one call (`data_dir/legs/<set id>/`): the one place that names
//! its files.
//!
//! ```text
//! call.json        the call record (CallRecord), written before the 200 OK: what a
//!                  restart after a crash needs to seal the call
//! call.json.tmp    call.json being written (renamed into place)
//! metadata.xml     the SIPREC metadata as last received (sealed as <id>.siprec.xml)
//! roles.json       which stream file holds the caller's voice and which the callee's
//! streamN.wav      the leg of the stream on m-line N, as received
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::flags::FLAG_MIXED;

/// The directory holding every call's legs directory (`data_dir/legs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegsRoot {
    root: PathBuf,
}

impl LegsRoot {
    /// The legs root at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The legs directory of set `id`.
    pub fn call(&self, id: &str) -> LegsDir {
        LegsDir::new(self.root.join(id))
    }
}

/// One call's legs directory: every file in it is named here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegsDir {
    dir: PathBuf,
}

impl LegsDir {
    /// The legs directory at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// `call.json`: the call record.
    pub fn call_record(&self) -> PathBuf {
        self.dir.join("call.json")
    }

    /// `call.json.tmp`: the call record while it is written.
    pub fn call_record_tmp(&self) -> PathBuf {
        self.dir.join("call.json.tmp")
    }

    /// `metadata.xml`: the SIPREC metadata.
    pub fn metadata_xml(&self) -> PathBuf {
        self.dir.join("metadata.xml")
    }

    /// `roles.json`: which stream is whose.
    pub fn roles(&self) -> PathBuf {
        self.dir.join("roles.json")
    }

    /// `stream<index>.wav`: the leg of the stream on m-line `index`.
    pub fn stream(&self, index: usize) -> PathBuf {
        self.dir.join(stream_file(index))
    }

    /// The caller's and callee's leg files under `roles` (default `stream0.wav` and
    /// `stream1.wav`).
    pub fn leg_paths(&self, roles: &Roles) -> (PathBuf, PathBuf) {
        (
            self.dir.join(roles.caller.as_deref().unwrap_or("stream0.wav")),
            self.dir.join(roles.callee.as_deref().unwrap_or("stream1.wav")),
        )
    }
}

/// The file name of the leg of the stream on m-line `index`.
pub fn stream_file(index: usize) -> String {
    format!("stream{index}.wav")
}

/// Which leg file holds whose voice (`roles.json`).
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Roles {
    /// File name of the caller's leg.
    pub caller: Option<String>,
    /// File name of the callee's leg.
    pub callee: Option<String>,
    /// A leg holds a stream that carries both parties (one stream the SRC mixed, or a single
    /// stream no metadata assigns): its side of the set holds both voices.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mixed: bool,
}

impl Roles {
    /// `caller` or `callee`: the side whose leg is the stream on m-line `index`.
    pub fn side_of(&self, index: usize) -> Option<&'static str> {
        let name = stream_file(index);
        if self.caller.as_deref() == Some(name.as_str()) {
            Some("caller")
        } else if self.callee.as_deref() == Some(name.as_str()) {
            Some("callee")
        } else {
            None
        }
    }

    /// The roles of `streams` (those with a codec): the metadata's caller and callee
    /// first; without (usable) metadata the first stream is the caller's, the second the
    /// callee's, and one mixed stream goes to the caller's side.
    pub fn assign(streams: &[cr_pbx::StreamInfo]) -> Self {
        let mut roles = Roles::default();
        for s in streams.iter().filter(|s| s.codec.is_some()) {
            match s.role {
                cr_pbx::Role::Caller if roles.caller.is_none() => roles.caller = Some(stream_file(s.index)),
                cr_pbx::Role::Callee if roles.callee.is_none() => roles.callee = Some(stream_file(s.index)),
                _ => {}
            }
        }
        for s in streams.iter().filter(|s| s.codec.is_some()) {
            let n = stream_file(s.index);
            if roles.caller.as_ref() == Some(&n) || roles.callee.as_ref() == Some(&n) {
                continue;
            }
            let slot = if roles.caller.is_none() { &mut roles.caller } else { &mut roles.callee };
            if slot.is_none() {
                *slot = Some(n);
                roles.mixed |= s.role == cr_pbx::Role::Mixed;
            }
        }
        roles
    }

    /// The flag these roles give the set: [`FLAG_MIXED`] when a leg holds a mixed stream.
    pub fn flag(&self) -> Option<&'static str> {
        self.mixed.then_some(FLAG_MIXED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_lies_in_the_call_directory() {
        let d = LegsRoot::new("/data/legs").call("s1");
        assert_eq!(d.call_record(), Path::new("/data/legs/s1/call.json"));
        assert_eq!(d.metadata_xml(), Path::new("/data/legs/s1/metadata.xml"));
        assert_eq!(d.roles(), Path::new("/data/legs/s1/roles.json"));
        assert_eq!(d.stream(3), Path::new("/data/legs/s1/stream3.wav"));
        let swapped = Roles { caller: Some("stream1.wav".into()), callee: Some("stream0.wav".into()), mixed: false };
        assert_eq!(d.leg_paths(&swapped), (d.stream(1), d.stream(0)));
        assert_eq!(d.leg_paths(&Roles::default()), (d.stream(0), d.stream(1)));
        assert_eq!(swapped.side_of(1), Some("caller"));
        assert_eq!(swapped.side_of(2), None);
    }
}
