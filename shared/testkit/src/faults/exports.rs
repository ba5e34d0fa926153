//! Faults of exports: the record's writes and every call of an upload (begin, part,
//! complete, abort) can fail before they land, time out (landing or not) or fail after
//! they landed; the message is then delivered again and writes the file anew.

use super::Faulty;
use async_trait::async_trait;
use billrun_app::model::exports::{Export, UploadId, UploadedPart};
use billrun_app::ports::*;
use billrun_domain::ids::ExportId;
use std::time::Duration;

#[async_trait]
impl<T: ?Sized + ExportStore> ExportStore for Faulty<T> {
    async fn create_export(&self, export: &Export) -> StoreResult<ExportCreated> {
        self.plan
            .write("create_export", self.inner.create_export(export))
            .await
    }
    async fn get_export(&self, id: ExportId) -> StoreResult<Option<Export>> {
        self.plan
            .read("get_export", self.inner.get_export(id))
            .await
    }
    async fn save_export(&self, export: &Export) -> StoreResult<bool> {
        self.plan
            .write("save_export", self.inner.save_export(export))
            .await
    }
}

#[async_trait]
impl<T: ?Sized + ExportFiles> ExportFiles for Faulty<T> {
    async fn begin_upload(&self, key: &str, content_type: &str) -> StoreResult<UploadId> {
        self.plan
            .write("begin_upload", self.inner.begin_upload(key, content_type))
            .await
    }
    async fn upload_part(
        &self,
        key: &str,
        upload: &UploadId,
        number: u32,
        bytes: Vec<u8>,
    ) -> StoreResult<UploadedPart> {
        self.plan
            .write(
                "upload_part",
                self.inner.upload_part(key, upload, number, bytes),
            )
            .await
    }
    async fn complete_upload(
        &self,
        key: &str,
        upload: &UploadId,
        parts: &[UploadedPart],
    ) -> StoreResult<()> {
        self.plan
            .write(
                "complete_upload",
                self.inner.complete_upload(key, upload, parts),
            )
            .await
    }
    async fn abort_upload(&self, key: &str, upload: &UploadId) -> StoreResult<()> {
        self.plan
            .write("abort_upload", self.inner.abort_upload(key, upload))
            .await
    }
    async fn download_url(&self, key: &str, ttl: Duration) -> StoreResult<Option<String>> {
        self.plan
            .read("download_url", self.inner.download_url(key, ttl))
            .await
    }
    async fn read_file_range(
        &self,
        key: &str,
        offset: u64,
        length: u64,
    ) -> StoreResult<Option<Vec<u8>>> {
        self.plan
            .read(
                "read_file_range",
                self.inner.read_file_range(key, offset, length),
            )
            .await
    }
}
