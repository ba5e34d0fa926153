//! The DynamoDB adapter of export records (`billrun_app::ports::ExportStore`): one item
//! `EXPORT#<id>` (keys in `keys.rs`) with the record as data and its status and version
//! as attributes of their own, which every later write is conditioned on.

use super::codec::{decode, entity, n, s};
use super::keys;
use super::DynamoStore;
use async_trait::async_trait;
use billrun_app::error::StoreError;
use billrun_app::model::exports::{Export, ExportStatus};
use billrun_app::ports::{ExportCreated, ExportStore, StoreResult};
use billrun_domain::export::wire_name;
use billrun_domain::ids::ExportId;

// Not `status`: a reserved word in expressions.
const STATUS: &str = "exportStatus";
const VERSION: &str = "exportVersion";

fn item(export: &Export) -> StoreResult<super::codec::Item> {
    let mut item = entity(&keys::export(export.id), export)?;
    item.insert(STATUS.to_string(), s(wire_name(&export.status)));
    item.insert(VERSION.to_string(), n(export.version));
    Ok(item)
}

#[async_trait]
impl ExportStore for DynamoStore {
    async fn create_export(&self, export: &Export) -> StoreResult<ExportCreated> {
        match self
            .put(item(export)?, Some("attribute_not_exists(pk)"), vec![])
            .await
        {
            Ok(()) => Ok(ExportCreated::New),
            Err(StoreError::Conflict(_)) => Ok(ExportCreated::Exists),
            Err(e) => Err(e),
        }
    }

    async fn get_export(&self, id: ExportId) -> StoreResult<Option<Export>> {
        match self.get(&keys::export(id)).await? {
            None => Ok(None),
            Some(item) => Ok(Some(decode(&item)?)),
        }
    }

    async fn save_export(&self, export: &Export) -> StoreResult<bool> {
        let Some(previous) = export.version.checked_sub(1) else {
            return Ok(false);
        };
        match self
            .put(
                item(export)?,
                Some("exportStatus = :pending AND exportVersion = :previous"),
                vec![
                    (":pending", s(wire_name(&ExportStatus::Pending))),
                    (":previous", n(previous)),
                ],
            )
            .await
        {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
