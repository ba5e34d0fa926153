//! The audit trail: rows are only inserted (`INSERT OR IGNORE` on the entry's id), never
//! updated or deleted.

use crate::schema::*;
use crate::{limit, read_entities, to_json, Error, SqliteStore};
use async_trait::async_trait;
use billrun_app::model::audit::{AuditEvent, AuditFilter, AuditPosition};
use billrun_app::ports::{AuditLog, StoreResult};
use rusqlite::types::Value;
use rusqlite::Connection;

/// Adds `event` unless a row of its id exists (inside the caller's transaction, so
/// that a document's change and its entry commit together).
pub(crate) fn record(c: &Connection, event: &AuditEvent) -> Result<(), Error> {
    c.execute(
        &format!(
            "INSERT OR IGNORE INTO {AUDIT_EVENTS} (id, time, seq, resource_id, run_id, actor, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        ),
        rusqlite::params![
            event.id.to_string(),
            instant(&event.time),
            event.seq,
            event.resource_id,
            // The column predates configuration entries, which belong to no run.
            event.run_id.map(|r| r.to_string()).unwrap_or_default(),
            event.actor,
            to_json(event)?,
        ],
    )?;
    Ok(())
}

#[async_trait]
impl AuditLog for SqliteStore {
    async fn record_audit(&self, events: &[AuditEvent]) -> StoreResult<()> {
        let events = events.to_vec();
        self.write(move |tx| events.iter().try_for_each(|e| record(tx, e)))
            .await
    }

    async fn audit_events(
        &self,
        filter: &AuditFilter,
        after: Option<&AuditPosition>,
        n: usize,
    ) -> StoreResult<Vec<AuditEvent>> {
        let mut clauses = vec!["time >= ?".to_string()];
        let mut values: Vec<Value> = vec![Value::Text(instant(&filter.since))];
        if let Some(r) = &filter.resource {
            clauses.push("(resource_id = ? OR run_id = ?)".into());
            values.push(Value::Text(r.clone()));
            values.push(Value::Text(r.clone()));
        }
        if let Some(a) = &filter.actor {
            clauses.push("actor = ?".into());
            values.push(Value::Text(a.clone()));
        }
        if let Some(p) = after {
            clauses.push("(time, seq, id) > (?, ?, ?)".into());
            values.push(Value::Text(instant(&p.time)));
            values.push(Value::Integer(i64::from(p.seq)));
            values.push(Value::Text(p.id.to_string()));
        }
        values.push(Value::Integer(limit(n)));
        let sql = format!(
            "SELECT data FROM {AUDIT_EVENTS} WHERE {} ORDER BY time, seq, id LIMIT ?",
            clauses.join(" AND ")
        );
        self.call(move |c| read_entities(c, &sql, rusqlite::params_from_iter(values)))
            .await
    }
}
