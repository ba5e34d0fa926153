//! Webhook endpoints and the deliveries of events to them, following the Standard
//! Webhooks specification (headers and signature in `billrun-webhooks`).

use super::events::RunEventType;
use billrun_domain::ids::{RunId, WebhookDeliveryId, WebhookEndpointId};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The UUID v5 namespace of delivery ids: (event, endpoint) names one delivery.
const DELIVERY_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x8c2d_51a7_0e3b_4f96_a1d4_7b60_c95e_2f13);

/// How long a secret replaced by a rotation still signs (beside the new one), so that
/// receivers can switch over without losing a delivery.
pub const ROTATED_SECRET_GRACE: TimeDelta = TimeDelta::hours(24);

/// Attempts kept on a delivery (the oldest are dropped beyond it): a delivery
/// redelivered by hand again and again stays a small record.
pub const KEPT_ATTEMPTS: usize = 50;

/// Bytes of a receiver's response kept on the attempt (never logged).
pub const RESPONSE_EXCERPT_BYTES: usize = 256;

/// The waits before each retry of a failed delivery: the Standard Webhooks reference
/// schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), eight attempts over 27.6 hours.
pub const DEFAULT_RETRY_SCHEDULE: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// Which events an endpoint receives: every type, or one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventPattern {
    All,
    Type(RunEventType),
}

impl EventPattern {
    /// `*` or an event type's name.
    pub fn parse(s: &str) -> Option<EventPattern> {
        if s == "*" {
            return Some(EventPattern::All);
        }
        RunEventType::ALL
            .into_iter()
            .find(|t| billrun_domain::export::wire_name(t) == s)
            .map(EventPattern::Type)
    }

    /// `*` is every event but the per-document ones, which are sent only to an
    /// endpoint that names them.
    pub fn matches(self, t: RunEventType) -> bool {
        match self {
            EventPattern::All => !t.is_per_document(),
            EventPattern::Type(x) => x == t,
        }
    }
}

impl Serialize for EventPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            EventPattern::All => s.serialize_str("*"),
            EventPattern::Type(t) => t.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for EventPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        EventPattern::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("`{s}` is not an event type (docs/events/) or `*`"))
        })
    }
}

/// A signing secret: `whsec_` and the base64 of its key bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningSecret {
    pub secret: String,
    pub created_at: DateTime<Utc>,
    /// A rotated-out secret signs until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A registered receiver of events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    pub url: String,
    pub events: Vec<EventPattern>,
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The current secret first, then rotated-out ones still in their grace period.
    pub secrets: Vec<SigningSecret>,
    /// Why billrun disabled the endpoint (sustained failure); cleared when a client
    /// enables it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// The first failed attempt since the last successful one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
    /// 1 when created, bumped by every write; a write is conditioned on the stored
    /// version being the one before.
    pub version: u64,
}

impl WebhookEndpoint {
    /// Whether the endpoint is to receive an event of `event_type` about a change made
    /// at `time`: enabled, not deleted, it subscribed to the type, and it existed when
    /// the change was made (an endpoint registered today is not sent last month's
    /// events).
    pub fn wants(&self, event_type: RunEventType, time: DateTime<Utc>) -> bool {
        self.enabled
            && self.deleted_at.is_none()
            && self.created_at <= time
            && self.events.iter().any(|p| p.matches(event_type))
    }

    /// The secrets that sign at `now`: the current one and those in their grace period.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<String> {
        self.secrets
            .iter()
            .filter(|s| s.expires_at.is_none_or(|t| t > now))
            .map(|s| s.secret.clone())
            .collect()
    }

    pub fn is_live(&self) -> bool {
        self.deleted_at.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WebhookDeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// A 2xx answered it.
    Delivered,
    /// Every attempt failed, or its endpoint was disabled or deleted.
    Failed,
}

/// One try at a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAttempt {
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status; absent when none came (timeout, refused, no route).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    /// Why it failed without a status: kept short.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The start of the receiver's response body, at most [`RESPONSE_EXCERPT_BYTES`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
}

impl WebhookAttempt {
    pub fn succeeded(&self) -> bool {
        self.status_code.is_some_and(|c| (200..300).contains(&c))
    }
}

/// An event to be delivered to one endpoint, with its attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDelivery {
    pub id: WebhookDeliveryId,
    pub endpoint_id: WebhookEndpointId,
    /// The event's id: the `webhook-id` of every attempt, so a receiver deduplicates.
    pub event_id: uuid::Uuid,
    pub event_type: RunEventType,
    pub run_id: RunId,
    /// The body every attempt sends (the event's envelope, fixed when the delivery was
    /// made so that a retry sends the same bytes).
    pub payload: String,
    pub status: WebhookDeliveryStatus,
    pub attempts: Vec<WebhookAttempt>,
    /// Attempts made before the latest redelivery (they do not count against the
    /// retry schedule).
    #[serde(default)]
    pub round_start: usize,
    pub next_attempt_at: DateTime<Utc>,
    /// While an attempt is under way: another sender leaves the delivery alone until
    /// then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime<Utc>>,
    /// Why it failed, once Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// 1 when made, bumped by every write (each conditioned on the one before).
    pub version: u64,
}

impl WebhookDelivery {
    /// The id of `event`'s delivery to `endpoint`.
    pub fn id_of(event: uuid::Uuid, endpoint: &WebhookEndpointId) -> WebhookDeliveryId {
        let mut name = event.as_bytes().to_vec();
        name.extend_from_slice(endpoint.as_str().as_bytes());
        WebhookDeliveryId(uuid::Uuid::new_v5(&DELIVERY_NAMESPACE, &name))
    }

    /// Attempts made since the latest redelivery.
    pub fn attempts_this_round(&self) -> usize {
        self.attempts.len().saturating_sub(self.round_start)
    }

    /// Appends `attempt`, dropping the oldest beyond [`KEPT_ATTEMPTS`].
    pub fn record(&mut self, attempt: WebhookAttempt) {
        self.attempts.push(attempt);
        let excess = self.attempts.len().saturating_sub(KEPT_ATTEMPTS);
        if excess > 0 {
            self.attempts.drain(..excess);
            self.round_start = self.round_start.saturating_sub(excess);
        }
    }
}

/// Where a listing of an endpoint's deliveries goes on from: the last one returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryPosition {
    pub created_at: DateTime<Utc>,
    pub id: WebhookDeliveryId,
}

impl DeliveryPosition {
    pub fn of(d: &WebhookDelivery) -> DeliveryPosition {
        DeliveryPosition {
            created_at: d.created_at,
            id: d.id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_read_star_and_event_types_only() {
        assert_eq!(EventPattern::parse("*"), Some(EventPattern::All));
        assert_eq!(
            EventPattern::parse("run.posted"),
            Some(EventPattern::Type(RunEventType::Posted))
        );
        assert_eq!(EventPattern::parse("run.*"), None);
        assert!(EventPattern::All.matches(RunEventType::Deleted));
        assert!(!EventPattern::All.matches(RunEventType::DocumentsPosted));
        assert!(EventPattern::Type(RunEventType::DocumentsPosted)
            .matches(RunEventType::DocumentsPosted));
        assert!(!EventPattern::Type(RunEventType::Posted).matches(RunEventType::Created));
        let json = serde_json::to_string(&[EventPattern::All]).unwrap();
        assert_eq!(json, r#"["*"]"#);
    }

    #[test]
    fn a_delivery_id_names_its_event_and_endpoint() {
        let e = uuid::Uuid::new_v4();
        let a = WebhookEndpointId::parse("a").unwrap();
        let b = WebhookEndpointId::parse("b").unwrap();
        assert_eq!(WebhookDelivery::id_of(e, &a), WebhookDelivery::id_of(e, &a));
        assert_ne!(WebhookDelivery::id_of(e, &a), WebhookDelivery::id_of(e, &b));
    }
}
