//! Document generation requests with their counters and results, and the files
//! (rendered packs of PDFs) as blobs in the same database.

use crate::error::{conflict, fatal};
use crate::schema::*;
use crate::{from_json, to_json, uint, Error, SqliteStore};
use async_trait::async_trait;
use billrun_app::model::documents::{DocumentFile, DocumentRequest, GenerationStatus};
use billrun_app::ports::{slice_range, BlobStore, DocumentRequestStore, StoreResult};
use billrun_domain::ids::{DocumentId, DocumentRequestId, RunId};
use rusqlite::{params, OptionalExtension};

#[async_trait]
impl DocumentRequestStore for SqliteStore {
    async fn create_document_request(&self, request: &DocumentRequest) -> StoreResult<()> {
        let request = request.clone();
        self.write(move |tx| {
            let added = tx.execute(
                &format!(
                    "INSERT INTO {DOCUMENT_REQUESTS} (id, run_id, generated, failed, data)
                     VALUES (?1, ?2, 0, 0, ?3) ON CONFLICT (id) DO NOTHING"
                ),
                params![
                    request.id.to_string(),
                    request.run_id.to_string(),
                    to_json(&request)?
                ],
            )?;
            if added == 0 {
                return Err(conflict(format!("document request {} exists", request.id)));
            }
            tx.execute(
                &format!(
                    "INSERT INTO {LATEST_REQUESTS} (run_id, request_id) VALUES (?1, ?2)
                     ON CONFLICT (run_id) DO UPDATE SET request_id = excluded.request_id"
                ),
                params![request.run_id.to_string(), request.id.to_string()],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_document_request(
        &self,
        id: DocumentRequestId,
    ) -> StoreResult<Option<(DocumentRequest, u64, u64)>> {
        self.call(move |c| {
            let row: Option<(String, i64, i64)> = c
                .query_row(
                    &format!(
                        "SELECT data, generated, failed FROM {DOCUMENT_REQUESTS} WHERE id = ?1"
                    ),
                    [id.to_string()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            row.map(|(data, generated, failed)| -> Result<_, Error> {
                Ok((from_json(&data)?, uint(generated)?, uint(failed)?))
            })
            .transpose()
        })
        .await
    }

    async fn latest_document_request(&self, run: RunId) -> StoreResult<Option<DocumentRequestId>> {
        self.call(move |c| {
            let id: Option<String> = c
                .query_row(
                    &format!("SELECT request_id FROM {LATEST_REQUESTS} WHERE run_id = ?1"),
                    [run.to_string()],
                    |r| r.get(0),
                )
                .optional()?;
            id.map(|s| {
                s.parse()
                    .map_err(|e| fatal(format!("stored document request id '{s}': {e}")))
            })
            .transpose()
        })
        .await
    }

    async fn record_document_files(&self, files: &[DocumentFile]) -> StoreResult<u64> {
        let files = files.to_vec();
        self.write(move |tx| {
            let mut recorded = 0;
            for file in &files {
                let request = file.request_id.to_string();
                let known = tx
                    .query_row(
                        &format!("SELECT 1 FROM {DOCUMENT_REQUESTS} WHERE id = ?1"),
                        [&request],
                        |_| Ok(()),
                    )
                    .optional()?;
                if known.is_none() {
                    return Err(fatal(format!(
                        "document request {} does not exist",
                        file.request_id
                    )));
                }
                // Each (request, document) once: a redelivered chunk counts nothing again.
                let added = tx.execute(
                    &format!(
                        "INSERT INTO {DOCUMENT_RESULTS} (request_id, document_id) VALUES (?1, ?2)
                         ON CONFLICT DO NOTHING"
                    ),
                    params![request, file.document_id.to_string()],
                )?;
                if added == 0 {
                    continue;
                }
                let column = match file.status {
                    GenerationStatus::Generated => "generated",
                    GenerationStatus::Failed => "failed",
                };
                tx.execute(
                    &format!(
                        "UPDATE {DOCUMENT_REQUESTS} SET {column} = {column} + 1 WHERE id = ?1"
                    ),
                    [&request],
                )?;
                tx.execute(
                    &format!(
                        "INSERT INTO {DOCUMENT_FILES} (document_id, data) VALUES (?1, ?2)
                         ON CONFLICT (document_id) DO UPDATE SET data = excluded.data"
                    ),
                    params![file.document_id.to_string(), to_json(file)?],
                )?;
                recorded += 1;
            }
            Ok(recorded)
        })
        .await
    }

    async fn document_file(&self, document: DocumentId) -> StoreResult<Option<DocumentFile>> {
        self.call(move |c| {
            let json: Option<String> = c
                .query_row(
                    &format!("SELECT data FROM {DOCUMENT_FILES} WHERE document_id = ?1"),
                    [document.to_string()],
                    |r| r.get(0),
                )
                .optional()?;
            json.map(|j| from_json(&j)).transpose()
        })
        .await
    }
}

fn blob(c: &rusqlite::Connection, key: &str) -> Result<Option<Vec<u8>>, Error> {
    Ok(c.query_row(
        &format!("SELECT bytes FROM {BLOBS} WHERE key = ?1"),
        [key],
        |r| r.get(0),
    )
    .optional()?)
}

#[async_trait]
impl BlobStore for SqliteStore {
    async fn put_blob(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> StoreResult<bool> {
        let (key, content_type) = (key.to_string(), content_type.to_string());
        self.write(move |tx| {
            // Keys are content-addressed: an existing object holds the same bytes.
            let added = tx.execute(
                &format!(
                    "INSERT INTO {BLOBS} (key, content_type, bytes) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO NOTHING"
                ),
                params![key, content_type, bytes],
            )?;
            Ok(added == 1)
        })
        .await
    }

    async fn get_blob(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let key = key.to_string();
        self.call(move |c| blob(c, &key)).await
    }

    async fn get_blob_range(
        &self,
        key: &str,
        offset: u64,
        length: u64,
    ) -> StoreResult<Option<Vec<u8>>> {
        let key = key.to_string();
        self.call(move |c| match blob(c, &key)? {
            None => Ok(None),
            Some(b) => Ok(Some(slice_range(&key, &b, offset, length)?)),
        })
        .await
    }
}
