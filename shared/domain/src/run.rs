//! The invoice run: statuses and their transitions, account outcomes, counters.

use crate::document::{Document, DocumentKind};
use crate::money::{dec, Currency};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RunStatus {
    Pending,
    Processing,
    Completed,
    CompletedWithErrors,
    Posted,
    Canceled,
}

impl RunStatus {
    /// Pending → Processing → Completed | CompletedWithErrors → Posted; Pending,
    /// Completed and CompletedWithErrors → Canceled; a retry of failed accounts takes a
    /// CompletedWithErrors run back to Processing.
    pub fn can_become(self, next: RunStatus) -> bool {
        use RunStatus::*;
        matches!(
            (self, next),
            (Pending, Processing)
                | (Processing, Completed)
                | (Processing, CompletedWithErrors)
                | (Completed, Posted)
                | (CompletedWithErrors, Posted)
                | (CompletedWithErrors, Processing)
                | (Pending, Canceled)
                | (Completed, Canceled)
                | (CompletedWithErrors, Canceled)
        )
    }

    pub fn is_completed(self) -> bool {
        matches!(self, RunStatus::Completed | RunStatus::CompletedWithErrors)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    Billed,
    Suppressed,
    NothingToBill,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrencyAmounts {
    pub currency: Currency,
    #[serde(with = "dec")]
    pub invoiced: Decimal,
    #[serde(with = "dec")]
    pub credited: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    pub accounts_selected: u64,
    pub billed: u64,
    pub suppressed: u64,
    pub nothing_to_bill: u64,
    pub failed: u64,
    pub invoices: u64,
    pub credit_memos: u64,
    pub suppressed_documents: u64,
    /// Per currency, sorted by code.
    pub amounts: Vec<CurrencyAmounts>,
}

impl Counters {
    /// The counters one account's outcome contributes.
    pub fn for_account(
        outcome: Outcome,
        documents: &[Document],
        suppressed_documents: u64,
    ) -> Counters {
        let mut c = Counters::default();
        match outcome {
            Outcome::Billed => c.billed = 1,
            Outcome::Suppressed => c.suppressed = 1,
            Outcome::NothingToBill => c.nothing_to_bill = 1,
            Outcome::Failed => c.failed = 1,
        }
        c.suppressed_documents = suppressed_documents;
        for d in documents {
            let (inv, cred) = match d.kind {
                DocumentKind::Invoice => {
                    c.invoices += 1;
                    (d.totals.total, Decimal::ZERO)
                }
                DocumentKind::CreditMemo => {
                    c.credit_memos += 1;
                    (Decimal::ZERO, d.totals.total)
                }
            };
            c.add_amounts(d.currency, inv, cred, 1);
        }
        c
    }

    fn add_amounts(&mut self, currency: Currency, invoiced: Decimal, credited: Decimal, sign: i64) {
        let i = match self.amounts.binary_search_by(|a| a.currency.cmp(&currency)) {
            Ok(i) => i,
            Err(i) => {
                self.amounts.insert(
                    i,
                    CurrencyAmounts {
                        currency,
                        invoiced: currency.zero(),
                        credited: currency.zero(),
                    },
                );
                i
            }
        };
        let a = &mut self.amounts[i];
        let s = Decimal::from(sign);
        a.invoiced = currency.round(a.invoiced.saturating_add(invoiced * s));
        a.credited = currency.round(a.credited.saturating_add(credited * s));
    }

    /// Adds (`sign` 1) or removes (`sign` -1) another set of counters.
    pub fn merge(&mut self, other: &Counters, sign: i64) {
        let f = |a: &mut u64, b: u64| {
            *a = if sign >= 0 {
                a.saturating_add(b)
            } else {
                a.saturating_sub(b)
            }
        };
        f(&mut self.accounts_selected, other.accounts_selected);
        f(&mut self.billed, other.billed);
        f(&mut self.suppressed, other.suppressed);
        f(&mut self.nothing_to_bill, other.nothing_to_bill);
        f(&mut self.failed, other.failed);
        f(&mut self.invoices, other.invoices);
        f(&mut self.credit_memos, other.credit_memos);
        f(&mut self.suppressed_documents, other.suppressed_documents);
        for a in &other.amounts {
            self.add_amounts(a.currency, a.invoiced, a.credited, sign);
        }
    }

    /// `accountsSelected = billed + suppressed + nothingToBill + failed`.
    pub fn reconciles(&self) -> bool {
        self.accounts_selected == self.accounted_for()
    }

    pub fn accounted_for(&self) -> u64 {
        self.billed + self.suppressed + self.nothing_to_bill + self.failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_documented_transitions_are_allowed() {
        use RunStatus::*;
        assert!(Pending.can_become(Processing));
        assert!(Completed.can_become(Posted));
        assert!(!Posted.can_become(Canceled));
        assert!(!Processing.can_become(Posted));
        assert!(!Canceled.can_become(Processing));
        assert!(!Completed.can_become(Processing));
    }

    #[test]
    fn reconciliation_counts_every_outcome() {
        let mut c = Counters {
            accounts_selected: 4,
            ..Default::default()
        };
        for o in [Outcome::Billed, Outcome::Suppressed, Outcome::NothingToBill] {
            c.merge(&Counters::for_account(o, &[], 0), 1);
        }
        assert!(!c.reconciles());
        c.merge(&Counters::for_account(Outcome::Failed, &[], 0), 1);
        assert!(c.reconciles());
    }
}
