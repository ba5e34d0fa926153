//! Events leaving billrun: webhook endpoints and deliveries (stored), the HTTP sender of
//! webhooks, and the event bus (EventBridge on AWS).

use super::StoreResult;
use crate::model::audit::AuditEvent;
use crate::model::events::EventEnvelope;
use crate::model::webhooks::{DeliveryPosition, WebhookDelivery, WebhookEndpoint};
use async_trait::async_trait;
use billrun_domain::ids::{WebhookDeliveryId, WebhookEndpointId};
use chrono::{DateTime, Utc};

/// Webhook endpoints and their deliveries.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Writes `endpoint` and its audit entry (none for bookkeeping: its failure record)
    /// when the stored one's version is `endpoint.version - 1` (none stored: version
    /// 1); `false`, nothing written, when another write came first.
    async fn save_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
        audit: Option<&AuditEvent>,
    ) -> StoreResult<bool>;
    /// The endpoint, deleted ones too.
    async fn get_endpoint(&self, id: &WebhookEndpointId) -> StoreResult<Option<WebhookEndpoint>>;
    /// Every endpoint, deleted ones too, in id order (a deployment has a handful).
    async fn list_endpoints(&self) -> StoreResult<Vec<WebhookEndpoint>>;
    /// Stores a new delivery (version 1) unless one of its id exists: `false` then,
    /// nothing written.
    async fn create_delivery(&self, delivery: &WebhookDelivery) -> StoreResult<bool>;
    async fn get_delivery(&self, id: WebhookDeliveryId) -> StoreResult<Option<WebhookDelivery>>;
    /// Replaces the delivery when the stored one's version is `delivery.version - 1`;
    /// `false`, nothing written, when another write came first.
    async fn save_delivery(&self, delivery: &WebhookDelivery) -> StoreResult<bool>;
    /// An endpoint's deliveries in the order they were made (creation time, then id),
    /// after `after`, at most `limit`.
    async fn list_deliveries(
        &self,
        endpoint: &WebhookEndpointId,
        after: Option<&DeliveryPosition>,
        limit: usize,
    ) -> StoreResult<Vec<WebhookDelivery>>;
}

/// One webhook request to make.
#[derive(Debug, Clone)]
pub struct OutgoingWebhook {
    pub url: String,
    /// `webhook-id`: the event's id, the same on every attempt.
    pub message_id: String,
    /// `webhook-timestamp`: when this attempt is made.
    pub timestamp: DateTime<Utc>,
    pub body: String,
    /// Each signs the request (`webhook-signature` carries one signature per secret).
    pub secrets: Vec<String>,
}

/// What a receiver answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    pub status: u16,
    /// The start of the body, at most `RESPONSE_EXCERPT_BYTES`.
    pub excerpt: String,
}

/// Why no answer came.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookSendError {
    /// The URL is not one billrun sends to (scheme, or an address that is loopback,
    /// private, link-local or a metadata service), found when it was resolved.
    #[error("refused: {0}")]
    Refused(String),
    #[error("timed out")]
    Timeout,
    /// No connection, TLS failure, a broken response.
    #[error("{0}")]
    Failed(String),
}

/// Sends webhook requests: signs them (Standard Webhooks), resolves and checks the
/// host at connection time, follows no redirect.
#[async_trait]
pub trait WebhookSender: Send + Sync {
    /// Checks a URL before it is stored: its scheme, and a host given as an address or
    /// a name reserved for the local machine. (A name is resolved and checked at every
    /// send, not here.) The error says why, for the client.
    fn check_url(&self, url: &str) -> Result<(), String>;
    async fn send(&self, webhook: &OutgoingWebhook) -> Result<WebhookResponse, WebhookSendError>;
}

/// Where events are published for rules to route (EventBridge's custom bus).
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Publishes the events (each an entry: source `billrun`, detail-type its type,
    /// detail its envelope). At least once: a retried publish may repeat an event,
    /// whose `id` receivers deduplicate on.
    async fn publish(&self, events: &[EventEnvelope]) -> StoreResult<()>;
}
