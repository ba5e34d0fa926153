//! The DynamoDB adapter of payments (`billrun_app::ports::PaymentStore`), in the
//! invoice's partition (keys in `keys.rs`): each payment an item `PAY#<id>`, the paid
//! amount the item `PAID` (a number, added to).
//!
//! `record_payment` is one transaction: the payment put if new, and `ADD paid :amount`
//! conditioned on `paid <= total - amount` (DynamoDB compares numbers exactly, and a
//! condition cannot do arithmetic, so the limit is computed here). Concurrent payments
//! of one invoice serialize on the `PAID` item: the ones that would take it over the
//! total fail their condition, whatever the order. A credit memo's application adds to
//! the memo's `PAID` item too (its applied amount), conditioned on the memo's credit,
//! in the same transaction. A transaction DynamoDB cancels for another in flight on the
//! same item is tried again.

use super::client::{backoff, Limit, SortKey};
use super::codec::{decode, entity, n};
use super::error::{built, canceled};
use super::keys;
use super::DynamoStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use billrun_app::error::StoreError;
use billrun_app::model::payments::{Payment, PaymentRecorded};
use billrun_app::ports::{PaymentStore, StoreResult};
use billrun_domain::ids::DocumentId;
use rust_decimal::Decimal;

const PAID: &str = "paid";
/// Transactions of one payment before it gives up (Transient): each retry follows a
/// transaction canceled for a conflicting one in flight.
const RECORD_ATTEMPTS: u32 = 10;

impl DynamoStore {
    async fn read_paid(&self, invoice: DocumentId) -> StoreResult<Decimal> {
        let Some(item) = self.get(&keys::invoice_paid(invoice)).await? else {
            return Ok(Decimal::ZERO);
        };
        match item.get(PAID).map(|v| v.as_n()) {
            None => Ok(Decimal::ZERO),
            Some(Ok(v)) => v.parse().map_err(|_| {
                StoreError::fatal(format!("corrupt paid amount '{v}' of invoice {invoice}"))
            }),
            Some(Err(_)) => Err(StoreError::fatal(format!(
                "the paid amount of invoice {invoice} is not a number"
            ))),
        }
    }

    /// The `ADD paid` update of `document` (an invoice's paid amount, a credit memo's
    /// applied amount), conditioned on the sum staying within `total`.
    fn add_paid(
        &self,
        document: DocumentId,
        payment: &Payment,
        total: Decimal,
    ) -> StoreResult<TransactWriteItem> {
        let limit = total - payment.amount;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::invoice_paid(document).item()))
            .update_expression("ADD #p :a")
            .condition_expression("attribute_not_exists(#p) OR #p <= :limit")
            .expression_attribute_names("#p", PAID)
            .expression_attribute_values(":a", n(payment.amount))
            .expression_attribute_values(":limit", n(limit));
        Ok(TransactWriteItem::builder()
            .update(built(update.build())?)
            .build())
    }
}

#[async_trait]
impl PaymentStore for DynamoStore {
    async fn record_payment(
        &self,
        payment: &Payment,
        total: Decimal,
        credit: Option<Decimal>,
    ) -> StoreResult<PaymentRecorded> {
        let memo = payment.credit_memo_id.zip(credit);
        let key = keys::payment(payment.invoice_id, payment.id);
        let exists = || async {
            match self.get(&key).await? {
                Some(item) => Ok(Some(PaymentRecorded::Exists(decode(&item)?))),
                None => Ok::<_, StoreError>(None),
            }
        };
        if payment.amount > total {
            if let Some(e) = exists().await? {
                return Ok(e);
            }
            let paid = self.read_paid(payment.invoice_id).await?;
            return Ok(PaymentRecorded::ExceedsTotal { paid });
        }
        if let Some((memo, credit)) = memo {
            if payment.amount > credit {
                if let Some(e) = exists().await? {
                    return Ok(e);
                }
                let applied = self.read_paid(memo).await?;
                return Ok(PaymentRecorded::ExceedsCredit { applied });
            }
        }
        let mut last = StoreError::transient("record_payment was not attempted");
        for attempt in 0..RECORD_ATTEMPTS {
            let mut items = vec![
                self.put_new(entity(&key, payment)?)?,
                self.add_paid(payment.invoice_id, payment, total)?,
            ];
            if let Some((memo, credit)) = memo {
                items.push(self.add_paid(memo, payment, credit)?);
            }
            let e = match self.transact(items).await {
                Ok(()) => {
                    let paid = self.read_paid(payment.invoice_id).await?;
                    return Ok(PaymentRecorded::New { paid });
                }
                Err(e) => e,
            };
            let c = canceled(e)?;
            if c.failed(0) {
                if let Some(e) = exists().await? {
                    return Ok(e);
                }
            } else if c.failed(1) {
                let paid = self.read_paid(payment.invoice_id).await?;
                return Ok(PaymentRecorded::ExceedsTotal { paid });
            } else if let (true, Some((memo, _))) = (c.failed(2), memo) {
                let applied = self.read_paid(memo).await?;
                return Ok(PaymentRecorded::ExceedsCredit { applied });
            } else {
                // Canceled for another transaction in flight on the paid amount.
                backoff(attempt).await;
            }
            last = c.transient();
        }
        Err(last)
    }

    async fn payments_of(&self, invoice: DocumentId) -> StoreResult<Vec<Payment>> {
        let (pk, prefix) = keys::payments_of(invoice);
        let mut out: Vec<Payment> = self
            .query(None, pk, SortKey::Prefix(prefix), Limit::All)
            .await?
            .iter()
            .map(decode)
            .collect::<StoreResult<_>>()?;
        // Stored by id: listed in the order they were recorded.
        out.sort_by_key(|p| (p.created_at, p.id));
        Ok(out)
    }

    async fn paid_amounts(&self, invoices: &[DocumentId]) -> StoreResult<Vec<Decimal>> {
        // BatchGetItem refuses a key twice.
        let unique: std::collections::BTreeSet<DocumentId> = invoices.iter().copied().collect();
        let items = self
            .batch_get(unique.into_iter().map(keys::invoice_paid).collect())
            .await?;
        let mut paid = std::collections::HashMap::new();
        for item in &items {
            let key = keys::Key::of(item);
            if let Some(v) = item.get(PAID).and_then(|v| v.as_n().ok()) {
                let amount: Decimal = v.parse().map_err(|_| {
                    StoreError::fatal(format!("corrupt paid amount '{v}' at {}", key.pk))
                })?;
                paid.insert(key.pk, amount);
            }
        }
        Ok(invoices
            .iter()
            .map(|i| {
                paid.get(&keys::invoice_paid(*i).pk)
                    .copied()
                    .unwrap_or_default()
            })
            .collect())
    }
}
