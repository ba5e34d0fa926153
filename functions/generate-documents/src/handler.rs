use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use billrun_app::App;

/// One record at a time; only the records to deliver again are reported.
pub async fn handle(app: &App, event: SqsEvent, max_receives: u32) -> SqsBatchResponse {
    billrun_lambda::handle_sqs(app, event, max_receives).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use billrun_app::docgen::DOCUMENTS_PER_PACK;
    use billrun_app::docgen::{DocumentRequestStatus, GenerationStatus};
    use billrun_app::memory::{MemoryBlobs, MemoryQueue, MemoryStore, Receive};
    use billrun_app::model::Message;
    use billrun_app::ports::BlobStore;
    use billrun_domain::ids::{DocumentId, DocumentRequestId};
    use billrun_domain::request::RunRequest;
    use std::sync::Arc;

    const EVENT: &str = include_str!("../../events/sqs-account.json");

    /// A book of `n` accounts with one monthly charge each.
    fn book(n: usize) -> String {
        let accounts: Vec<_> = (0..n)
            .map(|i| {
                serde_json::json!({"id": format!("A-{i:03}"), "name": format!("Customer {i}"),
                "currency": "USD", "billCycleDay": 1})
            })
            .collect();
        let subscriptions: Vec<_> = (0..n)
            .map(|i| {
                serde_json::json!({"id": format!("S-{i:03}"), "accountId": format!("A-{i:03}"),
                "productId": "P", "startDate": "2024-01-15", "charges": [{"id": format!("C-{i:03}"),
                "type": "Recurring", "price": "31.00", "billingPeriod": "Month"}]})
            })
            .collect();
        serde_json::json!({"accounts": accounts, "subscriptions": subscriptions}).to_string()
    }

    /// The sample SQS event with `records` as (message id, body, receive count).
    fn event(records: &[(&str, &str, u32)]) -> SqsEvent {
        let mut v: serde_json::Value = serde_json::from_str(EVENT).unwrap();
        let template = v["Records"][0].clone();
        v["Records"] = records
            .iter()
            .map(|(id, body, receives)| {
                let mut r = template.clone();
                r["messageId"] = (*id).into();
                r["body"] = (*body).into();
                r["attributes"]["ApproximateReceiveCount"] = receives.to_string().into();
                r
            })
            .collect();
        serde_json::from_value(v).unwrap()
    }

    /// A message of a chunk of documents.
    fn body(request: DocumentRequestId, documents: &[DocumentId]) -> String {
        let ids: Vec<String> = documents.iter().map(|d| format!("\"{d}\"")).collect();
        format!(
            r#"{{"type": "document", "requestId": "{request}", "documentIds": [{}]}}"#,
            ids.join(", ")
        )
    }

    /// The app over memory, with its file store at hand.
    fn app() -> (App, Arc<MemoryBlobs>) {
        let (app, blobs, _) = app_and_queue();
        (app, blobs)
    }

    fn app_and_queue() -> (App, Arc<MemoryBlobs>, Arc<MemoryQueue>) {
        let queue = Arc::new(MemoryQueue::new());
        let mut app = App::in_memory(
            Arc::new(MemoryStore::new()),
            queue.clone(),
            std::sync::Arc::new(billrun_documents::PdfRenderer),
        );
        let blobs = Arc::new(MemoryBlobs::default());
        app.blobs = blobs.clone();
        (app, blobs, queue)
    }

    #[tokio::test]
    async fn a_request_queues_one_message_per_chunk_of_documents_in_numbering_order() {
        let (app, _, queue) = app_and_queue();
        let n = 2 * DOCUMENTS_PER_PACK + 3;
        let (request, docs) = requested(&app, n).await;
        assert_eq!(docs.len(), n);
        let mut chunks = Vec::new();
        while let Receive::Delivery(d) = queue.try_receive() {
            queue.ack();
            if let Message::Document {
                request_id,
                document_ids,
            } = d.message
            {
                assert_eq!(request_id, request);
                chunks.push(document_ids);
            }
        }
        // (The memory queue does not keep the order of sending.)
        chunks.sort_by_key(|c| docs.iter().position(|d| Some(d) == c.first()));
        let sizes: Vec<usize> = chunks.iter().map(Vec::len).collect();
        assert_eq!(sizes, [DOCUMENTS_PER_PACK, DOCUMENTS_PER_PACK, 3]);
        assert_eq!(chunks.concat(), docs, "in numbering order");
    }

    /// A completed run's document request with the demo template active.
    async fn requested(app: &App, accounts: usize) -> (DocumentRequestId, Vec<DocumentId>) {
        app.reference()
            .import_book(book(accounts).as_bytes())
            .await
            .unwrap();
        let run = app
            .pipeline()
            .create_run(RunRequest::for_target("2024-02-01".parse().unwrap()), None)
            .await
            .unwrap()
            .run()
            .id;
        for _ in 0..50 {
            // Plan and process in process: the queue here is only a sink.
            let r = app.queries().get_run(run).await.unwrap();
            if r.status.is_completed() {
                break;
            }
            app.pipeline().plan_page(run, 0).await.unwrap();
            for o in app
                .book
                .select_accounts(&r.request.account_selection(), None, 1000)
                .await
                .unwrap()
                .ids
            {
                app.pipeline().process_account(run, &o, 0).await.unwrap();
            }
        }
        let content =
            serde_json::to_string(&billrun_documents::sample::demo_template("en-US")).unwrap();
        let put = serde_json::json!({"name": "Default", "content": content});
        app.templates()
            .put_template("T-1", put.to_string().as_bytes())
            .await
            .unwrap();
        app.templates().activate_template("T-1").await.unwrap();
        let view = app.docgen().request_documents(run).await.unwrap();
        let docs = app
            .queries()
            .all_documents(run)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect();
        (view.id, docs)
    }

    #[tokio::test]
    async fn a_chunk_message_stores_one_pack_of_its_pdfs_and_a_malformed_record_alone_is_retried() {
        let (app, blobs) = app();
        let (request, docs) = requested(&app, 4).await;
        assert!(docs.len() >= 2);
        let (a, b) = docs.split_at(docs.len() / 2);
        let bodies = [body(request, a), body(request, b)];
        let records = [
            ("bad", "{not json", 1),
            ("m0", bodies[0].as_str(), 1),
            ("m1", bodies[1].as_str(), 1),
        ];
        let response = handle(&app, event(&records), 5).await;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["bad"]);
        let view = app.docgen().document_request(request).await.unwrap();
        assert_eq!(view.status, DocumentRequestStatus::Completed);
        assert_eq!(view.counters.generated, docs.len() as u64);
        // Two messages, two packs: each exactly its chunk's PDFs, in order.
        let keys = blobs.keys();
        assert_eq!(keys.len(), 2, "{keys:?}");
        for chunk in [a, b] {
            let mut pack = None;
            let mut end = 0;
            for d in chunk {
                let file = app
                    .document_requests
                    .document_file(*d)
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(file.status, GenerationStatus::Generated);
                let key = file.key.unwrap();
                assert_eq!(pack.get_or_insert(key.clone()), &key);
                let range = file.range.unwrap();
                assert_eq!(range.offset, end);
                end += range.length;
                let pdf = app.docgen().document_download(*d).await.unwrap();
                assert_eq!(pdf.len() as u64, range.length);
                assert!(pdf.starts_with(b"%PDF-"));
                assert!(pdf.trim_ascii_end().ends_with(b"%%EOF"));
            }
            let pack = blobs.get_blob(&pack.unwrap()).await.unwrap().unwrap();
            assert_eq!(pack.len() as u64, end);
        }
        // A redelivered batch changes nothing and writes no new object.
        handle(&app, event(&records[1..]), 5).await;
        assert_eq!(app.docgen().document_request(request).await.unwrap(), view);
        assert_eq!(blobs.keys(), keys);
    }

    #[tokio::test]
    async fn a_document_that_cannot_be_rendered_is_recorded_failed_and_left_out_of_the_pack() {
        let (app, blobs) = app();
        let (request, docs) = requested(&app, 4).await;
        let missing = DocumentId(uuid::Uuid::nil());
        let chunk = [docs[0], missing, docs[1]];
        let response = handle(&app, event(&[("m", &body(request, &chunk), 1)]), 5).await;
        assert!(response.batch_item_failures.is_empty());
        let file = app
            .document_requests
            .document_file(missing)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(file.status, GenerationStatus::Failed);
        assert!(file.reason.unwrap().contains("does not exist"));
        let view = app.docgen().document_request(request).await.unwrap();
        assert_eq!((view.counters.generated, view.counters.failed), (2, 1));
        let keys = blobs.keys();
        assert_eq!(keys.len(), 1);
        let pack = blobs.get_blob(&keys[0]).await.unwrap().unwrap();
        let (first, second) = (
            app.docgen().document_download(docs[0]).await.unwrap(),
            app.docgen().document_download(docs[1]).await.unwrap(),
        );
        assert_eq!(pack, [first, second].concat(), "the two PDFs, nothing else");
    }

    #[tokio::test]
    async fn a_message_queued_before_packs_is_a_chunk_of_one() {
        let (app, _) = app();
        let (request, docs) = requested(&app, 4).await;
        let old = format!(
            r#"{{"type": "document", "requestId": "{request}", "documentId": "{}"}}"#,
            docs[0]
        );
        let response = handle(&app, event(&[("m", &old, 1)]), 5).await;
        assert!(response.batch_item_failures.is_empty());
        let file = app
            .document_requests
            .document_file(docs[0])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(file.status, GenerationStatus::Generated);
        assert_eq!(file.range.unwrap().offset, 0);
    }

    #[tokio::test]
    async fn a_chunk_given_up_records_its_documents_without_a_result_failed() {
        let (app, _) = app();
        let (request, docs) = requested(&app, 4).await;
        handle(&app, event(&[("m", &body(request, &docs[..1]), 1)]), 5).await;
        let message = Message::Document {
            request_id: request,
            document_ids: docs.clone(),
        };
        app.give_up(&message, "gave up").await.unwrap();
        let view = app.docgen().document_request(request).await.unwrap();
        assert_eq!(
            (view.counters.generated, view.counters.failed),
            (1, docs.len() as u64 - 1)
        );
        let kept = app
            .document_requests
            .document_file(docs[0])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(kept.status, GenerationStatus::Generated);
    }
}
