//! Error types.

/// Input that could not be parsed. Carries what was wrong; never produced by a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The SIP message itself (start line, headers, Content-Length).
    #[error("malformed SIP message: {0}")]
    Sip(String),
    /// A MIME body (multipart boundary, part headers).
    #[error("malformed body: {0}")]
    Body(String),
    /// The SDP, with the 1-based line number.
    #[error("malformed SDP at line {line}: {reason}")]
    Sdp {
        /// 1-based line in the SDP body.
        line: usize,
        /// What was wrong.
        reason: String,
    },
    /// The recording metadata XML.
    #[error("malformed recording metadata: {0}")]
    Metadata(String),
    /// An RTP packet.
    #[error("malformed RTP packet: {0}")]
    Rtp(String),
}

/// Errors of the tokio driver and the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// A listen address such as `udp:0.0.0.0:5060` could not be understood.
    #[error(
        "bad listen address {value:?} (expected udp:ADDR:PORT, tcp:ADDR:PORT or tls:ADDR:PORT): {reason}"
    )]
    ListenAddress {
        /// The configured value.
        value: String,
        /// Why.
        reason: String,
    },
    /// `rtp_ports` such as `30000-39999` could not be understood.
    #[error("bad rtp_ports {value:?} (expected LOW-HIGH, even LOW, at least 2 ports): {reason}")]
    PortRange {
        /// The configured value.
        value: String,
        /// Why.
        reason: String,
    },
    /// `srtp` is not one of `off`, `allow`, `require`.
    #[error("bad srtp value {value:?}: use \"off\", \"allow\" or \"require\"")]
    SrtpPolicy {
        /// The configured value (first 40 characters).
        value: String,
    },
    /// SIP over TLS cannot be set up: a certificate, key or client check is unusable.
    #[error("{key}: {reason}")]
    Tls {
        /// The `[pbx.siprec]` key at fault (`tls_certificate`, `tls_key`, `tls_client_ca`,
        /// `tls_client_fingerprints`).
        key: &'static str,
        /// What is wrong (names the file, never its content).
        reason: String,
    },
    /// A socket could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Other I/O failure.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}
