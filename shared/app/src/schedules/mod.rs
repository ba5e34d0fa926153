//! Time-driven work: Scheduled runs that start at their `scheduledAt`,
//! recurring run schedules that create one run per occurrence, invoice-schedule items
//! executed on their invoice date. [`tick`] does all of it (with the sweeper); the `execute-schedules`
//! Lambda function and the scheduler of `billrun-local serve` call it.
//!
//! Two small ports ([`crate::ports::DueIndex`], [`crate::ports::RunScheduleStore`]):
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

mod invoice_items;
mod run_schedules;
#[cfg(test)]
mod tests;
mod tick;

pub use crate::model::schedules::*;
pub use invoice_items::ScheduleExecution;
pub use tick::{tick, TickReport};

use crate::error::{AppError, ConflictCode};
use crate::pipeline::RunPipeline;
use crate::ports::*;
use crate::queries::Queries;
use chrono::TimeDelta;
use std::sync::Arc;

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

/// Run schedules, due entries and invoice-schedule items over the ports they use, with
/// the run pipeline that starts and completes their runs.
#[derive(Clone)]
pub struct Schedules {
    pub pipeline: RunPipeline,
    /// The view of an executed item's run.
    pub queries: Queries,
    pub run_schedules: Arc<dyn RunScheduleStore>,
    pub due: Arc<dyn DueIndex>,
    pub invoice_schedules: Arc<dyn ScheduleStore>,
    pub runs: Arc<dyn RunStore>,
    pub book: Arc<dyn BookStore>,
    pub ledger: Arc<dyn WatermarkStore>,
    pub documents: Arc<dyn DocumentStore>,
    pub clock: Arc<dyn Clock>,
}

fn is_conflict(e: &AppError, code: ConflictCode) -> bool {
    matches!(e, AppError::Conflict { code: c, .. } if *c == code)
}
