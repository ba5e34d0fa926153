//! Time-driven work: Scheduled runs that start at their `scheduledAt`,
//! recurring run schedules that create one run per occurrence, invoice-schedule items
//! executed on their invoice date. [`App::tick`] does all of it; the `execute-schedules`
//! Lambda function and the scheduler of `billrun-local serve` call it.
//!
//! Two small ports, part of [`crate::catalog::Catalog`]:
//! - [`DueIndex`]: entries keyed by the instant they fall due, so a tick reads only what
//!   is due (no scan). An entry is noted *before* the data it points at is written, and
//!   the tick checks it against that data, dropping it when stale (the run left
//!   Pending, its `scheduledAt` moved, the item was executed or removed). A crash
//!   between the two writes leaves an entry that points at nothing; it is dropped
//!   [`ORPHAN_GRACE`] after it was noted.
//! - [`RunScheduleStore`]: run schedules with a version; every change is conditional.
//!
//! Exactly once: a due run starts by the conditional Pending → Processing transition
//! (`start_run`); a schedule's occurrence is claimed by a conditional write of the
//! schedule (its `last` occurrence and run id), and the run's id is derived from
//! (schedule, occurrence), so a repeated or concurrent tick cannot create a second run.

use crate::catalog::StoredSchedule;
use crate::error::{AppError, StoreError};
use crate::model::*;
use crate::ports::StoreResult;
use crate::reference::new_run_record;
use async_trait::async_trait;
use billrun_domain::book::ScheduleItemStatus;
use billrun_domain::ids::{RunId, RunScheduleId, ScheduleId, ScheduleItemId};
use billrun_domain::recurrence::{MissedPolicy, Occurrence, RunScheduleSpec};
use billrun_domain::request::RunType;
use billrun_domain::run::RunStatus;
use billrun_domain::FieldError;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use futures_util::StreamExt;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tracing::warn;

/// How long an entry whose run or schedule does not exist is kept (the write it was
/// noted for may still be on its way).
pub const ORPHAN_GRACE: TimeDelta = TimeDelta::hours(1);
/// How long after claiming an occurrence a tick waits before it creates a run that the
/// claiming tick did not (it crashed); before that, the claiming tick is on it.
pub const CLAIM_GRACE: TimeDelta = TimeDelta::minutes(1);
/// Most due entries one tick handles; the rest wait for the next tick.
pub const DUE_PER_TICK: usize = 1000;
/// Run schedules read per page.
const SCHEDULE_PAGE: usize = 100;
/// Due Scheduled runs a tick starts at once.
pub const DUE_CONCURRENCY: usize = 8;
/// How often a conditional schedule write is retried.
const SCHEDULE_ATTEMPTS: usize = 16;

const RUN_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x0f7c_51a4_92d3_4b8e_a1c6_3e5d_7b29_8c40);

/// The run of a schedule's occurrence: the same (schedule, occurrence) always gives
/// the same id.
pub fn occurrence_run_id(schedule: &RunScheduleId, at: DateTime<Utc>) -> RunId {
    let name = format!("{schedule}\u{0}{}", at.timestamp());
    RunId(uuid::Uuid::new_v5(&RUN_NAMESPACE, name.as_bytes()))
}

/// What a due entry points at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all_fields = "camelCase")]
pub enum DueTarget {
    /// A Scheduled run, started at its `scheduledAt`.
    Run { run_id: RunId },
    /// An invoice-schedule item, executed on its invoice date.
    InvoiceItem {
        schedule_id: ScheduleId,
        item_id: ScheduleItemId,
    },
}

impl DueTarget {
    /// A stable key (ids never hold `#`).
    pub fn key(&self) -> String {
        match self {
            DueTarget::Run { run_id } => format!("RUN#{run_id}"),
            DueTarget::InvoiceItem {
                schedule_id,
                item_id,
            } => format!("ITEM#{schedule_id}#{item_id}"),
        }
    }
}

/// Something that falls due at `at`. Identity is (`at`, `target`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DueEntry {
    pub at: DateTime<Utc>,
    pub target: DueTarget,
    /// When the entry was noted (orphans are dropped [`ORPHAN_GRACE`] after).
    pub noted_at: DateTime<Utc>,
}

/// The instant an invoice-schedule item falls due: 00:00 UTC of its invoice date.
pub fn item_due_at(date: NaiveDate) -> DateTime<Utc> {
    date.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// Entries by the instant they fall due.
#[async_trait]
pub trait DueIndex: Send + Sync {
    /// Notes entries; noting one again replaces it.
    async fn note_due(&self, entries: &[DueEntry]) -> StoreResult<()>;
    /// Removes an entry (gone already: a no-op).
    async fn drop_due(&self, entry: &DueEntry) -> StoreResult<()>;
    /// Entries due at or before `now`, oldest first, at most `limit`.
    async fn due(&self, now: DateTime<Utc>, limit: usize) -> StoreResult<Vec<DueEntry>>;
}

/// An occurrence claimed by a schedule, with the run it creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaterializedOccurrence {
    #[serde(flatten)]
    pub occurrence: Occurrence,
    pub run_id: RunId,
}

/// A stored run schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunScheduleRecord {
    pub id: RunScheduleId,
    pub spec: RunScheduleSpec,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Occurrences at or before this instant never run: when the schedule was created
    /// or last resumed.
    pub after: DateTime<Utc>,
    /// The latest occurrence claimed.
    pub last: Option<MaterializedOccurrence>,
    /// Optimistic-concurrency version: 1 when created, +1 on every write.
    pub version: u64,
}

impl RunScheduleRecord {
    /// The instant after which the next occurrence lies.
    pub fn cursor(&self) -> DateTime<Utc> {
        self.last
            .as_ref()
            .map_or(self.after, |l| l.occurrence.at.max(self.after))
    }
}

/// Run schedules by id, written conditionally on their version.
#[async_trait]
pub trait RunScheduleStore: Send + Sync {
    /// Stores the schedule when the stored version is `version - 1` (version 1: none is
    /// stored); else `Conflict`.
    async fn put_run_schedule(&self, schedule: &RunScheduleRecord) -> StoreResult<()>;
    async fn get_run_schedule(&self, id: &RunScheduleId) -> StoreResult<Option<RunScheduleRecord>>;
    /// Whether it existed.
    async fn delete_run_schedule(&self, id: &RunScheduleId) -> StoreResult<bool>;
    /// Schedules in byte-wise id order after `after`, at most `limit`.
    async fn list_run_schedules(
        &self,
        after: Option<&RunScheduleId>,
        limit: usize,
    ) -> StoreResult<Vec<RunScheduleRecord>>;
}

/// A run schedule as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunScheduleView {
    pub id: RunScheduleId,
    #[serde(flatten)]
    pub spec: RunScheduleSpec,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The next occurrence not yet claimed (`null` while paused).
    pub next_occurrence: Option<Occurrence>,
    pub last_occurrence: Option<MaterializedOccurrence>,
}

impl RunScheduleView {
    pub fn of(r: RunScheduleRecord) -> RunScheduleView {
        let next_occurrence = if r.spec.enabled {
            r.spec.next_occurrence(r.cursor())
        } else {
            None
        };
        RunScheduleView {
            id: r.id,
            spec: r.spec,
            created_at: r.created_at,
            updated_at: r.updated_at,
            next_occurrence,
            last_occurrence: r.last,
        }
    }
}

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
    pub sweep: crate::sweeper::SweepReport,
}

fn is_conflict(e: &AppError, code: &str) -> bool {
    matches!(e, AppError::Conflict { code: c, .. } if *c == code)
}

impl crate::App {
    /// Creates or replaces a run schedule; returns it and whether it is new. A schedule
    /// that goes from disabled to enabled resumes from now (occurrences while it was
    /// disabled are skipped).
    pub async fn put_run_schedule(
        &self,
        id: &str,
        bytes: &[u8],
    ) -> Result<(RunScheduleView, bool), AppError> {
        let id = RunScheduleId::parse(id).map_err(|m| FieldError::new("id", m))?;
        let spec = RunScheduleSpec::parse(bytes)?;
        for _ in 0..SCHEDULE_ATTEMPTS {
            let now = self.clock.now();
            let existing = self.catalog.get_run_schedule(&id).await?;
            let created = existing.is_none();
            let record = match existing {
                None => RunScheduleRecord {
                    id: id.clone(),
                    spec: spec.clone(),
                    created_at: now,
                    updated_at: now,
                    after: now,
                    last: None,
                    version: 1,
                },
                Some(mut r) => {
                    if !r.spec.enabled && spec.enabled {
                        r.after = r.after.max(now);
                    }
                    r.spec = spec.clone();
                    r.updated_at = now;
                    r.version += 1;
                    r
                }
            };
            match self.catalog.put_run_schedule(&record).await {
                Ok(()) => return Ok((RunScheduleView::of(record), created)),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::Transient(format!(
            "run schedule {id} is being changed concurrently"
        )))
    }

    pub async fn get_run_schedule(&self, id: &RunScheduleId) -> Result<RunScheduleView, AppError> {
        Ok(RunScheduleView::of(self.run_schedule(id).await?))
    }

    async fn run_schedule(&self, id: &RunScheduleId) -> Result<RunScheduleRecord, AppError> {
        self.catalog
            .get_run_schedule(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("run schedule {id}")))
    }

    /// Deletes a run schedule; the runs it created stay.
    pub async fn delete_run_schedule(&self, id: &RunScheduleId) -> Result<(), AppError> {
        if self.catalog.delete_run_schedule(id).await? {
            Ok(())
        } else {
            Err(AppError::NotFound(format!("run schedule {id}")))
        }
    }

    /// Stops creating runs (a run already started goes on). Pausing twice is a no-op.
    pub async fn pause_run_schedule(
        &self,
        id: &RunScheduleId,
    ) -> Result<RunScheduleView, AppError> {
        self.set_enabled(id, false).await
    }

    /// Creates runs again from the next occurrence after now: occurrences while the
    /// schedule was paused are skipped. Resuming twice is a no-op.
    pub async fn resume_run_schedule(
        &self,
        id: &RunScheduleId,
    ) -> Result<RunScheduleView, AppError> {
        self.set_enabled(id, true).await
    }

    async fn set_enabled(
        &self,
        id: &RunScheduleId,
        enabled: bool,
    ) -> Result<RunScheduleView, AppError> {
        for _ in 0..SCHEDULE_ATTEMPTS {
            let mut r = self.run_schedule(id).await?;
            if r.spec.enabled == enabled {
                return Ok(RunScheduleView::of(r));
            }
            let now = self.clock.now();
            r.spec.enabled = enabled;
            if enabled {
                r.after = r.after.max(now);
            }
            r.updated_at = now;
            r.version += 1;
            match self.catalog.put_run_schedule(&r).await {
                Ok(()) => return Ok(RunScheduleView::of(r)),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::Transient(format!(
            "run schedule {id} is being changed concurrently"
        )))
    }

    /// Notes the due entry of a Scheduled run (before the run is written).
    pub(crate) async fn note_scheduled_run(
        &self,
        run_id: RunId,
        request: &billrun_domain::request::RunRequest,
    ) -> Result<(), AppError> {
        if let (RunType::Scheduled, Some(at)) = (request.run_type, request.scheduled_at) {
            self.catalog
                .note_due(&[DueEntry {
                    at,
                    target: DueTarget::Run { run_id },
                    noted_at: self.clock.now(),
                }])
                .await?;
        }
        Ok(())
    }

    /// Notes the due entries of invoice-schedule items still Pending (before the
    /// schedules are written).
    pub(crate) async fn note_schedule_items(
        &self,
        schedules: &[billrun_domain::book::InvoiceSchedule],
    ) -> Result<(), AppError> {
        let now = self.clock.now();
        let entries: Vec<DueEntry> = schedules
            .iter()
            .flat_map(|s| {
                s.items
                    .iter()
                    .filter(|i| i.status == ScheduleItemStatus::Pending)
                    .map(|i| DueEntry {
                        at: item_due_at(i.invoice_date),
                        target: DueTarget::InvoiceItem {
                            schedule_id: s.id.clone(),
                            item_id: i.id.clone(),
                        },
                        noted_at: now,
                    })
            })
            .collect();
        if !entries.is_empty() {
            self.catalog.note_due(&entries).await?;
        }
        Ok(())
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
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<TickReport, AppError> {
        let (due, schedules, sweep) = tokio::join!(
            self.tick_due(now),
            self.tick_run_schedules(now),
            self.sweep(now)
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

    /// The due entries: Scheduled runs to start, invoice-schedule items to execute.
    async fn tick_due(&self, now: DateTime<Utc>) -> Result<TickReport, AppError> {
        let entries = self.catalog.due(now, DUE_PER_TICK).await?;
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
                warn!(target_key = %entry.target.key(), error = %e, "due entry failed");
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
                .catalog
                .list_run_schedules(after.as_ref(), SCHEDULE_PAGE)
                .await?;
            let full = page.len() == SCHEDULE_PAGE;
            for s in page {
                after = Some(s.id.clone());
                let id = s.id.clone();
                if let Err(e) = self.step_run_schedule(s, now, &mut report).await {
                    warn!(run_schedule = %id, error = %e, "run schedule step failed");
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
                        self.catalog.drop_due(entry).await?;
                    }
                    return Ok(());
                };
                let current = run.status == RunStatus::Pending
                    && run.request.run_type == RunType::Scheduled
                    && run.request.scheduled_at == Some(entry.at);
                if current {
                    match self.start_run(*run_id).await {
                        Ok(_) => report.started.push(*run_id),
                        Err(e) if is_conflict(&e, "run_not_pending") => {}
                        Err(e) => return Err(e),
                    }
                }
                self.catalog.drop_due(entry).await?;
            }
            DueTarget::InvoiceItem {
                schedule_id,
                item_id,
            } => {
                let Some(StoredSchedule { schedule, .. }) =
                    self.catalog.get_schedule(schedule_id).await?
                else {
                    if orphan {
                        self.catalog.drop_due(entry).await?;
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
                        Err(e) if is_conflict(&e, "schedule_item_processed") => {}
                        // Not executable (e.g. its account is gone): nothing to retry.
                        Err(AppError::NotFound(m)) => {
                            warn!(schedule_id = %schedule_id, item_id = %item_id, "{m}")
                        }
                        Err(e) => return Err(e),
                    }
                }
                self.catalog.drop_due(entry).await?;
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
        match self.catalog.put_run_schedule(&claimed).await {
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
        let record = new_run_record(run_id, request, Some(key), now);
        match self.runs.create_run(record).await {
            Ok(Created::New(_)) => report.created.push(run_id),
            Ok(Created::Replayed(_)) => {}
            // The run exists already (created by a tick from another template).
            Err(StoreError::Conflict(_)) if self.runs.get_run(run_id).await?.is_some() => {}
            Err(e) => return Err(e.into()),
        }
        self.start_scheduled(run_id, report).await
    }

    async fn start_scheduled(
        &self,
        run_id: RunId,
        report: &mut TickReport,
    ) -> Result<(), AppError> {
        match self.start_run(run_id).await {
            Ok(_) => {
                report.started.push(run_id);
                Ok(())
            }
            Err(e) if is_conflict(&e, "run_not_pending") => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The in-memory adapter of this module's ports (a part of [`crate::memory::MemoryStore`]).
#[derive(Default)]
pub struct MemoryScheduling {
    due: BTreeMap<(DateTime<Utc>, DueTarget), DueEntry>,
    schedules: BTreeMap<RunScheduleId, RunScheduleRecord>,
}

pub(crate) type SchedulingCell = Mutex<MemoryScheduling>;

#[async_trait]
impl DueIndex for crate::memory::MemoryStore {
    async fn note_due(&self, entries: &[DueEntry]) -> StoreResult<()> {
        let mut g = self.scheduling.lock();
        for e in entries {
            g.due.insert((e.at, e.target.clone()), e.clone());
        }
        Ok(())
    }

    async fn drop_due(&self, entry: &DueEntry) -> StoreResult<()> {
        self.scheduling
            .lock()
            .due
            .remove(&(entry.at, entry.target.clone()));
        Ok(())
    }

    async fn due(&self, now: DateTime<Utc>, limit: usize) -> StoreResult<Vec<DueEntry>> {
        let g = self.scheduling.lock();
        Ok(g.due
            .values()
            .take_while(|e| e.at <= now)
            .take(limit)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl RunScheduleStore for crate::memory::MemoryStore {
    async fn put_run_schedule(&self, schedule: &RunScheduleRecord) -> StoreResult<()> {
        let mut g = self.scheduling.lock();
        let stored = g.schedules.get(&schedule.id).map_or(0, |s| s.version);
        if stored + 1 != schedule.version {
            return Err(StoreError::Conflict(format!(
                "run schedule {} changed concurrently",
                schedule.id
            )));
        }
        g.schedules.insert(schedule.id.clone(), schedule.clone());
        Ok(())
    }

    async fn get_run_schedule(&self, id: &RunScheduleId) -> StoreResult<Option<RunScheduleRecord>> {
        Ok(self.scheduling.lock().schedules.get(id).cloned())
    }

    async fn delete_run_schedule(&self, id: &RunScheduleId) -> StoreResult<bool> {
        Ok(self.scheduling.lock().schedules.remove(id).is_some())
    }

    async fn list_run_schedules(
        &self,
        after: Option<&RunScheduleId>,
        limit: usize,
    ) -> StoreResult<Vec<RunScheduleRecord>> {
        let g = self.scheduling.lock();
        Ok(g.schedules
            .values()
            .filter(|s| after.is_none_or(|a| &s.id > a))
            .take(limit)
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{MemoryQueue, MemoryStore};
    use crate::worker::{drain, WorkerConfig};
    use crate::App;
    use billrun_domain::request::RunRequest;
    use serde_json::json;
    use std::sync::Arc;

    struct TestClock(Mutex<DateTime<Utc>>);

    impl crate::ports::Clock for TestClock {
        fn now(&self) -> DateTime<Utc> {
            *self.0.lock()
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    struct Env {
        app: App,
        queue: Arc<MemoryQueue>,
        clock: Arc<TestClock>,
    }

    fn env(start: &str) -> Env {
        let queue = Arc::new(MemoryQueue::new());
        let mut app = App::in_memory(Arc::new(MemoryStore::new()), queue.clone());
        let clock = Arc::new(TestClock(Mutex::new(utc(start))));
        app.clock = clock.clone();
        Env { app, queue, clock }
    }

    impl Env {
        async fn tick(&self, at: DateTime<Utc>) -> TickReport {
            *self.clock.0.lock() = at;
            self.app.tick(at).await.unwrap()
        }

        async fn drain(&self) {
            drain(
                Arc::new(self.app.clone()),
                self.queue.clone(),
                WorkerConfig::default(),
            )
            .await;
        }

        async fn status(&self, id: RunId) -> RunStatus {
            self.app.get_run(id).await.unwrap().status
        }
    }

    fn schedule(rec: serde_json::Value, target: serde_json::Value, missed: &str) -> Vec<u8> {
        json!({
            "runTemplate": {"name": "Monthly run"},
            "recurrence": rec,
            "targetDate": target,
            "missed": missed,
            "enabled": true
        })
        .to_string()
        .into_bytes()
    }

    fn scheduled(at: &str) -> RunRequest {
        let mut r = RunRequest::for_target("2024-02-01".parse().unwrap());
        r.run_type = RunType::Scheduled;
        r.scheduled_at = Some(utc(at));
        r
    }

    #[tokio::test]
    async fn a_scheduled_run_starts_at_its_time_and_not_one_tick_before() {
        let e = env("2024-01-01T00:00:00Z");
        let run = e
            .app
            .create_run(scheduled("2024-02-01T06:00:00Z"), None)
            .await
            .unwrap()
            .run()
            .clone();
        assert_eq!(run.status, RunStatus::Pending);
        let before = e.tick(utc("2024-02-01T05:59:59Z")).await;
        assert!(before.started.is_empty());
        assert_eq!(e.status(run.id).await, RunStatus::Pending);
        let at = e.tick(utc("2024-02-01T06:00:00Z")).await;
        assert_eq!(at.started, vec![run.id]);
        assert_eq!(e.status(run.id).await, RunStatus::Processing);
        let again = e.tick(utc("2024-02-01T06:05:00Z")).await;
        assert!(again.started.is_empty());
        e.drain().await;
        assert_eq!(e.status(run.id).await, RunStatus::Completed);
    }

    #[tokio::test]
    async fn a_canceled_scheduled_run_never_starts_and_a_patched_one_starts_at_its_new_time() {
        let e = env("2024-01-01T00:00:00Z");
        let canceled = e
            .app
            .create_run(scheduled("2024-02-01T06:00:00Z"), None)
            .await
            .unwrap()
            .run()
            .id;
        e.app.cancel_run(canceled).await.unwrap();
        let moved = e
            .app
            .create_run(scheduled("2024-02-01T06:00:00Z"), None)
            .await
            .unwrap()
            .run()
            .id;
        e.app
            .patch_run(moved, br#"{"scheduledAt": "2024-02-02T06:00:00Z"}"#)
            .await
            .unwrap();
        let first = e.tick(utc("2024-02-01T07:00:00Z")).await;
        assert!(first.started.is_empty(), "{first:?}");
        assert_eq!(e.status(canceled).await, RunStatus::Canceled);
        assert_eq!(e.status(moved).await, RunStatus::Pending);
        let second = e.tick(utc("2024-02-02T06:00:00Z")).await;
        assert_eq!(second.started, vec![moved]);
    }

    /// Ticks one second before and at each expected instant, running each run to its
    /// end in between.
    async fn one_run_per_expected_instant(e: &Env, id: &str, expected: &[&str]) {
        let sid = RunScheduleId::parse(id).unwrap();
        for (i, at) in expected.iter().enumerate() {
            let at = utc(at);
            let before = e.tick(at - TimeDelta::seconds(1)).await;
            assert!(before.created.is_empty(), "{id} #{i}: {before:?}");
            let report = e.tick(at).await;
            assert_eq!(report.created.len(), 1, "{id} #{i} at {at}: {report:?}");
            let run = e.app.get_run(report.created[0]).await.unwrap();
            assert_eq!(run.id, occurrence_run_id(&sid, at));
            assert_eq!(run.request.scheduled_at, Some(at));
            e.drain().await;
        }
    }

    #[tokio::test]
    async fn monthly_schedules_at_0230_in_berlin_and_new_york_run_once_a_month_at_the_right_instants(
    ) {
        let e = env("2024-01-01T00:00:00Z");
        e.app
            .put_run_schedule(
                "berlin",
                &schedule(
                    json!({"kind": "Monthly", "dayOfMonth": 31, "localTime": "02:30", "timeZone": "Europe/Berlin"}),
                    json!({"rule": "OccurrenceDate"}),
                    "CatchUpAll",
                ),
            )
            .await
            .unwrap();
        one_run_per_expected_instant(
            &e,
            "berlin",
            &[
                "2024-01-31T01:30:00Z",
                "2024-02-29T01:30:00Z",
                "2024-03-31T01:00:00Z", // the gap: 03:00 CEST
                "2024-04-30T00:30:00Z",
                "2024-05-31T00:30:00Z",
                "2024-06-30T00:30:00Z",
                "2024-07-31T00:30:00Z",
                "2024-08-31T00:30:00Z",
                "2024-09-30T00:30:00Z",
                "2024-10-31T01:30:00Z",
                "2024-11-30T01:30:00Z",
                "2024-12-31T01:30:00Z",
            ],
        )
        .await;
        let e = env("2024-01-01T00:00:00Z");
        e.app
            .put_run_schedule(
                "new-york",
                &schedule(
                    json!({"kind": "Monthly", "dayOfMonth": 10, "localTime": "02:30", "timeZone": "America/New_York"}),
                    json!({"rule": "OccurrenceDate"}),
                    "CatchUpAll",
                ),
            )
            .await
            .unwrap();
        one_run_per_expected_instant(
            &e,
            "new-york",
            &[
                "2024-01-10T07:30:00Z",
                "2024-02-10T07:30:00Z",
                "2024-03-10T07:00:00Z", // the gap: 03:00 EDT
                "2024-04-10T06:30:00Z",
                "2024-05-10T06:30:00Z",
                "2024-06-10T06:30:00Z",
                "2024-07-10T06:30:00Z",
                "2024-08-10T06:30:00Z",
                "2024-09-10T06:30:00Z",
                "2024-10-10T06:30:00Z",
                "2024-11-10T07:30:00Z",
                "2024-12-10T07:30:00Z",
            ],
        )
        .await;
    }

    #[tokio::test]
    async fn the_berlin_fold_occurrence_creates_one_run_though_0230_happens_twice() {
        let e = env("2024-10-01T00:00:00Z");
        e.app
            .put_run_schedule(
                "fold",
                &schedule(
                    json!({"kind": "Monthly", "dayOfMonth": 27, "localTime": "02:30", "timeZone": "Europe/Berlin"}),
                    json!({"rule": "OccurrenceDate"}),
                    "CatchUpAll",
                ),
            )
            .await
            .unwrap();
        let first = e.tick(utc("2024-10-27T00:30:00Z")).await;
        assert_eq!(first.created.len(), 1);
        e.drain().await;
        let second = e.tick(utc("2024-10-27T01:30:00Z")).await;
        assert!(second.created.is_empty(), "{second:?}");
    }

    async fn after_a_three_month_outage(missed: &str) -> (Env, Vec<RunId>) {
        let e = env("2024-01-15T00:00:00Z");
        e.app
            .put_run_schedule(
                "monthly",
                &schedule(
                    json!({"kind": "Monthly", "dayOfMonth": 1, "localTime": "02:30", "timeZone": "Europe/Berlin"}),
                    json!({"rule": "LastDayOfPreviousMonth"}),
                    missed,
                ),
            )
            .await
            .unwrap();
        let mut runs = Vec::new();
        let now = utc("2024-04-20T00:00:00Z");
        for _ in 0..6 {
            let (a, b) = tokio::join!(e.app.tick(now), e.app.tick(now));
            let (a, b) = (a.unwrap(), b.unwrap());
            assert!(a.created.len() + b.created.len() <= 1, "{a:?} {b:?}");
            runs.extend(a.created.into_iter().chain(b.created));
            // Never side by side: at most one run of the schedule is Processing.
            let mut processing = 0;
            for r in &runs {
                if e.status(*r).await == RunStatus::Processing {
                    processing += 1;
                }
            }
            assert!(processing <= 1);
            e.drain().await;
        }
        (e, runs)
    }

    #[tokio::test]
    async fn catch_up_all_after_a_three_month_outage_runs_three_runs_oldest_first_one_after_another(
    ) {
        let (e, runs) = after_a_three_month_outage("CatchUpAll").await;
        let mut targets = Vec::new();
        for r in &runs {
            let run = e.app.get_run(*r).await.unwrap();
            assert_eq!(run.status, RunStatus::Completed);
            targets.push(run.target_date.to_string());
        }
        assert_eq!(targets, ["2024-01-31", "2024-02-29", "2024-03-31"]);
        let view = e
            .app
            .get_run_schedule(&RunScheduleId::parse("monthly").unwrap())
            .await
            .unwrap();
        assert_eq!(
            view.last_occurrence.unwrap().occurrence.at,
            utc("2024-04-01T00:30:00Z")
        );
        assert_eq!(
            view.next_occurrence.unwrap().at,
            utc("2024-05-01T00:30:00Z")
        );
    }

    #[tokio::test]
    async fn latest_only_after_a_three_month_outage_runs_one_run_for_the_latest_occurrence() {
        let (e, runs) = after_a_three_month_outage("LatestOnly").await;
        assert_eq!(runs.len(), 1);
        let run = e.app.get_run(runs[0]).await.unwrap();
        assert_eq!(run.target_date.to_string(), "2024-03-31");
    }

    #[tokio::test]
    async fn a_paused_schedule_creates_nothing_and_resumes_from_the_next_occurrence() {
        let e = env("2024-01-15T00:00:00Z");
        let id = RunScheduleId::parse("weekly").unwrap();
        e.app
            .put_run_schedule(
                "weekly",
                &schedule(
                    json!({"kind": "Weekly", "weekday": "Monday", "localTime": "09:00", "timeZone": "UTC"}),
                    json!({"rule": "OccurrenceDate", "offsetDays": -1}),
                    "CatchUpAll",
                ),
            )
            .await
            .unwrap();
        e.app.pause_run_schedule(&id).await.unwrap();
        assert!(e.tick(utc("2024-02-01T00:00:00Z")).await.created.is_empty());
        let view = e.app.resume_run_schedule(&id).await.unwrap();
        // 2024-02-05 is a Monday; the Mondays while paused are skipped.
        assert_eq!(
            view.next_occurrence.unwrap().at,
            utc("2024-02-05T09:00:00Z")
        );
        let report = e.tick(utc("2024-02-05T09:00:00Z")).await;
        assert_eq!(report.created.len(), 1);
        let run = e.app.get_run(report.created[0]).await.unwrap();
        assert_eq!(run.target_date.to_string(), "2024-02-04");
        e.app.delete_run_schedule(&id).await.unwrap();
        assert!(matches!(
            e.app.get_run_schedule(&id).await,
            Err(AppError::NotFound(_))
        ));
        assert!(matches!(
            e.app.delete_run_schedule(&id).await,
            Err(AppError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn an_invoice_schedule_item_is_executed_on_its_date_once_even_with_concurrent_ticks() {
        let e = env("2023-12-01T00:00:00Z");
        e.app
            .import_book(
                br#"{
  "accounts": [{"id": "A-S", "name": "Scheduled", "currency": "USD", "billCycleDay": 1, "taxRate": "0.1"}],
  "subscriptions": [{"id": "S-S", "accountId": "A-S", "productId": "P", "startDate": "2024-01-01", "endDate": "2025-01-01",
    "charges": [{"id": "C-S", "type": "Recurring", "price": "99.00", "billingPeriod": "Month"}]}],
  "invoiceSchedules": [{"id": "IS-1", "accountId": "A-S", "subscriptionIds": ["S-S"], "items": [
    {"id": "I-1", "invoiceDate": "2024-01-01", "amount": "600.00"},
    {"id": "I-2", "invoiceDate": "2024-07-01", "amount": "600.00"}]}]
}"#,
            )
            .await
            .unwrap();
        assert!(e
            .tick(utc("2023-12-31T23:59:59Z"))
            .await
            .executed
            .is_empty());
        let now = utc("2024-01-01T00:00:00Z");
        let (a, b) = tokio::join!(e.app.tick(now), e.app.tick(now));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.executed.len() + b.executed.len(), 1, "{a:?} {b:?}");
        let stored = e
            .app
            .get_schedule(&ScheduleId::parse("IS-1").unwrap())
            .await
            .unwrap();
        assert_eq!(stored.processed.len(), 1);
        assert_eq!(stored.processed[0].item_id.as_str(), "I-1");
        assert!(e
            .tick(utc("2024-06-30T00:00:00Z"))
            .await
            .executed
            .is_empty());
        let july = e.tick(utc("2024-07-01T00:00:00Z")).await;
        assert_eq!(july.executed.len(), 1);
        assert!(e
            .tick(utc("2024-07-02T00:00:00Z"))
            .await
            .executed
            .is_empty());
    }
}
