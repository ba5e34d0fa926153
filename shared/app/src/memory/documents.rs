//! Documents in memory.

use super::MemoryStore;
use crate::error::StoreError;
use crate::model::audit::AuditEvent;
use crate::model::*;
use crate::ports::*;
use async_trait::async_trait;
use billrun_domain::document::DocumentStatus;
use billrun_domain::ids::{DocumentId, RunId};

#[async_trait]
impl DocumentStore for MemoryStore {
    async fn get_document(&self, id: DocumentId) -> StoreResult<Option<StoredDocument>> {
        Ok(self
            .inner
            .lock()
            .documents
            .get(&id)
            .map(|d| StoredDocument::clone(d)))
    }

    async fn round_documents(
        &self,
        run: RunId,
        round: u32,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<DocumentPage> {
        let g = self.inner.lock();
        // The cursor is the position of the next document of the round.
        let offset: usize = match cursor {
            None => 0,
            Some(c) => c
                .parse()
                .map_err(|_| StoreError::fatal(format!("bad document cursor '{c}'")))?,
        };
        let mut ids = g
            .run_documents
            .get(&run)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(|((r, _, _), _)| *r == round)
            .map(|(_, id)| id)
            .skip(offset);
        let documents: Vec<StoredDocument> = ids
            .by_ref()
            .take(limit)
            .filter_map(|id| g.documents.get(id))
            .map(|d| StoredDocument::clone(d))
            .collect();
        let next = ids
            .next()
            .is_some()
            .then(|| (offset + documents.len()).to_string());
        Ok(DocumentPage { documents, next })
    }

    async fn run_documents(
        &self,
        run: RunId,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<DocumentPage> {
        let g = self.inner.lock();
        // The cursor is the position of the next document.
        let offset: usize = match cursor {
            None => 0,
            Some(c) => c
                .parse()
                .map_err(|_| StoreError::fatal(format!("bad document cursor '{c}'")))?,
        };
        let documents: Vec<StoredDocument> = g
            .run_documents
            .get(&run)
            .into_iter()
            .flat_map(|m| m.values())
            .skip(offset)
            .take(limit)
            .filter_map(|id| g.documents.get(id))
            .map(|d| StoredDocument::clone(d))
            .collect();
        let next = (documents.len() == limit).then(|| (offset + limit).to_string());
        Ok(DocumentPage { documents, next })
    }

    async fn assign_numbers(
        &self,
        _run: RunId,
        _round: u32,
        numbers: &[Numbered],
    ) -> StoreResult<()> {
        let mut g = self.inner.lock();
        for Numbered { id, number: n, .. } in numbers {
            let d = g
                .documents
                .get_mut(id)
                .ok_or_else(|| StoreError::fatal(format!("document {id} does not exist")))?;
            match &d.document.number {
                Some(existing) if existing != n => {
                    return Err(StoreError::Conflict(format!(
                        "document {id} already has number {existing}"
                    )))
                }
                _ => d.document.number = Some(n.clone()),
            }
        }
        Ok(())
    }

    async fn set_document_statuses(
        &self,
        ids: &[DocumentId],
        from: &[DocumentStatus],
        to: DocumentStatus,
        by: Option<&str>,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        let mut g = self.inner.lock();
        for id in ids {
            let Some(d) = g.documents.get_mut(id) else {
                continue;
            };
            let before = d.document.status;
            if from.contains(&before) {
                d.document.status = to;
                d.set_actor(to, by);
                let run = d.document.run_id;
                let entry = AuditEvent::of_document_status(*id, run, before, to, by, at);
                super::audit::record(&mut g, entry);
            }
        }
        Ok(())
    }

    async fn set_run_status(&self, run: RunId, status: DocumentStatus) -> StoreResult<()> {
        let mut g = self.inner.lock();
        let ids: Vec<DocumentId> = g
            .run_documents
            .get(&run)
            .map(|m| m.values().copied().collect())
            .unwrap_or_default();
        for id in ids {
            if let Some(d) = g.documents.get_mut(&id) {
                // A document corrected alone keeps its correction.
                if !matches!(
                    d.document.status,
                    DocumentStatus::Canceled | DocumentStatus::Voided
                ) {
                    d.document.status = status;
                }
            }
        }
        Ok(())
    }
}
