//! Sending one email: the port delivery sends through. `billrun-mail` implements it
//! over SMTP and as `.eml` files; `billrun-aws` over Amazon SES. Messages are built by
//! [`crate::model::deliveries::OutgoingMail`]'s adapter into MIME (one builder for every
//! transport), so every transport sends the same bytes.

use crate::model::deliveries::OutgoingMail;
use async_trait::async_trait;

/// What a transport answered for a message it accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accepted {
    /// The transport's id of the message (SES's MessageId; SMTP servers' queue ids are
    /// not parsed), recorded with the result.
    pub provider_id: Option<String>,
}

/// Why a message was not sent. The reason may quote the server's reply, which can name
/// the recipient: it is stored on the document's result, never logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendFailed {
    /// Worth retrying later (a connection failure, throttling, a 4xx SMTP reply).
    #[error("transient: {0}")]
    Transient(String),
    /// The same message fails again (a 5xx SMTP reply, a rejected address, a message
    /// over the size limit): recorded Failed with the reason.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// Sends emails.
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, mail: &OutgoingMail) -> Result<Accepted, SendFailed>;
}
