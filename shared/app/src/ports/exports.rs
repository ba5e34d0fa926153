//! Export records and the files they describe.

use super::StoreResult;
use crate::model::exports::{Export, UploadId, UploadedPart};
use async_trait::async_trait;
use billrun_domain::ids::ExportId;
use std::time::Duration;

/// What [`ExportStore::create_export`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportCreated {
    New,
    /// An export of the id exists: nothing was written.
    Exists,
}

/// Export records.
#[async_trait]
pub trait ExportStore: Send + Sync {
    /// Stores a new export unless one of its id exists.
    async fn create_export(&self, export: &Export) -> StoreResult<ExportCreated>;
    async fn get_export(&self, id: ExportId) -> StoreResult<Option<Export>>;
    /// Replaces the stored export with `export` if the stored one is Pending at
    /// `export.version - 1`: `false` (nothing written) when another writer moved it
    /// first. Progress, completion and failure are all such writes.
    async fn save_export(&self, export: &Export) -> StoreResult<bool>;
}

/// Files written in parts, so that a writer holds one part in memory whatever the
/// file's size: S3 multipart uploads; locally, files in the out folder.
#[async_trait]
pub trait ExportFiles: Send + Sync {
    /// Starts an upload to `key`; nothing is visible at `key` until it is completed.
    async fn begin_upload(&self, key: &str, content_type: &str) -> StoreResult<UploadId>;
    /// Uploads part `number` (1-based; every part but the last at least 5 MiB on S3).
    /// Uploading a number again replaces that part.
    async fn upload_part(
        &self,
        key: &str,
        upload: &UploadId,
        number: u32,
        bytes: Vec<u8>,
    ) -> StoreResult<UploadedPart>;
    /// Makes the parts, in order, the object at `key` (replacing one there), at once.
    async fn complete_upload(
        &self,
        key: &str,
        upload: &UploadId,
        parts: &[UploadedPart],
    ) -> StoreResult<()>;
    /// Drops an unfinished upload and its parts (best effort: a lifecycle rule on S3
    /// removes those left behind).
    async fn abort_upload(&self, key: &str, upload: &UploadId) -> StoreResult<()>;
    /// A URL that downloads `key` without credentials for `ttl` (an S3 presigned GET),
    /// or `None` when the store has none and the API serves the file
    /// ([`Self::read_file_range`]).
    async fn download_url(&self, key: &str, ttl: Duration) -> StoreResult<Option<String>>;
    /// Up to `length` bytes of the object from `offset` (fewer at its end); `None` when
    /// no object has the key.
    async fn read_file_range(
        &self,
        key: &str,
        offset: u64,
        length: u64,
    ) -> StoreResult<Option<Vec<u8>>>;
}
