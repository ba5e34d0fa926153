//! Document generation requests in memory.

use super::MemoryStore;
use crate::error::StoreError;
use crate::model::documents::*;
use crate::ports::*;
use async_trait::async_trait;
use billrun_domain::ids::{DocumentId, DocumentRequestId, RunId};

#[async_trait]
impl DocumentRequestStore for MemoryStore {
    async fn create_document_request(&self, request: &DocumentRequest) -> StoreResult<()> {
        let mut g = self.inner.lock();
        if g.doc_requests.contains_key(&request.id) {
            return Err(StoreError::Conflict(format!(
                "document request {} exists",
                request.id
            )));
        }
        g.doc_requests.insert(request.id, (request.clone(), 0, 0));
        g.latest_doc_request.insert(request.run_id, request.id);
        Ok(())
    }

    async fn get_document_request(
        &self,
        id: DocumentRequestId,
    ) -> StoreResult<Option<(DocumentRequest, u64, u64)>> {
        Ok(self.inner.lock().doc_requests.get(&id).cloned())
    }

    async fn latest_document_request(&self, run: RunId) -> StoreResult<Option<DocumentRequestId>> {
        Ok(self.inner.lock().latest_doc_request.get(&run).copied())
    }

    async fn record_document_files(&self, files: &[DocumentFile]) -> StoreResult<u64> {
        let mut g = self.inner.lock();
        let g = &mut *g;
        let mut recorded = 0;
        for file in files {
            let Some(r) = g.doc_requests.get_mut(&file.request_id) else {
                return Err(StoreError::fatal(format!(
                    "document request {} does not exist",
                    file.request_id
                )));
            };
            if !g.doc_results.insert((file.request_id, file.document_id)) {
                continue;
            }
            match file.status {
                GenerationStatus::Generated => r.1 += 1,
                GenerationStatus::Failed => r.2 += 1,
            }
            g.doc_files.insert(file.document_id, file.clone());
            recorded += 1;
        }
        Ok(recorded)
    }

    async fn document_file(&self, document: DocumentId) -> StoreResult<Option<DocumentFile>> {
        Ok(self.inner.lock().doc_files.get(&document).cloned())
    }
}
