//! The billing state (watermarks, billed marks) with the account outcomes that move it.

use super::StoreResult;
use crate::model::corrections::{CorrectionResult, DocumentCorrection};
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
    /// Applies one document's correction in one atomic write: its status from one of
    /// `kind.from()` to `kind.to()` with who and when; a void's credit memo stored
    /// Posted with the next number of the credit-memo sequence; when no other invoice
    /// of its run and account still stands ([`crate::model::corrections::still_billed`]),
    /// the account's billing-state changes of that run reverted (checked first like
    /// [`Self::revert_run`]); and the audit entries of both documents. A document
    /// already in `kind.to()` is the correction done: it is read back with its credit
    /// memo and nothing is written. `Ok(Err(_))` is a refusal (nothing written);
    /// `None`: no such document.
    async fn correct_document(
        &self,
        correction: &DocumentCorrection,
    ) -> StoreResult<CorrectionResult>;
    async fn clear_failed(&self, run: RunId) -> StoreResult<Vec<AccountId>>;
}
