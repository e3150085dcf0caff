//! Sends [`Notice`]s by SMTP (lettre): plain, STARTTLS or implicit TLS.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

use crate::notify::Notice;

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SmtpSecurity {
    /// Plain SMTP (only on a trusted network).
    None,
    /// STARTTLS, required (port 587).
    #[default]
    StartTls,
    /// Implicit TLS (port 465).
    Tls,
}

/// Mail settings.
#[derive(Clone)]
#[non_exhaustive]
pub struct MailSettings {
    /// SMTP host.
    pub server: String,
    /// SMTP port (default by security: 25 / 587 / 465).
    pub port: Option<u16>,
    /// Connection security.
    pub security: SmtpSecurity,
    /// User and password, if the server wants a login.
    pub login: Option<(String, String)>,
    /// An extra CA certificate (PEM file) to trust.
    pub ca_file: Option<PathBuf>,
    /// Sender.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// The installation's module id, in subjects.
    pub module_id: String,
    /// Connection timeout.
    pub timeout: Duration,
}

impl std::fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MailSettings({}:{:?} {:?} from {} to {:?})", self.server, self.port, self.security, self.from, self.to)
    }
}

impl MailSettings {
    /// Settings for `server` with STARTTLS, no login, 30 s timeout.
    pub fn new(server: &str, from: &str, to: &[&str], module_id: &str) -> Self {
        Self {
            server: server.into(),
            port: None,
            security: SmtpSecurity::StartTls,
            login: None,
            ca_file: None,
            from: from.into(),
            to: to.iter().map(|s| s.to_string()).collect(),
            module_id: module_id.into(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// A mail could not be built or sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// An address or the CA file is unusable.
    #[error("mail settings: {0}")]
    Setup(String),
    /// The SMTP server refused or could not be reached.
    #[error("sending mail via {server}: {detail}")]
    Send {
        /// The SMTP server.
        server: String,
        /// The cause.
        detail: String,
    },
}

/// Sends notices.
pub struct Mailer {
    s: MailSettings,
    transport: SmtpTransport,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mailer({:?})", self.s)
    }
}

impl Mailer {
    /// Checks the settings and prepares the transport (no connection yet).
    pub fn new(s: MailSettings) -> Result<Self, MailError> {
        let from: Mailbox = s.from.parse().map_err(|e| MailError::Setup(format!("sender {:?}: {e}", s.from)))?;
        if s.to.is_empty() {
            return Err(MailError::Setup("no recipients (email_to)".into()));
        }
        let to = s
            .to
            .iter()
            .map(|t| t.parse::<Mailbox>().map_err(|e| MailError::Setup(format!("recipient {t:?}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let tls = || -> Result<TlsParameters, MailError> {
            let mut b = TlsParameters::builder(s.server.clone());
            if let Some(ca) = &s.ca_file {
                let pem = std::fs::read(ca).map_err(|e| MailError::Setup(format!("{}: {e}", ca.display())))?;
                let cert = Certificate::from_pem(&pem).map_err(|e| MailError::Setup(format!("{}: {e}", ca.display())))?;
                b = b.add_root_certificate(cert);
            }
            b.build_rustls().map_err(|e| MailError::Setup(format!("TLS: {e}")))
        };
        let (port, tls) = match s.security {
            SmtpSecurity::None => (25, Tls::None),
            SmtpSecurity::StartTls => (587, Tls::Required(tls()?)),
            SmtpSecurity::Tls => (465, Tls::Wrapper(tls()?)),
        };
        let mut b = SmtpTransport::builder_dangerous(s.server.clone())
            .port(s.port.unwrap_or(port))
            .tls(tls)
            .timeout(Some(s.timeout));
        if let Some((u, p)) = &s.login {
            b = b.credentials(Credentials::new(u.clone(), p.clone()));
        }
        Ok(Self { transport: b.build(), from, to, s })
    }

    /// Sends `notice` to every recipient.
    pub fn send(&self, notice: &Notice) -> Result<(), MailError> {
        self.send_text(&notice.subject(&self.s.module_id), notice.body(&self.s.module_id))
    }

    /// The installation's id, as notices name it in their subject (`[callrec ID] ...`).
    pub fn module_id(&self) -> &str {
        &self.s.module_id
    }

    /// Sends a plain-text mail with `subject` and `body` to every recipient (reports that
    /// are not outage notices, e.g. a reconciliation that found problems).
    pub fn send_text(&self, subject: &str, body: String) -> Result<(), MailError> {
        let mut m = Message::builder().from(self.from.clone()).subject(subject);
        for t in &self.to {
            m = m.to(t.clone());
        }
        let msg = m
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| MailError::Setup(e.to_string()))?;
        self.transport
            .send(&msg)
            .map(|_| ())
            .map_err(|e| MailError::Send { server: self.s.server.clone(), detail: e.to_string() })
    }
}
