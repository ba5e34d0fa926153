//! Exports of a run's documents or lines to a file, for runs too large to stream
//! through the API: a request stores the export Pending and queues one message; its
//! worker reads the run's documents a page at a time and uploads the rows in parts of
//! [`EXPORT_PART_BYTES`] (an S3 multipart upload; locally a file in the out folder),
//! storing its progress (the upload, its parts, the last document's position) after
//! each part, and hands on to a new message every [`EXPORT_PARTS_PER_MESSAGE`] parts,
//! so that no invocation runs long whatever the run's size. Memory holds one page and
//! one part.
//!
//! Exactly once: every write of the record is conditioned on its version, so of two
//! workers on one export (a duplicate or redelivered message) one moves it on and the
//! other stops. A part uploaded and not recorded (a crash between the two) is uploaded
//! again from the recorded position, under the same number, with the same bytes. The
//! object's key comes from the export's id, and nothing is visible at it until the
//! upload completes; the record turns Completed once.

pub use crate::model::exports::*;

use crate::error::{AppError, ConflictCode, StoreError};
use crate::model::listing::DocumentPosition;
use crate::model::Message;
use crate::ports::*;
use billrun_domain::export::{write_rows, ExportContent, ExportFormat};
use billrun_domain::ids::{ExportId, RunId};
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// The UUID v5 namespace of export ids derived from an `Idempotency-Key`.
const IDEMPOTENCY_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x7e2a_41c9_0b5d_4f86_a3e1_6c8d_2f90_b417);

/// Room in a part's buffer beyond its size: the rows of the document that fills it.
const PART_SLACK: usize = 64 * 1024;

/// How long a download link stays valid.
pub const DOWNLOAD_LINK_TTL: Duration = Duration::from_secs(15 * 60);

/// Exports over the ports they use.
#[derive(Clone)]
pub struct Exports {
    pub runs: Arc<dyn RunStore>,
    pub document_listing: Arc<dyn DocumentListing>,
    pub store: Arc<dyn ExportStore>,
    pub files: Arc<dyn ExportFiles>,
    pub queue: Arc<dyn WorkQueue>,
    pub clock: Arc<dyn Clock>,
    /// Bytes per uploaded part ([`EXPORT_PART_BYTES`]; smaller in tests).
    pub part_bytes: usize,
}

/// What a request did.
#[derive(Debug)]
pub enum ExportRequested {
    New,
    /// The same `Idempotency-Key` again: the export it made (its message sent again
    /// while it is Pending, in case the first send was lost).
    Replayed,
    /// Stored, but its message was not queued: a replay with the same key sends it.
    QueueFailed(StoreError),
}

impl Exports {
    /// Requests an export of a completed run's documents or lines.
    pub async fn request(
        &self,
        run_id: RunId,
        content: ExportContent,
        format: ExportFormat,
        idempotency_key: Option<&str>,
    ) -> Result<(Export, ExportRequested), AppError> {
        let run = crate::pipeline::run_with_final_documents(&*self.runs, run_id).await?;
        // An export is a record of its own, for the ledger: a preview's documents are
        // read out through the run's streamed export instead.
        crate::pipeline::refuse_preview(&run, "exported")?;
        let id = ExportId(match idempotency_key {
            Some(key) => {
                uuid::Uuid::new_v5(&IDEMPOTENCY_NAMESPACE, format!("{run_id}/{key}").as_bytes())
            }
            None => uuid::Uuid::new_v4(),
        });
        let export = Export::pending(id, run_id, content, format, self.clock.now());
        let (export, outcome) = match self.store.create_export(&export).await? {
            ExportCreated::New => (export, ExportRequested::New),
            ExportCreated::Exists => {
                let existing = self.store.get_export(id).await?.ok_or_else(|| {
                    AppError::transient(format!("export {id} is not readable yet"))
                })?;
                if !existing.same_request(&export) {
                    return Err(AppError::conflict(
                        ConflictCode::IdempotencyKeyReused,
                        "the Idempotency-Key was used for another export of the run",
                    ));
                }
                (existing, ExportRequested::Replayed)
            }
        };
        if export.status != ExportStatus::Pending {
            return Ok((export, outcome));
        }
        match self
            .queue
            .send(vec![Message::Export { export_id: id }])
            .await
        {
            Ok(()) => Ok((export, outcome)),
            Err(e) => Ok((export, ExportRequested::QueueFailed(e))),
        }
    }

    pub async fn export(&self, id: ExportId) -> Result<Export, AppError> {
        self.store
            .get_export(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("export {id}")))
    }

    /// Writes a Pending export's file (the worker of [`Message::Export`]): up to
    /// [`EXPORT_PARTS_PER_MESSAGE`] parts from where its stored progress ends, each
    /// part's progress stored after its upload, then a new message for the rest, or the
    /// upload completed and the export Completed. An unknown or finished export, or one
    /// another worker moved on meanwhile (a duplicate message), is left alone.
    pub async fn write(&self, id: ExportId) -> Result<(), AppError> {
        let Some(mut export) = self.store.get_export(id).await? else {
            warn!(export_id = %id, "export message of no stored export");
            return Ok(());
        };
        if export.status != ExportStatus::Pending {
            return Ok(());
        }
        if export.progress.is_none() {
            let upload = self
                .files
                .begin_upload(&export.key, export.format.media_type())
                .await?;
            let started = export.next(|e| {
                e.progress = Some(UploadProgress {
                    upload: upload.0.clone(),
                    parts: Vec::new(),
                    after: None,
                    rows: 0,
                    bytes: 0,
                    uploaded: false,
                })
            });
            if !self.store.save_export(&started).await? {
                // Another worker began first; this upload is dropped (the store's own
                // clean-up removes it should the abort fail).
                if let Err(e) = self.files.abort_upload(&export.key, &upload).await {
                    warn!(export_id = %id, error = %crate::error::chain(&e), "export upload not aborted");
                }
                return Ok(());
            }
            export = started;
        }
        for _ in 0..EXPORT_PARTS_PER_MESSAGE {
            let Some(progress) = export.progress.clone() else {
                return Err(AppError::internal(format!("export {id} lost its progress")));
            };
            let step = if progress.uploaded {
                self.complete(export.clone(), progress).await.map(|()| None)
            } else {
                self.upload_part(&export, progress).await
            };
            match step {
                Ok(Some(next)) => export = next,
                Ok(None) => return Ok(()),
                // A duplicate message's worker moved the export on (and may have
                // completed the upload this one wrote to): it carries on, this one stops.
                Err(e) if self.moved_on(&export).await? => {
                    info!(export_id = %id, error = %e, "export moved on by another worker");
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        self.queue
            .send(vec![Message::Export { export_id: id }])
            .await?;
        Ok(())
    }

    /// Uploads the next part: the rows of the documents after `progress.after` until the
    /// part holds [`Exports::part_bytes`] or the run's documents end; stores the
    /// progress.
    /// `None` when another worker stored progress first.
    async fn upload_part(
        &self,
        export: &Export,
        mut progress: UploadProgress,
    ) -> Result<Option<Export>, AppError> {
        // A part ends after the document that fills it: room for the part and one
        // document's rows, so that the buffer is never copied to grow.
        let mut buffer = String::with_capacity(self.part_bytes + PART_SLACK);
        if progress.parts.is_empty() {
            buffer.push_str(&export.format.header(export.content));
        }
        let mut rows = 0;
        'pages: loop {
            let page = self
                .document_listing
                .list_run_documents(export.run_id, None, progress.after.as_ref(), EXPORT_PAGE)
                .await?;
            for d in &page {
                rows += write_rows(
                    export.content,
                    export.format,
                    std::iter::once(&d.document),
                    &mut buffer,
                );
                progress.after = Some(DocumentPosition::of(d));
                // The part ends at a document: the next one reads the rest of the page
                // again (a page is ~1 % of a part).
                if buffer.len() >= self.part_bytes {
                    break 'pages;
                }
            }
            if page.len() < EXPORT_PAGE {
                progress.uploaded = true;
                break;
            }
        }
        // An empty part only when the file is empty (an upload needs one part).
        if !buffer.is_empty() || progress.parts.is_empty() {
            let number = progress.parts.len() as u32 + 1;
            let bytes = buffer.into_bytes();
            let size = bytes.len() as u64;
            let upload = UploadId(progress.upload.clone());
            let part = self
                .files
                .upload_part(&export.key, &upload, number, bytes)
                .await?;
            progress.parts.push(part);
            progress.bytes += size;
        }
        progress.rows += rows;
        let next = export.next(|e| e.progress = Some(progress));
        Ok(self.store.save_export(&next).await?.then_some(next))
    }

    /// Whether the stored export is no longer `export` (another writer saved after it).
    async fn moved_on(&self, export: &Export) -> Result<bool, AppError> {
        Ok(self
            .store
            .get_export(export.id)
            .await?
            .is_none_or(|stored| stored.version != export.version))
    }

    /// Completes the upload and marks the export Completed. A completion that fails
    /// because an earlier attempt completed it (the upload is gone, the file there)
    /// goes on to mark the export.
    async fn complete(&self, export: Export, progress: UploadProgress) -> Result<(), AppError> {
        let upload = UploadId(progress.upload.clone());
        if let Err(e) = self
            .files
            .complete_upload(&export.key, &upload, &progress.parts)
            .await
        {
            let whole = self
                .files
                .read_file_range(&export.key, progress.bytes.saturating_sub(1), 1)
                .await?
                .is_some_and(|b| b.len() == 1 || progress.bytes == 0);
            if !whole {
                return Err(e.into());
            }
        }
        let done = export.next(|e| {
            e.status = ExportStatus::Completed;
            e.rows = progress.rows;
            e.bytes = progress.bytes;
            e.completed_at = Some(self.clock.now());
            e.progress = None;
        });
        if self.store.save_export(&done).await? {
            info!(export_id = %done.id, run_id = %done.run_id, rows = done.rows, bytes = done.bytes, "export written");
        }
        Ok(())
    }

    /// The export's last allowed message failed: it is marked Failed with the reason
    /// (and its upload dropped).
    pub async fn give_up(&self, id: ExportId, reason: &str) -> Result<(), AppError> {
        let Some(export) = self.store.get_export(id).await? else {
            return Ok(());
        };
        if export.status != ExportStatus::Pending {
            return Ok(());
        }
        if let Some(p) = &export.progress {
            let upload = UploadId(p.upload.clone());
            if let Err(e) = self.files.abort_upload(&export.key, &upload).await {
                warn!(export_id = %id, error = %crate::error::chain(&e), "export upload not aborted");
            }
        }
        let failed = export.next(|e| {
            e.status = ExportStatus::Failed;
            e.error = Some(reason.to_string());
            e.completed_at = Some(self.clock.now());
            e.progress = None;
        });
        self.store.save_export(&failed).await?;
        Ok(())
    }

    /// Where a Completed export is downloaded from; 409 `export_not_completed` before.
    pub async fn download(&self, id: ExportId) -> Result<(Export, Download), AppError> {
        let export = self.export(id).await?;
        if export.status != ExportStatus::Completed {
            return Err(AppError::conflict(
                ConflictCode::ExportNotCompleted,
                format!(
                    "export {id} is {:?}: there is no file to download",
                    export.status
                ),
            ));
        }
        let download = match self
            .files
            .download_url(&export.key, DOWNLOAD_LINK_TTL)
            .await?
        {
            Some(url) => Download::Url(url),
            None => Download::Served,
        };
        Ok((export, download))
    }

    /// Up to `length` bytes of a Completed export's file from `offset` (the API serves
    /// the file in such pieces when the store has no download URL).
    pub async fn read(
        &self,
        export: &Export,
        offset: u64,
        length: u64,
    ) -> Result<Vec<u8>, AppError> {
        self.files
            .read_file_range(&export.key, offset, length)
            .await?
            .ok_or_else(|| {
                AppError::internal(format!(
                    "export {} is Completed but its file {} is missing",
                    export.id, export.key
                ))
            })
    }
}
