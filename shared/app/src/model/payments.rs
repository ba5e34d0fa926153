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
    pub created_at: DateTime<Utc>,
}

impl Payment {
    /// Whether `other` is this payment asked for again (an `Idempotency-Key` replay):
    /// the same invoice, amount, date and reference.
    pub fn same_request(&self, other: &Payment) -> bool {
        (self.invoice_id, self.amount, self.date, &self.reference)
            == (other.invoice_id, other.amount, other.date, &other.reference)
    }
}

/// What recording a payment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentRecorded {
    /// Stored, and the invoice's paid amount is now `paid`.
    New { paid: Decimal },
    /// A payment of this id exists (stored before): nothing changed.
    Exists(Payment),
    /// Stored, the payment would take the paid amount over the total: nothing changed;
    /// `paid` is the invoice's paid amount as it stands.
    ExceedsTotal { paid: Decimal },
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

#[cfg(test)]
mod tests {
    use super::*;

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
