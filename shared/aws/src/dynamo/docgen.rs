//! The DynamoDB adapter of the document generation port (`billrun_app::docgen`), in the
//! same table:
//!
//! | item | pk | sk | notes |
//! | --- | --- | --- | --- |
//! | generation request | `DOCREQ#<id>` | `DOCREQ` | `gen`, `fail`: counters (ADD) |
//! | recorded (request, document) | `DOCREQ#<id>` | `DOC#<document>` | written once (`attribute_not_exists`) |
//! | a run's latest request | `RUN#<run>` | `DOCREQ` | `id` |
//! | a document's latest file | `DOC#<document>` | `FILE` | |
//!
//! Recording a chunk's results is one transaction: for each document the (request,
//! document) item on condition that it does not exist and the document's file item,
//! then one update of the request's counters by the chunk's totals, so a redelivered
//! message counts once. When some of the chunk are recorded already (a redelivery after
//! a partial record), the cancellation names their items and the rest are recorded in
//! a transaction of their own.

use super::codec::{decode, entity, get_s, get_u64, n, s};
use super::error::{built, canceled, sdk};
use super::keys;
use super::DynamoStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use billrun_app::docgen::*;
use billrun_app::error::StoreError;
use billrun_app::ports::StoreResult;
use billrun_domain::ids::{DocumentId, DocumentRequestId, RunId};

const GENERATED: &str = "gen";
const FAILED: &str = "fail";
/// Documents per transaction: two items each and the counter, within DynamoDB's 100.
const RECORDS_PER_TRANSACTION: usize = 49;

#[async_trait]
impl DocumentRequestStore for DynamoStore {
    async fn create_document_request(&self, request: &DocumentRequest) -> StoreResult<()> {
        let mut item = entity(&keys::document_request(request.id), request)?;
        item.insert(GENERATED.to_string(), n(0));
        item.insert(FAILED.to_string(), n(0));
        let mut latest = keys::latest_document_request(request.run_id).item();
        latest.insert("id".to_string(), s(request.id.to_string()));
        let items = vec![self.put_new(item)?, self.put_tx(latest, None)?];
        self.transact(items).await.map_err(sdk)
    }

    async fn get_document_request(
        &self,
        id: DocumentRequestId,
    ) -> StoreResult<Option<(DocumentRequest, u64, u64)>> {
        match self.get(&keys::document_request(id)).await? {
            None => Ok(None),
            Some(item) => Ok(Some((
                decode(&item)?,
                get_u64(&item, GENERATED),
                get_u64(&item, FAILED),
            ))),
        }
    }

    async fn latest_document_request(&self, run: RunId) -> StoreResult<Option<DocumentRequestId>> {
        match self.get(&keys::latest_document_request(run)).await? {
            None => Ok(None),
            Some(item) => get_s(&item, "id")
                .map(|v| {
                    v.parse()
                        .map_err(|e| StoreError::fatal(format!("corrupt request id: {e}")))
                })
                .transpose(),
        }
    }

    async fn record_document_files(&self, files: &[DocumentFile]) -> StoreResult<u64> {
        let mut recorded = 0;
        for group in files.chunks(RECORDS_PER_TRANSACTION) {
            recorded += self.record_group(group).await?;
        }
        Ok(recorded)
    }

    async fn document_file(&self, document: DocumentId) -> StoreResult<Option<DocumentFile>> {
        match self.get(&keys::document_file(document)).await? {
            None => Ok(None),
            Some(item) => Ok(Some(decode(&item)?)),
        }
    }
}

impl DynamoStore {
    /// Records `files` (at most [`RECORDS_PER_TRANSACTION`], one request's) in one
    /// transaction; those whose (request, document) item exists are dropped and the
    /// rest tried again.
    async fn record_group(&self, files: &[DocumentFile]) -> StoreResult<u64> {
        // A transaction cannot write one item twice: a document listed twice counts once.
        let mut seen = std::collections::HashSet::new();
        let mut files: Vec<&DocumentFile> = files
            .iter()
            .filter(|f| seen.insert(f.document_id))
            .collect();
        while let Some(first) = files.first() {
            let request = first.request_id;
            if files.iter().any(|f| f.request_id != request) {
                return Err(StoreError::fatal(
                    "one transaction records the files of one document request",
                ));
            }
            let mut items = Vec::with_capacity(2 * files.len() + 1);
            let (mut generated, mut failed) = (0u64, 0u64);
            for file in &files {
                let marker = keys::recorded_file(request, file.document_id).item();
                let file_item = entity(&keys::document_file(file.document_id), *file)?;
                items.push(self.put_new(marker)?);
                items.push(self.put_tx(file_item, None)?);
                match file.status {
                    GenerationStatus::Generated => generated += 1,
                    GenerationStatus::Failed => failed += 1,
                }
            }
            items.push(
                TransactWriteItem::builder()
                    .update(built(
                        Update::builder()
                            .table_name(&self.table)
                            .set_key(Some(keys::document_request(request).item()))
                            .update_expression("ADD #g :g, #f :f")
                            .condition_expression("attribute_exists(pk)")
                            .expression_attribute_names("#g", GENERATED)
                            .expression_attribute_names("#f", FAILED)
                            .expression_attribute_values(":g", n(generated))
                            .expression_attribute_values(":f", n(failed))
                            .build(),
                    )?)
                    .build(),
            );
            let counter = items.len() - 1;
            let reasons = match self.transact(items).await {
                Ok(()) => return Ok(files.len() as u64),
                Err(e) => canceled(e)?,
            };
            if reasons.failed(counter) {
                return Err(StoreError::fatal(format!(
                    "document request {request} does not exist"
                )));
            }
            let before = files.len();
            let mut i = 0;
            files.retain(|_| {
                let recorded = reasons.failed(2 * i);
                i += 1;
                !recorded
            });
            if files.len() == before {
                return Err(reasons.transient());
            }
        }
        Ok(0)
    }
}
