//! Email delivery of a run's posted documents: requests, one result per (request,
//! document), the counters of a request and each document's latest delivery.
//!
//! Exactly once per (request, document): a worker first records the result `Sending`
//! (conditioned on there being none, or a retryable one), then sends, then records
//! `Sent` (conditioned on its own `Sending`). A redelivered message finds `Sent` and
//! does nothing. A crash between the send and its record leaves `Sending`: once its
//! lease ([`SENDING_LEASE_SECONDS`]) has passed, the message is sent again. That is the
//! one window in which a customer can receive the same message twice, and both copies
//! carry the same `Message-ID` ([`OutgoingMail::message_id`]) so mail clients show one
//! (docs/decisions.md "Exactly-once email").

use billrun_domain::ids::{DeliveryRequestId, DocumentId, RunId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How long a `Sending` claim holds before another worker may send the message again.
/// Longer than a send's timeout, so that only a crashed sender's claim expires.
pub const SENDING_LEASE_SECONDS: i64 = 300;

/// Documents per delivery message.
pub const DOCUMENTS_PER_DELIVERY_MESSAGE: usize = 25;

/// A delivery request as stored (its counters are stored beside it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRequest {
    pub id: DeliveryRequestId,
    pub run_id: RunId,
    /// Documents the request covers: the run's numbered Posted documents when it was
    /// made.
    pub requested: u64,
    /// Whether invoices with a total of zero are sent (Zuora's `emailZeroAmountInvoices`).
    pub email_zero_amount_invoices: bool,
    /// Whether documents emailed by an earlier request are skipped (Zuora's
    /// `resend: false`).
    #[serde(default)]
    pub only_unsent: bool,
    /// The template active when the request was made: every message of the request
    /// reads its email fields.
    pub template_id: String,
    /// What made it: the API, or a run's `autoEmail` when it was posted.
    pub trigger: DeliveryTrigger,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryTrigger {
    Api,
    AutoEmail,
}

/// Why a document was not sent (a counter key and the document's reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SkipReason {
    /// The account's `billTo` has no `email`.
    NoAddress,
    /// The invoice's total is zero and the request does not send those.
    ZeroAmount,
    /// The request sends only documents never emailed before, and this one was.
    AlreadySent,
}

impl SkipReason {
    pub fn describe(self) -> &'static str {
        match self {
            SkipReason::NoAddress => "the account's billTo has no email address",
            SkipReason::ZeroAmount => {
                "the invoice's total is zero and emailZeroAmountInvoices is false"
            }
            SkipReason::AlreadySent => {
                "it was emailed before and the request sends only the unsent"
            }
        }
    }
}

/// The state of one (request, document).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum DeliveryState {
    /// Claimed by a sender at `since`; the message may or may not have gone out.
    #[serde(rename_all = "camelCase")]
    Sending { since: DateTime<Utc>, attempt: u32 },
    /// A send failed in a way worth retrying (throttling, a connection failure): the
    /// message comes again; not counted until it ends.
    #[serde(rename_all = "camelCase")]
    Retrying { reason: String, attempt: u32 },
    #[serde(rename_all = "camelCase")]
    Sent {
        at: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider_id: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    Skipped { reason: SkipReason },
    /// Not sent, with the reason (which can quote the server and name the recipient:
    /// stored and shown to API callers, never logged).
    #[serde(rename_all = "camelCase")]
    Failed { reason: String, attempt: u32 },
    /// Sent at `sent_at`, then bounced by the receiving side (reported at `at`).
    #[serde(rename_all = "camelCase")]
    Bounced {
        sent_at: DateTime<Utc>,
        at: DateTime<Utc>,
        /// A permanent (hard) bounce: the address does not take mail; a transient one
        /// (a full mailbox, a message too large) may pass another time.
        permanent: bool,
        reason: String,
    },
    /// Sent at `sent_at`, then reported as spam by the recipient (reported at `at`).
    #[serde(rename_all = "camelCase")]
    Complained {
        sent_at: DateTime<Utc>,
        at: DateTime<Utc>,
        reason: String,
    },
}

/// What the receiving side reported about a sent message (SES's bounce and complaint
/// events, by the `request` and `document` tags of the message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Feedback {
    #[serde(rename_all = "camelCase")]
    Bounce {
        at: DateTime<Utc>,
        permanent: bool,
        reason: String,
    },
    #[serde(rename_all = "camelCase")]
    Complaint { at: DateTime<Utc>, reason: String },
}

/// How a (request, document) result takes a [`Feedback`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedbackStep {
    /// The result to record over the stored one.
    Record(DeliveryState),
    /// Nothing changes: the result already shows it (a repeated event), or a
    /// complaint already outranks a bounce.
    Unchanged,
    /// Its send is not recorded yet (a sender holds it, or will try again): the event
    /// waits until it is.
    NotYetSent,
    /// The result is not a send (skipped, failed): the event names a message this
    /// request never sent.
    NotSent,
}

impl Feedback {
    /// The result after the feedback. A complaint outranks a bounce (it is the
    /// recipient's own word); a second bounce or complaint changes nothing.
    pub fn step(&self, state: &DeliveryState) -> FeedbackStep {
        let sent_at = match state {
            DeliveryState::Sent { at, .. } => *at,
            DeliveryState::Bounced { sent_at, .. } => match self {
                Feedback::Bounce { .. } => return FeedbackStep::Unchanged,
                Feedback::Complaint { .. } => *sent_at,
            },
            DeliveryState::Complained { .. } => return FeedbackStep::Unchanged,
            DeliveryState::Sending { .. } | DeliveryState::Retrying { .. } => {
                return FeedbackStep::NotYetSent
            }
            DeliveryState::Skipped { .. } | DeliveryState::Failed { .. } => {
                return FeedbackStep::NotSent
            }
        };
        FeedbackStep::Record(match self.clone() {
            Feedback::Bounce {
                at,
                permanent,
                reason,
            } => DeliveryState::Bounced {
                sent_at,
                at,
                permanent,
                reason,
            },
            Feedback::Complaint { at, reason } => DeliveryState::Complained {
                sent_at,
                at,
                reason,
            },
        })
    }
}

impl DeliveryState {
    /// Whether the state is a result the request counts (not a claim).
    pub fn is_final(&self) -> bool {
        !matches!(
            self,
            DeliveryState::Sending { .. } | DeliveryState::Retrying { .. }
        )
    }

    /// Whether the document needs nothing more of its request: sent (a bounce or a
    /// complaint since included) or skipped. A Failed one can be resent.
    pub fn is_settled(&self) -> bool {
        matches!(
            self,
            DeliveryState::Sent { .. }
                | DeliveryState::Skipped { .. }
                | DeliveryState::Bounced { .. }
                | DeliveryState::Complained { .. }
        )
    }

    /// Sends made so far (the next claim's attempt is one more).
    pub fn attempts(&self) -> u32 {
        match self {
            DeliveryState::Sending { attempt, .. }
            | DeliveryState::Retrying { attempt, .. }
            | DeliveryState::Failed { attempt, .. } => *attempt,
            DeliveryState::Sent { .. }
            | DeliveryState::Skipped { .. }
            | DeliveryState::Bounced { .. }
            | DeliveryState::Complained { .. } => 0,
        }
    }
}

/// One (request, document) result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryResult {
    pub request_id: DeliveryRequestId,
    pub document_id: DocumentId,
    pub state: DeliveryState,
    /// When this state was recorded.
    pub at: DateTime<Utc>,
}

/// How far a request has come. `skippedReasons` counts the skipped by reason; the
/// bounced and the complained are among the sent (they were sent, then reported).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryCounters {
    pub requested: u64,
    pub sent: u64,
    pub skipped: u64,
    pub failed: u64,
    #[serde(default)]
    pub bounced: u64,
    #[serde(default)]
    pub complained: u64,
    pub skipped_reasons: BTreeMap<SkipReason, u64>,
    /// The latest send of the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sent_at: Option<DateTime<Utc>>,
}

impl DeliveryCounters {
    /// Counts the change of one (request, document) from `before` to `after`: a final
    /// state is counted once, and a retried `Failed` that becomes `Sent` moves from
    /// `failed` to `sent`.
    pub fn apply(&mut self, before: Option<&DeliveryState>, after: &DeliveryState) {
        if let Some(b) = before {
            self.count(b, -1);
        }
        self.count(after, 1);
        if let DeliveryState::Sent { at, .. } = after {
            if self.last_sent_at.is_none_or(|t| t < *at) {
                self.last_sent_at = Some(*at);
            }
        }
    }

    fn count(&mut self, s: &DeliveryState, by: i64) {
        let add = |n: &mut u64| *n = n.saturating_add_signed(by);
        match s {
            DeliveryState::Sending { .. } | DeliveryState::Retrying { .. } => {}
            DeliveryState::Sent { .. } => add(&mut self.sent),
            DeliveryState::Bounced { .. } => {
                add(&mut self.sent);
                add(&mut self.bounced);
            }
            DeliveryState::Complained { .. } => {
                add(&mut self.sent);
                add(&mut self.complained);
            }
            DeliveryState::Failed { .. } => add(&mut self.failed),
            DeliveryState::Skipped { reason } => {
                add(&mut self.skipped);
                let n = self.skipped_reasons.entry(*reason).or_default();
                add(n);
                if *n == 0 {
                    self.skipped_reasons.remove(reason);
                }
            }
        }
    }

    pub fn status(&self) -> DeliveryRequestStatus {
        let done = self.sent + self.skipped + self.failed;
        DeliveryRequestStatus::of(self.requested, done, self.failed)
    }
}

/// A delivery request's status: the four states of a document request, by the same
/// rule ([`DocumentRequestStatus::of`]).
pub type DeliveryRequestStatus = crate::model::documents::DocumentRequestStatus;

/// A request as `GET /v1/delivery-requests/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRequestView {
    pub id: DeliveryRequestId,
    pub run_id: RunId,
    pub status: DeliveryRequestStatus,
    pub email_zero_amount_invoices: bool,
    pub only_unsent: bool,
    pub trigger: DeliveryTrigger,
    pub template_id: String,
    pub counters: DeliveryCounters,
    pub created_at: DateTime<Utc>,
}

impl DeliveryRequestView {
    pub fn new(r: DeliveryRequest, mut counters: DeliveryCounters) -> DeliveryRequestView {
        counters.requested = r.requested;
        DeliveryRequestView {
            id: r.id,
            run_id: r.run_id,
            status: counters.status(),
            email_zero_amount_invoices: r.email_zero_amount_invoices,
            only_unsent: r.only_unsent,
            trigger: r.trigger,
            template_id: r.template_id,
            counters,
            created_at: r.created_at,
        }
    }
}

/// A document's `deliveryStatus` in the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryStatus {
    /// No delivery request covers it.
    NotRequested,
    /// Its latest request has no result for it yet (or a sender holds it).
    Queued,
    Sent,
    Skipped,
    Failed,
    /// The receiving server bounced the message after it was sent.
    Bounced,
    /// The recipient marked the message as spam.
    Complained,
}

/// A document's latest delivery: the document's record, written with each result of
/// the request that covers it last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentDelivery {
    pub document_id: DocumentId,
    pub request_id: DeliveryRequestId,
    pub status: DeliveryStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The time of its last send (kept when a later request skips or fails it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sent_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
}

impl DocumentDelivery {
    /// The record after `result` (`previous`: the record before, whose last send is
    /// kept).
    ///
    /// A bounce or a complaint concerns the message of its own request: when a later
    /// request covers the document, its record stays.
    pub fn after(previous: Option<&DocumentDelivery>, result: &DeliveryResult) -> DocumentDelivery {
        if let Some(p) = previous {
            let feedback = matches!(
                result.state,
                DeliveryState::Bounced { .. } | DeliveryState::Complained { .. }
            );
            if feedback && p.request_id != result.request_id {
                return p.clone();
            }
        }
        let kept = previous.and_then(|p| p.last_sent_at);
        let (status, reason, last_sent_at) = match &result.state {
            DeliveryState::Sending { .. } => (DeliveryStatus::Queued, None, kept),
            DeliveryState::Retrying { reason, .. } => {
                (DeliveryStatus::Queued, Some(reason.clone()), kept)
            }
            DeliveryState::Sent { at, .. } => (DeliveryStatus::Sent, None, Some(*at)),
            DeliveryState::Skipped { reason } => (
                DeliveryStatus::Skipped,
                Some(reason.describe().to_string()),
                kept,
            ),
            DeliveryState::Failed { reason, .. } => {
                (DeliveryStatus::Failed, Some(reason.clone()), kept)
            }
            DeliveryState::Bounced {
                sent_at, reason, ..
            } => (
                DeliveryStatus::Bounced,
                Some(reason.clone()),
                Some(*sent_at),
            ),
            DeliveryState::Complained {
                sent_at, reason, ..
            } => (
                DeliveryStatus::Complained,
                Some(reason.clone()),
                Some(*sent_at),
            ),
        };
        DocumentDelivery {
            document_id: result.document_id,
            request_id: result.request_id,
            status,
            reason,
            last_sent_at,
            at: result.at,
        }
    }
}

/// One email to send: built from a document, its account and the template; the
/// transport adapters turn it into MIME.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// `<{request}.{document}@billrun>`: the same for every attempt of one (request,
    /// document), so that a copy sent again after a crash is the same message.
    pub message_id: String,
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub reply_to: Option<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub attachment: Option<Attachment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl OutgoingMail {
    /// The `Message-ID` of (request, document): one place builds it.
    pub fn message_id_of(request: DeliveryRequestId, document: DocumentId) -> String {
        format!("<{request}.{document}@billrun>")
    }

    /// The (request, document) ids a `Message-ID` of [`OutgoingMail::message_id_of`]
    /// names, as text (a transport tags its message with them, so that a bounce or a
    /// complaint finds its result); `None` for any other form.
    pub fn ids_in(message_id: &str) -> Option<(&str, &str)> {
        let (left, host) = message_id.strip_prefix('<')?.split_once('@')?;
        if host != "billrun>" {
            return None;
        }
        left.split_once('.')
            .filter(|(r, d)| !r.is_empty() && !d.is_empty() && !d.contains('.'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_id_names_its_request_and_document_and_nothing_else_does() {
        let (r, d) = (
            DeliveryRequestId(uuid::Uuid::new_v4()),
            DocumentId(uuid::Uuid::new_v4()),
        );
        let id = OutgoingMail::message_id_of(r, d);
        assert_eq!(
            OutgoingMail::ids_in(&id),
            Some((r.to_string().as_str(), d.to_string().as_str()))
        );
        for other in [
            "",
            "<a@billrun>",
            "<a.b@example.com>",
            "<a.b.c@billrun>",
            "a.b@billrun>",
        ] {
            assert_eq!(OutgoingMail::ids_in(other), None, "{other}");
        }
    }

    #[test]
    fn feedback_is_recorded_only_over_a_send_and_a_complaint_outranks_a_bounce() {
        let t = |m: u32| {
            chrono::DateTime::<Utc>::from_timestamp(1_700_000_000 + i64::from(m) * 60, 0).unwrap()
        };
        let bounce = Feedback::Bounce {
            at: t(2),
            permanent: true,
            reason: "Permanent bounce (General)".into(),
        };
        let complaint = Feedback::Complaint {
            at: t(3),
            reason: "abuse".into(),
        };
        let sent = DeliveryState::Sent {
            at: t(1),
            provider_id: None,
        };
        let bounced = DeliveryState::Bounced {
            sent_at: t(1),
            at: t(2),
            permanent: true,
            reason: "Permanent bounce (General)".into(),
        };
        let complained = DeliveryState::Complained {
            sent_at: t(1),
            at: t(3),
            reason: "abuse".into(),
        };
        assert_eq!(bounce.step(&sent), FeedbackStep::Record(bounced.clone()));
        assert_eq!(
            complaint.step(&sent),
            FeedbackStep::Record(complained.clone())
        );
        assert_eq!(
            complaint.step(&bounced),
            FeedbackStep::Record(complained.clone())
        );
        assert_eq!(bounce.step(&bounced), FeedbackStep::Unchanged);
        assert_eq!(bounce.step(&complained), FeedbackStep::Unchanged);
        assert_eq!(complaint.step(&complained), FeedbackStep::Unchanged);
        let claim = DeliveryState::Sending {
            since: t(0),
            attempt: 1,
        };
        assert_eq!(bounce.step(&claim), FeedbackStep::NotYetSent);
        let skipped = DeliveryState::Skipped {
            reason: SkipReason::NoAddress,
        };
        assert_eq!(complaint.step(&skipped), FeedbackStep::NotSent);

        // Counted among the sent, and moved (not added) when a complaint follows.
        let mut c = DeliveryCounters::default();
        c.apply(None, &sent);
        c.apply(Some(&sent), &bounced);
        assert_eq!((c.sent, c.bounced, c.complained), (1, 1, 0));
        c.apply(Some(&bounced), &complained);
        assert_eq!((c.sent, c.bounced, c.complained), (1, 0, 1));
        assert_eq!(c.last_sent_at, Some(t(1)));
        assert!(bounced.is_settled() && complained.is_settled() && !claim.is_settled());
    }
}
