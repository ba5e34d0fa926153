//! Invoice schedules, run schedules and due entries in memory.

use super::{store_schedule, MemoryStore};
use crate::error::StoreError;
use crate::model::audit::AuditEvent;
use crate::model::schedules::*;
use crate::ports::*;
use async_trait::async_trait;
use billrun_domain::book::InvoiceSchedule;
use billrun_domain::ids::RunScheduleId;
use billrun_domain::ids::{AccountId, ScheduleId};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

#[async_trait]
impl ScheduleStore for MemoryStore {
    async fn get_schedule(&self, id: &ScheduleId) -> StoreResult<Option<StoredSchedule>> {
        let g = self.inner.lock();
        Ok(g.schedules.get(id).map(|s| {
            StoredSchedule::new(s.clone(), g.processed.get(id).cloned().unwrap_or_default())
        }))
    }

    async fn account_schedules(&self, account: &AccountId) -> StoreResult<Vec<InvoiceSchedule>> {
        let g = self.inner.lock();
        Ok(g.schedules
            .values()
            .filter(|s| &s.account_id == account)
            .cloned()
            .collect())
    }

    async fn put_schedule(
        &self,
        schedule: &InvoiceSchedule,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        let mut g = self.inner.lock();
        if !g.accounts.contains_key(&schedule.account_id) {
            return Err(StoreError::fatal(format!(
                "account {} is not in the book",
                schedule.account_id
            )));
        }
        store_schedule(&mut g, schedule);
        super::audit::record(&mut g, audit.clone());
        Ok(())
    }

    async fn create_schedule(
        &self,
        schedule: &InvoiceSchedule,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        // One lock holds the check and the write.
        let mut g = self.inner.lock();
        if g.schedules.contains_key(&schedule.id) {
            return Err(StoreError::Conflict(format!(
                "invoice schedule {} exists",
                schedule.id
            )));
        }
        if !g.accounts.contains_key(&schedule.account_id) {
            return Err(StoreError::fatal(format!(
                "account {} is not in the book",
                schedule.account_id
            )));
        }
        store_schedule(&mut g, schedule);
        super::audit::record(&mut g, audit.clone());
        Ok(())
    }

    async fn mark_processed(&self, schedule: &ScheduleId, item: &ProcessedItem) -> StoreResult<()> {
        let mut g = self.inner.lock();
        let list = g.processed.entry(schedule.clone()).or_default();
        if list.iter().any(|p| p.item_id == item.item_id) {
            return Err(StoreError::Conflict(format!(
                "item {} of invoice schedule {schedule} is already processed",
                item.item_id
            )));
        }
        list.push(item.clone());
        Ok(())
    }

    async fn list_schedules(
        &self,
        after: Option<&ScheduleId>,
        limit: usize,
    ) -> StoreResult<Vec<InvoiceSchedule>> {
        let g = self.inner.lock();
        Ok(super::page_after(&g.schedules, after, limit)
            .cloned()
            .collect())
    }
}

/// Due entries and run schedules (a part of [`MemoryStore`]).
#[derive(Default)]
pub struct MemoryScheduling {
    pub(super) due: BTreeMap<(DateTime<Utc>, DueTarget), DueEntry>,
    pub(super) schedules: BTreeMap<RunScheduleId, RunScheduleRecord>,
}

#[async_trait]
impl DueIndex for MemoryStore {
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
impl RunScheduleStore for MemoryStore {
    async fn put_run_schedule(
        &self,
        schedule: &RunScheduleRecord,
        audit: Option<&AuditEvent>,
    ) -> StoreResult<()> {
        let mut g = self.scheduling.lock();
        let stored = g.schedules.get(&schedule.id).map_or(0, |s| s.version);
        if stored + 1 != schedule.version {
            return Err(StoreError::Conflict(format!(
                "run schedule {} changed concurrently",
                schedule.id
            )));
        }
        g.schedules.insert(schedule.id.clone(), schedule.clone());
        if let Some(audit) = audit {
            // Under the schedules' lock: one write (locks taken in this order only).
            super::audit::record(&mut self.inner.lock(), audit.clone());
        }
        Ok(())
    }

    async fn get_run_schedule(&self, id: &RunScheduleId) -> StoreResult<Option<RunScheduleRecord>> {
        Ok(self.scheduling.lock().schedules.get(id).cloned())
    }

    async fn delete_run_schedule(
        &self,
        id: &RunScheduleId,
        audit: &AuditEvent,
    ) -> StoreResult<bool> {
        let mut g = self.scheduling.lock();
        let existed = g.schedules.remove(id).is_some();
        if existed {
            super::audit::record(&mut self.inner.lock(), audit.clone());
        }
        Ok(existed)
    }

    async fn list_run_schedules(
        &self,
        after: Option<&RunScheduleId>,
        limit: usize,
    ) -> StoreResult<Vec<RunScheduleRecord>> {
        let g = self.scheduling.lock();
        Ok(super::page_after(&g.schedules, after, limit)
            .cloned()
            .collect())
    }
}
