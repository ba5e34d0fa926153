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
    use billrun_app::ports::{BookStore, StoreResult};
    use billrun_app::{AccountPage, StoreError};
    use billrun_domain::book::Book;
    use billrun_domain::ids::{AccountId, RunId};
    use billrun_domain::rating::AccountBook;
    use billrun_domain::request::{AccountSelection, RunRequest, RunType};
    use billrun_domain::run::Outcome;
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

    async fn planned_run(app: &App) -> RunId {
        app.reference().import_book(BOOK.as_bytes()).await.unwrap();
        let mut req = RunRequest::for_target("2024-02-01".parse().unwrap());
        req.run_type = RunType::Manual;
        let id = app.pipeline().create_run(req, None).await.unwrap().run().id;
        app.pipeline().start_run(id).await.unwrap();
        app.pipeline().plan_page(id, 0).await.unwrap();
        id
    }

    fn body(run: RunId) -> String {
        format!(r#"{{"type": "account", "runId": "{run}", "accountId": "A-1001", "round": 0}}"#)
    }

    fn failed_ids(r: &SqsBatchResponse) -> Vec<&str> {
        r.batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    #[tokio::test]
    async fn a_batch_with_a_malformed_and_a_good_record_reports_only_the_malformed_one() {
        let app = App::in_memory(
            Arc::new(MemoryStore::new()),
            Arc::new(MemoryQueue::new()),
            std::sync::Arc::new(billrun_documents::PdfRenderer),
        );
        let run = planned_run(&app).await;
        let response = handle(
            &app,
            event(&[("bad", "{not json", 1), ("good", &body(run), 1)]),
            5,
        )
        .await;
        assert_eq!(failed_ids(&response), ["bad"]);
        let outcome = app
            .runs
            .outcome(run, &AccountId::parse("A-1001").unwrap())
            .await
            .unwrap();
        assert_eq!(outcome.unwrap().outcome, Outcome::Billed);
    }

    /// A book store that is down: every read fails with a retryable error.
    struct Unavailable(Arc<MemoryStore>);

    #[async_trait::async_trait]
    impl BookStore for Unavailable {
        async fn import_book(&self, book: &Book) -> StoreResult<()> {
            self.0.import_book(book).await
        }
        async fn account_book(&self, _id: &AccountId) -> StoreResult<Option<AccountBook>> {
            Err(StoreError::transient("throttled"))
        }
        async fn select_accounts(
            &self,
            f: &AccountSelection,
            c: Option<&str>,
            l: usize,
        ) -> StoreResult<AccountPage> {
            self.0.select_accounts(f, c, l).await
        }
    }

    #[tokio::test]
    async fn a_failing_record_is_retried_until_its_last_receive_which_records_the_account_failed() {
        let store = Arc::new(MemoryStore::new());
        let mut app = App::in_memory(
            store.clone(),
            Arc::new(MemoryQueue::new()),
            std::sync::Arc::new(billrun_documents::PdfRenderer),
        );
        let run = planned_run(&app).await;
        app.book = Arc::new(Unavailable(store));
        let early = handle(&app, event(&[("m1", &body(run), 1)]), 5).await;
        assert_eq!(
            failed_ids(&early),
            ["m1"],
            "a retryable failure is delivered again"
        );
        assert!(app
            .runs
            .outcome(run, &AccountId::parse("A-1001").unwrap())
            .await
            .unwrap()
            .is_none());
        let last = handle(&app, event(&[("m1", &body(run), 5)]), 5).await;
        assert!(
            failed_ids(&last).is_empty(),
            "the last receive is acknowledged"
        );
        let outcome = app
            .runs
            .outcome(run, &AccountId::parse("A-1001").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(outcome.outcome, Outcome::Failed);
        assert!(outcome.reason.unwrap().contains("throttled"));
        let view = app.queries().run_view(run).await.unwrap();
        assert!(
            view.status.is_completed(),
            "the run completes: {:?}",
            view.status
        );
        assert!(view.counters.reconciles());
    }
}
