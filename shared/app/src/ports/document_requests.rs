//! Document generation requests and their results.

use super::StoreResult;
use crate::model::documents::{DocumentFile, DocumentRequest};
use async_trait::async_trait;
use billrun_domain::ids::{DocumentId, DocumentRequestId, RunId};
/// Generation requests and results.
#[async_trait]
pub trait DocumentRequestStore: Send + Sync {
    /// Stores a new request with zero counters and makes it its run's latest.
    async fn create_document_request(&self, request: &DocumentRequest) -> StoreResult<()>;
    /// The request with its (generated, failed) counters.
    async fn get_document_request(
        &self,
        id: DocumentRequestId,
    ) -> StoreResult<Option<(DocumentRequest, u64, u64)>>;
    async fn latest_document_request(&self, run: RunId) -> StoreResult<Option<DocumentRequestId>>;
    /// Records the results of a chunk's documents: each (request, document) once,
    /// atomically with the request's counters and the document's latest file record.
    /// Returns how many were recorded now; those recorded already (a redelivery) are
    /// left as they were and not counted again.
    async fn record_document_files(&self, files: &[DocumentFile]) -> StoreResult<u64>;
    /// [`Self::record_document_files`] of one: `false` when it was recorded already.
    async fn record_document_file(&self, file: &DocumentFile) -> StoreResult<bool> {
        Ok(self
            .record_document_files(std::slice::from_ref(file))
            .await?
            == 1)
    }
    async fn document_file(&self, document: DocumentId) -> StoreResult<Option<DocumentFile>>;
}
