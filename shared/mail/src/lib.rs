//! billrun's email transports, behind the app's [`Mailer`](billrun_app::ports::Mailer)
//! port: [`SmtpMailer`] (lettre's tokio SMTP client over rustls) and [`EmlDirMailer`]
//! (each message as an `.eml` file, for the local mode and tests).
//!
//! Every transport sends the bytes of one builder, [`to_mime`], so a message reads the
//! same whichever way it went out (SES raw sending uses it too).
//!
//! Personal data stays out of the logs: no address, display name or server reply is
//! ever logged (a reply can quote the recipient). They reach the
//! [`SendFailed`](billrun_app::ports::SendFailed) reason, which is stored on the
//! document's delivery result and shown to API callers only.

mod eml;
mod mime;
mod smtp;

pub use eml::EmlDirMailer;
pub use mime::{to_mime, to_mime_at};
pub use smtp::{MailConfigError, Security, SmtpMailer, COMMAND_TIMEOUT, SEND_TIMEOUT};
