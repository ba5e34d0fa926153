//! Documents of runs.

use super::StoreResult;
use crate::model::{DocumentPage, Numbered, StoredDocument};
use async_trait::async_trait;
use billrun_domain::ids::{DocumentId, RunId};
/// Documents of runs.
#[async_trait]
pub trait DocumentStore: Send + Sync {
    async fn get_document(&self, id: DocumentId) -> StoreResult<Option<StoredDocument>>;
    /// A run's documents of one round in numbering order (byte-wise accountId, groupKey),
    /// after `cursor` (`None`: the first), at most `limit`; `next` is `None` after the
    /// last. Once every account of the round has an outcome the pages are stable, so a
    /// stored cursor resumes where it stopped.
    async fn round_documents(
        &self,
        run: RunId,
        round: u32,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<DocumentPage>;
    /// A run's documents in numbering order, from `cursor` (`None`: the first), at most
    /// `limit`.
    async fn run_documents(
        &self,
        run: RunId,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<DocumentPage>;
    /// Sets the numbers of a page of the run's round-`round` documents, in numbering
    /// order; setting the same numbers again is a no-op. Read back with the documents.
    async fn assign_numbers(&self, run: RunId, round: u32, numbers: &[Numbered])
        -> StoreResult<()>;
    /// Moves every document of the run to `status` (post).
    async fn set_run_status(
        &self,
        run: RunId,
        status: billrun_domain::document::DocumentStatus,
    ) -> StoreResult<()>;
    /// Moves each of `ids` whose status is one of `from` to `to`, with `by` as the one
    /// who did ([`StoredDocument::set_actor`]) at `at`, each with a change conditioned
    /// on its status and written atomically with its audit entry
    /// ([`crate::model::audit::AuditEvent::of_document_status`]); the others stay as
    /// they are (setting `to` again is a no-op). Callers pass documents they read in one
    /// of `from` (approve, post a selection).
    async fn set_document_statuses(
        &self,
        ids: &[DocumentId],
        from: &[billrun_domain::document::DocumentStatus],
        to: billrun_domain::document::DocumentStatus,
        by: Option<&str>,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()>;
}
