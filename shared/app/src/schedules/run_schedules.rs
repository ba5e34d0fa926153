//! Run schedules: created, replaced, paused, resumed and deleted; every change is a
//! conditional write of the schedule.

use super::{Schedules, SCHEDULE_ATTEMPTS};
use crate::error::{AppError, StoreError};
use crate::model::schedules::{RunScheduleRecord, RunScheduleView};
use billrun_domain::ids::RunScheduleId;
use billrun_domain::recurrence::RunScheduleSpec;
use billrun_domain::FieldError;

impl Schedules {
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
            let existing = self.run_schedules.get_run_schedule(&id).await?;
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
            match self.run_schedules.put_run_schedule(&record).await {
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

    async fn run_schedule(&self, id: &RunScheduleId) -> Result<RunScheduleRecord, AppError> {
        self.run_schedules
            .get_run_schedule(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("run schedule {id}")))
    }

    /// Deletes a run schedule; the runs it created stay.
    pub async fn delete_run_schedule(&self, id: &RunScheduleId) -> Result<(), AppError> {
        if self.run_schedules.delete_run_schedule(id).await? {
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
            match self.run_schedules.put_run_schedule(&r).await {
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
