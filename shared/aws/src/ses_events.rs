//! SES's bounce and complaint events, as an EventBridge rule delivers them to the
//! delivery queue (the SQS message body is the EventBridge event): each names its
//! (request, document) by the message tags the SES mailer set (`request` and
//! `document`, [`crate::ses`]), and becomes a [`Message::Feedback`] for
//! deliver-documents. Recipient addresses in the event are neither kept nor logged;
//! the reason keeps SES's bounce type and the receiving server's diagnostic (its
//! addresses replaced), which the API shows as the document's `deliveryReason`.

use billrun_app::model::deliveries::Feedback;
use billrun_app::Message;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::collections::HashMap;

/// The EventBridge `source` of SES's events.
pub const SOURCE: &str = "aws.ses";
/// The `detail-type`s the template's rule routes to the delivery queue.
pub const BOUNCED: &str = "Email Bounced";
pub const COMPLAINED: &str = "Email Complaint Received";

/// The longest diagnostic kept in a reason (a receiving server's text is unbounded).
const MAX_DIAGNOSTIC: usize = 300;

/// Why an SES event is not a feedback message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SesEventError {
    #[error("not an SES event")]
    NotSes,
    /// An SES event of a type billrun does not record (a delivery, an open...).
    #[error("SES event type {0} is not recorded")]
    Ignored(String),
    /// An SES event about a message billrun did not tag (sent by another system with
    /// the same configuration set).
    #[error("the SES event's message has no request and document tags")]
    Untagged,
    #[error("malformed SES event: {0}")]
    Malformed(String),
}

#[derive(Deserialize)]
struct Envelope {
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    detail: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    mail: Mail,
    bounce: Option<Bounce>,
    complaint: Option<Complaint>,
}

#[derive(Deserialize)]
struct Mail {
    #[serde(default)]
    tags: HashMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: String,
    #[serde(default)]
    bounce_sub_type: Option<String>,
    timestamp: DateTime<Utc>,
    #[serde(default)]
    bounced_recipients: Vec<Recipient>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    #[serde(default)]
    diagnostic_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    timestamp: DateTime<Utc>,
    #[serde(default)]
    complaint_feedback_type: Option<String>,
}

/// The feedback message of an EventBridge SES event (its JSON text).
pub fn feedback_message(body: &str) -> Result<Message, SesEventError> {
    let envelope: Envelope = serde_json::from_str(body).map_err(|_| SesEventError::NotSes)?;
    if envelope.source != SOURCE {
        return Err(SesEventError::NotSes);
    }
    if envelope.detail_type != BOUNCED && envelope.detail_type != COMPLAINED {
        return Err(SesEventError::Ignored(envelope.detail_type));
    }
    let detail: Detail = serde_json::from_value(envelope.detail)
        .map_err(|e| SesEventError::Malformed(e.to_string()))?;
    let tag = |name: &str| {
        detail
            .mail
            .tags
            .get(name)
            .and_then(|v| v.first())
            .map(String::as_str)
    };
    let (Some(request), Some(document)) = (tag("request"), tag("document")) else {
        return Err(SesEventError::Untagged);
    };
    let request_id = request
        .parse()
        .map_err(|_| SesEventError::Malformed(format!("request tag '{request}'")))?;
    let document_id = document
        .parse()
        .map_err(|_| SesEventError::Malformed(format!("document tag '{document}'")))?;
    let feedback = match (
        envelope.detail_type.as_str(),
        detail.bounce,
        detail.complaint,
    ) {
        (BOUNCED, Some(b), _) => Feedback::Bounce {
            at: b.timestamp,
            permanent: b.bounce_type == "Permanent",
            reason: bounce_reason(&b),
        },
        (COMPLAINED, _, Some(c)) => Feedback::Complaint {
            at: c.timestamp,
            reason: match c.complaint_feedback_type {
                Some(kind) => format!("the recipient reported the email ({kind})"),
                None => "the recipient reported the email".to_string(),
            },
        },
        (kind, _, _) => {
            return Err(SesEventError::Malformed(format!(
                "an '{kind}' event without its details"
            )))
        }
    };
    Ok(Message::Feedback {
        request_id,
        document_id,
        feedback,
    })
}

/// "Permanent bounce (General): smtp; 550 5.1.1 user unknown".
fn bounce_reason(b: &Bounce) -> String {
    let mut reason = format!("{} bounce", b.bounce_type);
    if let Some(sub) = &b.bounce_sub_type {
        reason.push_str(&format!(" ({sub})"));
    }
    if let Some(code) = b
        .bounced_recipients
        .iter()
        .find_map(|r| r.diagnostic_code.as_deref())
    {
        let code: String = code.chars().take(MAX_DIAGNOSTIC).collect();
        reason.push_str(": ");
        reason.push_str(&redact(&code));
    }
    reason
}

/// `text` with every word holding an `@` (an address, whatever surrounds it) replaced:
/// what SES says is stored in reasons, and a reason must not carry an address.
pub(crate) fn redact(text: &str) -> String {
    text.split(' ')
        .map(|w| if w.contains('@') { "<address>" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const REQUEST: &str = "2bbb8a80-7903-5b49-84a6-576fcafe440c";
    const DOCUMENT: &str = "30f715b1-28ba-51e2-a97e-8aae70e0bac3";

    /// An event as EventBridge delivers it (the detail is SES's documented record).
    fn event(detail_type: &str, detail: serde_json::Value) -> String {
        json!({
            "version": "0", "id": "6f3b3a57-2f05-4c59-9a5c-0b7c8d5e9f10",
            "detail-type": detail_type, "source": "aws.ses",
            "account": "123456789012", "time": "2026-02-01T10:05:00Z",
            "region": "us-east-1",
            "resources": ["arn:aws:ses:us-east-1:123456789012:configuration-set/billrun"],
            "detail": detail
        })
        .to_string()
    }

    fn mail(tags: serde_json::Value) -> serde_json::Value {
        json!({"timestamp": "2026-02-01T10:00:00.000Z", "source": "billing@example.com",
               "messageId": "0100018d-ses", "destination": ["ap@example.com"],
               "tags": tags})
    }

    fn tags() -> serde_json::Value {
        json!({"ses:configuration-set": ["billrun"], "request": [REQUEST],
               "document": [DOCUMENT]})
    }

    #[test]
    fn a_bounce_names_its_result_its_type_and_the_servers_diagnostic() {
        let body = event(
            BOUNCED,
            json!({"eventType": "Bounce", "mail": mail(tags()), "bounce": {
                "bounceType": "Permanent", "bounceSubType": "General",
                "bouncedRecipients": [{"emailAddress": "ap@example.com", "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 <ap@example.com>: user unknown"}],
                "timestamp": "2026-02-01T10:01:00.000Z", "feedbackId": "f-1"}}),
        );
        let Message::Feedback {
            request_id,
            document_id,
            feedback,
        } = feedback_message(&body).unwrap()
        else {
            panic!("not a feedback message");
        };
        assert_eq!(
            (request_id.to_string(), document_id.to_string()),
            (REQUEST.to_string(), DOCUMENT.to_string())
        );
        let Feedback::Bounce {
            at,
            permanent,
            reason,
        } = feedback
        else {
            panic!("not a bounce");
        };
        assert!(permanent);
        assert_eq!(at.to_rfc3339(), "2026-02-01T10:01:00+00:00");
        assert_eq!(
            reason,
            "Permanent bounce (General): smtp; 550 5.1.1 <address> user unknown"
        );
        assert!(!reason.contains("ap@example.com"));
    }

    #[test]
    fn a_complaint_keeps_its_feedback_type() {
        let body = event(
            COMPLAINED,
            json!({"eventType": "Complaint", "mail": mail(tags()), "complaint": {
                "complainedRecipients": [{"emailAddress": "ap@example.com"}],
                "timestamp": "2026-02-01T11:00:00Z", "feedbackId": "f-2",
                "complaintFeedbackType": "abuse"}}),
        );
        let Message::Feedback { feedback, .. } = feedback_message(&body).unwrap() else {
            panic!("not a feedback message");
        };
        assert!(matches!(
            feedback,
            Feedback::Complaint { ref reason, .. } if reason.ends_with("(abuse)")
        ));
    }

    #[test]
    fn other_events_and_foreign_messages_are_told_apart() {
        assert_eq!(
            feedback_message(r#"{"type": "deliver"}"#),
            Err(SesEventError::NotSes)
        );
        assert_eq!(
            feedback_message(&event(
                "Email Delivered",
                json!({"eventType": "Delivery", "mail": mail(tags())})
            )),
            Err(SesEventError::Ignored("Email Delivered".into()))
        );
        let untagged = json!({"ses:configuration-set": ["billrun"]});
        assert_eq!(
            feedback_message(&event(
                COMPLAINED,
                json!({"eventType": "Complaint", "mail": mail(untagged),
                       "complaint": {"timestamp": "2026-02-01T11:00:00Z"}})
            )),
            Err(SesEventError::Untagged)
        );
        assert!(matches!(
            feedback_message(&event(BOUNCED, json!({"mail": mail(tags())}))),
            Err(SesEventError::Malformed(_))
        ));
    }
}
