//! The billing state (watermarks, billed marks) with the account outcomes that move it.

use super::StoreResult;
use crate::model::{AccountCommit, CommitResult};
use async_trait::async_trait;
use billrun_domain::ids::{AccountId, RunId};
/// The billing state: one account's effect of a run is committed here atomically
/// (documents, watermark moves conditioned on their previous values, billed marks, the
/// outcome with its counters), and reverted here when the run is canceled.
#[async_trait]
pub trait WatermarkStore: Send + Sync {
    /// `AlreadyDone` when the outcome exists; `Conflict` when a watermark or billed mark
    /// moved since the account was read (re-read and re-rate).
    async fn commit_account(&self, commit: &AccountCommit) -> StoreResult<CommitResult>;
    /// Reverts every change of the run and marks its documents Canceled, checking first
    /// that no later run has billed past any of them (`Superseded` names the first).
    async fn revert_run(&self, run: RunId) -> StoreResult<()>;
    /// Removes the run's Failed outcomes (their counters too) so the accounts can be
    /// processed again; returns their account ids.
    async fn clear_failed(&self, run: RunId) -> StoreResult<Vec<AccountId>>;
}
