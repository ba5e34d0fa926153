//! Export files in memory, and the file store of a composition that writes none.

use crate::error::StoreError;
use crate::model::exports::{UploadId, UploadedPart};
use crate::ports::*;
use async_trait::async_trait;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Export files in memory: uploads' parts until completed, then the whole file.
#[derive(Default)]
pub struct MemoryExportFiles {
    inner: Mutex<Files>,
}

#[derive(Default)]
struct Files {
    next_upload: u64,
    /// Per upload: its key and parts by number.
    uploads: HashMap<String, (String, BTreeMap<u32, Vec<u8>>)>,
    files: HashMap<String, Vec<u8>>,
}

impl MemoryExportFiles {
    /// The file at `key`, whole.
    pub fn file(&self, key: &str) -> Option<Vec<u8>> {
        self.inner.lock().files.get(key).cloned()
    }

    /// Uploads begun and neither completed nor aborted.
    pub fn open_uploads(&self) -> usize {
        self.inner.lock().uploads.len()
    }
}

#[async_trait]
impl ExportFiles for MemoryExportFiles {
    async fn begin_upload(&self, key: &str, _content_type: &str) -> StoreResult<UploadId> {
        let mut g = self.inner.lock();
        g.next_upload += 1;
        let id = format!("upload-{}", g.next_upload);
        g.uploads
            .insert(id.clone(), (key.to_string(), BTreeMap::new()));
        Ok(UploadId(id))
    }

    async fn upload_part(
        &self,
        key: &str,
        upload: &UploadId,
        number: u32,
        bytes: Vec<u8>,
    ) -> StoreResult<UploadedPart> {
        let mut g = self.inner.lock();
        let Some((k, parts)) = g.uploads.get_mut(&upload.0).filter(|(k, _)| k == key) else {
            return Err(StoreError::fatal(format!(
                "no upload {} of {key}",
                upload.0
            )));
        };
        let tag = format!("{k}#{number}#{}", bytes.len());
        parts.insert(number, bytes);
        Ok(UploadedPart { number, tag })
    }

    async fn complete_upload(
        &self,
        key: &str,
        upload: &UploadId,
        parts: &[UploadedPart],
    ) -> StoreResult<()> {
        let mut g = self.inner.lock();
        let Some((_, stored)) = g.uploads.remove(&upload.0).filter(|(k, _)| k == key) else {
            return Err(StoreError::fatal(format!(
                "no upload {} of {key}",
                upload.0
            )));
        };
        let mut file = Vec::new();
        for p in parts {
            let bytes = stored
                .get(&p.number)
                .ok_or_else(|| StoreError::fatal(format!("no part {} of {key}", p.number)))?;
            file.extend_from_slice(bytes);
        }
        g.files.insert(key.to_string(), file);
        Ok(())
    }

    async fn abort_upload(&self, _key: &str, upload: &UploadId) -> StoreResult<()> {
        self.inner.lock().uploads.remove(&upload.0);
        Ok(())
    }

    async fn download_url(&self, _key: &str, _ttl: Duration) -> StoreResult<Option<String>> {
        Ok(None)
    }

    async fn read_file_range(
        &self,
        key: &str,
        offset: u64,
        length: u64,
    ) -> StoreResult<Option<Vec<u8>>> {
        Ok(self
            .inner
            .lock()
            .files
            .get(key)
            .map(|f| range(f, offset, length)))
    }
}

/// Up to `length` bytes of `bytes` from `offset` (none past the end).
pub fn range(bytes: &[u8], offset: u64, length: u64) -> Vec<u8> {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let end = usize::try_from(offset.saturating_add(length))
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    bytes[start..end].to_vec()
}

/// The file store of a composition that writes no exports (a function that never
/// handles an export message): every call is a fatal error naming what is missing.
pub struct NoExportFiles;

fn absent() -> StoreError {
    StoreError::fatal("this composition has no export file store")
}

#[async_trait]
impl ExportFiles for NoExportFiles {
    async fn begin_upload(&self, _: &str, _: &str) -> StoreResult<UploadId> {
        Err(absent())
    }
    async fn upload_part(
        &self,
        _: &str,
        _: &UploadId,
        _: u32,
        _: Vec<u8>,
    ) -> StoreResult<UploadedPart> {
        Err(absent())
    }
    async fn complete_upload(&self, _: &str, _: &UploadId, _: &[UploadedPart]) -> StoreResult<()> {
        Err(absent())
    }
    async fn abort_upload(&self, _: &str, _: &UploadId) -> StoreResult<()> {
        Err(absent())
    }
    async fn download_url(&self, _: &str, _: Duration) -> StoreResult<Option<String>> {
        Err(absent())
    }
    async fn read_file_range(&self, _: &str, _: u64, _: u64) -> StoreResult<Option<Vec<u8>>> {
        Err(absent())
    }
}
