//! The run pipeline: create a run, start it, plan its accounts page by page, process
//! each account, finalize (count, number, complete), then post, cancel or retry its failed
//! accounts; one file per step. Each step is safe to run again after a crash or a
//! duplicate delivery: every write is conditional (run versions, the account commit,
//! number blocks per round). Lifecycle transitions that write effects beyond the run
//! record claim the run first ([`transition`]).

mod cancel;
mod correct;
mod create;
mod delete;
mod finalize;
mod patch;
mod plan;
mod post;
mod preview;
mod process;
mod retry;
mod select;
pub(crate) mod transition;

pub(crate) use create::new_run_record;
pub use finalize::Finalizing;
pub(crate) use preview::refuse_preview;
pub use preview::PREVIEW_RETENTION;
pub use select::{Selection, MAX_SELECTION};

use crate::error::{AppError, StoreError};
use crate::model::RunRecord;
use crate::ports::*;
use billrun_domain::ids::RunId;
use billrun_domain::run::RunStatus;
use std::sync::Arc;

/// Accounts per planning page.
pub const DEFAULT_PLAN_PAGE: usize = 1000;
/// Documents per finalization page.
pub const DEFAULT_FINALIZE_PAGE: usize = 1000;
/// How often an optimistic run update is retried.
const RUN_UPDATE_ATTEMPTS: usize = 16;

/// The run pipeline over the ports it uses.
#[derive(Clone)]
pub struct RunPipeline {
    pub runs: Arc<dyn RunStore>,
    pub book: Arc<dyn BookStore>,
    pub documents: Arc<dyn DocumentStore>,
    pub ledger: Arc<dyn WatermarkStore>,
    /// A void refuses an invoice with payments or credit applied.
    pub payments: Arc<dyn PaymentStore>,
    pub sequences: Arc<dyn SequenceStore>,
    pub queue: Arc<dyn WorkQueue>,
    /// A Scheduled run's due entry is noted before the run is written.
    pub due: Arc<dyn DueIndex>,
    pub clock: Arc<dyn Clock>,
    pub plan_page_size: usize,
    /// Documents numbered per finalization page (the cursor is stored after each).
    pub finalize_page_size: usize,
    /// Whether a run posted by `autoPost` with `autoEmail` has its delivery requested
    /// (a composition with a mail transport).
    pub emails: bool,
    /// Who may post ([`crate::controls`]).
    pub controls: crate::controls::Controls,
}

impl RunPipeline {
    pub async fn get_run(&self, id: RunId) -> Result<RunRecord, AppError> {
        stored_run(&*self.runs, id).await
    }

    /// Reads, changes and conditionally writes a run, again on a lost race. `change`
    /// returns whether it changed anything.
    pub(crate) async fn modify_run(
        &self,
        id: RunId,
        mut change: impl FnMut(&mut RunRecord) -> Result<bool, AppError>,
    ) -> Result<RunRecord, AppError> {
        for _ in 0..RUN_UPDATE_ATTEMPTS {
            let mut run = self.get_run(id).await?;
            let before = run.clone();
            if !change(&mut run)? {
                return Ok(run);
            }
            run.version += 1;
            run.updated_at = self.clock.now();
            // The change's events go in the same conditional write.
            run.announce(Some(&before), run.updated_at);
            match self.runs.update_run(&run).await {
                Ok(()) => return Ok(run),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::transient(format!(
            "run {id} is being changed concurrently"
        )))
    }
}

/// Records on the run, once, that its `request` completed (a `*_request.completed`
/// event, in a write of the run of its own: the stream and `DispatchAfterWrite` see it
/// as they see every change). Noticed by whoever records a request's last result, and
/// again by a redelivery of that message (the record is only acknowledged after this),
/// so a crash between the two loses nothing. A deleted run records nothing.
pub(crate) async fn announce_request(
    runs: &dyn RunStore,
    clock: &dyn crate::ports::Clock,
    run_id: RunId,
    event_type: crate::model::events::RunEventType,
    request: uuid::Uuid,
) -> Result<(), AppError> {
    for _ in 0..RUN_UPDATE_ATTEMPTS {
        let Some(mut run) = runs.get_run(run_id).await? else {
            return Ok(());
        };
        if run.deleted_at.is_some() {
            return Ok(());
        }
        let now = clock.now();
        run.version += 1;
        if !run.announce_request(event_type, request, now) {
            return Ok(());
        }
        run.updated_at = now;
        match runs.update_run(&run).await {
            Ok(()) => return Ok(()),
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::transient(format!(
        "run {run_id} is being changed concurrently"
    )))
}

/// The stored run, or NotFound (a deleted run is not found).
pub(crate) async fn stored_run(runs: &dyn RunStore, id: RunId) -> Result<RunRecord, AppError> {
    runs.get_run(id)
        .await?
        .filter(|r| r.deleted_at.is_none())
        .ok_or_else(|| AppError::NotFound(format!("invoice run {id}")))
}

/// The stored run whose documents are final (Completed, CompletedWithErrors or Posted),
/// for reading them out: 409 `run_not_completed` before.
pub(crate) async fn run_with_final_documents(
    runs: &dyn RunStore,
    id: RunId,
) -> Result<RunRecord, AppError> {
    let run = stored_run(runs, id).await?;
    if !matches!(
        run.status,
        RunStatus::Completed | RunStatus::CompletedWithErrors | RunStatus::Posted
    ) {
        return Err(AppError::conflict(
            crate::error::ConflictCode::RunNotCompleted,
            format!("run {id} is {:?}: its documents are not final", run.status),
        ));
    }
    Ok(run)
}
