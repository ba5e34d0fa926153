//! A run's documents against the run it would follow: per account, `new`, `changed`
//! (old and new totals) or `disappeared`, and the totals per currency. Made for
//! previews (what would this month's run bill, against last month's?), and answered
//! for any completed run. Reads only.

use crate::error::AppError;
use crate::model::RunRecord;
use crate::queries::Queries;
use billrun_domain::ids::{AccountId, RunId};
use billrun_domain::money::Currency;
use billrun_domain::run::RunStatus;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

/// Runs read per page while looking for the base run.
const RUN_PAGE: usize = 100;

/// An account's documents' totals by currency (credit memos count negative).
pub type AccountTotals = BTreeMap<Currency, Decimal>;

/// How an account's documents differ from the base run's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum DiffKind {
    /// Documents now, none in the base run.
    New,
    /// Documents in both, their totals different.
    Changed,
    /// Documents in the base run, none now.
    Disappeared,
}

/// An amount in a currency, exact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Amount {
    pub currency: Currency,
    #[serde(with = "billrun_domain::money::dec")]
    pub amount: Decimal,
}

/// One account that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountDiff {
    pub account_id: AccountId,
    pub change: DiffKind,
    /// Its totals in the base run, per currency (empty when `new`).
    pub old_totals: Vec<Amount>,
    /// Its totals in this run, per currency (empty when `disappeared`).
    pub new_totals: Vec<Amount>,
}

/// The totals of one currency over both runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrencyDiff {
    pub currency: Currency,
    #[serde(with = "billrun_domain::money::dec")]
    pub old_total: Decimal,
    #[serde(with = "billrun_domain::money::dec")]
    pub new_total: Decimal,
    #[serde(with = "billrun_domain::money::dec")]
    pub difference: Decimal,
}

/// A page of a run's diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunDiff {
    pub run_id: RunId,
    /// The run compared against: the latest completed run (not a preview, not the run
    /// itself) created before it with the same filters and subrun; `None` when there is
    /// none (every account is `new`).
    pub base_run_id: Option<RunId>,
    /// The accounts that differ, by account id, after the cursor, at most the limit.
    pub items: Vec<AccountDiff>,
    /// The totals of every account, per currency (the same on every page).
    pub totals: Vec<CurrencyDiff>,
}

impl Queries {
    /// The diff of a completed run (409 `run_not_completed` before) against its base
    /// run: the accounts that differ after `after`, at most `limit`, and the totals.
    /// Reads both runs' documents whole: a page costs what the two runs hold.
    pub async fn run_diff(
        &self,
        id: RunId,
        after: Option<&AccountId>,
        limit: usize,
    ) -> Result<RunDiff, AppError> {
        let run = self.run_with_final_documents(id).await?;
        let base = self.base_run(&run).await?;
        let new = self.account_totals(id).await?;
        let old = match &base {
            Some(b) => self.account_totals(b.id).await?,
            None => BTreeMap::new(),
        };
        let mut accounts: Vec<&AccountId> = new.keys().chain(old.keys()).collect();
        accounts.sort();
        accounts.dedup();
        let mut items = Vec::new();
        for account in accounts {
            if after.is_some_and(|a| account <= a) {
                continue;
            }
            if items.len() == limit.max(1) {
                break;
            }
            let (o, n) = (old.get(account), new.get(account));
            let change = match (o, n) {
                (None, Some(_)) => DiffKind::New,
                (Some(_), None) => DiffKind::Disappeared,
                (Some(o), Some(n)) if o != n => DiffKind::Changed,
                _ => continue,
            };
            items.push(AccountDiff {
                account_id: account.clone(),
                change,
                old_totals: amounts(o),
                new_totals: amounts(n),
            });
        }
        Ok(RunDiff {
            run_id: id,
            base_run_id: base.map(|b| b.id),
            items,
            totals: currency_totals(&old, &new)?,
        })
    }

    /// The latest completed run created before `run` with its filters and subrun, not
    /// a preview, not deleted.
    async fn base_run(&self, run: &RunRecord) -> Result<Option<RunRecord>, AppError> {
        let filter = crate::model::listing::RunFilter::default();
        let mut after: Option<crate::model::listing::RunPosition> = None;
        let mut base = None;
        loop {
            let page = self
                .run_listing
                .list_runs(&filter, after.as_ref(), RUN_PAGE)
                .await?;
            let ended = page.len() < RUN_PAGE;
            after = page.last().map(crate::model::listing::RunPosition::of);
            for r in page {
                if (r.created_at, r.id) >= (run.created_at, run.id) {
                    return Ok(base);
                }
                let completed = matches!(
                    r.status,
                    RunStatus::Completed | RunStatus::CompletedWithErrors | RunStatus::Posted
                );
                if completed
                    && !r.is_preview()
                    && r.deleted_at.is_none()
                    && r.request.filters == run.request.filters
                    && r.request.subrun == run.request.subrun
                {
                    base = Some(r);
                }
            }
            if ended || after.is_none() {
                return Ok(base);
            }
        }
    }

    /// Each account's documents' totals by currency, over the run's documents.
    async fn account_totals(
        &self,
        id: RunId,
    ) -> Result<BTreeMap<AccountId, AccountTotals>, AppError> {
        let mut out: BTreeMap<AccountId, AccountTotals> = BTreeMap::new();
        for d in self.all_documents(id).await? {
            let sum = out
                .entry(d.account_id.clone())
                .or_default()
                .entry(d.currency)
                .or_insert(Decimal::ZERO);
            *sum = sum
                .checked_add(d.totals.total)
                .ok_or_else(|| AppError::internal(format!("run {id}: totals overflow")))?;
        }
        Ok(out)
    }
}

fn amounts(totals: Option<&AccountTotals>) -> Vec<Amount> {
    totals
        .into_iter()
        .flatten()
        .map(|(c, a)| Amount {
            currency: *c,
            amount: *a,
        })
        .collect()
}

/// Every currency's totals over both runs, by currency.
fn currency_totals(
    old: &BTreeMap<AccountId, AccountTotals>,
    new: &BTreeMap<AccountId, AccountTotals>,
) -> Result<Vec<CurrencyDiff>, AppError> {
    let overflow = || AppError::internal("totals overflow");
    let mut sums: BTreeMap<Currency, (Decimal, Decimal)> = BTreeMap::new();
    for (side, totals) in [(0, old), (1, new)] {
        for (c, a) in totals.values().flatten() {
            let entry = sums.entry(*c).or_insert((Decimal::ZERO, Decimal::ZERO));
            let slot = if side == 0 {
                &mut entry.0
            } else {
                &mut entry.1
            };
            *slot = slot.checked_add(*a).ok_or_else(overflow)?;
        }
    }
    sums.into_iter()
        .map(|(currency, (old_total, new_total))| {
            Ok(CurrencyDiff {
                currency,
                old_total,
                new_total,
                difference: new_total.checked_sub(old_total).ok_or_else(overflow)?,
            })
        })
        .collect()
}
