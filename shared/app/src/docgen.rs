//! Invoice document generation: a request for the PDF files of a run's
//! Draft, Approved and Posted documents, one queue message per chunk of up to
//! [`DOCUMENTS_PER_PACK`] documents in numbering order. Each document is rendered with
//! the template that was active when the request was made; a chunk's PDFs are stored
//! concatenated as one object (a pack) under a content-addressed key
//! (`documents/{runId}/pack-{first number}-{sha256 prefix}.bin`), so that regenerating
//! unchanged documents writes nothing new, and each document's file record names the
//! pack with the byte offset and length of its PDF. One PutObject per chunk instead of
//! one per document: docs/decisions.md ("PDF packs").

pub use crate::model::documents::*;
/// The port under its former path.
pub use crate::ports::DocumentRequestStore;

use crate::error::AppError;
use crate::error::ConflictCode;
use crate::model::{Message, StoredDocument};
use crate::ports::*;
use billrun_domain::document::DocumentStatus;
use billrun_domain::ids::{DocumentId, DocumentRequestId, RunId};
use billrun_domain::run::RunStatus;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tracing::{info_span, Instrument};

/// Messages sent per queue call.
const SEND_CHUNK: usize = 500;
/// The UUID v5 namespace of request ids derived from an `Idempotency-Key`.
const IDEMPOTENCY_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x5d1c_2b6e_8f43_4e0a_9c7d_1a2b_3c4d_5e6f);

/// Document generation over the ports it uses.
#[derive(Clone)]
pub struct DocumentGenerator {
    pub runs: Arc<dyn RunStore>,
    pub documents: Arc<dyn DocumentStore>,
    /// The account a document is rendered for.
    pub book: Arc<dyn BookStore>,
    pub document_requests: Arc<dyn DocumentRequestStore>,
    pub templates: Arc<dyn TemplateStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub queue: Arc<dyn WorkQueue>,
    pub renderer: Arc<dyn DocumentRenderer>,
    pub clock: Arc<dyn Clock>,
}

impl DocumentGenerator {
    /// Creates a request for the PDFs of the run's Draft, Approved and Posted documents
    /// and queues one message per [`DOCUMENTS_PER_PACK`] of them, in numbering order. Refused, with nothing stored or queued,
    /// when no template is active or the run has not completed.
    pub async fn request_documents(&self, run_id: RunId) -> Result<DocumentRequestView, AppError> {
        match self.request_documents_once(run_id, None).await? {
            (view, RequestOutcome::QueueFailed(e)) => Err(AppError::transient(format!(
                "document request {} is stored but queueing its messages failed: {e}",
                view.id
            ))),
            (view, _) => Ok(view),
        }
    }

    /// [`DocumentGenerator::request_documents`] with an `Idempotency-Key`: the request's id is derived
    /// from the run and the key, so a replay finds the request it created and sends the
    /// messages of its documents that have no result yet (those a failed queue send left
    /// out, and any still in flight: a duplicate message changes nothing).
    pub async fn request_documents_once(
        &self,
        run_id: RunId,
        idempotency_key: Option<&str>,
    ) -> Result<(DocumentRequestView, RequestOutcome), AppError> {
        let id = match idempotency_key {
            Some(key) => DocumentRequestId(uuid::Uuid::new_v5(
                &IDEMPOTENCY_NAMESPACE,
                format!("{run_id}/{key}").as_bytes(),
            )),
            None => DocumentRequestId(uuid::Uuid::new_v4()),
        };
        if idempotency_key.is_some() {
            if let Some((existing, _, _)) = self.document_requests.get_document_request(id).await? {
                if existing.run_id == run_id {
                    return Ok((self.resend_documents(id).await?.0, RequestOutcome::Replayed));
                }
            }
        }
        let run = crate::pipeline::stored_run(&*self.runs, run_id).await?;
        // Generation requests and files are items of their own, which a preview never
        // writes.
        crate::pipeline::refuse_preview(&run, "rendered")?;
        let template = self.templates.active_template().await?.ok_or_else(|| {
            AppError::conflict(
                ConflictCode::NoActiveTemplate,
                "no active invoice document template",
            )
        })?;
        if !matches!(
            run.status,
            RunStatus::Completed | RunStatus::CompletedWithErrors | RunStatus::Posted
        ) {
            return Err(AppError::conflict(
                ConflictCode::RunNotCompleted,
                format!(
                    "run {run_id} is {:?}; documents are generated for a completed run",
                    run.status
                ),
            ));
        }
        let mut request = DocumentRequest {
            id,
            run_id,
            template_id: template.id,
            documents: 0,
            created_at: self.clock.now(),
            round: run.round,
        };
        let ids: Vec<DocumentId> = self
            .stored_documents(run_id)
            .await?
            .into_iter()
            .filter(|d| {
                request.covers(d)
                    && matches!(
                        d.document.status,
                        DocumentStatus::Draft | DocumentStatus::Approved | DocumentStatus::Posted
                    )
            })
            .map(|d| d.document.id)
            .collect();
        request.documents = ids.len() as u64;
        match self
            .document_requests
            .create_document_request(&request)
            .await
        {
            Ok(()) => {}
            // A concurrent replay of the same key stored it first.
            Err(crate::error::StoreError::Conflict(_)) if idempotency_key.is_some() => {
                return Ok((self.resend_documents(id).await?.0, RequestOutcome::Replayed));
            }
            Err(e) => return Err(e.into()),
        }
        let view = DocumentRequestView::new(request, 0, 0);
        if ids.is_empty() {
            // Nothing to render: complete as made.
            self.note_completion(view.id).await?;
        }
        match self.send_document_messages(view.id, &ids).await {
            Ok(()) => Ok((view, RequestOutcome::New)),
            Err(e) => Ok((view, RequestOutcome::QueueFailed(e))),
        }
    }

    /// Sends again the messages of the request's documents that have no result for it
    /// yet (in chunks of [`DOCUMENTS_PER_PACK`]): a request whose queue send failed
    /// part-way completes after this. Returns the request and how many documents the
    /// messages sent cover.
    pub async fn resend_documents(
        &self,
        id: DocumentRequestId,
    ) -> Result<(DocumentRequestView, u64), AppError> {
        let (request, generated, failed) =
            self.document_requests
                .get_document_request(id)
                .await?
                .ok_or_else(|| AppError::NotFound(format!("document request {id}")))?;
        let mut missing = Vec::new();
        if generated + failed < request.documents {
            for d in self.stored_documents(request.run_id).await? {
                if !request.covers(&d) {
                    continue;
                }
                let recorded = self
                    .document_requests
                    .document_file(d.document.id)
                    .await?
                    .is_some_and(|f| f.request_id == id);
                if !recorded {
                    missing.push(d.document.id);
                }
            }
        }
        self.send_document_messages(id, &missing).await?;
        let view = self.document_request(id).await?;
        Ok((view, missing.len() as u64))
    }

    /// One message per [`DOCUMENTS_PER_PACK`] of `ids`, in their order.
    async fn send_document_messages(
        &self,
        request_id: DocumentRequestId,
        ids: &[DocumentId],
    ) -> Result<(), AppError> {
        send_chunks(&*self.queue, ids, DOCUMENTS_PER_PACK, |document_ids| {
            Message::Document {
                request_id,
                document_ids,
            }
        })
        .await
    }

    /// Every document of the run as stored (with its round), in numbering order.
    pub(crate) async fn stored_documents(
        &self,
        run: RunId,
    ) -> Result<Vec<StoredDocument>, AppError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .documents
                .run_documents(run, cursor.as_deref(), 1000)
                .await?;
            out.extend(page.documents);
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// The `documentStatus` of each document (one read of its file record each, and of
    /// its run's latest request once per run).
    pub async fn document_generations(
        &self,
        docs: &[StoredDocument],
    ) -> Result<Vec<DocumentGeneration>, AppError> {
        let mut latest: HashMap<RunId, Option<DocumentRequest>> = HashMap::new();
        let mut out = Vec::with_capacity(docs.len());
        for d in docs {
            let run = d.document.run_id;
            if let std::collections::hash_map::Entry::Vacant(e) = latest.entry(run) {
                let request = match self.document_requests.latest_document_request(run).await? {
                    Some(id) => self
                        .document_requests
                        .get_document_request(id)
                        .await?
                        .map(|r| r.0),
                    None => None,
                };
                e.insert(request);
            }
            let request = latest.get(&run).and_then(Option::as_ref);
            let file = self.document_requests.document_file(d.document.id).await?;
            let of_file = |f: DocumentFile| DocumentGeneration {
                status: match f.status {
                    GenerationStatus::Generated => DocumentGenerationStatus::Generated,
                    GenerationStatus::Failed => DocumentGenerationStatus::Failed,
                },
                reason: f.reason,
            };
            out.push(match (file, request) {
                (Some(f), Some(r)) if f.request_id == r.id => of_file(f),
                (_, Some(r)) if r.covers(d) => DocumentGeneration {
                    status: DocumentGenerationStatus::Pending,
                    reason: None,
                },
                (Some(f), _) => of_file(f),
                (None, _) => DocumentGeneration {
                    status: DocumentGenerationStatus::NotRequested,
                    reason: None,
                },
            });
        }
        Ok(out)
    }

    pub async fn document_request(
        &self,
        id: DocumentRequestId,
    ) -> Result<DocumentRequestView, AppError> {
        let (r, generated, failed) = self
            .document_requests
            .get_document_request(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("document request {id}")))?;
        Ok(DocumentRequestView::new(r, generated, failed))
    }

    /// Renders a chunk of a request's documents and stores their PDFs as one pack
    /// (unless an object with the same content-addressed key exists), then records each
    /// document Generated with its place in the pack; a document that cannot be
    /// rendered is recorded Failed with the reason and left out of the pack. Every
    /// document of the chunk is rendered while any has no result yet, so a redelivery
    /// after a partial record builds the same pack, finds the object and records only
    /// the rest; one whose documents are all recorded does nothing.
    pub async fn generate_documents(
        &self,
        request_id: DocumentRequestId,
        document_ids: &[DocumentId],
    ) -> Result<(), AppError> {
        let span = info_span!("generate_documents", request_id = %request_id,
            documents = document_ids.len());
        async move {
            let Some((request, _, _)) = self
                .document_requests
                .get_document_request(request_id)
                .await?
            else {
                return Ok(());
            };
            let mut pending = HashSet::new();
            for id in document_ids {
                let recorded = self
                    .document_requests
                    .document_file(*id)
                    .await?
                    .is_some_and(|f| f.request_id == request_id);
                if !recorded {
                    pending.insert(*id);
                }
            }
            if pending.is_empty() {
                // Recorded already (a redelivery): the request's completion may not
                // have been noticed before the process stopped.
                return self.note_completion(request_id).await;
            }
            let mut pdfs = Vec::new();
            let mut files = Vec::new();
            let mut first_number = None;
            let renderer = self.renderer(&request).await?;
            for id in document_ids {
                match self.render_document(&renderer, *id).await? {
                    Ok((number, bytes)) => {
                        first_number.get_or_insert(number);
                        pdfs.push((*id, bytes));
                    }
                    Err(reason) if pending.contains(id) => {
                        files.push(failed_file(request_id, *id, reason, self.clock.now()));
                    }
                    Err(_) => {}
                }
            }
            if let Some(first) = first_number {
                let pack = Pack::of(&pdfs);
                let key = pack_key(request.run_id, &first, &pack.bytes);
                // Not rewritten when it exists (unchanged documents): a conditional put.
                self.blobs
                    .put_blob(&key, pack.bytes, PACK_CONTENT_TYPE)
                    .await?;
                for (id, range) in pack.entries {
                    if pending.contains(&id) {
                        files.push(DocumentFile {
                            document_id: id,
                            request_id,
                            status: GenerationStatus::Generated,
                            reason: None,
                            key: Some(key.clone()),
                            range: Some(range),
                            at: self.clock.now(),
                        });
                    }
                }
            }
            self.document_requests.record_document_files(&files).await?;
            self.note_completion(request_id).await
        }
        .instrument(span)
        .await
    }

    /// Records the request's `document_request.completed` event on its run once every
    /// document of it has a result.
    async fn note_completion(&self, request_id: DocumentRequestId) -> Result<(), AppError> {
        let Some((request, generated, failed)) = self
            .document_requests
            .get_document_request(request_id)
            .await?
        else {
            return Ok(());
        };
        if generated + failed < request.documents {
            return Ok(());
        }
        crate::pipeline::announce_request(
            &*self.runs,
            &*self.clock,
            request.run_id,
            crate::model::events::RunEventType::DocumentRequestCompleted,
            request_id.0,
        )
        .await
    }

    /// Records the chunk's documents Failed (its message's last receive failed); those
    /// with a result already keep it.
    pub async fn give_up_documents(
        &self,
        request_id: DocumentRequestId,
        document_ids: &[DocumentId],
        reason: &str,
    ) -> Result<(), AppError> {
        let now = self.clock.now();
        let files: Vec<DocumentFile> = document_ids
            .iter()
            .map(|d| failed_file(request_id, *d, reason.into(), now))
            .collect();
        self.document_requests.record_document_files(&files).await?;
        self.note_completion(request_id).await
    }

    /// What every document of a request is rendered with, read once per chunk: the
    /// template (or why it cannot be used) and the run's invoice message.
    async fn renderer(&self, request: &DocumentRequest) -> Result<Renderer, AppError> {
        let template = match self.templates.get_template(&request.template_id).await? {
            None => Err(format!(
                "document template {} no longer exists",
                request.template_id
            )),
            Some(stored) => self
                .renderer
                .template(&stored.content)
                .map_err(|e| format!("document template {} is invalid: {e}", request.template_id)),
        };
        let run = self.runs.get_run(request.run_id).await?;
        Ok(Renderer {
            template,
            ctx: RenderContext {
                invoice_message: run.and_then(|r| r.request.invoice_message),
                credited_invoices: vec![],
            },
        })
    }

    /// The document's number and PDF; `Ok(Err(reason))` when it cannot be rendered
    /// (worth no retry); `Err` for storage failures.
    async fn render_document(
        &self,
        renderer: &Renderer,
        document_id: DocumentId,
    ) -> Result<Result<(String, Vec<u8>), String>, AppError> {
        let Some(stored) = self.documents.get_document(document_id).await? else {
            return Ok(Err(format!("document {document_id} does not exist")));
        };
        let document = stored.document;
        let Some(number) = document.number.clone() else {
            return Ok(Err(format!("document {document_id} has no number")));
        };
        let Some(book) = self.book.account_book(&document.account_id).await? else {
            return Ok(Err(format!(
                "account {} is not in the book",
                document.account_id
            )));
        };
        let template = match &renderer.template {
            Ok(t) => t,
            Err(reason) => return Ok(Err(reason.clone())),
        };
        Ok(template
            .render(&document, &book.account, &renderer.ctx)
            .map(|bytes| (number, bytes))
            .map_err(|e| e.to_string()))
    }

    /// The document's latest generated PDF: its range of its pack.
    pub async fn document_pdf(&self, id: DocumentId) -> Result<Option<Vec<u8>>, AppError> {
        let Some(file) = self.document_requests.document_file(id).await? else {
            return Ok(None);
        };
        let Some(key) = file.key else {
            return Ok(None);
        };
        Ok(match file.range {
            Some(r) => self.blobs.get_blob_range(&key, r.offset, r.length).await?,
            // A record of the layout before packs: the object is the PDF.
            None => self.blobs.get_blob(&key).await?,
        })
    }

    /// What `GET /v1/invoices/{id}/document` answers: the document's latest generated
    /// PDF (one ranged read of its pack).
    pub async fn document_download(&self, id: DocumentId) -> Result<Vec<u8>, AppError> {
        self.documents
            .get_document(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("document {id}")))?;
        self.document_pdf(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("generated PDF of document {id}")))
    }
}

/// One message per `per_message` of `ids` (in their order), sent [`SEND_CHUNK`] messages
/// per queue call.
pub(crate) async fn send_chunks(
    queue: &dyn WorkQueue,
    ids: &[DocumentId],
    per_message: usize,
    message: impl Fn(Vec<DocumentId>) -> Message,
) -> Result<(), AppError> {
    let messages: Vec<Message> = ids
        .chunks(per_message)
        .map(|chunk| message(chunk.to_vec()))
        .collect();
    for batch in messages.chunks(SEND_CHUNK) {
        queue.send(batch.to_vec()).await?;
    }
    Ok(())
}

/// The template (or why it cannot be used) and context of a request's documents.
struct Renderer {
    template: Result<Box<dyn RenderTemplate>, String>,
    ctx: RenderContext,
}

fn failed_file(
    request_id: DocumentRequestId,
    document_id: DocumentId,
    reason: String,
    at: DateTime<Utc>,
) -> DocumentFile {
    DocumentFile {
        document_id,
        request_id,
        status: GenerationStatus::Failed,
        reason: Some(reason),
        key: None,
        range: None,
        at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_pending_then_in_progress_then_completed_with_or_without_errors() {
        let c = |requested, generated, failed| DocumentCounters {
            requested,
            generated,
            failed,
        };
        assert_eq!(c(3, 0, 0).status(), DocumentRequestStatus::Pending);
        assert_eq!(c(3, 1, 0).status(), DocumentRequestStatus::InProgress);
        assert_eq!(c(3, 3, 0).status(), DocumentRequestStatus::Completed);
        assert_eq!(
            c(3, 2, 1).status(),
            DocumentRequestStatus::CompletedWithErrors
        );
        assert_eq!(c(0, 0, 0).status(), DocumentRequestStatus::Completed);
    }

    #[test]
    fn a_pack_key_names_the_run_the_first_number_and_a_hash_prefix_of_the_bytes() {
        let run = RunId(uuid::Uuid::nil());
        let k = pack_key(run, "INV-000000001", b"%PDF-1.7");
        assert!(k.starts_with(&format!("documents/{run}/pack-INV-000000001-")));
        assert!(k.ends_with(".bin"));
        assert_eq!(
            k.len(),
            format!("documents/{run}/pack-INV-000000001-.bin").len() + 16
        );
        assert_ne!(k, pack_key(run, "INV-000000001", b"%PDF-1.6"));
    }

    #[test]
    fn a_pack_holds_the_pdfs_back_to_back_and_each_entry_slices_one_out() {
        let ids: Vec<DocumentId> = (1..=3u128)
            .map(|i| DocumentId(uuid::Uuid::from_u128(i)))
            .collect();
        let pdfs = vec![
            (ids[0], b"%PDF-a\n%%EOF".to_vec()),
            (ids[1], b"%PDF-bb\n%%EOF\n".to_vec()),
            (ids[2], b"%PDF-ccc".to_vec()),
        ];
        let pack = Pack::of(&pdfs);
        assert_eq!(pack.bytes.len(), 12 + 14 + 8);
        assert_eq!(
            pack.entries.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            ids
        );
        assert_eq!(
            pack.entries[1].1,
            ByteRange {
                offset: 12,
                length: 14
            }
        );
        for ((_, range), (_, pdf)) in pack.entries.iter().zip(&pdfs) {
            let got = crate::ports::slice_range("k", &pack.bytes, range.offset, range.length);
            assert_eq!(got.as_ref(), Ok(pdf));
        }
        assert!(crate::ports::slice_range("k", &pack.bytes, 30, 7).is_err());
        assert!(crate::ports::slice_range("k", &pack.bytes, 0, 0).is_err());
        assert_eq!(
            crate::ports::byte_range(13, 15).as_deref(),
            Ok("bytes=13-27")
        );
        assert!(crate::ports::byte_range(13, 0).is_err());
        assert!(crate::ports::byte_range(u64::MAX, 2).is_err());
    }

    #[test]
    fn a_document_message_carries_a_chunk_and_one_queued_before_packs_reads_as_one() {
        let (r, d) = (DocumentRequestId(uuid::Uuid::nil()), uuid::Uuid::max());
        let chunk: Message = serde_json::from_str(&format!(
            r#"{{"type": "document", "requestId": "{}", "documentIds": ["{d}", "{d}"]}}"#,
            r.0
        ))
        .unwrap();
        assert!(
            matches!(&chunk, Message::Document { document_ids, .. } if document_ids.len() == 2)
        );
        let back: Message = serde_json::from_str(&serde_json::to_string(&chunk).unwrap()).unwrap();
        assert_eq!(back, chunk);
        let old: Message = serde_json::from_str(&format!(
            r#"{{"type": "document", "requestId": "{}", "documentId": "{d}"}}"#,
            r.0
        ))
        .unwrap();
        assert_eq!(
            old,
            Message::Document {
                request_id: r,
                document_ids: vec![DocumentId(d)]
            }
        );
    }
}
