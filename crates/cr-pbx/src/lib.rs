//! # cr-pbx
//!
//! The PBX side of callrec: a SIPREC (RFC 7866/7865) recording server core, its SIPREC
//! client counterpart, and a thin tokio driver for both.
//!
//! The cores are sans-I/O (the str0m pattern): feed received SIP messages and the current
//! time with `handle_input`, then drain `poll_output` for datagrams to send, events and
//! the next timeout. Sockets live in [`driver`]; parsers ([`SipMessage`], [`Sdp`],
//! [`Metadata`], [`split_multipart`], [`parse_rtp`]) never panic on bad input.
//!
//! The codec type ([`Codec`]) and the G.711 encoder ([`linear_to_ulaw`],
//! [`linear_to_alaw`]) are cr-audio's: the SDP answer, the leg writer and the SIPREC client
//! share them. The load generator (`driver::run_calls`) is behind the feature `loadgen`.
//!
//! ```
//! use cr_pbx::{Srs, SrsConfig, Input, Transport, Output, Event};
//! use std::time::Instant;
//!
//! let mut srs = Srs::new(SrsConfig::new("127.0.0.1".parse().unwrap(), 5060));
//! let options = b"OPTIONS sip:srs@127.0.0.1 SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
//! From: <sip:src@127.0.0.1>;tag=1\r\nTo: <sip:srs@127.0.0.1>\r\n\
//! Call-ID: ka1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
//! let now = Instant::now();
//! let src = "127.0.0.1:5070".parse().unwrap();
//! srs.handle_input(Input::Datagram { source: src, transport: Transport::Udp, bytes: options }, now);
//! match srs.poll_output() {
//!     Output::Transmit { dest, bytes, .. } => {
//!         assert_eq!(dest, src);
//!         assert!(bytes.starts_with(b"SIP/2.0 200 OK\r\n"));
//!     }
//!     other => panic!("expected a 200 OK, got {other:?}"),
//! }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod common;
pub mod driver;
mod error;
mod metadata;
mod multipart;
mod rtp;
mod sdp;
mod sip;
mod srs;
mod srtp;

pub use client::{CallSpec, Src, SrcCallId, SrcConfig, SrcEvent, SrcOutput};
pub use common::{Input, OsRandom, RandomSource, Timers, Transmit, Transport};
pub use error::{DriverError, ParseError};
pub use metadata::{MetaStream, Metadata, Participant, Role};
pub use multipart::{ContentType, Part, split_multipart};
pub use rtp::{
    PcmSource, RtpHeader, RtpSender, encode_g711, linear_to_alaw, linear_to_ulaw, parse_rtp,
    write_rtp,
};
pub use sdp::{AnswerMedia, Codec, Direction, MediaDesc, RtpMap, Sdp, write_answer};
pub use sip::{SipMessage, StartLine, StreamFramer, expand_compact, param, uri_of, user_of};
pub use srs::{
    BodyParts, CallFacts, Decline, EndReason, Event, FactsSource, MediaError, Output,
    PRESSURE_FREE_PERCENT, SessionId, Srs, SrsConfig, SrsCounters, StreamInfo, split_body,
};
pub use srtp::{
    CryptoRefused, SdesCrypto, SrtpKey, SrtpPolicy, SrtpReceiver, SrtpReject, SrtpSuite,
    StreamSrtp,
};
