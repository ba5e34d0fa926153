//! Runs, their account outcomes and counters.

use super::StoreResult;
use crate::model::{AccountOutcomeRecord, Created, RunRecord};
use async_trait::async_trait;
use billrun_domain::ids::{AccountId, RunId};
use billrun_domain::run::Counters;
/// Runs, their account outcomes and counters.
#[async_trait]
pub trait RunStore: Send + Sync {
    /// Stores a new run, assigning its number from the run sequence in the same atomic
    /// step (a preview keeps its own number and leaves the sequence alone). With an idempotency key already used, returns the run stored under it
    /// (`Replayed`) when its request is equal, else `IdempotencyKeyReused`.
    async fn create_run(&self, run: RunRecord) -> StoreResult<Created>;
    async fn get_run(&self, id: RunId) -> StoreResult<Option<RunRecord>>;
    /// Replaces the run when its stored version is `run.version - 1`; else `Conflict`.
    async fn update_run(&self, run: &RunRecord) -> StoreResult<()>;
    /// The run's counters, exactly: the sum of its outcomes' counters, with
    /// `accountsSelected` from planning. May read every outcome (DynamoDB): for the
    /// completion check under the finalization claim, the sweeper, and tests; views of a
    /// processing run read [`RunStore::progress`].
    async fn counters(&self, id: RunId) -> StoreResult<Counters>;
    /// What [`RunStore::add_progress`] added up: a cheap read that may lag behind the
    /// outcomes (an account committed by a process that stopped before adding it), never
    /// ahead of them except when an add was retried after it had landed. It only tells
    /// when an exact count is worth making. Stores that count exactly answer the counters.
    async fn progress(&self, id: RunId) -> StoreResult<Counters> {
        self.counters(id).await
    }
    /// Adds the counters of outcomes committed since the last add (a batch's). Not
    /// redelivery-safe by design: the exact counters are the outcomes'.
    async fn add_progress(&self, _id: RunId, _added: &Counters) -> StoreResult<()> {
        Ok(())
    }
    async fn outcome(
        &self,
        run: RunId,
        account: &AccountId,
    ) -> StoreResult<Option<AccountOutcomeRecord>>;
    /// Outcomes in byte-wise account order, after `after`, at most `limit`.
    async fn outcomes(
        &self,
        run: RunId,
        after: Option<&AccountId>,
        limit: usize,
    ) -> StoreResult<Vec<AccountOutcomeRecord>>;
}
