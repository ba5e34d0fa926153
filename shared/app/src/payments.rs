//! Payments against posted invoices: recorded once (an `Idempotency-Key` replay finds
//! its payment), never above the invoice's total (the store's atomic check), and each
//! invoice's settlement (`amountPaid`, `balance`, `paymentStatus`).

pub use crate::model::payments::*;

use crate::error::{AppError, ConflictCode};
use crate::model::listing::{DocumentPosition, RunFilter, RunPosition};
use crate::model::StoredDocument;
use crate::ports::*;
use billrun_domain::document::{DocumentKind, DocumentStatus};
use billrun_domain::error::FieldError;
use billrun_domain::ids::{DocumentId, PaymentId};
use billrun_domain::run::RunStatus;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The UUID v5 namespace of payment ids derived from (invoice, `Idempotency-Key`).
const PAYMENT_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x5a0e_6c1b_93f2_4d87_a1c4_7e29_b86d_3f50);

/// A payment as the API asks for it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PaymentInput {
    /// A decimal string (`"25.00"`): positive, exact to the invoice currency's minor unit.
    pub amount: String,
    /// `YYYY-MM-DD`: the day the money was received; today (UTC) when absent.
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub reference: Option<String>,
}

/// Whether a payment was new or a replay of one recorded before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentOutcome {
    New,
    Replayed,
}

/// Payments over the ports they use.
#[derive(Clone)]
pub struct Payments {
    pub documents: Arc<dyn DocumentStore>,
    pub store: Arc<dyn PaymentStore>,
    pub clock: Arc<dyn Clock>,
    /// The aging report reads the Posted runs' invoices.
    pub run_listing: Arc<dyn RunListing>,
    pub document_listing: Arc<dyn DocumentListing>,
}

/// Runs, and a run's invoices, read per listing call of the aging report.
const AGING_PAGE: usize = 500;

impl Payments {
    /// Records a payment of a Posted invoice. With an `Idempotency-Key`, the payment's
    /// id is derived from the invoice and the key: the same request again answers the
    /// payment recorded (Replayed), another request under the key is a 409
    /// `idempotency_key_reused`.
    pub async fn pay(
        &self,
        invoice: DocumentId,
        input: PaymentInput,
        idempotency_key: Option<&str>,
    ) -> Result<(Payment, Settlement, PaymentOutcome), AppError> {
        let stored = self
            .documents
            .get_document(invoice)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("invoice {invoice}")))?;
        let document = &stored.document;
        if document.kind != DocumentKind::Invoice || document.status != DocumentStatus::Posted {
            return Err(AppError::conflict(
                ConflictCode::DocumentNotPayable,
                format!(
                    "document {invoice} is a {:?} {:?}: only Posted invoices take payments",
                    document.status, document.kind
                ),
            ));
        }
        let now = self.clock.now();
        let payment = Payment {
            id: match idempotency_key {
                Some(key) => {
                    let mut name = invoice.0.as_bytes().to_vec();
                    name.extend_from_slice(key.as_bytes());
                    PaymentId(uuid::Uuid::new_v5(&PAYMENT_NAMESPACE, &name))
                }
                None => PaymentId(uuid::Uuid::new_v4()),
            },
            invoice_id: invoice,
            account_id: document.account_id.clone(),
            currency: document.currency,
            amount: amount(&input.amount, document)?,
            date: match &input.date {
                Some(d) => d.parse().map_err(|_| {
                    AppError::Validation(FieldError::new("date", "must be a date (YYYY-MM-DD)"))
                })?,
                None => now.date_naive(),
            },
            reference: reference(input.reference)?,
            created_at: now,
        };
        let total = document.totals.total;
        match self.store.record_payment(&payment, total).await? {
            PaymentRecorded::New { paid } => {
                Ok((payment, Settlement::of(total, paid), PaymentOutcome::New))
            }
            PaymentRecorded::Exists(existing) if existing.same_request(&payment) => {
                let paid = self.paid(invoice).await?;
                Ok((
                    existing,
                    Settlement::of(total, paid),
                    PaymentOutcome::Replayed,
                ))
            }
            PaymentRecorded::Exists(_) => Err(AppError::conflict(
                ConflictCode::IdempotencyKeyReused,
                "the Idempotency-Key was used for another payment",
            )),
            PaymentRecorded::ExceedsTotal { paid } => Err(AppError::Conflict {
                code: ConflictCode::Overpayment,
                message: format!(
                    "a payment of {} {} exceeds the invoice's balance of {} {}",
                    payment.amount,
                    payment.currency.code(),
                    total - paid,
                    payment.currency.code()
                ),
                field: Some("amount".into()),
            }),
        }
    }

    /// The invoice's payments, oldest first, with its settlement.
    pub async fn payments(
        &self,
        invoice: DocumentId,
    ) -> Result<(Vec<Payment>, Settlement), AppError> {
        let stored = self
            .documents
            .get_document(invoice)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("invoice {invoice}")))?;
        let payments = self.store.payments_of(invoice).await?;
        let paid = self.paid(invoice).await?;
        Ok((payments, Settlement::of_document(&stored.document, paid)))
    }

    /// Each document's settlement: `None` for a credit memo (it is applied, not paid).
    pub async fn settlements(
        &self,
        docs: &[StoredDocument],
    ) -> Result<Vec<Option<Settlement>>, AppError> {
        let ids: Vec<DocumentId> = docs.iter().map(|d| d.document.id).collect();
        let paid = self.store.paid_amounts(&ids).await?;
        Ok(docs
            .iter()
            .zip(paid)
            .map(|(d, paid)| {
                (d.document.kind == DocumentKind::Invoice)
                    .then(|| Settlement::of_document(&d.document, paid))
            })
            .collect())
    }

    /// Open balances as of `as_of` (the invoices dated then, less the payments dated
    /// then), by days past due: totals per currency, and up to `limit` account rows
    /// after `after`. Reads every Posted run's invoices (docs/scale.md "Aging").
    pub async fn aging(
        &self,
        as_of: NaiveDate,
        after: Option<&AgingPosition>,
        limit: usize,
    ) -> Result<AgingReport, AppError> {
        let mut rows: BTreeMap<AgingPosition, AgingRow> = BTreeMap::new();
        let filter = RunFilter {
            status: Some(RunStatus::Posted),
            ..RunFilter::default()
        };
        let mut run_cursor: Option<RunPosition> = None;
        loop {
            let runs = self
                .run_listing
                .list_runs(&filter, run_cursor.as_ref(), AGING_PAGE)
                .await?;
            for run in &runs {
                self.age_run(run.id, as_of, &mut rows).await?;
            }
            match runs.last() {
                Some(last) if runs.len() == AGING_PAGE => run_cursor = Some(RunPosition::of(last)),
                _ => break,
            }
        }
        let mut totals: BTreeMap<String, AgingTotal> = BTreeMap::new();
        for row in rows.values() {
            let t = totals
                .entry(row.currency.code().to_string())
                .or_insert_with(|| AgingTotal {
                    currency: row.currency,
                    invoices: 0,
                    buckets: AgingBuckets::default(),
                });
            t.invoices += row.invoices;
            t.buckets.merge(&row.buckets);
        }
        let items = rows
            .into_iter()
            .filter(|(k, _)| after.is_none_or(|a| k > a))
            .take(limit)
            .map(|(_, row)| row)
            .collect();
        Ok(AgingReport {
            as_of,
            totals: totals.into_values().collect(),
            items,
        })
    }

    /// Adds the open invoices of one Posted run to `rows`.
    async fn age_run(
        &self,
        run: billrun_domain::ids::RunId,
        as_of: NaiveDate,
        rows: &mut BTreeMap<AgingPosition, AgingRow>,
    ) -> Result<(), AppError> {
        let mut cursor: Option<DocumentPosition> = None;
        loop {
            let docs = self
                .document_listing
                .list_run_documents(
                    run,
                    Some(DocumentKind::Invoice),
                    cursor.as_ref(),
                    AGING_PAGE,
                )
                .await?;
            let ids: Vec<DocumentId> = docs.iter().map(|d| d.document.id).collect();
            let paid = self.store.paid_amounts(&ids).await?;
            for (d, paid) in docs.iter().zip(paid) {
                let doc = &d.document;
                if doc.status != DocumentStatus::Posted || doc.invoice_date > as_of {
                    continue;
                }
                // Payments dated after the report's date were still owed then.
                let paid_then = if paid.is_zero() {
                    paid
                } else {
                    self.store
                        .payments_of(doc.id)
                        .await?
                        .iter()
                        .filter(|p| p.date <= as_of)
                        .map(|p| p.amount)
                        .sum()
                };
                let balance = doc.totals.total - paid_then;
                if balance <= Decimal::ZERO {
                    continue;
                }
                let key = AgingPosition {
                    account_id: doc.account_id.clone(),
                    currency: doc.currency.code().to_string(),
                };
                let row = rows.entry(key).or_insert_with(|| AgingRow {
                    account_id: doc.account_id.clone(),
                    currency: doc.currency,
                    invoices: 0,
                    buckets: AgingBuckets::default(),
                });
                row.invoices += 1;
                row.buckets.add(balance, doc.due_date, as_of);
            }
            match docs.last() {
                Some(last) if docs.len() == AGING_PAGE => cursor = Some(DocumentPosition::of(last)),
                _ => return Ok(()),
            }
        }
    }

    async fn paid(&self, invoice: DocumentId) -> Result<Decimal, AppError> {
        Ok(self
            .store
            .paid_amounts(&[invoice])
            .await?
            .first()
            .copied()
            .unwrap_or_default())
    }
}

/// The amount: a positive decimal exact to the invoice currency's minor unit.
fn amount(text: &str, document: &billrun_domain::document::Document) -> Result<Decimal, AppError> {
    let bad = |why: String| AppError::Validation(FieldError::new("amount", why));
    let value: Decimal = text
        .trim()
        .parse()
        .map_err(|_| bad(format!("'{text}' is not a decimal amount")))?;
    if value <= Decimal::ZERO {
        return Err(bad("must be positive".into()));
    }
    if !document.currency.is_exact(value) {
        return Err(bad(format!(
            "{} takes at most {} decimals",
            document.currency.code(),
            document.currency.minor_units()
        )));
    }
    // "25.5" is kept as "25.50", as the invoice's amounts are written.
    Ok(document.currency.round(value))
}

/// The reference: at most [`MAX_REFERENCE`] characters, no control characters.
fn reference(r: Option<String>) -> Result<Option<String>, AppError> {
    let Some(r) = r else { return Ok(None) };
    let bad = |why: &str| AppError::Validation(FieldError::new("reference", why));
    if r.chars().count() > MAX_REFERENCE {
        return Err(bad("must be at most 100 characters"));
    }
    if r.chars().any(char::is_control) {
        return Err(bad("must not hold control characters"));
    }
    Ok(Some(r))
}
