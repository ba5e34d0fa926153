//! Exports of a run's documents or lines written to a file (S3; locally, the out
//! folder) by a queue worker, for runs too large to stream through the API.

use billrun_domain::export::{ExportContent, ExportFormat};
use billrun_domain::ids::{ExportId, RunId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Bytes of an export uploaded per part: S3 takes parts of 5 MiB and more (but the
/// last), and a part is what the writer holds in memory.
pub const EXPORT_PART_BYTES: usize = 8 * 1024 * 1024;

/// Documents read per page while writing an export.
pub const EXPORT_PAGE: usize = 500;

/// Parts one message uploads before it hands the export on to a new message (its
/// progress stored): a Lambda invocation stays well inside its timeout whatever the
/// run's size (four parts of 8 MiB are ~60,000 document rows).
pub const EXPORT_PARTS_PER_MESSAGE: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExportStatus {
    /// Queued or being written.
    Pending,
    /// The file is whole and can be downloaded.
    Completed,
    /// Given up; `error` says why.
    Failed,
}

/// An export as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Export {
    pub id: ExportId,
    pub run_id: RunId,
    pub content: ExportContent,
    pub format: ExportFormat,
    pub status: ExportStatus,
    /// The object's key in the file store ([`export_key`]).
    pub key: String,
    /// Rows written (without the CSV header), once Completed.
    pub rows: u64,
    /// The file's size, once Completed.
    pub bytes: u64,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Bumped by every write after the first; a write is conditioned on the stored
    /// version being the one before.
    #[serde(default)]
    pub version: u64,
    /// The upload under way, while Pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<UploadProgress>,
}

/// How far an export's upload has come: the parts uploaded, the position of the last
/// document they hold, and whether every row is uploaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadProgress {
    pub upload: String,
    pub parts: Vec<UploadedPart>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<crate::model::listing::DocumentPosition>,
    pub rows: u64,
    pub bytes: u64,
    /// Every row is in the parts: what is left is completing the upload.
    pub uploaded: bool,
}

impl Export {
    /// A new export of `run`, Pending.
    pub fn pending(
        id: ExportId,
        run_id: RunId,
        content: ExportContent,
        format: ExportFormat,
        now: DateTime<Utc>,
    ) -> Export {
        Export {
            id,
            run_id,
            content,
            format,
            status: ExportStatus::Pending,
            key: export_key(run_id, id, format),
            rows: 0,
            bytes: 0,
            created_at: now,
            completed_at: None,
            error: None,
            version: 0,
            progress: None,
        }
    }

    /// This export with `change` applied and its version bumped: the next write.
    pub fn next(&self, change: impl FnOnce(&mut Export)) -> Export {
        let mut next = self.clone();
        change(&mut next);
        next.version = self.version + 1;
        next
    }

    /// Whether `other` asks for the same export (an `Idempotency-Key` replay).
    pub fn same_request(&self, other: &Export) -> bool {
        (self.run_id, self.content, self.format) == (other.run_id, other.content, other.format)
    }

    /// The file name a download offers.
    pub fn file_name(&self) -> String {
        format!(
            "run-{}-{}.{}",
            self.run_id,
            billrun_domain::export::wire_name(&self.content),
            self.format.extension()
        )
    }
}

/// The one place an export's object key is built: `exports/{runId}/{exportId}.{ext}`.
pub fn export_key(run: RunId, id: ExportId, format: ExportFormat) -> String {
    format!("exports/{run}/{id}.{}", format.extension())
}

/// An upload in progress (S3's UploadId; opaque to the use cases).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadId(pub String);

/// A part uploaded: its number (1-based) and the store's tag for it (S3's ETag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadedPart {
    pub number: u32,
    pub tag: String,
}

/// Where a finished export is downloaded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Download {
    /// A time-limited URL of the file store itself (an S3 presigned GET): the API
    /// redirects there, so that a large file does not pass through API Gateway.
    Url(String),
    /// The API serves the file, read from the store in ranges.
    Served,
}
