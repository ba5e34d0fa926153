//! Faults of the payment store: a payment's write can fail before it lands, time out
//! (landing or not) or fail after it landed, and a client retries under its key.

use super::Faulty;
use async_trait::async_trait;
use billrun_app::model::payments::{Payment, PaymentRecorded};
use billrun_app::ports::*;
use billrun_domain::ids::DocumentId;
use rust_decimal::Decimal;

#[async_trait]
impl<T: ?Sized + PaymentStore> PaymentStore for Faulty<T> {
    async fn record_payment(
        &self,
        payment: &Payment,
        total: Decimal,
        credit: Option<Decimal>,
    ) -> StoreResult<PaymentRecorded> {
        self.plan
            .write(
                "record_payment",
                self.inner.record_payment(payment, total, credit),
            )
            .await
    }
    async fn payments_of(&self, invoice: DocumentId) -> StoreResult<Vec<Payment>> {
        self.plan
            .read("payments_of", self.inner.payments_of(invoice))
            .await
    }
    async fn paid_amounts(&self, invoices: &[DocumentId]) -> StoreResult<Vec<Decimal>> {
        self.plan
            .read("paid_amounts", self.inner.paid_amounts(invoices))
            .await
    }
}
