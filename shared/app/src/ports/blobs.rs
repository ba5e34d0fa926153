//! Files (rendered documents), addressed by key.

use super::StoreResult;
use async_trait::async_trait;
/// Files (rendered documents), addressed by key.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores the object unless one with the key exists: `Ok(false)` then, and the
    /// object is left as it was. Keys are content-addressed (`docgen::document_key`), so
    /// an existing object holds the same bytes. S3: one PutObject with
    /// `If-None-Match: *` (412 when the key exists), which needs only `s3:PutObject` — a
    /// HeadObject first would need `s3:ListBucket` to tell a missing key (404) from a
    /// forbidden one (403).
    async fn put_blob(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> StoreResult<bool>;
    async fn get_blob(&self, key: &str) -> StoreResult<Option<Vec<u8>>>;
    /// The `length` bytes of the object from byte `offset` (one PDF of a pack): S3, a
    /// GetObject with `Range: bytes=offset-(offset+length-1)`. `None` when no object has
    /// the key; a range the object does not hold in full is a fatal error.
    async fn get_blob_range(
        &self,
        key: &str,
        offset: u64,
        length: u64,
    ) -> StoreResult<Option<Vec<u8>>>;
}

/// The `Range` header value of `length` bytes from `offset` (`length` > 0).
pub fn byte_range(offset: u64, length: u64) -> StoreResult<String> {
    let last = length
        .checked_sub(1)
        .and_then(|l| offset.checked_add(l))
        .ok_or_else(|| {
            crate::error::StoreError::fatal(format!(
                "no byte range of {length} bytes from {offset}"
            ))
        })?;
    Ok(format!("bytes={offset}-{last}"))
}

/// `bytes[offset..offset + length]`, or the fatal error of a range the object does not
/// hold in full.
pub fn slice_range(key: &str, bytes: &[u8], offset: u64, length: u64) -> StoreResult<Vec<u8>> {
    let range = usize::try_from(offset)
        .ok()
        .zip(usize::try_from(length).ok())
        .and_then(|(o, l)| Some(o..o.checked_add(l)?))
        .filter(|r| r.end <= bytes.len() && !r.is_empty());
    match range {
        Some(r) => Ok(bytes[r].to_vec()),
        None => Err(crate::error::StoreError::fatal(format!(
            "object {key} ({} bytes) does not hold {length} bytes from {offset}",
            bytes.len()
        ))),
    }
}
