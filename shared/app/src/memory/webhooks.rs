//! Webhook endpoints and deliveries in memory, and senders for compositions and tests
//! without an HTTP client.

use super::MemoryStore;
use crate::model::audit::AuditEvent;
use crate::model::webhooks::{DeliveryPosition, WebhookDelivery, WebhookEndpoint};
use crate::ports::*;
use async_trait::async_trait;
use billrun_domain::ids::{WebhookDeliveryId, WebhookEndpointId};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

#[derive(Default)]
pub(super) struct MemoryWebhooks {
    endpoints: BTreeMap<WebhookEndpointId, WebhookEndpoint>,
    deliveries: HashMap<WebhookDeliveryId, WebhookDelivery>,
}

impl MemoryWebhooks {
    pub(super) fn digest(&self) -> String {
        let mut d: Vec<_> = self.deliveries.values().collect();
        d.sort_by_key(|x| x.id);
        format!("{:?}{:?}", self.endpoints, d)
    }
}

#[async_trait]
impl WebhookStore for MemoryStore {
    async fn save_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
        audit: Option<&AuditEvent>,
    ) -> StoreResult<bool> {
        let mut g = self.webhooks.lock();
        let stored = g.endpoints.get(&endpoint.id).map_or(0, |e| e.version);
        if stored + 1 != endpoint.version {
            return Ok(false);
        }
        g.endpoints.insert(endpoint.id.clone(), endpoint.clone());
        if let Some(audit) = audit {
            // Under the endpoints' lock: one write (locks taken in this order only).
            super::audit::record(&mut self.inner.lock(), audit.clone());
        }
        Ok(true)
    }

    async fn get_endpoint(&self, id: &WebhookEndpointId) -> StoreResult<Option<WebhookEndpoint>> {
        Ok(self.webhooks.lock().endpoints.get(id).cloned())
    }

    async fn list_endpoints(&self) -> StoreResult<Vec<WebhookEndpoint>> {
        Ok(self.webhooks.lock().endpoints.values().cloned().collect())
    }

    async fn create_delivery(&self, delivery: &WebhookDelivery) -> StoreResult<bool> {
        let mut g = self.webhooks.lock();
        if g.deliveries.contains_key(&delivery.id) {
            return Ok(false);
        }
        g.deliveries.insert(delivery.id, delivery.clone());
        Ok(true)
    }

    async fn get_delivery(&self, id: WebhookDeliveryId) -> StoreResult<Option<WebhookDelivery>> {
        Ok(self.webhooks.lock().deliveries.get(&id).cloned())
    }

    async fn save_delivery(&self, delivery: &WebhookDelivery) -> StoreResult<bool> {
        let mut g = self.webhooks.lock();
        match g.deliveries.get_mut(&delivery.id) {
            Some(stored) if stored.version + 1 == delivery.version => {
                *stored = delivery.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn list_deliveries(
        &self,
        endpoint: &WebhookEndpointId,
        after: Option<&DeliveryPosition>,
        limit: usize,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        let g = self.webhooks.lock();
        let mut list: Vec<&WebhookDelivery> = g
            .deliveries
            .values()
            .filter(|d| &d.endpoint_id == endpoint)
            .filter(|d| after.is_none_or(|a| (d.created_at, d.id) > (a.created_at, a.id)))
            .collect();
        list.sort_by_key(|d| (d.created_at, d.id));
        Ok(list.into_iter().take(limit).cloned().collect())
    }
}

/// The sender of a composition that sends no webhooks: every attempt fails (and is
/// recorded so), saying why.
pub struct NoWebhookSender;

#[async_trait]
impl WebhookSender for NoWebhookSender {
    fn check_url(&self, _url: &str) -> Result<(), String> {
        Ok(())
    }

    async fn send(&self, _w: &OutgoingWebhook) -> Result<WebhookResponse, WebhookSendError> {
        Err(WebhookSendError::Failed(
            "this deployment has no webhook sender".into(),
        ))
    }
}

/// What a [`RecordingWebhookSender`] answers to one request.
pub type Answer = Result<WebhookResponse, WebhookSendError>;

/// A receiver in memory: records every request and answers what its script says
/// (tests of retries, timeouts and duplicates without a network).
#[derive(Clone, Default)]
pub struct RecordingWebhookSender {
    received: Arc<Mutex<Vec<OutgoingWebhook>>>,
    #[allow(clippy::type_complexity)]
    script: Arc<Mutex<Option<Box<dyn FnMut(&OutgoingWebhook) -> Answer + Send>>>>,
}

impl RecordingWebhookSender {
    /// Answers 200 to everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers with `script`, called once per request (in the order they came).
    pub fn answering(script: impl FnMut(&OutgoingWebhook) -> Answer + Send + 'static) -> Self {
        let s = Self::default();
        *s.script.lock() = Some(Box::new(script));
        s
    }

    /// The requests made so far, in order.
    pub fn received(&self) -> Vec<OutgoingWebhook> {
        self.received.lock().clone()
    }
}

#[async_trait]
impl WebhookSender for RecordingWebhookSender {
    fn check_url(&self, _url: &str) -> Result<(), String> {
        Ok(())
    }

    async fn send(&self, w: &OutgoingWebhook) -> Result<WebhookResponse, WebhookSendError> {
        self.received.lock().push(w.clone());
        match &mut *self.script.lock() {
            Some(script) => script(w),
            None => Ok(WebhookResponse {
                status: 200,
                excerpt: String::new(),
            }),
        }
    }
}

/// An event bus in memory: keeps what was published.
#[derive(Clone, Default)]
pub struct MemoryEventBus {
    published: Arc<Mutex<Vec<crate::model::events::EventEnvelope>>>,
}

impl MemoryEventBus {
    pub fn published(&self) -> Vec<crate::model::events::EventEnvelope> {
        self.published.lock().clone()
    }
}

#[async_trait]
impl EventBus for MemoryEventBus {
    async fn publish(&self, events: &[crate::model::events::EventEnvelope]) -> StoreResult<()> {
        self.published.lock().extend_from_slice(events);
        Ok(())
    }
}
