//! Payments against invoices and each invoice's paid amount.

use super::StoreResult;
use crate::model::payments::{Payment, PaymentRecorded};
use async_trait::async_trait;
use billrun_domain::ids::DocumentId;
use rust_decimal::Decimal;

/// Payments and paid amounts.
#[async_trait]
pub trait PaymentStore: Send + Sync {
    /// Stores `payment` and adds its amount to its invoice's paid amount, atomically,
    /// unless a payment of its id exists ([`PaymentRecorded::Exists`]) or the paid
    /// amount would exceed `total` ([`PaymentRecorded::ExceedsTotal`]); then nothing is
    /// written. Concurrent payments of one invoice never take it over `total`. A credit
    /// memo's application (`payment.credit_memo_id`) also adds the amount to the memo's
    /// applied amount, in the same write, which never exceeds `credit` (the memo's
    /// credit; [`PaymentRecorded::ExceedsCredit`] otherwise).
    async fn record_payment(
        &self,
        payment: &Payment,
        total: Decimal,
        credit: Option<Decimal>,
    ) -> StoreResult<PaymentRecorded>;
    /// The invoice's payments, oldest first.
    async fn payments_of(&self, invoice: DocumentId) -> StoreResult<Vec<Payment>>;
    /// The paid amount of each invoice, or the applied amount of each credit memo (zero
    /// for a document without either), in order.
    async fn paid_amounts(&self, invoices: &[DocumentId]) -> StoreResult<Vec<Decimal>>;
}
