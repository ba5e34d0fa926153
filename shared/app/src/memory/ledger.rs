//! The billing state in memory.

use super::{Inner, MemoryStore};
use crate::error::StoreError;
use crate::model::audit::AuditEvent;
use crate::model::corrections::*;
use crate::model::*;
use crate::ports::*;
use async_trait::async_trait;
use billrun_domain::document::{DocumentKind, DocumentStatus};
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

    async fn correct_document(&self, c: &DocumentCorrection) -> StoreResult<CorrectionResult> {
        let mut g = self.inner.lock();
        let g = &mut *g;
        let Some(stored) = g
            .documents
            .get(&c.document)
            .map(|d| StoredDocument::clone(d))
        else {
            return Ok(None);
        };
        let d = &stored.document;
        let memo_id = c.credit_memo.as_ref().map(|m| m.id);
        let read_memo = |g: &Inner| {
            memo_id.and_then(|id| g.documents.get(&id).map(|m| StoredDocument::clone(m)))
        };
        if d.status == c.kind.to() {
            return Ok(Some(Ok(Corrected {
                credit_memo: read_memo(g),
                document: stored,
            })));
        }
        if !c.kind.from().contains(&d.status) {
            return Ok(Some(Err(CorrectionRefusal::Status(d.status))));
        }
        let (run, account, round) = (d.run_id, d.account_id.clone(), stored.round);
        // The billing state goes back only once no other invoice of the run and
        // account stands on it.
        let others_stand = g
            .run_documents
            .get(&run)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(|((_, a, _), id)| *a == account && **id != c.document)
            .filter_map(|(_, id)| g.documents.get(id))
            .any(|o| still_billed(&o.document));
        let changes = match g.outcomes.get(&run).and_then(|m| m.get(&account)) {
            Some(o) if !others_stand => o.changes.clone(),
            _ => Vec::new(),
        };
        if let Some(ab) = g.accounts.get(&account) {
            if let Err(e) = ab.state.check_revert(&changes) {
                return Ok(Some(Err(CorrectionRefusal::Superseded(format!(
                    "account {account}: {}",
                    e.0
                )))));
            }
        }
        if let Some(ab) = g.accounts.get_mut(&account) {
            ab.state.revert(&changes);
        }
        if !changes.is_empty() {
            if let Some(o) = g.outcomes.get_mut(&run).and_then(|m| m.get_mut(&account)) {
                o.changes.clear();
            }
        }
        let before = d.status;
        let to = c.kind.to();
        if let Some(doc) = g.documents.get_mut(&c.document) {
            doc.set_correction(to, c.by.as_deref(), c.at);
        }
        let entry =
            AuditEvent::of_document_status(c.document, run, before, to, c.by.as_deref(), c.at);
        super::audit::record(g, entry);
        if let Some(memo) = &c.credit_memo {
            g.credit_memo_sequence += 1;
            let mut memo = memo.clone();
            memo.number = Some(DocumentKind::CreditMemo.number(g.credit_memo_sequence));
            g.run_documents
                .entry(run)
                .or_default()
                .insert((round, account.clone(), memo.group_key.clone()), memo.id);
            let entry =
                AuditEvent::of_document_created(memo.id, run, memo.status, c.by.as_deref(), c.at);
            g.documents
                .insert(memo.id, Box::new(StoredDocument::new(memo, round)));
            super::audit::record(g, entry);
        }
        let document = g
            .documents
            .get(&c.document)
            .map(|d| StoredDocument::clone(d))
            .ok_or_else(|| StoreError::fatal(format!("document {} vanished", c.document)))?;
        Ok(Some(Ok(Corrected {
            credit_memo: read_memo(g),
            document,
        })))
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
