//! Payments and each invoice's paid amount (a credit memo's applied amount in the same
//! table): `record_payment` checks the payment's id, the invoice's total and a memo's
//! credit, and writes them in one transaction.

use crate::error::fatal;
use crate::schema::*;
use crate::{read_entities, read_entity, to_json, Error, SqliteStore};
use async_trait::async_trait;
use billrun_app::model::payments::{Payment, PaymentRecorded};
use billrun_app::ports::{PaymentStore, StoreResult};
use billrun_domain::ids::DocumentId;
use rusqlite::{params, Connection, OptionalExtension};
use rust_decimal::Decimal;

fn read_paid(c: &Connection, invoice: DocumentId) -> Result<Decimal, Error> {
    let paid: Option<String> = c
        .query_row(
            &format!("SELECT paid FROM {INVOICE_PAID} WHERE invoice_id = ?1"),
            [invoice.to_string()],
            |r| r.get(0),
        )
        .optional()?;
    match paid {
        None => Ok(Decimal::ZERO),
        Some(p) => p
            .parse()
            .map_err(|_| fatal(format!("stored paid amount '{p}' of invoice {invoice}"))),
    }
}

#[async_trait]
impl PaymentStore for SqliteStore {
    async fn record_payment(
        &self,
        payment: &Payment,
        total: Decimal,
        credit: Option<Decimal>,
    ) -> StoreResult<PaymentRecorded> {
        let payment = payment.clone();
        self.write(move |tx| {
            let existing: Option<Payment> = read_entity(
                tx,
                &format!("SELECT data FROM {PAYMENTS} WHERE id = ?1"),
                [payment.id.to_string()],
            )?;
            if let Some(existing) = existing {
                return Ok(PaymentRecorded::Exists(existing));
            }
            let paid = read_paid(tx, payment.invoice_id)?;
            let after = paid + payment.amount;
            if after > total {
                return Ok(PaymentRecorded::ExceedsTotal { paid });
            }
            let write_paid = |document: DocumentId, amount: Decimal| {
                tx.execute(
                    &format!(
                        "INSERT INTO {INVOICE_PAID} (invoice_id, paid) VALUES (?1, ?2)
                         ON CONFLICT (invoice_id) DO UPDATE SET paid = excluded.paid"
                    ),
                    params![document.to_string(), amount.to_string()],
                )
            };
            if let (Some(memo), Some(credit)) = (payment.credit_memo_id, credit) {
                let applied = read_paid(tx, memo)?;
                if applied + payment.amount > credit {
                    return Ok(PaymentRecorded::ExceedsCredit { applied });
                }
                write_paid(memo, applied + payment.amount)?;
            }
            tx.execute(
                &format!("INSERT INTO {PAYMENTS} (id, invoice_id, data) VALUES (?1, ?2, ?3)"),
                params![
                    payment.id.to_string(),
                    payment.invoice_id.to_string(),
                    to_json(&payment)?
                ],
            )?;
            write_paid(payment.invoice_id, after)?;
            Ok(PaymentRecorded::New { paid: after })
        })
        .await
    }

    async fn payments_of(&self, invoice: DocumentId) -> StoreResult<Vec<Payment>> {
        self.call(move |c| {
            read_entities(
                c,
                &format!("SELECT data FROM {PAYMENTS} WHERE invoice_id = ?1 ORDER BY rowid"),
                [invoice.to_string()],
            )
        })
        .await
    }

    async fn paid_amounts(&self, invoices: &[DocumentId]) -> StoreResult<Vec<Decimal>> {
        let invoices = invoices.to_vec();
        self.call(move |c| invoices.iter().map(|i| read_paid(c, *i)).collect())
            .await
    }
}
