//! The tick: every piece of time-driven work that is due.

use super::*;
use crate::error::ConflictCode;
use crate::error::StoreError;
use crate::model::Created;
use crate::pipeline::new_run_record;
use crate::sweeper::{SweepReport, Sweeper};
use billrun_domain::book::ScheduleItemStatus;
use billrun_domain::ids::{RunId, RunScheduleId, ScheduleId, ScheduleItemId};
use billrun_domain::recurrence::{MissedPolicy, Occurrence};
use billrun_domain::request::RunType;
use billrun_domain::run::RunStatus;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use tracing::warn;

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TickReport {
    /// Runs this tick moved from Pending to Processing.
    pub started: Vec<RunId>,
    /// Runs this tick created for schedule occurrences.
    pub created: Vec<RunId>,
    /// Invoice-schedule items this tick executed.
    pub executed: Vec<(ScheduleId, ScheduleItemId)>,
    /// What failed (each is tried again on the next tick).
    pub failures: Vec<String>,
    /// What the stuck-run sweeper did (its failures are in `failures`).
    pub sweep: SweepReport,
}

/// Does every piece of time-driven work that is due at `now`: starts each due
/// Scheduled run (once, however many ticks run concurrently), creates and starts
/// the run of each due schedule occurrence (caught-up occurrences one after
/// another: the next only once the previous run has left Processing), and
/// executes each invoice-schedule item whose invoice date has come, and sweeps
/// stuck runs ([`crate::sweeper`]). What fails is reported and tried again on the
/// next tick.
///
/// The three kinds of work run at once (each is safe against a concurrent tick doing
/// the same, so against each other), and so do the due Scheduled runs (at most
/// [`DUE_CONCURRENCY`] at a time): a tick with nothing to do costs one round trip of
/// reads, not one per read. Invoice-schedule items stay one after another: two of one
/// account would race for its billing state.
pub async fn tick(
    schedules: &Schedules,
    sweeper: &Sweeper,
    now: DateTime<Utc>,
) -> Result<TickReport, AppError> {
    let (due, schedules, sweep) = tokio::join!(
        schedules.tick_due(now),
        schedules.tick_run_schedules(now),
        sweeper.sweep(now)
    );
    let mut report = due?;
    let mut schedules = schedules?;
    let mut sweep = sweep?;
    report.started.append(&mut schedules.started);
    report.created.append(&mut schedules.created);
    report.failures.append(&mut schedules.failures);
    report.failures.append(&mut sweep.failures);
    report.sweep = sweep;
    Ok(report)
}

impl Schedules {
    /// The due entries: Scheduled runs to start, invoice-schedule items to execute.
    async fn tick_due(&self, now: DateTime<Utc>) -> Result<TickReport, AppError> {
        let entries = self.due.due(now, DUE_PER_TICK).await?;
        let (runs, items): (Vec<_>, Vec<_>) = entries
            .into_iter()
            .partition(|e| matches!(e.target, DueTarget::Run { .. }));
        let one = |entry: DueEntry| async move {
            let mut part = TickReport::default();
            let result = self.handle_due(&entry, now, &mut part).await;
            (entry, result, part)
        };
        let runs = futures_util::stream::iter(runs.into_iter().map(one))
            .buffered(DUE_CONCURRENCY)
            .collect::<Vec<_>>();
        let items = async {
            let mut done = Vec::with_capacity(items.len());
            for entry in items {
                done.push(one(entry).await);
            }
            done
        };
        let (runs, items) = tokio::join!(runs, items);
        let mut report = TickReport::default();
        for (entry, result, mut part) in runs.into_iter().chain(items) {
            report.started.append(&mut part.started);
            report.executed.append(&mut part.executed);
            if let Err(e) = result {
                warn!(target_key = %entry.target.key(), error = %crate::error::chain(&e), "due entry failed");
                report.failures.push(format!("{}: {e}", entry.target.key()));
            }
        }
        Ok(report)
    }

    /// One step of every run schedule, page by page.
    async fn tick_run_schedules(&self, now: DateTime<Utc>) -> Result<TickReport, AppError> {
        let mut report = TickReport::default();
        let mut after: Option<RunScheduleId> = None;
        loop {
            let page = self
                .run_schedules
                .list_run_schedules(after.as_ref(), SCHEDULE_PAGE)
                .await?;
            let full = page.len() == SCHEDULE_PAGE;
            for s in page {
                after = Some(s.id.clone());
                let id = s.id.clone();
                if let Err(e) = self.step_run_schedule(s, now, &mut report).await {
                    warn!(run_schedule = %id, error = %crate::error::chain(&e), "run schedule step failed");
                    report.failures.push(format!("run schedule {id}: {e}"));
                }
            }
            if !full {
                break;
            }
        }
        Ok(report)
    }

    async fn handle_due(
        &self,
        entry: &DueEntry,
        now: DateTime<Utc>,
        report: &mut TickReport,
    ) -> Result<(), AppError> {
        let orphan = entry.noted_at + ORPHAN_GRACE < now;
        match &entry.target {
            DueTarget::Run { run_id } => {
                let Some(run) = self.runs.get_run(*run_id).await? else {
                    if orphan {
                        self.due.drop_due(entry).await?;
                    }
                    return Ok(());
                };
                let current = run.status == RunStatus::Pending
                    && run.request.run_type == RunType::Scheduled
                    && run.request.scheduled_at == Some(entry.at);
                if current {
                    match self.pipeline.start_run(*run_id).await {
                        Ok(_) => report.started.push(*run_id),
                        Err(e) if is_conflict(&e, ConflictCode::RunNotPending) => {}
                        Err(e) => return Err(e),
                    }
                }
                self.due.drop_due(entry).await?;
            }
            DueTarget::InvoiceItem {
                schedule_id,
                item_id,
            } => {
                let Some(StoredSchedule { schedule, .. }) =
                    self.invoice_schedules.get_schedule(schedule_id).await?
                else {
                    if orphan {
                        self.due.drop_due(entry).await?;
                    }
                    return Ok(());
                };
                let current = schedule.items.iter().any(|i| {
                    &i.id == item_id
                        && i.status == ScheduleItemStatus::Pending
                        && item_due_at(i.invoice_date) == entry.at
                });
                if current {
                    match self
                        .execute_schedule(schedule_id, Some(item_id.clone()))
                        .await
                    {
                        Ok(_) => report.executed.push((schedule_id.clone(), item_id.clone())),
                        Err(e) if is_conflict(&e, ConflictCode::ScheduleItemProcessed) => {}
                        // Not executable (e.g. its account is gone): nothing to retry.
                        Err(AppError::NotFound(m)) => {
                            warn!(schedule_id = %schedule_id, item_id = %item_id, "{m}")
                        }
                        Err(e) => return Err(e),
                    }
                }
                self.due.drop_due(entry).await?;
            }
        }
        Ok(())
    }

    /// One step of a run schedule: waits while its latest run is Pending or
    /// Processing, else claims the next due occurrence (the oldest under CatchUpAll,
    /// the latest under LatestOnly) and creates and starts its run.
    async fn step_run_schedule(
        &self,
        s: RunScheduleRecord,
        now: DateTime<Utc>,
        report: &mut TickReport,
    ) -> Result<(), AppError> {
        if !s.spec.enabled {
            return Ok(());
        }
        if let Some(last) = &s.last {
            match self.runs.get_run(last.run_id).await? {
                // The claiming tick crashed before creating the run.
                None if s.updated_at + CLAIM_GRACE < now => {
                    return self
                        .materialize(&s, &last.occurrence, last.run_id, now, report)
                        .await;
                }
                None => return Ok(()),
                Some(r) if r.status == RunStatus::Pending => {
                    if r.request.scheduled_at.is_none_or(|t| t <= now) {
                        self.start_scheduled(r.id, report).await?;
                    }
                    return Ok(());
                }
                Some(r) if r.status == RunStatus::Processing => return Ok(()),
                Some(_) => {}
            }
        }
        let due = s.spec.due_occurrences(s.cursor(), now);
        let pick = match s.spec.missed {
            MissedPolicy::CatchUpAll => due.first(),
            MissedPolicy::LatestOnly => due.last(),
        };
        let Some(o) = pick.copied() else {
            return Ok(());
        };
        let run_id = occurrence_run_id(&s.id, o.at);
        let mut claimed = s;
        claimed.last = Some(MaterializedOccurrence {
            occurrence: o,
            run_id,
        });
        claimed.updated_at = now;
        claimed.version += 1;
        match self.run_schedules.put_run_schedule(&claimed, None).await {
            Ok(()) => {}
            // Another tick claimed it (or the schedule changed): the next tick goes on.
            Err(StoreError::Conflict(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        self.materialize(&claimed, &o, run_id, now, report).await
    }

    /// Creates the run of a claimed occurrence (its id derived, so at most one ever
    /// exists) and starts it.
    async fn materialize(
        &self,
        s: &RunScheduleRecord,
        o: &Occurrence,
        run_id: RunId,
        now: DateTime<Utc>,
        report: &mut TickReport,
    ) -> Result<(), AppError> {
        let request = s
            .spec
            .run_template
            .request_for(o)
            .map_err(AppError::Validation)?;
        let key = format!("run-schedule/{}/{}", s.id, o.at.timestamp());
        let mut record = new_run_record(run_id, request, Some(key), now);
        record.announce(None, now);
        match self.runs.create_run(record).await {
            Ok(Created::New(_)) => report.created.push(run_id),
            Ok(Created::Replayed(_)) => {}
            // The run exists already (created by a tick from another template).
            Err(StoreError::Conflict(_) | StoreError::IdempotencyKeyReused(_))
                if self.runs.get_run(run_id).await?.is_some() => {}
            Err(e) => return Err(e.into()),
        }
        self.start_scheduled(run_id, report).await
    }

    async fn start_scheduled(
        &self,
        run_id: RunId,
        report: &mut TickReport,
    ) -> Result<(), AppError> {
        match self.pipeline.start_run(run_id).await {
            Ok(_) => {
                report.started.push(run_id);
                Ok(())
            }
            Err(e) if is_conflict(&e, ConflictCode::RunNotPending) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
