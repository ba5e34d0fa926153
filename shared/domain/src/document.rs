//! Documents (invoices and credit memos) as docs/book-format.md "Document" describes them.

use crate::gl::GlAccounts;
use crate::ids::*;
use crate::money::{dec, Currency};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DocumentKind {
    Invoice,
    CreditMemo,
}

impl DocumentKind {
    /// Prefix of the number series (`INV-000000001`, `CM-000000001`).
    pub fn prefix(self) -> &'static str {
        match self {
            DocumentKind::Invoice => "INV",
            DocumentKind::CreditMemo => "CM",
        }
    }

    pub fn number(self, n: u64) -> String {
        format!("{}-{n:09}", self.prefix())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DocumentStatus {
    Draft,
    Approved,
    Posted,
    Canceled,
    /// A posted invoice taken back by a linked credit memo (a void): final, like
    /// Posted, and never moved again.
    Voided,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LineType {
    OneTime,
    Recurring,
    Evergreen,
    Usage,
    Adjustment,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    pub charge_id: Option<ChargeId>,
    pub subscription_id: Option<SubscriptionId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adjustment_id: Option<AdjustmentId>,
    #[serde(rename = "type")]
    pub line_type: LineType,
    pub description: String,
    pub period_start: Option<NaiveDate>,
    pub period_end: Option<NaiveDate>,
    #[serde(with = "dec::qty")]
    pub quantity: Decimal,
    #[serde(with = "dec")]
    pub amount: Decimal,
    /// On a credit line: the number of the document that billed the credited period
    /// (`null` when it was billed before the book was imported).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub credits_document: Option<Option<String>>,
    /// On a credit line: the id of that document, resolved to its number before the
    /// line is stored.
    #[serde(skip)]
    pub credits_document_id: Option<DocumentId>,
    /// The revenue GL code in force when the line was rated: its charge's, else its
    /// account's revenue code; none: the journal's placeholder. Kept on the line so a
    /// later book change does not rewrite a posted journal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gl_account: Option<String>,
}

/// A field that is present (even as `null`) is `Some`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

impl Line {
    pub fn is_credit(&self) -> bool {
        self.credits_document.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    #[serde(with = "dec")]
    pub one_time: Decimal,
    #[serde(with = "dec")]
    pub recurring: Decimal,
    #[serde(with = "dec")]
    pub evergreen: Decimal,
    #[serde(with = "dec")]
    pub usage: Decimal,
    #[serde(with = "dec")]
    pub adjustments: Decimal,
    #[serde(with = "dec")]
    pub fee: Decimal,
    #[serde(with = "dec")]
    pub sub_total: Decimal,
    #[serde(with = "dec")]
    pub tax: Decimal,
    #[serde(with = "dec")]
    pub total: Decimal,
}

impl Totals {
    /// Buckets are sums of already-rounded lines; tax is rounded once on the SubTotal.
    pub fn compute(lines: &[Line], currency: Currency, tax_rate: Decimal) -> Option<Totals> {
        let z = currency.zero();
        let (mut one_time, mut recurring, mut evergreen, mut usage, mut adjustments) =
            (z, z, z, z, z);
        for l in lines {
            let bucket = match l.line_type {
                LineType::OneTime => &mut one_time,
                LineType::Recurring => &mut recurring,
                LineType::Evergreen => &mut evergreen,
                LineType::Usage => &mut usage,
                LineType::Adjustment => &mut adjustments,
            };
            *bucket = bucket.checked_add(l.amount)?;
        }
        let fee = one_time
            .checked_add(recurring)?
            .checked_add(evergreen)?
            .checked_add(usage)?;
        let sub_total = fee.checked_add(adjustments)?;
        let tax = currency.round(sub_total.checked_mul(tax_rate)?);
        let total = sub_total.checked_add(tax)?;
        Some(Totals {
            one_time: currency.round(one_time),
            recurring: currency.round(recurring),
            evergreen: currency.round(evergreen),
            usage: currency.round(usage),
            adjustments: currency.round(adjustments),
            fee: currency.round(fee),
            sub_total: currency.round(sub_total),
            tax,
            total: currency.round(total),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    pub id: DocumentId,
    pub number: Option<String>,
    pub kind: DocumentKind,
    pub run_id: RunId,
    pub account_id: AccountId,
    pub group_key: String,
    pub currency: Currency,
    pub invoice_date: NaiveDate,
    pub due_date: NaiveDate,
    pub status: DocumentStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_message: Option<String>,
    pub lines: Vec<Line>,
    pub totals: Totals,
    /// The account's GL codes when the document was rated (receivable, tax payable);
    /// absent when the account names none.
    #[serde(default, skip_serializing_if = "GlAccounts::is_empty")]
    pub gl_accounts: GlAccounts,
}

impl Document {
    /// Numbering order: byte-wise (accountId, groupKey).
    pub fn order_key(&self) -> (&str, &str) {
        (self.account_id.as_str(), self.group_key.as_str())
    }
}
