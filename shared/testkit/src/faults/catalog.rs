//! Faults of invoice schedules, templates, run schedules and the due index.

use super::Faulty;
use async_trait::async_trait;
use billrun_app::model::audit::AuditEvent;
use billrun_app::model::documents::DocumentTemplate;
use billrun_app::model::schedules::{DueEntry, ProcessedItem, RunScheduleRecord, StoredSchedule};
use billrun_app::ports::*;
use billrun_domain::book::InvoiceSchedule;
use billrun_domain::ids::{AccountId, RunScheduleId, ScheduleId};
use chrono::{DateTime, Utc};

#[async_trait]
impl<T: ?Sized + ScheduleStore> ScheduleStore for Faulty<T> {
    async fn get_schedule(&self, id: &ScheduleId) -> StoreResult<Option<StoredSchedule>> {
        self.plan
            .read("get_schedule", self.inner.get_schedule(id))
            .await
    }
    async fn account_schedules(&self, account: &AccountId) -> StoreResult<Vec<InvoiceSchedule>> {
        self.plan
            .read("account_schedules", self.inner.account_schedules(account))
            .await
    }
    async fn put_schedule(
        &self,
        schedule: &InvoiceSchedule,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        self.plan
            .write("put_schedule", self.inner.put_schedule(schedule, audit))
            .await
    }
    async fn create_schedule(
        &self,
        schedule: &InvoiceSchedule,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        self.plan
            .write(
                "create_schedule",
                self.inner.create_schedule(schedule, audit),
            )
            .await
    }
    async fn mark_processed(&self, schedule: &ScheduleId, item: &ProcessedItem) -> StoreResult<()> {
        self.plan
            .write("mark_processed", self.inner.mark_processed(schedule, item))
            .await
    }
    async fn list_schedules(
        &self,
        after: Option<&ScheduleId>,
        limit: usize,
    ) -> StoreResult<Vec<InvoiceSchedule>> {
        self.plan
            .read("list_schedules", self.inner.list_schedules(after, limit))
            .await
    }
}

#[async_trait]
impl<T: ?Sized + TemplateStore> TemplateStore for Faulty<T> {
    async fn put_template(
        &self,
        template: &DocumentTemplate,
        audit: &AuditEvent,
    ) -> StoreResult<DocumentTemplate> {
        self.plan
            .write("put_template", self.inner.put_template(template, audit))
            .await
    }
    async fn create_template(
        &self,
        template: &DocumentTemplate,
        audit: &AuditEvent,
    ) -> StoreResult<DocumentTemplate> {
        self.plan
            .write(
                "create_template",
                self.inner.create_template(template, audit),
            )
            .await
    }
    async fn get_template(&self, id: &str) -> StoreResult<Option<DocumentTemplate>> {
        self.plan
            .read("get_template", self.inner.get_template(id))
            .await
    }
    async fn activate_template(
        &self,
        id: &str,
        audit: &AuditEvent,
    ) -> StoreResult<Option<DocumentTemplate>> {
        self.plan
            .write("activate_template", self.inner.activate_template(id, audit))
            .await
    }
    async fn active_template(&self) -> StoreResult<Option<DocumentTemplate>> {
        self.plan
            .read("active_template", self.inner.active_template())
            .await
    }
    async fn list_templates(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<DocumentTemplate>> {
        self.plan
            .read("list_templates", self.inner.list_templates(after, limit))
            .await
    }
}

#[async_trait]
impl<T: ?Sized + RunScheduleStore> RunScheduleStore for Faulty<T> {
    async fn put_run_schedule(
        &self,
        schedule: &RunScheduleRecord,
        audit: Option<&AuditEvent>,
    ) -> StoreResult<()> {
        self.plan
            .write(
                "put_run_schedule",
                self.inner.put_run_schedule(schedule, audit),
            )
            .await
    }
    async fn get_run_schedule(&self, id: &RunScheduleId) -> StoreResult<Option<RunScheduleRecord>> {
        self.plan
            .read("get_run_schedule", self.inner.get_run_schedule(id))
            .await
    }
    async fn delete_run_schedule(
        &self,
        id: &RunScheduleId,
        audit: &AuditEvent,
    ) -> StoreResult<bool> {
        self.plan
            .write(
                "delete_run_schedule",
                self.inner.delete_run_schedule(id, audit),
            )
            .await
    }
    async fn list_run_schedules(
        &self,
        after: Option<&RunScheduleId>,
        limit: usize,
    ) -> StoreResult<Vec<RunScheduleRecord>> {
        self.plan
            .read(
                "list_run_schedules",
                self.inner.list_run_schedules(after, limit),
            )
            .await
    }
}

#[async_trait]
impl<T: ?Sized + DueIndex> DueIndex for Faulty<T> {
    async fn note_due(&self, entries: &[DueEntry]) -> StoreResult<()> {
        self.plan
            .write("note_due", self.inner.note_due(entries))
            .await
    }
    async fn drop_due(&self, entry: &DueEntry) -> StoreResult<()> {
        self.plan
            .write("drop_due", self.inner.drop_due(entry))
            .await
    }
    async fn due(&self, now: DateTime<Utc>, limit: usize) -> StoreResult<Vec<DueEntry>> {
        self.plan.read("due", self.inner.due(now, limit)).await
    }
}
