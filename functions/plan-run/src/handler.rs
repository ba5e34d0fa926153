use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use billrun_app::App;

/// One record at a time; only the records to deliver again are reported.
pub async fn handle(app: &App, event: SqsEvent, max_receives: u32) -> SqsBatchResponse {
    billrun_lambda::handle_sqs(app, event, max_receives).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use billrun_app::memory::{MemoryQueue, MemoryStore};
    use billrun_domain::request::{RunRequest, RunType};
    use std::sync::Arc;

    const EVENT: &str = include_str!("../../events/sqs-account.json");
    const BOOK: &str = include_str!("../../../infra/local/tests/fixtures/book.json");

    #[tokio::test]
    async fn a_planning_record_plans_the_page_and_a_repeated_one_changes_nothing() {
        let queue = Arc::new(MemoryQueue::new());
        let app = App::in_memory(
            Arc::new(MemoryStore::new()),
            queue.clone(),
            std::sync::Arc::new(billrun_documents::PdfRenderer),
        );
        app.reference().import_book(BOOK.as_bytes()).await.unwrap();
        let mut req = RunRequest::for_target("2024-02-01".parse().unwrap());
        req.run_type = RunType::Manual;
        let run = app.pipeline().create_run(req, None).await.unwrap().run().id;
        app.pipeline().start_run(run).await.unwrap();
        let body = format!(r#"{{"type": "plan", "runId": "{run}", "page": 0}}"#);
        let mut v: serde_json::Value = serde_json::from_str(EVENT).unwrap();
        v["Records"][0]["body"] = body.into();
        let event: SqsEvent = serde_json::from_value(v).unwrap();
        let sent_before = queue.sent();
        let r = handle(&app, event.clone(), 5).await;
        assert!(r.batch_item_failures.is_empty());
        assert_eq!(queue.sent(), sent_before + 1, "one account message");
        let plan = app.queries().get_run(run).await.unwrap().plan;
        assert!(plan.done && plan.selected == 1);
        let r = handle(&app, event, 5).await;
        assert!(r.batch_item_failures.is_empty());
        assert_eq!(app.queries().get_run(run).await.unwrap().plan, plan);
    }
}
