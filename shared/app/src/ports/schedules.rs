//! Invoice schedules, run schedules and the index of what falls due when
//! (see [`crate::schedules`]).

use super::StoreResult;
use crate::model::audit::AuditEvent;
use crate::model::schedules::{DueEntry, ProcessedItem, RunScheduleRecord, StoredSchedule};
use async_trait::async_trait;
use billrun_domain::book::InvoiceSchedule;
use billrun_domain::ids::{AccountId, RunScheduleId, ScheduleId};
use chrono::{DateTime, Utc};
/// Invoice schedules by id, and the record of executed items.
#[async_trait]
pub trait ScheduleStore: Send + Sync {
    async fn get_schedule(&self, id: &ScheduleId) -> StoreResult<Option<StoredSchedule>>;
    /// Every schedule of an account.
    async fn account_schedules(&self, account: &AccountId) -> StoreResult<Vec<InvoiceSchedule>>;
    /// Upserts a validated schedule (its account and subscriptions exist), with its
    /// audit entry in the same write. Executed items stay executed.
    async fn put_schedule(&self, schedule: &InvoiceSchedule, audit: &AuditEvent)
        -> StoreResult<()>;
    /// Stores a new validated schedule like [`Self::put_schedule`]; `Conflict`, nothing
    /// written, when one with its id exists (checked in the write itself, so that of
    /// two racing creates one wins).
    async fn create_schedule(
        &self,
        schedule: &InvoiceSchedule,
        audit: &AuditEvent,
    ) -> StoreResult<()>;
    /// Records an item as executed; `Conflict` when it already was.
    async fn mark_processed(&self, schedule: &ScheduleId, item: &ProcessedItem) -> StoreResult<()>;
    /// Schedules in byte-wise id order after `after`, at most `limit`, as they were put
    /// (an item's status as put; which are executed: [`Self::get_schedule`]).
    async fn list_schedules(
        &self,
        after: Option<&ScheduleId>,
        limit: usize,
    ) -> StoreResult<Vec<InvoiceSchedule>>;
}

/// Run schedules by id, written conditionally on their version.
#[async_trait]
pub trait RunScheduleStore: Send + Sync {
    /// Stores the schedule when the stored version is `version - 1` (version 1: none is
    /// stored); else `Conflict`. A caller's change has an audit entry, written with it;
    /// the scheduler's bookkeeping (the next occurrence) has none.
    async fn put_run_schedule(
        &self,
        schedule: &RunScheduleRecord,
        audit: Option<&AuditEvent>,
    ) -> StoreResult<()>;
    async fn get_run_schedule(&self, id: &RunScheduleId) -> StoreResult<Option<RunScheduleRecord>>;
    /// Whether it existed; the audit entry is written with the delete, only when it did.
    async fn delete_run_schedule(
        &self,
        id: &RunScheduleId,
        audit: &AuditEvent,
    ) -> StoreResult<bool>;
    /// Schedules in byte-wise id order after `after`, at most `limit`.
    async fn list_run_schedules(
        &self,
        after: Option<&RunScheduleId>,
        limit: usize,
    ) -> StoreResult<Vec<RunScheduleRecord>>;
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
