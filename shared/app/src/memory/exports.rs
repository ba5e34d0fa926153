//! Export records in memory.

use super::MemoryStore;
use crate::model::exports::{Export, ExportStatus};
use crate::ports::*;
use async_trait::async_trait;
use billrun_domain::ids::ExportId;

#[async_trait]
impl ExportStore for MemoryStore {
    async fn create_export(&self, export: &Export) -> StoreResult<ExportCreated> {
        let mut g = self.exports.lock();
        if g.contains_key(&export.id) {
            return Ok(ExportCreated::Exists);
        }
        g.insert(export.id, export.clone());
        Ok(ExportCreated::New)
    }

    async fn get_export(&self, id: ExportId) -> StoreResult<Option<Export>> {
        Ok(self.exports.lock().get(&id).cloned())
    }

    async fn save_export(&self, export: &Export) -> StoreResult<bool> {
        let mut g = self.exports.lock();
        match g.get_mut(&export.id) {
            Some(stored)
                if stored.status == ExportStatus::Pending
                    && stored.version + 1 == export.version =>
            {
                *stored = export.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
