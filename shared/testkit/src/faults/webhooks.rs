//! Faults of events leaving billrun: the webhook store's reads and writes, the event
//! bus, and the receivers (a request that fails before it is sent, times out after the
//! receiver got it, or is killed mid-way).

use super::Faulty;
use async_trait::async_trait;
use billrun_app::model::audit::AuditEvent;
use billrun_app::model::events::EventEnvelope;
use billrun_app::model::webhooks::{DeliveryPosition, WebhookDelivery, WebhookEndpoint};
use billrun_app::ports::*;
use billrun_domain::ids::{WebhookDeliveryId, WebhookEndpointId};

#[async_trait]
impl<T: ?Sized + WebhookStore> WebhookStore for Faulty<T> {
    async fn save_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
        audit: Option<&AuditEvent>,
    ) -> StoreResult<bool> {
        self.plan
            .write("save_endpoint", self.inner.save_endpoint(endpoint, audit))
            .await
    }
    async fn get_endpoint(&self, id: &WebhookEndpointId) -> StoreResult<Option<WebhookEndpoint>> {
        self.plan
            .read("get_endpoint", self.inner.get_endpoint(id))
            .await
    }
    async fn list_endpoints(&self) -> StoreResult<Vec<WebhookEndpoint>> {
        self.plan
            .read("list_endpoints", self.inner.list_endpoints())
            .await
    }
    async fn create_delivery(&self, delivery: &WebhookDelivery) -> StoreResult<bool> {
        self.plan
            .write("create_delivery", self.inner.create_delivery(delivery))
            .await
    }
    async fn get_delivery(&self, id: WebhookDeliveryId) -> StoreResult<Option<WebhookDelivery>> {
        self.plan
            .read("get_delivery", self.inner.get_delivery(id))
            .await
    }
    async fn save_delivery(&self, delivery: &WebhookDelivery) -> StoreResult<bool> {
        self.plan
            .write("save_delivery", self.inner.save_delivery(delivery))
            .await
    }
    async fn list_deliveries(
        &self,
        endpoint: &WebhookEndpointId,
        after: Option<&DeliveryPosition>,
        limit: usize,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        self.plan
            .read(
                "list_deliveries",
                self.inner.list_deliveries(endpoint, after, limit),
            )
            .await
    }
}

#[async_trait]
impl<T: ?Sized + EventBus> EventBus for Faulty<T> {
    async fn publish(&self, events: &[EventEnvelope]) -> StoreResult<()> {
        self.plan.write("publish", self.inner.publish(events)).await
    }
}

#[async_trait]
impl<T: ?Sized + WebhookSender> WebhookSender for Faulty<T> {
    fn check_url(&self, url: &str) -> Result<(), String> {
        self.inner.check_url(url)
    }
    /// A request is a write to the receiver: it fails before it is sent, times out
    /// (received or not), fails after it was received, or the process dies around it.
    async fn send(&self, w: &OutgoingWebhook) -> Result<WebhookResponse, WebhookSendError> {
        let sent = self
            .plan
            .write("send_webhook", async { Ok(self.inner.send(w).await) })
            .await;
        match sent {
            Ok(answer) => answer,
            Err(e) if e.to_string().contains("timeout") => Err(WebhookSendError::Timeout),
            Err(e) => Err(WebhookSendError::Failed(e.to_string())),
        }
    }
}
