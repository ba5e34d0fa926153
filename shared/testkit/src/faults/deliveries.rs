//! Faults of email delivery: its store, and the mail transport. A send can fail before
//! anything goes out, time out or fail after the message went out, or the worker can
//! die with it sent; a `Sent` record can fail without landing. The sends that leave the
//! message out with no `Sent` recorded are noted ([`FaultPlan::send_window`]): they are
//! the documented window in which a customer can get a second copy
//! (docs/decisions.md "Exactly-once email"), and the only duplicates a test may find.

use super::{injected, Decision, FaultPlan, Faulty};
use async_trait::async_trait;
use billrun_app::model::deliveries::*;
use billrun_app::ports::*;
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

    /// The Message-IDs of the sends a fault left without their `Sent` record (once per
    /// such send).
    pub fn send_window(&self) -> Vec<String> {
        self.send_window.lock().clone()
    }

    fn note_window(&self, message_id: &str) {
        self.send_window.lock().push(message_id.to_string());
    }
}

#[async_trait]
impl<T: ?Sized + Mailer> Mailer for Faulty<T> {
    async fn send(&self, mail: &OutgoingMail) -> Result<Accepted, SendFailed> {
        let p = &self.plan;
        let failed = |kind: &str| {
            Err(SendFailed::Transient(
                injected(kind, "send_email").to_string(),
            ))
        };
        match p.decide(true, false) {
            Decision::Pass | Decision::Duplicate | Decision::Reorder => self.inner.send(mail).await,
            Decision::Fail => failed("failure"),
            Decision::Timeout { lands } => {
                if lands && self.inner.send(mail).await.is_ok() {
                    p.note_window(&mail.message_id);
                }
                failed("timeout")
            }
            Decision::FailAfterWrite => {
                if self.inner.send(mail).await.is_ok() {
                    p.note_window(&mail.message_id);
                }
                failed("failure after the send")
            }
            Decision::Kill { lands } => {
                if lands && self.inner.send(mail).await.is_ok() {
                    p.note_window(&mail.message_id);
                }
                let _: StoreResult<()> = FaultPlan::kill().await;
                failed("kill")
            }
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
        let p = &self.plan;
        let op = "record_delivery";
        let call = self.inner.record_delivery(expected, next);
        // A `Sent` record that does not land leaves a sent message behind its claim.
        let lost = || {
            if matches!(next.state, DeliveryState::Sent { .. }) {
                p.note_window(&OutgoingMail::message_id_of(
                    next.request_id,
                    next.document_id,
                ));
            }
        };
        match p.decide(true, false) {
            Decision::Pass | Decision::Duplicate | Decision::Reorder => call.await,
            Decision::Fail => {
                lost();
                Err(injected("failure", op))
            }
            Decision::Timeout { lands } => {
                if lands {
                    let _ = call.await;
                } else {
                    lost();
                }
                Err(injected("timeout", op))
            }
            Decision::FailAfterWrite => {
                call.await?;
                Err(injected("failure after the write", op))
            }
            Decision::Kill { lands } => {
                if lands {
                    let _ = call.await;
                } else {
                    lost();
                }
                FaultPlan::kill().await
            }
        }
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
