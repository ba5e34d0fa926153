//! Email through Amazon SES: the app's [`Mailer`] as one SESv2 `SendEmail` per message,
//! with the raw MIME of billrun-mail's builder (`EmailContent::Raw`), so that SES sends
//! the same bytes as every other transport (attachment included). SES reads the
//! recipients from the message's `To` and `Cc` headers; the `From` is the configured
//! sender, which must be (an address of) an identity verified in SES.
//!
//! Each message is tagged `request` and `document` (SES message tags: they come back in
//! the configuration set's bounce and complaint events) and sent with the configuration
//! set, when one is configured.
//!
//! The failure reasons are stored on the document's delivery result and shown to API
//! callers; addresses never reach them (SES quotes addresses in some messages, so a
//! reason is SES's error code with a fixed description, and the server's text with every
//! word that holds an `@` replaced). Nothing here logs.

use crate::metrics::Metrics;
use crate::ses_events::redact;
use async_trait::async_trait;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{EmailContent, MessageTag, RawMessage};
use billrun_app::model::deliveries::OutgoingMail;
use billrun_app::ports::{Accepted, Mailer, SendFailed};
use std::sync::Arc;

pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    /// `SES_CONFIGURATION_SET`.
    configuration_set: Option<String>,
    /// This environment's share of the account's send rate (`AwsConfig::ses_send_interval`).
    pace: Option<Pace>,
    metrics: Arc<Metrics>,
}

/// Sends at most one message per `interval`: SES refuses sends over the account's rate
/// (a `TooManyRequests` costs the message one of its attempts), so the environments
/// keep under it rather than meet it.
struct Pace {
    interval: std::time::Duration,
    /// When the next send may start.
    next: tokio::sync::Mutex<tokio::time::Instant>,
}

impl Pace {
    async fn wait(&self) {
        let mut next = self.next.lock().await;
        let now = tokio::time::Instant::now();
        let at = (*next).max(now);
        *next = at + self.interval;
        drop(next);
        tokio::time::sleep_until(at).await;
    }
}

impl SesMailer {
    pub fn new(
        client: aws_sdk_sesv2::Client,
        config: &crate::AwsConfig,
        metrics: Arc<Metrics>,
    ) -> SesMailer {
        SesMailer {
            client,
            configuration_set: config.ses_configuration_set.clone(),
            pace: config.ses_send_interval.map(|interval| Pace {
                interval,
                next: tokio::sync::Mutex::new(tokio::time::Instant::now()),
            }),
            metrics,
        }
    }
}

/// The `request` and `document` tags of a message, from its `Message-ID`: none for a
/// message not built by the delivery use case (a tag is for finding a result again, and
/// such a message has none).
fn tags(mail: &OutgoingMail) -> Result<Vec<MessageTag>, SendFailed> {
    let Some((request, document)) = OutgoingMail::ids_in(&mail.message_id) else {
        return Ok(Vec::new());
    };
    [("request", request), ("document", document)]
        .into_iter()
        // Tag values are ASCII letters, digits, `_` and `-` (ids are UUIDs: always so).
        .filter(|(_, v)| {
            v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
        .map(|(name, value)| {
            MessageTag::builder()
                .name(name)
                .value(value)
                .build()
                .map_err(|e| SendFailed::Permanent(format!("message tag {name}: {e}")))
        })
        .collect()
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<Accepted, SendFailed> {
        let mime = billrun_mail::to_mime(mail)?;
        if let Some(pace) = &self.pace {
            pace.wait().await;
        }
        let raw = RawMessage::builder()
            .data(aws_smithy_types::Blob::new(mime))
            .build()
            .map_err(|e| SendFailed::Permanent(format!("raw message: {e}")))?;
        // SendEmail with raw content is authorized as `ses:SendRawEmail` as well as
        // `ses:SendEmail` (which the client's recorder sees).
        self.metrics.record("ses:SendRawEmail".to_string());
        let out = self
            .client
            .send_email()
            .from_email_address(&mail.from)
            .content(EmailContent::builder().raw(raw).build())
            .set_email_tags(Some(tags(mail)?))
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map_err(send_failed)?;
        Ok(Accepted {
            provider_id: out.message_id().map(str::to_string),
        })
    }
}

/// The SDK's failure as the port's: what may pass (throttling, a quota, SES or the
/// network unavailable, a timeout) is transient; what the same message meets again
/// (rejected content, an unverified or suspended sender, a bad request, a missing
/// configuration set, a denied permission) is permanent.
fn send_failed(e: SdkError<SendEmailError>) -> SendFailed {
    match &e {
        SdkError::TimeoutError(_) => SendFailed::Transient("SES did not answer in time".into()),
        SdkError::DispatchFailure(_) => {
            SendFailed::Transient("the request could not be sent to SES".into())
        }
        SdkError::ResponseError(_) => {
            SendFailed::Transient("SES's answer could not be read".into())
        }
        SdkError::ConstructionFailure(_) => {
            SendFailed::Permanent("the SES request could not be built".into())
        }
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            classify(s.err(), status)
        }
        _ => SendFailed::Transient(format!("SES: {}", redact(&e.to_string()))),
    }
}

/// A service error by its code (and, for a code not listed, its HTTP status).
fn classify(err: &SendEmailError, status: u16) -> SendFailed {
    let code = err.code().unwrap_or("Unknown");
    let said = err.message().map(redact).unwrap_or_default();
    let reason = |what: &str| {
        if said.is_empty() {
            format!("SES {code}: {what}")
        } else {
            format!("SES {code}: {what} ({said})")
        }
    };
    match err {
        SendEmailError::TooManyRequestsException(_) => {
            SendFailed::Transient(reason("the send rate is exceeded"))
        }
        SendEmailError::LimitExceededException(_) => {
            SendFailed::Transient(reason("a sending quota is exceeded"))
        }
        SendEmailError::MessageRejected(_) => {
            SendFailed::Permanent(reason("the message was rejected"))
        }
        SendEmailError::MailFromDomainNotVerifiedException(_) => {
            SendFailed::Permanent(reason("the sending domain is not verified"))
        }
        SendEmailError::AccountSuspendedException(_) => {
            SendFailed::Permanent(reason("the account's sending is suspended"))
        }
        SendEmailError::SendingPausedException(_) => {
            SendFailed::Permanent(reason("sending is paused"))
        }
        SendEmailError::BadRequestException(_) => {
            SendFailed::Permanent(reason("the request is invalid"))
        }
        SendEmailError::NotFoundException(_) => SendFailed::Permanent(reason(
            "a resource the message names (the configuration set) does not exist",
        )),
        _ => match code {
            "Throttling"
            | "ThrottlingException"
            | "ServiceUnavailable"
            | "InternalFailure"
            | "RequestTimeout"
            | "RequestTimeoutException" => {
                SendFailed::Transient(reason("SES is busy or unavailable"))
            }
            _ if status >= 500 || status == 429 => {
                SendFailed::Transient(reason("SES is busy or unavailable"))
            }
            _ => SendFailed::Permanent(reason("SES refused the request")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sesv2::types::error::{
        AccountSuspendedException, MessageRejected, SendingPausedException,
        TooManyRequestsException,
    };
    use aws_smithy_types::error::ErrorMetadata;

    fn mail(message_id: &str) -> OutgoingMail {
        OutgoingMail {
            message_id: message_id.into(),
            from: "billing@example.com".into(),
            to: vec!["ap@example.com".into()],
            cc: vec![],
            reply_to: None,
            subject: "Invoice".into(),
            text: "".into(),
            html: "".into(),
            attachment: None,
        }
    }

    fn unhandled(code: &str) -> SendEmailError {
        SendEmailError::generic(
            ErrorMetadata::builder()
                .code(code)
                .message("not for billing@example.com")
                .build(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn the_pace_spaces_sends_by_the_environments_share_of_the_rate() {
        let pace = Pace {
            interval: std::time::Duration::from_millis(500),
            next: tokio::sync::Mutex::new(tokio::time::Instant::now()),
        };
        let start = tokio::time::Instant::now();
        for _ in 0..5 {
            pace.wait().await;
        }
        // The first at once, then one every 500 ms.
        assert_eq!(start.elapsed(), std::time::Duration::from_millis(2000));
    }

    #[test]
    fn a_message_is_tagged_with_its_request_and_document() {
        let (r, d) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let t = tags(&mail(&format!("<{r}.{d}@billrun>"))).unwrap();
        let t: Vec<(&str, &str)> = t.iter().map(|t| (t.name(), t.value())).collect();
        assert_eq!(
            t,
            [
                ("request", r.to_string().as_str()),
                ("document", d.to_string().as_str())
            ]
        );
        assert!(tags(&mail("<other@example.com>")).unwrap().is_empty());
    }

    #[test]
    fn throttling_and_unavailability_are_transient_and_refusals_permanent_without_an_address() {
        let meta = || {
            ErrorMetadata::builder()
                .code("X")
                .message("Email address is not verified: billing@example.com, ap@example.com.")
                .build()
        };
        let transient = [
            (
                SendEmailError::TooManyRequestsException(
                    TooManyRequestsException::builder().meta(meta()).build(),
                ),
                400,
            ),
            (unhandled("Throttling"), 400),
            (unhandled("ServiceUnavailable"), 503),
            (unhandled("SomethingNew"), 500),
        ];
        for (e, status) in transient {
            let f = classify(&e, status);
            assert!(matches!(f, SendFailed::Transient(_)), "{f}");
            assert!(!f.to_string().contains('@'), "{f}");
        }
        let permanent = [
            SendEmailError::MessageRejected(MessageRejected::builder().meta(meta()).build()),
            SendEmailError::AccountSuspendedException(
                AccountSuspendedException::builder().meta(meta()).build(),
            ),
            SendEmailError::SendingPausedException(
                SendingPausedException::builder().meta(meta()).build(),
            ),
            unhandled("AccessDeniedException"),
        ];
        for e in permanent {
            let f = classify(&e, 400);
            assert!(matches!(f, SendFailed::Permanent(_)), "{f}");
            assert!(!f.to_string().contains('@'), "{f}");
            assert!(f.to_string().contains("<address>"), "{f}");
        }
    }
}
