//! Canceling a run that has posted nothing.

use super::transition::Admit;
use super::RunPipeline;
use crate::error::ConflictCode;
use crate::error::{AppError, StoreError};
use crate::model::*;
use billrun_domain::ids::RunId;
use billrun_domain::run::RunStatus;

impl RunPipeline {
    /// Cancels a run that has posted nothing: its documents become Canceled (keeping
    /// their numbers) and every watermark and billed mark it moved is rolled back, so a
    /// later run bills the same items again. Refused when a later run has billed past
    /// any of them. A completed run is claimed first ([`crate::transition`]): a
    /// concurrent post or retry is refused, and the revert is whole or resumed.
    pub async fn cancel_run(&self, id: RunId) -> Result<RunRecord, AppError> {
        let claim = self
            .claim(id, Transition::Cancel, |r| match r.status {
                RunStatus::Canceled => Ok(Admit::Done),
                // Nothing written yet: the status change is the whole cancel.
                RunStatus::Pending => {
                    r.status = RunStatus::Canceled;
                    Ok(Admit::Apply)
                }
                // A posted document is final: so is a run with one.
                s if s.is_completed() && r.partially_posted => Err(AppError::conflict(
                    ConflictCode::RunPartiallyPosted,
                    format!("run {id} has posted documents; it cannot be canceled"),
                )),
                s if s.is_completed() => Ok(Admit::Claim),
                RunStatus::Processing => Err(AppError::conflict(
                    ConflictCode::RunProcessing,
                    format!("run {id} is processing; cancel it once it has completed"),
                )),
                s => Err(AppError::conflict(
                    ConflictCode::RunPosted,
                    format!("run {id} is {s:?}; a posted run cannot be canceled"),
                )),
            })
            .await?;
        let Some(token) = claim.token else {
            return Ok(claim.run);
        };
        match self.ledger.revert_run(id).await {
            Ok(()) => {}
            // Checked before anything was reverted: nothing written, the claim goes.
            Err(StoreError::Superseded(m)) if !claim.resumed => {
                self.release_transition(id, &token).await?;
                return Err(AppError::conflict(ConflictCode::RunSuperseded, m));
            }
            Err(StoreError::Superseded(m)) => {
                return Err(self
                    .yield_claim(
                        id,
                        &token,
                        AppError::conflict(ConflictCode::RunSuperseded, m),
                    )
                    .await)
            }
            Err(e) => return Err(self.yield_claim(id, &token, e.into()).await),
        }
        self.finish(id, Transition::Cancel, |r| r.status = RunStatus::Canceled)
            .await
    }
}
