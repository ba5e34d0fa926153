//! Runs in memory.

use super::MemoryStore;
use crate::error::StoreError;
use crate::model::listing::format_run_number;
use crate::model::*;
use crate::ports::*;
use async_trait::async_trait;
use billrun_domain::ids::{AccountId, RunId};
use billrun_domain::run::Counters;
use std::ops::Bound;

#[async_trait]
impl RunStore for MemoryStore {
    async fn create_run(&self, mut run: RunRecord) -> StoreResult<Created> {
        let mut g = self.inner.lock();
        if let Some(key) = &run.idempotency_key {
            if let Some(existing) = g.idempotency.get(key).and_then(|id| g.runs.get(id)) {
                return Created::replay(existing.clone(), &run);
            }
        }
        if g.runs.contains_key(&run.id) {
            return Err(StoreError::Conflict(format!("run {} exists", run.id)));
        }
        // A preview keeps the number it came with: it takes none of the sequence.
        if !run.is_preview() {
            g.run_sequence += 1;
            run.number = format_run_number(g.run_sequence);
        }
        if let Some(key) = &run.idempotency_key {
            g.idempotency.insert(key.clone(), run.id);
        }
        g.counters.insert(run.id, Counters::default());
        g.runs.insert(run.id, run.clone());
        Ok(Created::New(run))
    }

    async fn get_run(&self, id: RunId) -> StoreResult<Option<RunRecord>> {
        Ok(self.inner.lock().runs.get(&id).cloned())
    }

    async fn update_run(&self, run: &RunRecord) -> StoreResult<()> {
        let mut g = self.inner.lock();
        let stored = g
            .runs
            .get_mut(&run.id)
            .ok_or_else(|| StoreError::Conflict(format!("run {} does not exist", run.id)))?;
        if stored.version + 1 != run.version {
            return Err(StoreError::Conflict(format!(
                "run {} changed concurrently",
                run.id
            )));
        }
        *stored = run.clone();
        Ok(())
    }

    async fn counters(&self, id: RunId) -> StoreResult<Counters> {
        let g = self.inner.lock();
        let mut c = g.counters.get(&id).cloned().unwrap_or_default();
        c.accounts_selected = g.runs.get(&id).map_or(0, |r| r.plan.selected);
        Ok(c)
    }

    async fn outcome(
        &self,
        run: RunId,
        account: &AccountId,
    ) -> StoreResult<Option<AccountOutcomeRecord>> {
        Ok(self
            .inner
            .lock()
            .outcomes
            .get(&run)
            .and_then(|m| m.get(account))
            .map(|o| AccountOutcomeRecord::clone(o)))
    }

    async fn outcomes(
        &self,
        run: RunId,
        after: Option<&AccountId>,
        limit: usize,
    ) -> StoreResult<Vec<AccountOutcomeRecord>> {
        let g = self.inner.lock();
        let Some(m) = g.outcomes.get(&run) else {
            return Ok(vec![]);
        };
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(m.range((lower, Bound::Unbounded))
            .take(limit)
            .map(|(_, o)| AccountOutcomeRecord::clone(o))
            .collect())
    }
}
