//! Faults of document generation's requests and results.

use super::Faulty;
use async_trait::async_trait;
use billrun_app::model::documents::{DocumentFile, DocumentRequest};
use billrun_app::ports::*;
use billrun_domain::ids::{DocumentId, DocumentRequestId, RunId};

#[async_trait]
impl<T: ?Sized + DocumentRequestStore> DocumentRequestStore for Faulty<T> {
    async fn create_document_request(&self, request: &DocumentRequest) -> StoreResult<()> {
        self.plan
            .write(
                "create_document_request",
                self.inner.create_document_request(request),
            )
            .await
    }
    async fn get_document_request(
        &self,
        id: DocumentRequestId,
    ) -> StoreResult<Option<(DocumentRequest, u64, u64)>> {
        self.plan
            .read("get_document_request", self.inner.get_document_request(id))
            .await
    }
    async fn latest_document_request(&self, run: RunId) -> StoreResult<Option<DocumentRequestId>> {
        self.plan
            .read(
                "latest_document_request",
                self.inner.latest_document_request(run),
            )
            .await
    }
    async fn record_document_files(&self, files: &[DocumentFile]) -> StoreResult<u64> {
        self.plan
            .write(
                "record_document_files",
                self.inner.record_document_files(files),
            )
            .await
    }
    async fn document_file(&self, document: DocumentId) -> StoreResult<Option<DocumentFile>> {
        self.plan
            .read("document_file", self.inner.document_file(document))
            .await
    }
}
