//! Listings and the subscription index in memory.

use super::MemoryStore;
use crate::model::listing::*;
use crate::model::*;
use crate::ports::*;
use async_trait::async_trait;
use billrun_domain::book::Account;
use billrun_domain::document::DocumentKind;
use billrun_domain::ids::{AccountId, RunId, SubscriptionId};
use std::ops::Bound;

#[async_trait]
impl RunListing for MemoryStore {
    async fn list_runs(
        &self,
        filter: &RunFilter,
        after: Option<&RunPosition>,
        limit: usize,
    ) -> StoreResult<Vec<RunRecord>> {
        let g = self.inner.lock();
        let mut runs: Vec<&RunRecord> = g
            .runs
            .values()
            .filter(|r| after.is_none_or(|a| RunPosition::of(r) > *a) && filter.keeps(r))
            .collect();
        runs.sort_by_key(|r| (r.created_at, r.id));
        Ok(runs.into_iter().take(limit).cloned().collect())
    }

    async fn run_by_number(&self, number: u64) -> StoreResult<Option<RunRecord>> {
        let g = self.inner.lock();
        Ok(g.runs
            .values()
            .find(|r| run_number(&r.number) == Some(number))
            .cloned())
    }
}

#[async_trait]
impl AccountListing for MemoryStore {
    async fn list_accounts(
        &self,
        batch: Option<&str>,
        after: Option<&AccountId>,
        limit: usize,
    ) -> StoreResult<Vec<Account>> {
        let g = self.inner.lock();
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(g.accounts
            .range((lower, Bound::Unbounded))
            .map(|(_, ab)| &ab.account)
            .filter(|a| batch.is_none_or(|b| a.batch.as_deref() == Some(b)))
            .take(limit)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl DocumentListing for MemoryStore {
    async fn list_run_documents(
        &self,
        run: RunId,
        kind: Option<DocumentKind>,
        after: Option<&DocumentPosition>,
        limit: usize,
    ) -> StoreResult<Vec<StoredDocument>> {
        let g = self.inner.lock();
        let Some(m) = g.run_documents.get(&run) else {
            return Ok(vec![]);
        };
        let lower = after.map_or(Bound::Unbounded, |p| {
            Bound::Excluded((p.round, p.account_id.clone(), p.group_key.clone()))
        });
        Ok(m.range((lower, Bound::Unbounded))
            .filter_map(|(_, id)| g.documents.get(id))
            .filter(|d| kind.is_none_or(|k| d.document.kind == k))
            .take(limit)
            .map(|d| StoredDocument::clone(d))
            .collect())
    }
}

#[async_trait]
impl SubscriptionIndex for MemoryStore {
    async fn subscription_account(&self, id: &SubscriptionId) -> StoreResult<Option<AccountId>> {
        Ok(self.inner.lock().subscription_accounts.get(id).cloned())
    }
}
