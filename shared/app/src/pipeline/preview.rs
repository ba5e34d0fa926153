//! Preview runs (`runType: Preview`): planned and rated like any run, over the same
//! fan-out, but their account commits carry no state change (no watermark, billed mark
//! or renewal moves), finalization numbers nothing, and they are never posted,
//! approved, canceled, emailed or exported. Their items (the run, outcomes, documents)
//! are the preview's own and expire after [`PREVIEW_RETENTION`].

use super::RunPipeline;
use crate::error::{AppError, ConflictCode};
use crate::model::*;
use billrun_domain::ids::RunId;
use billrun_domain::request::RunType;
use billrun_domain::run::RunStatus;

/// How long a preview stays readable (docs/api.md "Preview runs"); DynamoDB's TTL
/// deletes its items some time after.
pub const PREVIEW_RETENTION: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// A preview's run number: its own, never one of the run sequence (a preview leaves the
/// sequence, like the rest of the stored state, as it found it).
pub(crate) fn preview_number(id: RunId) -> String {
    let simple = id.0.simple().to_string();
    format!("PREVIEW-{}", &simple[..8])
}

/// Refuses `doing` on a preview (409 `run_is_preview`).
pub(crate) fn refuse_preview(run: &RunRecord, doing: &str) -> Result<(), AppError> {
    if run.is_preview() {
        return Err(AppError::conflict(
            ConflictCode::RunIsPreview,
            format!("run {} is a preview: it cannot be {doing}", run.id),
        ));
    }
    Ok(())
}

/// What a preview's account commit keeps of a rating: its documents and outcome only,
/// with the preview's expiry; the billing state stays as it was (a preview followed by
/// the same run rates the same).
pub(super) fn preview_only(run: &RunRecord, commit: &mut AccountCommit) {
    if run.is_preview() {
        commit.outcome.changes.clear();
        commit.expires_at = run.expires_at;
    }
}

impl RunPipeline {
    /// Creates and starts a preview of a Pending run: its request as a Preview (without
    /// `scheduledAt`, `autoPost` and `autoEmail`, which a preview never honours). The
    /// Pending run is not changed.
    pub async fn preview_of(&self, id: RunId) -> Result<Created, AppError> {
        let run = self.get_run(id).await?;
        refuse_preview(&run, "previewed again")?;
        if run.status != RunStatus::Pending {
            return Err(AppError::conflict(
                ConflictCode::RunNotPending,
                format!(
                    "run {id} is {:?}; only a Pending run can be previewed",
                    run.status
                ),
            ));
        }
        let mut request = run.request;
        request.run_type = RunType::Preview;
        request.scheduled_at = None;
        request.auto_post = false;
        request.auto_email = false;
        self.create_run(request, None).await
    }
}
