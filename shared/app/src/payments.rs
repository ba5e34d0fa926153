//! Payments against posted invoices: recorded once (an `Idempotency-Key` replay finds
//! its payment), never above the invoice's total (the store's atomic check), and each
//! invoice's settlement (`amountPaid`, `balance`, `paymentStatus`).

pub use crate::model::payments::*;

use crate::error::{AppError, ConflictCode};
use crate::model::corrections::is_void_credit_memo;
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

/// A credit memo's application as the API asks for it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplicationInput {
    /// The Posted invoice (of the memo's account and currency) the credit pays.
    pub invoice_id: String,
    /// A decimal string: positive, exact to the currency's minor unit.
    pub amount: String,
}

/// A payment's id: derived from (`scope`, key) under an `Idempotency-Key` (`scope`: the
/// invoice paid, or the credit memo applied), so that a replay finds it; new otherwise.
fn payment_id(scope: DocumentId, idempotency_key: Option<&str>) -> PaymentId {
    match idempotency_key {
        Some(key) => {
            let mut name = scope.0.as_bytes().to_vec();
            name.extend_from_slice(key.as_bytes());
            PaymentId(uuid::Uuid::new_v5(&PAYMENT_NAMESPACE, &name))
        }
        None => PaymentId(uuid::Uuid::new_v4()),
    }
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
        let document = self.payable(invoice).await?;
        let now = self.clock.now();
        let payment = Payment {
            id: payment_id(invoice, idempotency_key),
            invoice_id: invoice,
            account_id: document.account_id.clone(),
            currency: document.currency,
            amount: amount(&input.amount, &document, "amount")?,
            date: match &input.date {
                Some(d) => d.parse().map_err(|_| {
                    AppError::Validation(FieldError::new("date", "must be a date (YYYY-MM-DD)"))
                })?,
                None => now.date_naive(),
            },
            reference: reference(input.reference)?,
            credit_memo_id: None,
            created_at: now,
        };
        let (payment, invoice, _, outcome) = self.record(payment, &document, None).await?;
        Ok((payment, invoice, outcome))
    }

    /// Applies part of a Posted credit memo's credit to a Posted invoice of the same
    /// account and currency: recorded as a payment of the invoice from the memo, dated
    /// today, never above the invoice's balance or the memo's unapplied credit. An
    /// `Idempotency-Key` makes a replay answer the application recorded. Answers the
    /// application, the invoice's settlement and the memo's (its credit applied and
    /// unapplied).
    pub async fn apply_credit(
        &self,
        memo: DocumentId,
        input: ApplicationInput,
        idempotency_key: Option<&str>,
    ) -> Result<(Payment, Settlement, Settlement, PaymentOutcome), AppError> {
        let credit_memo = self
            .documents
            .get_document(memo)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("credit memo {memo}")))?
            .document;
        if is_void_credit_memo(&credit_memo) {
            return Err(AppError::conflict(
                ConflictCode::CreditMemoNotApplicable,
                format!(
                    "credit memo {memo} voids an invoice: its credit reverses that invoice \
                     and is not applied elsewhere"
                ),
            ));
        }
        if credit_memo.kind != DocumentKind::CreditMemo
            || credit_memo.status != DocumentStatus::Posted
        {
            return Err(AppError::conflict(
                ConflictCode::CreditMemoNotApplicable,
                format!(
                    "document {memo} is a {:?} {:?}: only Posted credit memos are applied",
                    credit_memo.status, credit_memo.kind
                ),
            ));
        }
        let invoice: DocumentId = input.invoice_id.trim().parse().map_err(|_| {
            AppError::Validation(FieldError::new(
                "invoiceId",
                "must be a document id (a UUID)",
            ))
        })?;
        let document = self.payable(invoice).await?;
        if document.account_id != credit_memo.account_id
            || document.currency != credit_memo.currency
        {
            return Err(AppError::Conflict {
                code: ConflictCode::CreditMemoNotApplicable,
                message: format!(
                    "invoice {invoice} is not of the credit memo's account and currency ({}, {})",
                    credit_memo.account_id,
                    credit_memo.currency.code()
                ),
                field: Some("invoiceId".into()),
            });
        }
        let now = self.clock.now();
        let application = Payment {
            id: payment_id(memo, idempotency_key),
            invoice_id: invoice,
            account_id: document.account_id.clone(),
            currency: document.currency,
            amount: amount(&input.amount, &document, "amount")?,
            date: now.date_naive(),
            reference: None,
            credit_memo_id: Some(memo),
            created_at: now,
        };
        let credit = -credit_memo.totals.total;
        let (application, invoice, applied, outcome) =
            self.record(application, &document, Some(credit)).await?;
        Ok((
            application,
            invoice,
            Settlement::of(credit, applied.unwrap_or_default()),
            outcome,
        ))
    }

    /// A Posted invoice, or why it takes no payment.
    async fn payable(
        &self,
        invoice: DocumentId,
    ) -> Result<billrun_domain::document::Document, AppError> {
        let document = self
            .documents
            .get_document(invoice)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("invoice {invoice}")))?
            .document;
        if document.kind != DocumentKind::Invoice || document.status != DocumentStatus::Posted {
            return Err(AppError::conflict(
                ConflictCode::DocumentNotPayable,
                format!(
                    "document {invoice} is a {:?} {:?}: only Posted invoices take payments",
                    document.status, document.kind
                ),
            ));
        }
        Ok(document)
    }

    /// Records `payment` of `document` (with the memo's `credit` for an application);
    /// answers it with the invoice's settlement and the memo's applied amount after.
    async fn record(
        &self,
        payment: Payment,
        document: &billrun_domain::document::Document,
        credit: Option<Decimal>,
    ) -> Result<(Payment, Settlement, Option<Decimal>, PaymentOutcome), AppError> {
        let total = document.totals.total;
        let code = payment.currency.code();
        // A new payment's write answers the invoice's paid amount; a replay reads it.
        let (payment, outcome, written) =
            match self.store.record_payment(&payment, total, credit).await? {
                PaymentRecorded::New { paid } => (payment, PaymentOutcome::New, Some(paid)),
                PaymentRecorded::Exists(existing) if existing.same_request(&payment) => {
                    (existing, PaymentOutcome::Replayed, None)
                }
                PaymentRecorded::Exists(_) => {
                    return Err(AppError::conflict(
                        ConflictCode::IdempotencyKeyReused,
                        "the Idempotency-Key was used for another payment",
                    ))
                }
                PaymentRecorded::ExceedsTotal { paid } => {
                    return Err(AppError::Conflict {
                        code: ConflictCode::Overpayment,
                        message: format!(
                            "{} {code} exceeds the invoice's balance of {} {code}",
                            payment.amount,
                            total - paid,
                        ),
                        field: Some("amount".into()),
                    })
                }
                PaymentRecorded::ExceedsCredit { applied } => {
                    return Err(AppError::Conflict {
                        code: ConflictCode::CreditExceeded,
                        message: format!(
                            "{} {code} exceeds the credit memo's unapplied credit of {} {code}",
                            payment.amount,
                            credit.unwrap_or_default() - applied,
                        ),
                        field: Some("amount".into()),
                    })
                }
            };
        let paid = match written {
            Some(paid) => paid,
            None => self.paid(payment.invoice_id).await?,
        };
        let applied = match payment.credit_memo_id {
            Some(memo) => Some(self.paid(memo).await?),
            None => None,
        };
        Ok((payment, Settlement::of(total, paid), applied, outcome))
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

    /// Each document's settlement: an invoice's payments against its total, a credit
    /// memo's applications against its credit (the negated total).
    pub async fn settlements(&self, docs: &[StoredDocument]) -> Result<Vec<Settlement>, AppError> {
        let ids: Vec<DocumentId> = docs.iter().map(|d| d.document.id).collect();
        let paid = self.store.paid_amounts(&ids).await?;
        Ok(docs
            .iter()
            .zip(paid)
            .map(|(d, paid)| match d.document.kind {
                DocumentKind::Invoice => Settlement::of_document(&d.document, paid),
                // A void's credit is all taken by the invoice it reverses.
                DocumentKind::CreditMemo if is_void_credit_memo(&d.document) => {
                    let credit = -d.document.totals.total;
                    Settlement::of(credit, credit)
                }
                DocumentKind::CreditMemo => Settlement::of(-d.document.totals.total, paid),
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

/// The amount (at `field`): a positive decimal exact to the invoice currency's minor
/// unit.
fn amount(
    text: &str,
    document: &billrun_domain::document::Document,
    field: &str,
) -> Result<Decimal, AppError> {
    let bad = |why: String| AppError::Validation(FieldError::new(field, why));
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
