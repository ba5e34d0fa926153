//! Faults of email delivery: its store, and the mail transport (a send that fails
//! transiently, or a worker killed after the message went out and before its result
//! was recorded: the documented window of a second copy).

use super::{FaultPlan, Faulty};
use async_trait::async_trait;
use billrun_app::model::deliveries::*;
use billrun_app::ports::*;
use billrun_app::StoreError;
use billrun_domain::ids::{DeliveryRequestId, DocumentId, RunId};
use chrono::{DateTime, Utc};
use std::sync::Arc;

impl FaultPlan {
    /// The delivery ports wrapped by this plan.
    pub fn wrap_delivery(
        self: &Arc<Self>,
        d: &billrun_app::app::DeliveryPorts,
    ) -> billrun_app::app::DeliveryPorts {
        billrun_app::app::DeliveryPorts {
            store: self.faulty(&d.store),
            mailer: self.faulty(&d.mailer),
            from: d.from.clone(),
        }
    }
}

#[async_trait]
impl<T: ?Sized + Mailer> Mailer for Faulty<T> {
    async fn send(&self, mail: &OutgoingMail) -> Result<Accepted, SendFailed> {
        // A send is a write: it can fail before, time out after it went out, or the
        // worker can die with it sent.
        let sent = self
            .plan
            .write("send_email", async {
                Ok::<_, StoreError>(self.inner.send(mail).await)
            })
            .await;
        match sent {
            Ok(r) => r,
            Err(e) => Err(SendFailed::Transient(e.to_string())),
        }
    }
}

#[async_trait]
impl<T: ?Sized + DeliveryStore> DeliveryStore for Faulty<T> {
    async fn create_delivery_request(&self, request: &DeliveryRequest) -> StoreResult<()> {
        self.plan
            .write(
                "create_delivery_request",
                self.inner.create_delivery_request(request),
            )
            .await
    }
    async fn get_delivery_request(
        &self,
        id: DeliveryRequestId,
    ) -> StoreResult<Option<(DeliveryRequest, DeliveryCounters)>> {
        self.plan
            .read("get_delivery_request", self.inner.get_delivery_request(id))
            .await
    }
    async fn latest_delivery_request(&self, run: RunId) -> StoreResult<Option<DeliveryRequestId>> {
        self.plan
            .read(
                "latest_delivery_request",
                self.inner.latest_delivery_request(run),
            )
            .await
    }
    async fn delivery_result(
        &self,
        request: DeliveryRequestId,
        document: DocumentId,
    ) -> StoreResult<Option<DeliveryResult>> {
        self.plan
            .read(
                "delivery_result",
                self.inner.delivery_result(request, document),
            )
            .await
    }
    async fn record_delivery(
        &self,
        expected: Option<&DeliveryResult>,
        next: &DeliveryResult,
    ) -> StoreResult<()> {
        self.plan
            .write(
                "record_delivery",
                self.inner.record_delivery(expected, next),
            )
            .await
    }
    async fn document_delivery(
        &self,
        document: DocumentId,
    ) -> StoreResult<Option<DocumentDelivery>> {
        self.plan
            .read("document_delivery", self.inner.document_delivery(document))
            .await
    }
    async fn run_last_sent(&self, run: RunId) -> StoreResult<Option<DateTime<Utc>>> {
        self.plan
            .read("run_last_sent", self.inner.run_last_sent(run))
            .await
    }
}
