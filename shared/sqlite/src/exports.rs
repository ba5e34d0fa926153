//! Export records: the record as JSON, and its status and version in columns of their
//! own, which every later write is conditioned on.

use crate::schema::*;
use crate::{read_entity, to_json, SqliteStore};
use async_trait::async_trait;
use billrun_app::model::exports::{Export, ExportStatus};
use billrun_app::ports::{ExportCreated, ExportStore, StoreResult};
use billrun_domain::export::wire_name;
use billrun_domain::ids::ExportId;
use rusqlite::params;

#[async_trait]
impl ExportStore for SqliteStore {
    async fn create_export(&self, export: &Export) -> StoreResult<ExportCreated> {
        let export = export.clone();
        self.write(move |tx| {
            let added = tx.execute(
                &format!(
                    "INSERT INTO {EXPORTS} (id, status, version, data) VALUES (?1, ?2, 0, ?3)
                     ON CONFLICT (id) DO NOTHING"
                ),
                params![
                    export.id.to_string(),
                    wire_name(&export.status),
                    to_json(&export)?
                ],
            )?;
            Ok(if added == 1 {
                ExportCreated::New
            } else {
                ExportCreated::Exists
            })
        })
        .await
    }

    async fn get_export(&self, id: ExportId) -> StoreResult<Option<Export>> {
        self.call(move |c| {
            read_entity(
                c,
                &format!("SELECT data FROM {EXPORTS} WHERE id = ?1"),
                [id.to_string()],
            )
        })
        .await
    }

    async fn save_export(&self, export: &Export) -> StoreResult<bool> {
        let export = export.clone();
        let Some(previous) = export
            .version
            .checked_sub(1)
            .and_then(|v| i64::try_from(v).ok())
        else {
            return Ok(false);
        };
        self.write(move |tx| {
            let changed = tx.execute(
                &format!(
                    "UPDATE {EXPORTS} SET status = ?2, version = ?3, data = ?4
                     WHERE id = ?1 AND status = ?5 AND version = ?6"
                ),
                params![
                    export.id.to_string(),
                    wire_name(&export.status),
                    previous + 1,
                    to_json(&export)?,
                    wire_name(&ExportStatus::Pending),
                    previous
                ],
            )?;
            Ok(changed == 1)
        })
        .await
    }
}
