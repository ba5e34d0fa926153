//! Payments against posted invoices: each payment as recorded, and an invoice's paid
//! amount (the sum of its payments), which never exceeds the invoice's total.

use billrun_domain::document::Document;
use billrun_domain::ids::{AccountId, DocumentId, PaymentId};
use billrun_domain::money::{dec, Currency};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The longest `reference` a payment keeps (a bank or processor reference).
pub const MAX_REFERENCE: usize = 100;

/// A payment as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub id: PaymentId,
    pub invoice_id: DocumentId,
    pub account_id: AccountId,
    pub currency: Currency,
    /// Positive, exact to the currency's minor unit.
    #[serde(with = "dec")]
    pub amount: Decimal,
    /// The day the money was received (a calendar date, as the customer's bank says).
    pub date: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Set when the payment is a credit memo applied to the invoice: the memo's credit
    /// pays it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_memo_id: Option<DocumentId>,
    pub created_at: DateTime<Utc>,
}

impl Payment {
    /// Whether `other` is this payment asked for again (an `Idempotency-Key` replay):
    /// the same invoice, amount, date, reference and credit memo.
    pub fn same_request(&self, other: &Payment) -> bool {
        (
            self.invoice_id,
            self.amount,
            self.date,
            &self.reference,
            self.credit_memo_id,
        ) == (
            other.invoice_id,
            other.amount,
            other.date,
            &other.reference,
            other.credit_memo_id,
        )
    }
}

/// What recording a payment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentRecorded {
    /// Stored, and the invoice's paid amount is now `paid`.
    New { paid: Decimal },
    /// A payment of this id exists (stored before): nothing changed.
    Exists(Payment),
    /// The payment would take the paid amount over the total: nothing changed;
    /// `paid` is the invoice's paid amount as it stands.
    ExceedsTotal { paid: Decimal },
    /// A credit memo's application would apply more than the memo's credit: nothing
    /// changed; `applied` is the memo's applied amount as it stands.
    ExceedsCredit { applied: Decimal },
}

/// How far an invoice is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentStatus {
    Unpaid,
    PartiallyPaid,
    Paid,
}

/// An invoice's `amountPaid`, `balance` and `paymentStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Settlement {
    #[serde(with = "dec")]
    pub amount_paid: Decimal,
    #[serde(with = "dec")]
    pub balance: Decimal,
    pub payment_status: PaymentStatus,
}

impl Settlement {
    /// The settlement of an invoice of `total` of which `paid` is paid. An invoice of
    /// total zero is Paid: nothing is owed.
    pub fn of(total: Decimal, paid: Decimal) -> Settlement {
        // Nothing paid reads "0.00", in the total's decimals, as the amounts do.
        let paid = if paid.is_zero() {
            Decimal::new(0, total.scale())
        } else {
            paid
        };
        let balance = total - paid;
        let payment_status = if balance <= Decimal::ZERO {
            PaymentStatus::Paid
        } else if paid > Decimal::ZERO {
            PaymentStatus::PartiallyPaid
        } else {
            PaymentStatus::Unpaid
        };
        Settlement {
            amount_paid: paid,
            balance,
            payment_status,
        }
    }

    /// The settlement of `document` with `paid` paid.
    pub fn of_document(document: &Document, paid: Decimal) -> Settlement {
        Settlement::of(document.totals.total, paid)
    }
}

/// The aging buckets of open balances: by days past due on the report's date.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgingBuckets {
    /// Not yet due (due on or after the report's date).
    #[serde(with = "dec")]
    pub current: Decimal,
    #[serde(rename = "days1To30", with = "dec")]
    pub days_1_to_30: Decimal,
    #[serde(rename = "days31To60", with = "dec")]
    pub days_31_to_60: Decimal,
    #[serde(rename = "days61To90", with = "dec")]
    pub days_61_to_90: Decimal,
    #[serde(rename = "over90Days", with = "dec")]
    pub over_90_days: Decimal,
    /// The sum of the buckets.
    #[serde(with = "dec")]
    pub total: Decimal,
}

impl AgingBuckets {
    /// Adds an open `balance` due on `due` to its bucket as of `as_of`.
    pub fn add(&mut self, balance: Decimal, due: NaiveDate, as_of: NaiveDate) {
        let past_due = (as_of - due).num_days();
        let bucket = match past_due {
            i64::MIN..=0 => &mut self.current,
            1..=30 => &mut self.days_1_to_30,
            31..=60 => &mut self.days_31_to_60,
            61..=90 => &mut self.days_61_to_90,
            _ => &mut self.over_90_days,
        };
        *bucket += balance;
        self.total += balance;
    }

    /// Adds another's amounts (a currency's totals from its accounts).
    pub fn merge(&mut self, other: &AgingBuckets) {
        self.current += other.current;
        self.days_1_to_30 += other.days_1_to_30;
        self.days_31_to_60 += other.days_31_to_60;
        self.days_61_to_90 += other.days_61_to_90;
        self.over_90_days += other.over_90_days;
        self.total += other.total;
    }
}

/// One account's open balances in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgingRow {
    pub account_id: AccountId,
    pub currency: Currency,
    /// Open invoices counted.
    pub invoices: u64,
    #[serde(flatten)]
    pub buckets: AgingBuckets,
}

/// A currency's open balances over every account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgingTotal {
    pub currency: Currency,
    pub invoices: u64,
    #[serde(flatten)]
    pub buckets: AgingBuckets,
}

/// Where an aging report's account rows stand: rows are listed by (account, currency).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AgingPosition {
    pub account_id: AccountId,
    pub currency: String,
}

/// `GET /v1/reports/aging`: totals per currency, and a page of account rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgingReport {
    pub as_of: NaiveDate,
    pub totals: Vec<AgingTotal>,
    pub items: Vec<AgingRow>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_balances_age_by_days_past_due_on_the_reports_date() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        let as_of = day("2024-05-31");
        let mut b = AgingBuckets::default();
        for (due, amount) in [
            ("2024-06-15", "1.00"),  // not due yet
            ("2024-05-31", "2.00"),  // due today: current
            ("2024-05-30", "4.00"),  // 1 day
            ("2024-05-01", "8.00"),  // 30 days
            ("2024-04-30", "16.00"), // 31 days
            ("2024-03-02", "32.00"), // 90 days
            ("2024-03-01", "64.00"), // 91 days
        ] {
            b.add(d(amount), day(due), as_of);
        }
        assert_eq!(
            (
                b.current,
                b.days_1_to_30,
                b.days_31_to_60,
                b.days_61_to_90,
                b.over_90_days,
                b.total
            ),
            (
                d("3.00"),
                d("12.00"),
                d("16.00"),
                d("32.00"),
                d("64.00"),
                d("127.00")
            )
        );
    }

    #[test]
    fn a_settlement_is_unpaid_partly_paid_or_paid() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(
            Settlement::of(d("100.00"), d("0")).payment_status,
            PaymentStatus::Unpaid
        );
        let part = Settlement::of(d("100.00"), d("30.00"));
        assert_eq!(
            (part.payment_status, part.balance),
            (PaymentStatus::PartiallyPaid, d("70.00"))
        );
        assert_eq!(
            Settlement::of(d("100.00"), d("100.00")).payment_status,
            PaymentStatus::Paid
        );
        assert_eq!(
            Settlement::of(d("0.00"), d("0")).payment_status,
            PaymentStatus::Paid
        );
    }
}
