//! Creating a run (an Immediate one starts at once) and starting a Pending one.

use super::RunPipeline;
use crate::error::AppError;
use crate::error::ConflictCode;
use crate::model::schedules::{DueEntry, DueTarget};
use crate::model::*;
use billrun_domain::ids::RunId;
use billrun_domain::request::{RunRequest, RunType};
use billrun_domain::run::RunStatus;
use tracing::info;

impl RunPipeline {
    /// Creates a run from a validated request. An Immediate run starts at once.
    pub async fn create_run(
        &self,
        request: RunRequest,
        idempotency_key: Option<String>,
    ) -> Result<Created, AppError> {
        self.create_run_with(request, idempotency_key, None).await
    }

    /// [`RunPipeline::create_run`], keeping `client_fields` with the run (returned on every
    /// read by the API that gave them; a replay under the same key must repeat them).
    pub async fn create_run_with(
        &self,
        request: RunRequest,
        idempotency_key: Option<String>,
        client_fields: Option<ClientFields>,
    ) -> Result<Created, AppError> {
        let request = request.validated()?;
        let now = self.clock.now();
        let id = RunId(uuid::Uuid::new_v4());
        self.note_scheduled_run(id, &request).await?;
        // An Immediate run is stored already started (Processing), so that starting it
        // costs no read and conditional write of its own: its first planning message is
        // sent once it is stored. A crash before the send leaves it Processing with
        // nothing planned; the client's retry under the same key re-sends the message
        // (`finish_immediate_start`), and so does the sweeper once the run is stale.
        // A preview starts as an Immediate run does.
        let immediate = request.run_type.starts_at_once();
        let mut run = new_run_record(id, request, idempotency_key, now);
        run.client_fields = client_fields;
        if immediate {
            run.status = RunStatus::Processing;
            run.commenced_at = Some(now);
        }
        run.announce(None, now);
        // A key stored with another request is `IdempotencyKeyReused`: a 409.
        let created = self.runs.create_run(run).await?;
        if let Created::Replayed(run) = &created {
            if run.deleted_at.is_some() {
                return Err(AppError::conflict(
                    ConflictCode::RunDeleted,
                    format!(
                        "the run created with this idempotency key ({}) was canceled and deleted; create the run with a new key",
                        run.number
                    ),
                ));
            }
        }
        if let Created::New(run) = &created {
            // Ids, numbers and types only: a run's name or message may name a customer.
            info!(run_id = %run.id, number = %run.number, run_type = ?run.request.run_type, target_date = %run.target_date, "run created");
        }
        match created {
            Created::New(run) if run.request.run_type.starts_at_once() => {
                self.queue
                    .send(vec![Message::Plan {
                        run_id: run.id,
                        page: 0,
                    }])
                    .await?;
                Ok(Created::New(run))
            }
            // The first call stored the run but failed before (or while) starting it:
            // the client's retry under the same key finishes the start, so an Immediate
            // run never stays Pending nor waits for the sweeper.
            Created::Replayed(run) if run.request.run_type.starts_at_once() => {
                Ok(Created::Replayed(self.finish_immediate_start(run).await?))
            }
            other => Ok(other),
        }
    }

    /// Starts a replayed Immediate run that is still Pending (one stored before Immediate
    /// runs were stored started), and re-sends the first planning message of one that
    /// started but has planned nothing yet (its send may have failed; a duplicate plan
    /// message changes nothing).
    async fn finish_immediate_start(&self, run: RunRecord) -> Result<RunRecord, AppError> {
        match run.status {
            RunStatus::Pending => match self.start_run(run.id).await {
                Ok(started) => Ok(started),
                // Started concurrently by another replay.
                Err(AppError::Conflict {
                    code: ConflictCode::RunNotPending,
                    ..
                }) => self.get_run(run.id).await,
                Err(e) => Err(e),
            },
            RunStatus::Processing if run.round == 0 && run.plan.pages == 0 && !run.plan.done => {
                self.queue
                    .send(vec![Message::Plan {
                        run_id: run.id,
                        page: 0,
                    }])
                    .await?;
                Ok(run)
            }
            _ => Ok(run),
        }
    }

    /// Pending → Processing, then the first planning page is queued.
    pub async fn start_run(&self, id: RunId) -> Result<RunRecord, AppError> {
        let now = self.clock.now();
        let run = self
            .modify_run(id, |r| {
                if r.status != RunStatus::Pending {
                    return Err(AppError::conflict(
                        ConflictCode::RunNotPending,
                        format!(
                            "run {} is {:?}; only a Pending run can start",
                            r.id, r.status
                        ),
                    ));
                }
                r.status = RunStatus::Processing;
                r.commenced_at = Some(now);
                Ok(true)
            })
            .await?;
        self.queue
            .send(vec![Message::Plan {
                run_id: id,
                page: 0,
            }])
            .await?;
        Ok(run)
    }

    /// Notes the due entry of a Scheduled run (before the run is written).
    pub(crate) async fn note_scheduled_run(
        &self,
        run_id: RunId,
        request: &billrun_domain::request::RunRequest,
    ) -> Result<(), AppError> {
        if let (RunType::Scheduled, Some(at)) = (request.run_type, request.scheduled_at) {
            self.due
                .note_due(&[DueEntry {
                    at,
                    target: DueTarget::Run { run_id },
                    noted_at: self.clock.now(),
                }])
                .await?;
        }
        Ok(())
    }
}

/// A new Pending run record (its number is assigned when it is stored; a preview's
/// is its own, taking no number of the run sequence, and it expires).
pub(crate) fn new_run_record(
    id: RunId,
    request: RunRequest,
    idempotency_key: Option<String>,
    now: chrono::DateTime<chrono::Utc>,
) -> RunRecord {
    let target = request.target();
    let preview = request.run_type == RunType::Preview;
    RunRecord {
        id,
        number: if preview {
            super::preview::preview_number(id)
        } else {
            String::new()
        },
        name: request
            .name
            .clone()
            .unwrap_or_else(|| format!("Invoice run {target}")),
        status: RunStatus::Pending,
        target_date: target,
        request,
        created_at: now,
        updated_at: now,
        commenced_at: None,
        completed_at: None,
        idempotency_key,
        plan: PlanState::default(),
        round: 0,
        number_blocks: vec![],
        finalize: None,
        sweep: SweepState::default(),
        transition: None,
        client_fields: None,
        deleted_at: None,
        version: 1,
        events: Vec::new(),
        partially_posted: false,
        expires_at: preview.then(|| now + super::preview::PREVIEW_RETENTION),
    }
}
