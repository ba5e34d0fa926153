//! Deleting a Canceled run.

use super::RunPipeline;
use crate::error::{AppError, ConflictCode};
use billrun_domain::ids::RunId;
use billrun_domain::run::RunStatus;
use tracing::info;

impl RunPipeline {
    /// Deletes a Canceled run: from then on it is not found and no listing shows it. Its
    /// Canceled documents stay, with their numbers (numbering stays gapless: a number is
    /// never taken back) and readable as documents; its idempotency key is not reused (a
    /// replay answers `run_deleted`). Any other status is refused (`run_not_canceled`):
    /// a run that billed must be canceled first, which reverts what it billed.
    pub async fn delete_run(&self, id: RunId) -> Result<(), AppError> {
        let now = self.clock.now();
        let run = self
            .modify_run(id, |r| match r.status {
                RunStatus::Canceled => {
                    r.deleted_at = Some(now);
                    Ok(true)
                }
                s => Err(AppError::conflict(
                    ConflictCode::RunNotCanceled,
                    format!("run {id} is {s:?}; only a Canceled run can be deleted"),
                )),
            })
            .await?;
        info!(run_id = %run.id, number = %run.number, "run deleted");
        Ok(())
    }
}
