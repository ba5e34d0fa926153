//! Posting a completed run.

use super::transition::Admit;
use super::RunPipeline;
use crate::error::AppError;
use crate::error::ConflictCode;
use crate::model::*;
use billrun_domain::document::DocumentStatus;
use billrun_domain::ids::RunId;
use billrun_domain::run::RunStatus;

impl RunPipeline {
    /// Completed / CompletedWithErrors → Posted; every document becomes Posted. The run
    /// is claimed first ([`crate::transition`]): a concurrent cancel or retry is refused.
    /// Under maker–checker the caller must not be the run's creator
    /// ([`crate::controls::Controls::check_poster`]).
    pub async fn post_run(&self, id: RunId) -> Result<RunRecord, AppError> {
        let poster = crate::actor::current();
        let claim = self
            .claim(id, Transition::Post, |r| match r.status {
                RunStatus::Posted => Ok(Admit::Done),
                s if s.is_completed() => {
                    self.controls.check_poster(r, poster.as_deref())?;
                    // Until the post finishes its documents may be partly posted.
                    r.partially_posted = true;
                    Ok(Admit::Claim)
                }
                s => Err(AppError::conflict(
                    ConflictCode::RunNotCompleted,
                    format!("run {id} is {s:?}; only a completed run can be posted"),
                )),
            })
            .await?;
        let Some(token) = claim.token else {
            return Ok(claim.run);
        };
        if let Err(e) = self
            .documents
            .set_run_status(id, DocumentStatus::Posted)
            .await
        {
            return Err(self.yield_claim(id, &token, e.into()).await);
        }
        self.finish(id, Transition::Post, |r| r.status = RunStatus::Posted)
            .await
    }
}
