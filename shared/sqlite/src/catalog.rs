//! Invoice schedules with their executed items, run schedules, the due index and the
//! document templates.

use crate::book::put_schedule;
use crate::error::conflict;
use crate::schema::*;
use crate::{from_json, int, limit, read_entities, to_json, uint, Error, SqliteStore};
use async_trait::async_trait;
use billrun_app::model::audit::AuditEvent;
use billrun_app::model::documents::DocumentTemplate;
use billrun_app::model::schedules::{DueEntry, ProcessedItem, RunScheduleRecord, StoredSchedule};
use billrun_app::ports::{DueIndex, RunScheduleStore, ScheduleStore, StoreResult, TemplateStore};
use billrun_domain::book::InvoiceSchedule;
use billrun_domain::ids::{AccountId, RunScheduleId, ScheduleId};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

/// The `data` of the row of `table` whose `key` column is `value`.
fn one(c: &Connection, table: &str, key: &str, value: &str) -> Result<Option<String>, Error> {
    Ok(c.query_row(
        &format!("SELECT data FROM {table} WHERE {key} = ?1"),
        [value],
        |r| r.get(0),
    )
    .optional()?)
}

#[async_trait]
impl ScheduleStore for SqliteStore {
    async fn get_schedule(&self, id: &ScheduleId) -> StoreResult<Option<StoredSchedule>> {
        let id = id.clone();
        self.call(move |c| {
            let Some(json) = one(c, INVOICE_SCHEDULES, "id", id.as_str())? else {
                return Ok(None);
            };
            let processed: Vec<ProcessedItem> = read_entities(
                c,
                &format!("SELECT data FROM {PROCESSED_ITEMS} WHERE schedule_id = ?1 ORDER BY seq"),
                [id.as_str()],
            )?;
            Ok(Some(StoredSchedule::new(from_json(&json)?, processed)))
        })
        .await
    }

    async fn list_schedules(
        &self,
        after: Option<&ScheduleId>,
        n: usize,
    ) -> StoreResult<Vec<InvoiceSchedule>> {
        let after = after.map(|a| a.to_string());
        self.call(move |c| {
            read_entities(
                c,
                &format!(
                    "SELECT data FROM {INVOICE_SCHEDULES} WHERE ?1 IS NULL OR id > ?1 ORDER BY id LIMIT ?2"
                ),
                params![after, limit(n)],
            )
        })
        .await
    }

    async fn account_schedules(&self, account: &AccountId) -> StoreResult<Vec<InvoiceSchedule>> {
        let account = account.clone();
        self.call(move |c| {
            read_entities(
                c,
                &format!("SELECT data FROM {INVOICE_SCHEDULES} WHERE account_id = ?1 ORDER BY id"),
                [account.as_str()],
            )
        })
        .await
    }

    async fn put_schedule(
        &self,
        schedule: &InvoiceSchedule,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        let (schedule, audit) = (schedule.clone(), audit.clone());
        self.write(move |tx| {
            put_schedule(tx, &schedule)?;
            crate::audit::record(tx, &audit)
        })
        .await
    }

    async fn create_schedule(
        &self,
        schedule: &InvoiceSchedule,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        let (schedule, audit) = (schedule.clone(), audit.clone());
        self.write(move |tx| {
            // The write's transaction holds the check and the insert together.
            if one(tx, INVOICE_SCHEDULES, "id", schedule.id.as_str())?.is_some() {
                return Err(conflict(format!("invoice schedule {} exists", schedule.id)));
            }
            put_schedule(tx, &schedule)?;
            crate::audit::record(tx, &audit)
        })
        .await
    }

    async fn mark_processed(&self, schedule: &ScheduleId, item: &ProcessedItem) -> StoreResult<()> {
        let (schedule, item) = (schedule.clone(), item.clone());
        self.write(move |tx| {
            let added = tx.execute(
                &format!(
                    "INSERT INTO {PROCESSED_ITEMS} (schedule_id, item_id, data) VALUES (?1, ?2, ?3)
                     ON CONFLICT (schedule_id, item_id) DO NOTHING"
                ),
                params![schedule.as_str(), item.item_id.as_str(), to_json(&item)?],
            )?;
            if added == 0 {
                return Err(conflict(format!(
                    "item {} of invoice schedule {schedule} is already processed",
                    item.item_id
                )));
            }
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl DueIndex for SqliteStore {
    async fn note_due(&self, entries: &[DueEntry]) -> StoreResult<()> {
        let entries = entries.to_vec();
        self.write(move |tx| {
            for e in &entries {
                tx.execute(
                    &format!(
                        "INSERT INTO {DUE} (at, target, data) VALUES (?1, ?2, ?3)
                         ON CONFLICT (at, target) DO UPDATE SET data = excluded.data"
                    ),
                    params![instant(&e.at), due_target(&e.target), to_json(e)?],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn drop_due(&self, entry: &DueEntry) -> StoreResult<()> {
        let (at, target) = (instant(&entry.at), due_target(&entry.target));
        self.write(move |tx| {
            tx.execute(
                &format!("DELETE FROM {DUE} WHERE at = ?1 AND target = ?2"),
                params![at, target],
            )?;
            Ok(())
        })
        .await
    }

    async fn due(&self, now: DateTime<Utc>, n: usize) -> StoreResult<Vec<DueEntry>> {
        let now = instant(&now);
        self.call(move |c| {
            read_entities(
                c,
                &format!("SELECT data FROM {DUE} WHERE at <= ?1 ORDER BY at, target LIMIT ?2"),
                params![now, limit(n)],
            )
        })
        .await
    }
}

#[async_trait]
impl RunScheduleStore for SqliteStore {
    async fn put_run_schedule(
        &self,
        schedule: &RunScheduleRecord,
        audit: Option<&AuditEvent>,
    ) -> StoreResult<()> {
        let (schedule, audit) = (schedule.clone(), audit.cloned());
        self.write(move |tx| {
            let stored: Option<i64> = tx
                .query_row(
                    &format!("SELECT version FROM {RUN_SCHEDULES} WHERE id = ?1"),
                    [schedule.id.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            let stored = stored.map(uint).transpose()?.unwrap_or(0);
            if stored + 1 != schedule.version {
                return Err(conflict(format!(
                    "run schedule {} changed concurrently",
                    schedule.id
                )));
            }
            tx.execute(
                &format!(
                    "INSERT INTO {RUN_SCHEDULES} (id, version, data) VALUES (?1, ?2, ?3)
                     ON CONFLICT (id) DO UPDATE SET version = excluded.version, data = excluded.data"
                ),
                params![schedule.id.as_str(), int(schedule.version)?, to_json(&schedule)?],
            )?;
            audit.iter().try_for_each(|a| crate::audit::record(tx, a))
        })
        .await
    }

    async fn get_run_schedule(&self, id: &RunScheduleId) -> StoreResult<Option<RunScheduleRecord>> {
        let id = id.clone();
        self.call(move |c| {
            one(c, RUN_SCHEDULES, "id", id.as_str())?
                .map(|j| from_json(&j))
                .transpose()
        })
        .await
    }

    async fn delete_run_schedule(
        &self,
        id: &RunScheduleId,
        audit: &AuditEvent,
    ) -> StoreResult<bool> {
        let (id, audit) = (id.clone(), audit.clone());
        self.write(move |tx| {
            let existed = tx.execute(
                &format!("DELETE FROM {RUN_SCHEDULES} WHERE id = ?1"),
                [id.as_str()],
            )? == 1;
            if existed {
                crate::audit::record(tx, &audit)?;
            }
            Ok(existed)
        })
        .await
    }

    async fn list_run_schedules(
        &self,
        after: Option<&RunScheduleId>,
        n: usize,
    ) -> StoreResult<Vec<RunScheduleRecord>> {
        let after = after.map(|a| a.to_string());
        self.call(move |c| {
            read_entities(
                c,
                &format!(
                    "SELECT data FROM {RUN_SCHEDULES} WHERE ?1 IS NULL OR id > ?1 ORDER BY id LIMIT ?2"
                ),
                params![after, limit(n)],
            )
        })
        .await
    }
}

fn active_template_id(c: &Connection) -> Result<Option<String>, Error> {
    Ok(c.query_row(
        &format!("SELECT value FROM {SETTINGS} WHERE name = ?1"),
        [ACTIVE_TEMPLATE],
        |r| r.get(0),
    )
    .optional()?)
}

/// The stored template with whether it is the active one (stored apart, so that
/// activating one template writes one row).
fn template(c: &Connection, id: &str) -> Result<Option<DocumentTemplate>, Error> {
    let Some(json) = one(c, TEMPLATES, "id", id)? else {
        return Ok(None);
    };
    let mut t: DocumentTemplate = from_json(&json)?;
    t.active = active_template_id(c)?.as_deref() == Some(id);
    Ok(Some(t))
}

#[async_trait]
impl TemplateStore for SqliteStore {
    async fn put_template(
        &self,
        template: &DocumentTemplate,
        audit: &AuditEvent,
    ) -> StoreResult<DocumentTemplate> {
        let (mut t, audit) = (template.clone(), audit.clone());
        self.write(move |tx| {
            t.active = active_template_id(tx)?.as_deref() == Some(t.id.as_str());
            tx.execute(
                &format!(
                    "INSERT INTO {TEMPLATES} (id, data) VALUES (?1, ?2)
                     ON CONFLICT (id) DO UPDATE SET data = excluded.data"
                ),
                params![t.id, to_json(&t)?],
            )?;
            crate::audit::record(tx, &audit)?;
            Ok(t)
        })
        .await
    }

    async fn create_template(
        &self,
        template: &DocumentTemplate,
        audit: &AuditEvent,
    ) -> StoreResult<DocumentTemplate> {
        let (mut t, audit) = (template.clone(), audit.clone());
        self.write(move |tx| {
            // The write's transaction holds the check and the insert together.
            if one(tx, TEMPLATES, "id", &t.id)?.is_some() {
                return Err(conflict(format!("document template {} exists", t.id)));
            }
            t.active = false;
            tx.execute(
                &format!("INSERT INTO {TEMPLATES} (id, data) VALUES (?1, ?2)"),
                params![t.id, to_json(&t)?],
            )?;
            crate::audit::record(tx, &audit)?;
            Ok(t)
        })
        .await
    }

    async fn get_template(&self, id: &str) -> StoreResult<Option<DocumentTemplate>> {
        let id = id.to_string();
        self.call(move |c| template(c, &id)).await
    }

    async fn activate_template(
        &self,
        id: &str,
        audit: &AuditEvent,
    ) -> StoreResult<Option<DocumentTemplate>> {
        let (id, audit) = (id.to_string(), audit.clone());
        self.write(move |tx| {
            if one(tx, TEMPLATES, "id", &id)?.is_none() {
                return Ok(None);
            }
            tx.execute(
                &format!(
                    "INSERT INTO {SETTINGS} (name, value) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value"
                ),
                params![ACTIVE_TEMPLATE, id],
            )?;
            crate::audit::record(tx, &audit)?;
            template(tx, &id)
        })
        .await
    }

    async fn active_template(&self) -> StoreResult<Option<DocumentTemplate>> {
        self.call(move |c| match active_template_id(c)? {
            Some(id) => template(c, &id),
            None => Ok(None),
        })
        .await
    }

    async fn list_templates(
        &self,
        after: Option<&str>,
        n: usize,
    ) -> StoreResult<Vec<DocumentTemplate>> {
        let after = after.map(str::to_string);
        self.call(move |c| {
            let active = active_template_id(c)?;
            let mut page: Vec<DocumentTemplate> = read_entities(
                c,
                &format!(
                    "SELECT data FROM {TEMPLATES} WHERE ?1 IS NULL OR id > ?1 ORDER BY id LIMIT ?2"
                ),
                params![after, limit(n)],
            )?;
            for t in &mut page {
                t.active = active.as_deref() == Some(t.id.as_str());
            }
            Ok(page)
        })
        .await
    }
}
