//! The journal of a posted run (docs/accounting.md): the run's Posted documents as
//! balanced entries per (currency, invoice date). Debit receivable with the documents'
//! totals, credit revenue per GL code and line type with their lines, credit tax payable
//! with their tax; a credit memo's negative amounts land on the opposite sides, which
//! reverses the same accounts.
//!
//! Built one document at a time ([`JournalBuilder::add`]) so a use case can feed it page
//! by page without holding the run's documents.

use crate::document::{Document, DocumentKind, DocumentStatus, LineType};
use crate::export::{csv_cell, wire_name};
use crate::gl::PLACEHOLDER_REVENUE;
use crate::money::{dec, Currency};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

/// What a journal line books.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Role {
    Receivable,
    Revenue,
    TaxPayable,
}

/// The sum of a journal's amounts went beyond `Decimal`'s range (far beyond any valid
/// book: amounts are bounded by `book::MAX_MAGNITUDE`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("journal amount overflow in {0}")]
pub struct JournalOverflow(pub Currency);

/// One line of an entry: an amount on one side of one GL account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalLine {
    /// The GL code, or its placeholder when the book gave none.
    pub account: String,
    pub role: Role,
    /// The documents it comes from: invoices and credit memos are booked apart, so the
    /// journal's totals are the run's invoiced and credited amounts.
    pub document_kind: DocumentKind,
    /// On a revenue line, the type of the lines it sums.
    pub line_type: Option<LineType>,
    #[serde(with = "dec")]
    pub debit: Decimal,
    #[serde(with = "dec")]
    pub credit: Decimal,
}

/// The entry of one (currency, invoice date).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalEntry {
    pub currency: Currency,
    pub date: NaiveDate,
    /// How many documents it books.
    pub documents: u64,
    pub lines: Vec<JournalLine>,
    #[serde(with = "dec")]
    pub debits: Decimal,
    #[serde(with = "dec")]
    pub credits: Decimal,
}

impl JournalEntry {
    pub fn is_balanced(&self) -> bool {
        self.debits == self.credits
    }
}

/// A currency's totals over the journal: the debits and credits of its entries, and the
/// totals of its invoices and of its credit memos (negative, as the run counters keep
/// them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalTotals {
    pub currency: Currency,
    #[serde(with = "dec")]
    pub invoiced: Decimal,
    #[serde(with = "dec")]
    pub credited: Decimal,
    #[serde(with = "dec")]
    pub debits: Decimal,
    #[serde(with = "dec")]
    pub credits: Decimal,
}

/// A run's journal: entries by (currency, date), totals by currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Journal {
    pub entries: Vec<JournalEntry>,
    pub totals: Vec<JournalTotals>,
}

/// A line's key within an entry; the order is the order lines are listed in.
type LineKey = (DocumentKind, Role, String, Option<LineType>);

#[derive(Default)]
struct EntrySums {
    documents: u64,
    /// Signed amounts: positive on the debit side.
    lines: BTreeMap<LineKey, Decimal>,
}

/// Collects Posted documents into a [`Journal`].
#[derive(Default)]
pub struct JournalBuilder {
    entries: BTreeMap<(Currency, NaiveDate), EntrySums>,
    /// Per currency: (invoiced, credited).
    documented: BTreeMap<Currency, (Decimal, Decimal)>,
}

impl JournalBuilder {
    /// Adds a document; one that was never posted is not in the ledger and is skipped.
    /// A Voided invoice was posted and stays journaled: the credit memo that voids it
    /// is journaled beside it and reverses it.
    pub fn add(&mut self, d: &Document) -> Result<(), JournalOverflow> {
        if !matches!(d.status, DocumentStatus::Posted | DocumentStatus::Voided) {
            return Ok(());
        }
        let overflow = || JournalOverflow(d.currency);
        let add = |sum: &mut Decimal, v: Decimal| -> Result<(), JournalOverflow> {
            *sum = sum.checked_add(v).ok_or_else(overflow)?;
            Ok(())
        };
        let cur = d.currency;
        let (invoiced, credited) = self
            .documented
            .entry(cur)
            .or_insert((cur.zero(), cur.zero()));
        match d.kind {
            DocumentKind::Invoice => add(invoiced, d.totals.total)?,
            DocumentKind::CreditMemo => add(credited, d.totals.total)?,
        }
        let entry = self.entries.entry((cur, d.invoice_date)).or_default();
        entry.documents += 1;
        let mut book = |role: Role, account: &str, line_type: Option<LineType>, v: Decimal| {
            let key = (d.kind, role, account.to_string(), line_type);
            add(entry.lines.entry(key).or_insert(cur.zero()), v)
        };
        let gl = &d.gl_accounts;
        book(
            Role::Receivable,
            gl.receivable_or_placeholder(),
            None,
            d.totals.total,
        )?;
        for l in &d.lines {
            let code = l.gl_account.as_deref().unwrap_or(PLACEHOLDER_REVENUE);
            book(Role::Revenue, code, Some(l.line_type), -l.amount)?;
        }
        book(
            Role::TaxPayable,
            gl.tax_payable_or_placeholder(),
            None,
            -d.totals.tax,
        )
    }

    pub fn finish(self) -> Result<Journal, JournalOverflow> {
        let mut per_currency: BTreeMap<Currency, (Decimal, Decimal)> = BTreeMap::new();
        let mut entries = Vec::with_capacity(self.entries.len());
        for ((currency, date), sums) in self.entries {
            let overflow = || JournalOverflow(currency);
            let (mut debits, mut credits) = (currency.zero(), currency.zero());
            let mut lines = Vec::with_capacity(sums.lines.len());
            for ((document_kind, role, account, line_type), v) in sums.lines {
                // A line whose documents net to nothing books nothing.
                if v.is_zero() {
                    continue;
                }
                let (debit, credit) = if v.is_sign_positive() {
                    debits = debits.checked_add(v).ok_or_else(overflow)?;
                    (currency.round(v), currency.zero())
                } else {
                    credits = credits.checked_sub(v).ok_or_else(overflow)?;
                    (currency.zero(), currency.round(-v))
                };
                lines.push(JournalLine {
                    account,
                    role,
                    document_kind,
                    line_type,
                    debit,
                    credit,
                });
            }
            let t = per_currency
                .entry(currency)
                .or_insert((currency.zero(), currency.zero()));
            t.0 = t.0.checked_add(debits).ok_or_else(overflow)?;
            t.1 = t.1.checked_add(credits).ok_or_else(overflow)?;
            entries.push(JournalEntry {
                currency,
                date,
                documents: sums.documents,
                lines,
                debits: currency.round(debits),
                credits: currency.round(credits),
            });
        }
        let totals = self
            .documented
            .into_iter()
            .map(|(currency, (invoiced, credited))| {
                let (debits, credits) = per_currency
                    .get(&currency)
                    .copied()
                    .unwrap_or((currency.zero(), currency.zero()));
                JournalTotals {
                    currency,
                    invoiced: currency.round(invoiced),
                    credited: currency.round(credited),
                    debits: currency.round(debits),
                    credits: currency.round(credits),
                }
            })
            .collect();
        Ok(Journal { entries, totals })
    }
}

/// The journal of `documents` (those not Posted are skipped).
pub fn journal<'a>(
    documents: impl IntoIterator<Item = &'a Document>,
) -> Result<Journal, JournalOverflow> {
    let mut b = JournalBuilder::default();
    for d in documents {
        b.add(d)?;
    }
    b.finish()
}

/// The columns of the CSV form, in order (docs/accounting.md "CSV").
pub const CSV_COLUMNS: [&str; 8] = [
    "currency",
    "date",
    "account",
    "role",
    "documentKind",
    "lineType",
    "debit",
    "credit",
];

impl Journal {
    /// The journal as CSV: a header of [`CSV_COLUMNS`], then a row a line of each entry,
    /// CRLF-separated (RFC 4180). Amounts are printed as in the JSON form.
    pub fn to_csv(&self) -> String {
        let mut out = CSV_COLUMNS.join(",");
        out.push_str("\r\n");
        for e in &self.entries {
            for l in &e.lines {
                let cells = [
                    e.currency.code().to_string(),
                    e.date.to_string(),
                    csv_cell(&l.account),
                    wire_name(&l.role),
                    wire_name(&l.document_kind),
                    l.line_type.map(|t| wire_name(&t)).unwrap_or_default(),
                    l.debit.to_string(),
                    l.credit.to_string(),
                ];
                out.push_str(&cells.join(","));
                out.push_str("\r\n");
            }
        }
        out
    }
}
