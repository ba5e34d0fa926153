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
//! Recording a result is one transaction: the (request, document) item on condition
//! that it does not exist, the document's file item and the request's counter, so a
//! redelivered message counts once.

use super::*;
use billrun_app::docgen::*;
use billrun_domain::ids::DocumentRequestId;

const GENERATED: &str = "gen";
const FAILED: &str = "fail";

fn request_pk(id: DocumentRequestId) -> String {
    format!("DOCREQ#{id}")
}

#[async_trait]
impl DocumentRequestStore for DynamoStore {
    async fn create_document_request(&self, request: &DocumentRequest) -> StoreResult<()> {
        let item = HashMap::from([
            (PK.to_string(), s(request_pk(request.id))),
            (SK.to_string(), s("DOCREQ")),
            (GENERATED.to_string(), n(0)),
            (FAILED.to_string(), n(0)),
            (DATA.to_string(), encode(request)?),
        ]);
        let latest = HashMap::from([
            (PK.to_string(), s(run_pk(request.run_id))),
            (SK.to_string(), s("DOCREQ")),
            ("id".to_string(), s(request.id.to_string())),
        ]);
        let items = vec![self.put_new(item)?, self.put_tx(latest, None)?];
        self.transact(items).await.map_err(sdk)
    }

    async fn get_document_request(
        &self,
        id: DocumentRequestId,
    ) -> StoreResult<Option<(DocumentRequest, u64, u64)>> {
        match self.get(request_pk(id), "DOCREQ").await? {
            None => Ok(None),
            Some(item) => Ok(Some((
                decode(&item)?,
                get_u64(&item, GENERATED),
                get_u64(&item, FAILED),
            ))),
        }
    }

    async fn latest_document_request(&self, run: RunId) -> StoreResult<Option<DocumentRequestId>> {
        match self.get(run_pk(run), "DOCREQ").await? {
            None => Ok(None),
            Some(item) => get_s(&item, "id")
                .map(|v| {
                    v.parse()
                        .map_err(|e| StoreError::Fatal(format!("corrupt request id: {e}")))
                })
                .transpose(),
        }
    }

    async fn record_document_file(&self, file: &DocumentFile) -> StoreResult<bool> {
        let marker = HashMap::from([
            (PK.to_string(), s(request_pk(file.request_id))),
            (SK.to_string(), s(format!("DOC#{}", file.document_id))),
        ]);
        let file_item = HashMap::from([
            (PK.to_string(), s(doc_pk(file.document_id))),
            (SK.to_string(), s("FILE")),
            (DATA.to_string(), encode(file)?),
        ]);
        let counter = match file.status {
            GenerationStatus::Generated => GENERATED,
            GenerationStatus::Failed => FAILED,
        };
        let items = vec![
            self.put_new(marker)?,
            self.put_tx(file_item, None)?,
            TransactWriteItem::builder()
                .update(built(
                    Update::builder()
                        .table_name(&self.table)
                        .key(PK, s(request_pk(file.request_id)))
                        .key(SK, s("DOCREQ"))
                        .update_expression("ADD #c :one")
                        .condition_expression("attribute_exists(pk)")
                        .expression_attribute_names("#c", counter)
                        .expression_attribute_values(":one", n(1))
                        .build(),
                )?)
                .build(),
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(SdkError::ServiceError(e)) => match e.err() {
                TransactWriteItemsError::TransactionCanceledException(c) => {
                    let reasons = c.cancellation_reasons();
                    let failed = |i: usize| {
                        reasons.get(i).and_then(|r| r.code()) == Some("ConditionalCheckFailed")
                    };
                    if failed(0) {
                        Ok(false)
                    } else if failed(2) {
                        Err(StoreError::Fatal(format!(
                            "document request {} does not exist",
                            file.request_id
                        )))
                    } else {
                        let codes: Vec<&str> = reasons.iter().filter_map(|r| r.code()).collect();
                        Err(StoreError::Transient(format!(
                            "transaction canceled: {codes:?}"
                        )))
                    }
                }
                _ => Err(StoreError::Transient(format!(
                    "{}",
                    DisplayErrorContext(e.err())
                ))),
            },
            Err(e) => Err(sdk(e)),
        }
    }

    async fn document_file(&self, document: DocumentId) -> StoreResult<Option<DocumentFile>> {
        match self.get(doc_pk(document), "FILE").await? {
            None => Ok(None),
            Some(item) => Ok(Some(decode(&item)?)),
        }
    }
}
