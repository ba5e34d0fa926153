//! Run schedules: created, replaced, paused, resumed and deleted; every change is a
//! conditional write of the schedule.

use super::{Schedules, SCHEDULE_ATTEMPTS};
use crate::error::{AppError, ConflictCode, StoreError};
use crate::model::audit::{AuditEvent, ConfigChange, ResourceKind};
use crate::model::schedules::{RunScheduleRecord, RunScheduleView};
use billrun_domain::ids::RunScheduleId;
use billrun_domain::recurrence::RunScheduleSpec;
use billrun_domain::FieldError;

/// Whether a write may replace a stored schedule.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Put {
    CreateOrReplace,
    CreateOnly,
}

impl Schedules {
    /// Creates or replaces a run schedule; returns it and whether it is new. A schedule
    /// that goes from disabled to enabled resumes from now (occurrences while it was
    /// disabled are skipped).
    pub async fn put_run_schedule(
        &self,
        id: &str,
        bytes: &[u8],
    ) -> Result<(RunScheduleView, bool), AppError> {
        self.write_run_schedule(id, bytes, Put::CreateOrReplace)
            .await
    }

    /// Creates a run schedule, refusing an id that is taken (`run_schedule_exists`): a
    /// form that makes a new schedule must not replace one by typing its id. The store's
    /// version condition (version 1: none stored) makes the refusal hold under a race.
    pub async fn create_run_schedule(
        &self,
        id: &str,
        bytes: &[u8],
    ) -> Result<RunScheduleView, AppError> {
        let (view, _) = self.write_run_schedule(id, bytes, Put::CreateOnly).await?;
        Ok(view)
    }

    async fn write_run_schedule(
        &self,
        id: &str,
        bytes: &[u8],
        put: Put,
    ) -> Result<(RunScheduleView, bool), AppError> {
        let id = RunScheduleId::parse(id).map_err(|m| FieldError::new("id", m))?;
        let spec = RunScheduleSpec::parse(bytes)?;
        for _ in 0..SCHEDULE_ATTEMPTS {
            let now = self.clock.now();
            let existing = self.run_schedules.get_run_schedule(&id).await?;
            let created = existing.is_none();
            if !created && put == Put::CreateOnly {
                return Err(AppError::Conflict {
                    code: ConflictCode::RunScheduleExists,
                    message: format!("a run schedule {id} exists"),
                    field: Some("id".into()),
                });
            }
            let before = existing.as_ref().map(|r| r.spec.clone());
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
            let entry = change_entry(&record, before.as_ref());
            match self
                .run_schedules
                .put_run_schedule(&record, Some(&entry))
                .await
            {
                Ok(()) => return Ok((RunScheduleView::of(record), created)),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::transient(format!(
            "run schedule {id} is being changed concurrently"
        )))
    }

    pub async fn get_run_schedule(&self, id: &RunScheduleId) -> Result<RunScheduleView, AppError> {
        Ok(RunScheduleView::of(self.run_schedule(id).await?))
    }

    /// A page of run schedules in id order, after `after`, at most `limit`: a list is
    /// read a page at a time, never whole.
    pub async fn list_run_schedules(
        &self,
        after: Option<&RunScheduleId>,
        limit: usize,
    ) -> Result<Vec<RunScheduleView>, AppError> {
        Ok(self
            .run_schedules
            .list_run_schedules(after, limit)
            .await?
            .into_iter()
            .map(RunScheduleView::of)
            .collect())
    }

    async fn run_schedule(&self, id: &RunScheduleId) -> Result<RunScheduleRecord, AppError> {
        self.run_schedules
            .get_run_schedule(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("run schedule {id}")))
    }

    /// Deletes a run schedule; the runs it created stay.
    pub async fn delete_run_schedule(&self, id: &RunScheduleId) -> Result<(), AppError> {
        let before = self.run_schedules.get_run_schedule(id).await?;
        let entry = ConfigChange::between(
            ResourceKind::RunSchedule,
            id.to_string(),
            before.as_ref().map(|r| &r.spec),
            None,
        )
        // The delete ends the schedule's versions: it is the one after the last.
        .entry(
            before.as_ref().map(|r| r.version + 1),
            crate::actor::current(),
            self.clock.now(),
        );
        if before.is_some() && self.run_schedules.delete_run_schedule(id, &entry).await? {
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
            let before = r.spec.clone();
            r.spec.enabled = enabled;
            if enabled {
                r.after = r.after.max(now);
            }
            r.updated_at = now;
            r.version += 1;
            let entry = change_entry(&r, Some(&before));
            match self.run_schedules.put_run_schedule(&r, Some(&entry)).await {
                Ok(()) => return Ok(RunScheduleView::of(r)),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::transient(format!(
            "run schedule {id} is being changed concurrently"
        )))
    }
}

/// The audit entry of a caller's change of a run schedule: its specification before and
/// after (the scheduler's own bookkeeping is not a change of it), under the version the
/// change writes.
fn change_entry(
    record: &RunScheduleRecord,
    before: Option<&billrun_domain::recurrence::RunScheduleSpec>,
) -> AuditEvent {
    ConfigChange::between(
        ResourceKind::RunSchedule,
        record.id.to_string(),
        before,
        Some(&record.spec),
    )
    .entry(
        Some(record.version),
        crate::actor::current(),
        record.updated_at,
    )
}
