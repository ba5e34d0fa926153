//! The billing state in memory.

use super::MemoryStore;
use crate::error::StoreError;
use crate::model::*;
use crate::ports::*;
use async_trait::async_trait;
use billrun_domain::document::DocumentStatus;
use billrun_domain::ids::{AccountId, DocumentId, RunId};
use billrun_domain::run::Outcome;

#[async_trait]
impl WatermarkStore for MemoryStore {
    async fn commit_account(&self, commit: &AccountCommit) -> StoreResult<CommitResult> {
        let mut g = self.inner.lock();
        let o = &commit.outcome;
        if g.outcomes
            .get(&o.run_id)
            .is_some_and(|m| m.contains_key(&o.account_id))
        {
            return Ok(CommitResult::AlreadyDone);
        }
        if let Some(d) = commit
            .documents
            .iter()
            .find(|d| g.documents.contains_key(&d.id))
        {
            return Err(StoreError::Conflict(format!("document {} exists", d.id)));
        }
        let ab = g.accounts.get_mut(&o.account_id);
        match ab {
            Some(ab) => {
                ab.state
                    .check(&o.changes)
                    .map_err(|e| StoreError::Conflict(e.0))?;
                ab.state.apply(&o.changes);
            }
            None if o.changes.is_empty() => {}
            None => {
                return Err(StoreError::Conflict(format!(
                    "account {} disappeared",
                    o.account_id
                )))
            }
        }
        for d in &commit.documents {
            g.run_documents
                .entry(o.run_id)
                .or_default()
                .insert((o.round, d.account_id.clone(), d.group_key.clone()), d.id);
            g.documents
                .insert(d.id, Box::new(StoredDocument::new(d.clone(), o.round)));
        }
        g.counters
            .entry(o.run_id)
            .or_default()
            .merge(&o.counters, 1);
        g.outcomes
            .entry(o.run_id)
            .or_default()
            .insert(o.account_id.clone(), Box::new(o.clone()));
        Ok(CommitResult::Committed)
    }

    async fn revert_run(&self, run: RunId) -> StoreResult<()> {
        let mut g = self.inner.lock();
        if g.reverted.contains(&run) {
            return Ok(());
        }
        let outcomes: Vec<AccountOutcomeRecord> = g
            .outcomes
            .get(&run)
            .map(|m| m.values().map(|o| AccountOutcomeRecord::clone(o)).collect())
            .unwrap_or_default();
        for o in &outcomes {
            if let Some(ab) = g.accounts.get(&o.account_id) {
                ab.state.check_revert(&o.changes).map_err(|e| {
                    StoreError::Superseded(format!("account {}: {}", o.account_id, e.0))
                })?;
            }
        }
        for o in &outcomes {
            if let Some(ab) = g.accounts.get_mut(&o.account_id) {
                ab.state.revert(&o.changes);
            }
        }
        // As the DynamoDB adapter does: a reverted outcome keeps no changes (they are
        // undone), so it lists no renewal.
        if let Some(m) = g.outcomes.get_mut(&run) {
            for o in m.values_mut() {
                o.changes.clear();
            }
        }
        let ids: Vec<DocumentId> = g
            .run_documents
            .get(&run)
            .map(|m| m.values().copied().collect())
            .unwrap_or_default();
        for id in ids {
            if let Some(d) = g.documents.get_mut(&id) {
                d.document.status = DocumentStatus::Canceled;
            }
        }
        g.reverted.insert(run);
        Ok(())
    }

    async fn clear_failed(&self, run: RunId) -> StoreResult<Vec<AccountId>> {
        let mut g = self.inner.lock();
        let failed: Vec<AccountOutcomeRecord> = g
            .outcomes
            .get(&run)
            .map(|m| {
                m.values()
                    .filter(|o| o.outcome == Outcome::Failed)
                    .map(|o| AccountOutcomeRecord::clone(o))
                    .collect()
            })
            .unwrap_or_default();
        for o in &failed {
            if let Some(m) = g.outcomes.get_mut(&run) {
                m.remove(&o.account_id);
            }
            g.counters.entry(run).or_default().merge(&o.counters, -1);
        }
        Ok(failed.into_iter().map(|o| o.account_id).collect())
    }
}
