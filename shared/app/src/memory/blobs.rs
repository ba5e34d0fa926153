//! Files in memory.

use crate::ports::*;
use async_trait::async_trait;
use parking_lot::Mutex;
use std::collections::HashMap;

/// Files in memory.
#[derive(Default)]
pub struct MemoryBlobs {
    blobs: Mutex<HashMap<String, (Vec<u8>, String)>>,
}

#[async_trait]
impl BlobStore for MemoryBlobs {
    async fn put_blob(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> StoreResult<bool> {
        let mut blobs = self.blobs.lock();
        if blobs.contains_key(key) {
            return Ok(false);
        }
        blobs.insert(key.to_string(), (bytes, content_type.to_string()));
        Ok(true)
    }

    async fn get_blob(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.blobs.lock().get(key).map(|(b, _)| b.clone()))
    }

    async fn get_blob_range(
        &self,
        key: &str,
        offset: u64,
        length: u64,
    ) -> StoreResult<Option<Vec<u8>>> {
        match self.blobs.lock().get(key) {
            None => Ok(None),
            Some((b, _)) => crate::ports::slice_range(key, b, offset, length).map(Some),
        }
    }
}

impl MemoryBlobs {
    /// Every key stored, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = self.blobs.lock().keys().cloned().collect();
        k.sort();
        k
    }
}
