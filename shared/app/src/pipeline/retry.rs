//! Re-driving the Failed accounts of a run in a new round.

use super::transition::Admit;
use super::RunPipeline;
use crate::error::AppError;
use crate::error::ConflictCode;
use crate::model::*;
use billrun_domain::ids::RunId;
use billrun_domain::run::RunStatus;

impl RunPipeline {
    /// Re-drives the Failed accounts of a CompletedWithErrors run in a new round; the
    /// documents they produce are numbered in a further block. The run moves to
    /// Processing and is claimed in one write; the claim is finished once the Failed
    /// outcomes are cleared and their accounts queued, and the round is not finalized
    /// before. A retry after a stop resumes those steps, and so does the sweeper.
    pub async fn retry_failed(&self, id: RunId) -> Result<RunRecord, AppError> {
        let claim = self
            .claim(id, Transition::RetryFailed, |r| {
                if r.status != RunStatus::CompletedWithErrors {
                    return Err(AppError::conflict(
                        ConflictCode::RunHasNoFailures,
                        format!(
                            "run {id} is {:?}; only CompletedWithErrors can retry",
                            r.status
                        ),
                    ));
                }
                r.status = RunStatus::Processing;
                r.round += 1;
                r.completed_at = None;
                Ok(Admit::Claim)
            })
            .await?;
        let Some(token) = claim.token else {
            return Ok(claim.run);
        };
        match self.redrive_failed(&claim.run).await {
            Ok(()) => {}
            Err(e) => return Err(self.yield_claim(id, &token, e).await),
        }
        let run = self.finish(id, Transition::RetryFailed, |_| {}).await?;
        self.try_finalize(id).await?;
        Ok(run)
    }

    /// Clears the run's Failed outcomes and queues their accounts for the run's round.
    /// Again after a stop: outcomes already cleared are not found, accounts already
    /// queued are queued twice (the second message finds the outcome).
    pub(crate) async fn redrive_failed(&self, run: &RunRecord) -> Result<(), AppError> {
        let failed = self.ledger.clear_failed(run.id).await?;
        let messages: Vec<Message> = failed
            .into_iter()
            .map(|account_id| Message::Account {
                run_id: run.id,
                account_id,
                round: run.round,
            })
            .collect();
        if !messages.is_empty() {
            self.queue.send(messages).await?;
        }
        Ok(())
    }
}
