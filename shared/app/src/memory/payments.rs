//! Payments in memory.

use super::MemoryStore;
use crate::model::payments::{Payment, PaymentRecorded};
use crate::ports::*;
use async_trait::async_trait;
use billrun_domain::ids::{DocumentId, PaymentId};
use rust_decimal::Decimal;
use std::collections::HashMap;

/// Payments by id, each invoice's payments in the order recorded and its paid amount.
#[derive(Default)]
pub(super) struct MemoryPayments {
    payments: HashMap<PaymentId, Payment>,
    by_invoice: HashMap<DocumentId, Vec<PaymentId>>,
    paid: HashMap<DocumentId, Decimal>,
}

#[async_trait]
impl PaymentStore for MemoryStore {
    async fn record_payment(
        &self,
        payment: &Payment,
        total: Decimal,
        credit: Option<Decimal>,
    ) -> StoreResult<PaymentRecorded> {
        let mut g = self.payments.lock();
        if let Some(existing) = g.payments.get(&payment.id) {
            return Ok(PaymentRecorded::Exists(existing.clone()));
        }
        let paid = g.paid.get(&payment.invoice_id).copied().unwrap_or_default();
        let after = paid + payment.amount;
        if after > total {
            return Ok(PaymentRecorded::ExceedsTotal { paid });
        }
        if let (Some(memo), Some(credit)) = (payment.credit_memo_id, credit) {
            let applied = g.paid.get(&memo).copied().unwrap_or_default();
            if applied + payment.amount > credit {
                return Ok(PaymentRecorded::ExceedsCredit { applied });
            }
            g.paid.insert(memo, applied + payment.amount);
        }
        g.payments.insert(payment.id, payment.clone());
        g.by_invoice
            .entry(payment.invoice_id)
            .or_default()
            .push(payment.id);
        g.paid.insert(payment.invoice_id, after);
        Ok(PaymentRecorded::New { paid: after })
    }

    async fn payments_of(&self, invoice: DocumentId) -> StoreResult<Vec<Payment>> {
        let g = self.payments.lock();
        Ok(g.by_invoice
            .get(&invoice)
            .into_iter()
            .flatten()
            .filter_map(|id| g.payments.get(id).cloned())
            .collect())
    }

    async fn paid_amounts(&self, invoices: &[DocumentId]) -> StoreResult<Vec<Decimal>> {
        let g = self.payments.lock();
        Ok(invoices
            .iter()
            .map(|i| g.paid.get(i).copied().unwrap_or_default())
            .collect())
    }
}
