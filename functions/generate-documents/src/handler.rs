use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use billrun_app::App;

/// One record at a time; only the records to deliver again are reported.
pub async fn handle(app: &App, event: SqsEvent, max_receives: u32) -> SqsBatchResponse {
    billrun_lambda::handle_sqs(app, event, max_receives).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use billrun_app::docgen::{DocumentRequestStatus, GenerationStatus};
    use billrun_app::memory::{MemoryQueue, MemoryStore};
    use billrun_domain::ids::{DocumentId, DocumentRequestId};
    use billrun_domain::request::RunRequest;
    use std::sync::Arc;

    const EVENT: &str = include_str!("../../events/sqs-account.json");
    const BOOK: &str = include_str!("../../../infra/local/tests/fixtures/book.json");

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

    fn body(request: DocumentRequestId, document: DocumentId) -> String {
        format!(r#"{{"type": "document", "requestId": "{request}", "documentId": "{document}"}}"#)
    }

    /// A completed run's document request with the demo template active.
    async fn requested(app: &App) -> (DocumentRequestId, Vec<DocumentId>) {
        app.import_book(BOOK.as_bytes()).await.unwrap();
        let run = app
            .create_run(RunRequest::for_target("2024-02-01".parse().unwrap()), None)
            .await
            .unwrap()
            .run()
            .id;
        for _ in 0..50 {
            // Plan and process in process: the queue here is only a sink.
            let r = app.get_run(run).await.unwrap();
            if r.status.is_completed() {
                break;
            }
            app.plan_page(run, 0).await.unwrap();
            for o in app
                .book
                .select_accounts(&r.request.filters, None, 1000)
                .await
                .unwrap()
                .ids
            {
                app.process_account(run, &o, 0).await.unwrap();
            }
        }
        let content =
            serde_json::to_string(&billrun_documents::sample::demo_template("en-US")).unwrap();
        let put = serde_json::json!({"name": "Default", "content": content});
        app.put_template("T-1", put.to_string().as_bytes())
            .await
            .unwrap();
        app.activate_template("T-1").await.unwrap();
        let view = app.request_documents(run).await.unwrap();
        let docs = app
            .all_documents(run)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect();
        (view.id, docs)
    }

    #[tokio::test]
    async fn a_batch_of_document_messages_completes_the_request_and_a_malformed_record_alone_is_retried(
    ) {
        let app = App::in_memory(Arc::new(MemoryStore::new()), Arc::new(MemoryQueue::new()));
        let (request, docs) = requested(&app).await;
        let bodies: Vec<String> = docs.iter().map(|d| body(request, *d)).collect();
        let mut records: Vec<(&str, &str, u32)> = vec![("bad", "{not json", 1)];
        let ids: Vec<String> = (0..bodies.len()).map(|i| format!("m{i}")).collect();
        for (i, b) in bodies.iter().enumerate() {
            records.push((&ids[i], b, 1));
        }
        let response = handle(&app, event(&records), 5).await;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["bad"]);
        let view = app.document_request(request).await.unwrap();
        assert_eq!(view.status, DocumentRequestStatus::Completed);
        assert_eq!(view.counters.generated, docs.len() as u64);
        for d in &docs {
            let file = app.catalog.document_file(*d).await.unwrap().unwrap();
            assert_eq!(file.status, GenerationStatus::Generated);
        }
        // A redelivered batch changes nothing.
        handle(&app, event(&records[1..]), 5).await;
        assert_eq!(app.document_request(request).await.unwrap(), view);
    }

    #[tokio::test]
    async fn a_document_that_does_not_exist_is_recorded_failed_with_the_reason() {
        let app = App::in_memory(Arc::new(MemoryStore::new()), Arc::new(MemoryQueue::new()));
        let (request, _) = requested(&app).await;
        let missing = DocumentId(uuid::Uuid::nil());
        let response = handle(&app, event(&[("m", &body(request, missing), 1)]), 5).await;
        assert!(response.batch_item_failures.is_empty());
        let file = app.catalog.document_file(missing).await.unwrap().unwrap();
        assert_eq!(file.status, GenerationStatus::Failed);
        assert!(file.reason.unwrap().contains("does not exist"));
    }
}
