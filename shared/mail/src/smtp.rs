//! Sending over SMTP with lettre's tokio client, TLS by rustls.
//!
//! The relay is one URL (`SMTP_URL`-style configuration):
//!
//! | URL | connection |
//! | --- | --- |
//! | `smtps://host[:465]` | implicit TLS from the first byte |
//! | `smtp://host[:587]` | STARTTLS, required: a server that does not offer it gets nothing |
//! | `smtp://127.0.0.1:1025` (loopback: `127.0.0.0/8`, `::1`, `localhost`) | plain SMTP (a local relay or mail catcher) |
//! | `smtp://localhost:25?tls=required` | STARTTLS to a loopback relay |
//!
//! `user:password@` (percent-encoded) adds AUTH. `?tls=none` asks for plain SMTP and is
//! refused for any host but loopback, so credentials and invoices never cross a network
//! in clear, whatever the URL says.
//!
//! Each message opens its own connection (lettre without its pool: the pool spawns a
//! task when built and would keep connections idle across frozen Lambda environments).

use crate::mime;
use async_trait::async_trait;
use billrun_app::model::deliveries::OutgoingMail;
use billrun_app::ports::{Accepted, Mailer, SendFailed};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime};

/// How long one SMTP command (connect, EHLO, MAIL, RCPT, DATA...) may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a whole send may take: a large attachment over a slow link included, and
/// well inside the delivery claim's lease
/// ([`SENDING_LEASE_SECONDS`](billrun_app::model::deliveries::SENDING_LEASE_SECONDS)), so
/// that only a crashed sender's claim ever expires.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(120);

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (`smtps://`).
    ImplicitTls,
    /// STARTTLS, required before anything else is sent.
    StartTls,
    /// None: only ever to a loopback host.
    Plain,
}

/// Why an SMTP URL cannot be used. Never quotes the URL: it can hold a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailConfigError {
    #[error("the SMTP URL is not a URL: {0}")]
    Url(String),
    #[error("the SMTP URL's scheme is '{0}' (expected smtp or smtps)")]
    Scheme(String),
    #[error("the SMTP URL names no host")]
    NoHost,
    #[error("the SMTP URL has a path or fragment; only smtp[s]://[user:password@]host[:port][?tls=required|none]")]
    Path,
    #[error("the SMTP URL's option '{0}' is unknown (only tls=required or tls=none, on smtp://)")]
    Option(String),
    #[error("plain SMTP (tls=none) is only allowed to a loopback host, not to {0}: use smtps:// or STARTTLS")]
    PlaintextToRemote(String),
    #[error("the SMTP URL has a password but no user")]
    PasswordWithoutUser,
    #[error("the SMTP URL's user or password is not UTF-8 once decoded")]
    Credentials,
    #[error("TLS to {host} cannot be set up: {reason}")]
    Tls { host: String, reason: String },
}

/// Sends through one SMTP relay.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    security: Security,
    /// The relay's host, for logs (a server, not a person).
    host: String,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The transport holds the credentials: only what identifies the relay is shown.
        f.debug_struct("SmtpMailer")
            .field("host", &self.host)
            .field("security", &self.security)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// The mailer the URL describes (module docs); nothing is connected yet.
    pub fn from_url(url: &str) -> Result<SmtpMailer, MailConfigError> {
        let u = url::Url::parse(url).map_err(|e| MailConfigError::Url(e.to_string()))?;
        let implicit = match u.scheme() {
            "smtps" => true,
            "smtp" => false,
            other => return Err(MailConfigError::Scheme(other.to_string())),
        };
        if !matches!(u.path(), "" | "/") || u.fragment().is_some() {
            return Err(MailConfigError::Path);
        }
        // url parses the host of a non-special scheme as opaque: an IPv4 literal comes
        // back as a domain, an IPv6 one as an address.
        let host = match u.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_string(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            _ => return Err(MailConfigError::NoHost),
        };
        let loopback = is_loopback(&host);

        let mut tls_option = None;
        for (key, value) in u.query_pairs() {
            match (key.as_ref(), value.as_ref()) {
                ("tls", "required" | "none") if !implicit && tls_option.is_none() => {
                    tls_option = Some(value.into_owned());
                }
                _ => return Err(MailConfigError::Option(format!("{key}={value}"))),
            }
        }
        let security = match (implicit, tls_option.as_deref()) {
            (true, _) => Security::ImplicitTls,
            (false, Some("required")) => Security::StartTls,
            (false, Some(_)) if !loopback => return Err(MailConfigError::PlaintextToRemote(host)),
            (false, Some(_)) => Security::Plain,
            (false, None) if loopback => Security::Plain,
            (false, None) => Security::StartTls,
        };

        let tls_parameters = || {
            TlsParameters::new(host.clone()).map_err(|e| MailConfigError::Tls {
                host: host.clone(),
                reason: e.to_string(),
            })
        };
        let (tls, default_port) = match security {
            Security::ImplicitTls => (Tls::Wrapper(tls_parameters()?), 465),
            Security::StartTls => (Tls::Required(tls_parameters()?), 587),
            Security::Plain => (Tls::None, 587),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(u.port().unwrap_or(default_port))
            .tls(tls)
            .timeout(Some(COMMAND_TIMEOUT));
        match (decode(u.username())?, u.password().map(decode).transpose()?) {
            (user, password) if !user.is_empty() => {
                builder = builder.credentials(Credentials::new(user, password.unwrap_or_default()));
            }
            (_, Some(_)) => return Err(MailConfigError::PasswordWithoutUser),
            _ => {}
        }
        Ok(SmtpMailer {
            transport: builder.build(),
            security,
            host,
        })
    }

    /// How the connection to the relay is protected.
    pub fn security(&self) -> Security {
        self.security
    }
}

fn decode(s: &str) -> Result<String, MailConfigError> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| MailConfigError::Credentials)
}

/// `localhost`, `127.0.0.0/8` or `::1` (and `::ffff:127.x.y.z`).
fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => a.is_loopback(),
        Ok(IpAddr::V6(a)) => {
            a.is_loopback()
                || a.to_ipv4_mapped()
                    .is_some_and(|v4: Ipv4Addr| v4.is_loopback())
        }
        Err(_) => false,
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<Accepted, SendFailed> {
        let message = mime::message(mail, SystemTime::now())?;
        let bytes = message.formatted();
        let sent = tokio::time::timeout(
            SEND_TIMEOUT,
            self.transport.send_raw(message.envelope(), &bytes),
        )
        .await;
        match sent {
            Ok(Ok(_)) => {
                tracing::debug!(relay = %self.host, message_id = %mail.message_id, "smtp: accepted");
                // SMTP replies carry a queue id at best, in no standard form: not parsed.
                Ok(Accepted { provider_id: None })
            }
            Ok(Err(e)) => {
                let failed = classify(&e);
                // The reply code and kind only: the reply's text can name the recipient.
                tracing::warn!(
                    relay = %self.host,
                    message_id = %mail.message_id,
                    code = e.status().map(|c| c.to_string()).unwrap_or_default(),
                    permanent = matches!(failed, SendFailed::Permanent(_)),
                    "smtp: not sent"
                );
                Err(failed)
            }
            Err(_) => {
                tracing::warn!(relay = %self.host, message_id = %mail.message_id, "smtp: timed out");
                Err(SendFailed::Transient(format!(
                    "the SMTP relay did not complete the send within {} s",
                    SEND_TIMEOUT.as_secs()
                )))
            }
        }
    }
}

/// A 5xx reply is permanent (the same message fails again); everything else is worth
/// another try: 4xx replies, connection and TLS failures, timeouts, replies that could
/// not be read, a relay that does not offer STARTTLS (fixed by configuration, not by
/// failing the documents).
fn classify(e: &lettre::transport::smtp::Error) -> SendFailed {
    if e.is_permanent() {
        SendFailed::Permanent(format!("the SMTP relay refused the message: {e}"))
    } else if e.is_transient() {
        SendFailed::Transient(format!("the SMTP relay deferred the message: {e}"))
    } else if e.is_timeout() {
        SendFailed::Transient(format!("the SMTP relay timed out: {e}"))
    } else {
        SendFailed::Transient(format!("the SMTP relay could not be reached: {e}"))
    }
}
