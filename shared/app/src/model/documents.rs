//! Document templates, generation requests, their results and PDF packs.

use super::StoredDocument;
use billrun_domain::ids::{DocumentId, DocumentRequestId, RunId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Documents per generation message, and so per pack (one S3 object, one PutObject).
/// At $0.005 per 1,000 PUTs a pack of 25 costs $0.20 per 1M invoices instead of $5; a
/// chunk is ~100 ms of rendering (4.1 ms a PDF), ~0.9 MB of pack, and its file records
/// are one DynamoDB transaction of 2 × 25 + 1 = 51 items (the limit is 100).
pub const DOCUMENTS_PER_PACK: usize = 25;

/// The content type of a pack (PDFs back to back; the file records say where each is).
pub const PACK_CONTENT_TYPE: &str = "application/octet-stream";

/// Hex characters of the SHA-256 of a file's bytes in its key.
const HASH_PREFIX: usize = 16;

/// An invoice document template. `content` is the template JSON the renderer reads
/// (billrun-documents: seller block, logo, accent colour, footer, locale), checked by the
/// renderer ([`crate::ports::DocumentRenderer`]) when the template is PUT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentTemplate {
    pub id: String,
    pub name: String,
    pub content: String,
    pub active: bool,
    pub updated_at: DateTime<Utc>,
}

/// A generation request as stored (its counters are stored beside it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentRequest {
    pub id: DocumentRequestId,
    pub run_id: RunId,
    /// The template active when the request was made; every document of the request
    /// is rendered with it.
    pub template_id: String,
    /// Documents the request covers (one message per [`DOCUMENTS_PER_PACK`]).
    pub documents: u64,
    pub created_at: DateTime<Utc>,
    /// The run's round when the request was made: the request covers the run's numbered
    /// documents of this round and earlier (a later retry of failed accounts adds
    /// documents it does not cover).
    #[serde(default)]
    pub round: u32,
}

impl DocumentRequest {
    /// Whether the request covers `d` (its messages are those documents').
    pub fn covers(&self, d: &StoredDocument) -> bool {
        d.document.run_id == self.run_id && d.document.number.is_some() && d.round <= self.round
    }
}

/// How far a request (or a run's latest request) has come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentCounters {
    pub requested: u64,
    pub generated: u64,
    pub failed: u64,
}

impl DocumentCounters {
    pub fn status(&self) -> DocumentRequestStatus {
        DocumentRequestStatus::of(self.requested, self.generated + self.failed, self.failed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DocumentRequestStatus {
    Pending,
    InProgress,
    Completed,
    CompletedWithErrors,
}

impl DocumentRequestStatus {
    /// The status of a request of `requested` items of which `done` have a result,
    /// `failed` of them a failure (document generation and email delivery alike).
    pub fn of(requested: u64, done: u64, failed: u64) -> DocumentRequestStatus {
        if done >= requested {
            if failed > 0 {
                DocumentRequestStatus::CompletedWithErrors
            } else {
                DocumentRequestStatus::Completed
            }
        } else if done == 0 {
            DocumentRequestStatus::Pending
        } else {
            DocumentRequestStatus::InProgress
        }
    }
}

/// A request as `GET /v1/document-requests/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentRequestView {
    pub id: DocumentRequestId,
    pub run_id: RunId,
    pub status: DocumentRequestStatus,
    pub template_id: String,
    pub counters: DocumentCounters,
    pub created_at: DateTime<Utc>,
}

impl DocumentRequestView {
    pub fn new(r: DocumentRequest, generated: u64, failed: u64) -> DocumentRequestView {
        let counters = DocumentCounters {
            requested: r.documents,
            generated,
            failed,
        };
        DocumentRequestView {
            id: r.id,
            run_id: r.run_id,
            status: counters.status(),
            template_id: r.template_id,
            counters,
            created_at: r.created_at,
        }
    }
}

/// Whether a document's PDF file was generated: its `documentStatus`, beside the
/// invoice `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GenerationStatus {
    Generated,
    Failed,
}

/// What [`crate::App::request_documents_once`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOutcome {
    /// Stored and every message queued.
    New,
    /// The key's request existed: its missing messages were sent again.
    Replayed,
    /// Stored, but a queue send failed part-way (the error): replaying the key or
    /// [`crate::App::resend_documents`] sends the missing messages.
    QueueFailed(crate::error::AppError),
}

/// A document's `documentStatus` in the API, beside its invoice `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DocumentGenerationStatus {
    /// No generation request of its run covers it.
    NotRequested,
    /// Its run's latest request covers it and has no result for it yet.
    Pending,
    Generated,
    Failed,
}

/// The `documentStatus` of a document and, when Failed, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentGeneration {
    pub status: DocumentGenerationStatus,
    pub reason: Option<String>,
}

/// The latest generation result of one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentFile {
    pub document_id: DocumentId,
    pub request_id: DocumentRequestId,
    pub status: GenerationStatus,
    /// Why generation failed.
    pub reason: Option<String>,
    /// The object key of the pack holding the PDF (Generated only).
    pub key: Option<String>,
    /// Where the PDF is in the pack. Absent in a record of the layout before packs,
    /// whose object is the PDF alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<ByteRange>,
    pub at: DateTime<Utc>,
}

/// A PDF's place in its pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByteRange {
    pub offset: u64,
    pub length: u64,
}

/// A chunk's PDFs back to back, and where each is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pack {
    pub bytes: Vec<u8>,
    pub entries: Vec<(DocumentId, ByteRange)>,
}

impl Pack {
    /// The PDFs concatenated in the order given.
    pub fn of(pdfs: &[(DocumentId, Vec<u8>)]) -> Pack {
        let mut pack = Pack {
            bytes: Vec::with_capacity(pdfs.iter().map(|(_, b)| b.len()).sum()),
            entries: Vec::with_capacity(pdfs.len()),
        };
        for (id, pdf) in pdfs {
            let range = ByteRange {
                offset: pack.bytes.len() as u64,
                length: pdf.len() as u64,
            };
            pack.bytes.extend_from_slice(pdf);
            pack.entries.push((*id, range));
        }
        pack
    }
}

/// The object key of a pack: its run, the number of its first document and a hash of
/// its bytes.
pub fn pack_key(run: RunId, first_number: &str, bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex = super::lower_hex(&digest[..HASH_PREFIX / 2]);
    format!("documents/{run}/pack-{first_number}-{hex}.bin")
}

/// The version of a template's content its sample is rendered from: the SHA-256 of the
/// content, in lower-case hex. The sample depends on the content alone, so the same
/// content always names the same sample (docs/decisions.md "A template's sample, rendered
/// by the documents worker").
pub fn template_digest(content: &str) -> String {
    super::lower_hex(&Sha256::digest(content.as_bytes()))
}

/// The object key of a template's sample PDF: its template and the digest of the content
/// it was rendered from ([`template_digest`]), so a sample of older content is never
/// read as the current one. Under `documents/`, where the PDFs are.
pub fn template_sample_key(template_id: &str, digest: &str) -> String {
    format!("documents/templates/{template_id}/sample-{digest}.pdf")
}
