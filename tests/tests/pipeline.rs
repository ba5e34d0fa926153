//! The use cases on the in-memory adapters: idempotent run creation, manual runs,
//! posting, canceling, retrying failed accounts, redelivered messages.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use billrun_app::memory::Receive;
use billrun_app::worker::{drain, WorkerConfig};
use billrun_app::{AppError, ConflictCode, Created, Message, RunRecord};
use billrun_domain::document::{Document, DocumentKind, DocumentStatus};
use billrun_domain::ids::{AccountId, RunId};
use billrun_domain::request::{Filters, RunRequest};
use billrun_domain::run::{Outcome, RunStatus};
use billrun_domain::state::AccountState;
use billrun_local::pipeline::Local;
use billrun_testkit::fixtures::{date, manual, request};
use billrun_tests::local::{drain_queue, local_with, run_to_end};

/// Two USD accounts billed monthly in advance from 2024-01-01: "A-1" ($100, 10 % tax)
/// and "B-1" ($50). "A-1" sorts first byte-wise.
const BOOK: &str = r#"{
  "accounts": [
    {"id": "A-1", "name": "Acme", "currency": "USD", "billCycleDay": 1, "taxRate": "0.1"},
    {"id": "B-1", "name": "Bolt", "currency": "USD", "billCycleDay": 1}
  ],
  "subscriptions": [
    {"id": "S-A", "accountId": "A-1", "productId": "P-GOLD", "productName": "Gold plan",
     "startDate": "2024-01-01",
     "charges": [{"id": "C-A", "type": "Recurring", "price": "100.00",
                  "billingPeriod": "Month", "timing": "InAdvance"}]},
    {"id": "S-B", "accountId": "B-1", "productId": "P-SILVER", "productName": "Silver plan",
     "startDate": "2024-01-01",
     "charges": [{"id": "C-B", "type": "Recurring", "price": "50.00",
                  "billingPeriod": "Month", "timing": "InAdvance"}]}
  ]
}"#;

fn id(s: &str) -> AccountId {
    AccountId::parse(s).expect("an account id")
}

async fn documents(local: &Local, run: RunId) -> Vec<Document> {
    local
        .app
        .queries()
        .all_documents(run)
        .await
        .expect("documents")
}

fn numbers(docs: &[Document]) -> Vec<&str> {
    docs.iter().filter_map(|d| d.number.as_deref()).collect()
}

fn conflict_code(e: &AppError) -> Option<ConflictCode> {
    match e {
        AppError::Conflict { code, .. } => Some(*code),
        _ => None,
    }
}

#[tokio::test]
async fn the_same_idempotency_key_with_the_same_request_replays_the_run() {
    let local = local_with(BOOK.as_bytes(), None).await;
    let key = Some("key-1".to_string());
    let first = local
        .app
        .pipeline()
        .create_run(request("2024-01-01"), key.clone())
        .await
        .expect("a run");
    let Created::New(first) = first else {
        panic!("the first call creates the run, got {first:?}");
    };
    let replay = local
        .app
        .pipeline()
        .create_run(request("2024-01-01"), key)
        .await
        .expect("a replay");
    let Created::Replayed(replay) = replay else {
        panic!("the second call replays, got {replay:?}");
    };
    assert_eq!(replay.id, first.id);
    assert_eq!(replay.number, first.number);

    // The replay neither took a run number nor started a second run.
    drain_queue(&local).await;
    let other = local
        .app
        .pipeline()
        .create_run(request("2024-02-01"), None)
        .await
        .expect("another run");
    assert_eq!(other.run().number, "BR-00000002");
    let docs = documents(&local, first.id).await;
    assert_eq!(numbers(&docs), ["INV-000000001", "INV-000000002"]);
}

#[tokio::test]
async fn a_request_that_differs_only_in_defaulted_fields_is_the_same_request() {
    let local = local_with(BOOK.as_bytes(), None).await;
    let key = Some("key-defaults".to_string());
    let explicit = RunRequest::parse(
        br#"{"targetDate": "2024-01-01", "grouping": "Account", "suppressZeroInvoices": false}"#,
    )
    .expect("a request");
    let implicit = RunRequest::parse(br#"{"targetDate": "2024-01-01"}"#).expect("a request");
    let first = local
        .app
        .pipeline()
        .create_run(explicit, key.clone())
        .await
        .unwrap();
    let replay = local
        .app
        .pipeline()
        .create_run(implicit, key)
        .await
        .unwrap();
    assert!(matches!(replay, Created::Replayed(ref r) if r.id == first.run().id));
}

#[tokio::test]
async fn the_same_idempotency_key_with_a_different_request_is_a_conflict() {
    let local = local_with(BOOK.as_bytes(), None).await;
    let key = Some("key-2".to_string());
    let first = local
        .app
        .pipeline()
        .create_run(request("2024-01-01"), key.clone())
        .await
        .expect("a run");
    let err = local
        .app
        .pipeline()
        .create_run(request("2024-02-01"), key)
        .await
        .expect_err("a different request under the same key");
    assert_eq!(
        conflict_code(&err),
        Some(ConflictCode::IdempotencyKeyReused),
        "{err:?}"
    );

    // Nothing was stored for the refused request.
    drain_queue(&local).await;
    let run = local.app.queries().get_run(first.run().id).await.unwrap();
    assert_eq!(run.target_date, date("2024-01-01"));
    let next = local
        .app
        .pipeline()
        .create_run(request("2024-02-01"), None)
        .await
        .unwrap();
    assert_eq!(next.run().number, "BR-00000002");
}

#[tokio::test]
async fn a_manual_run_stays_pending_until_it_is_started() {
    let local = local_with(BOOK.as_bytes(), None).await;
    let created = local
        .app
        .pipeline()
        .create_run(manual("2024-01-01"), None)
        .await
        .expect("a run");
    let id = created.run().id;
    assert_eq!(created.run().status, RunStatus::Pending);

    drain_queue(&local).await;
    let run = local.app.queries().get_run(id).await.unwrap();
    assert_eq!(run.status, RunStatus::Pending);
    assert!(run.commenced_at.is_none());
    assert!(documents(&local, id).await.is_empty());

    let started = local
        .app
        .pipeline()
        .start_run(id)
        .await
        .expect("the run starts");
    assert_eq!(started.status, RunStatus::Processing);
    assert!(started.commenced_at.is_some());
    drain_queue(&local).await;
    let run = local.app.queries().run_view(id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.counters.billed, 2);
    assert_eq!(documents(&local, id).await.len(), 2);

    let again = local
        .app
        .pipeline()
        .start_run(id)
        .await
        .expect_err("started twice");
    assert_eq!(
        conflict_code(&again),
        Some(ConflictCode::RunNotPending),
        "{again:?}"
    );
}

#[tokio::test]
async fn posting_a_completed_run_posts_it_and_every_document() {
    let local = local_with(BOOK.as_bytes(), None).await;
    let run = run_to_end(&local, request("2024-01-01")).await;
    assert_eq!(run.status, RunStatus::Completed);
    assert!(documents(&local, run.id)
        .await
        .iter()
        .all(|d| d.status == DocumentStatus::Draft));

    let posted = local
        .app
        .pipeline()
        .post_run(run.id)
        .await
        .expect("the run posts");
    assert_eq!(posted.status, RunStatus::Posted);
    let docs = documents(&local, run.id).await;
    assert_eq!(docs.len(), 2);
    assert!(docs.iter().all(|d| d.status == DocumentStatus::Posted));

    // Posting again is a no-op; a posted run cannot be canceled.
    let again = local
        .app
        .pipeline()
        .post_run(run.id)
        .await
        .expect("a no-op");
    assert_eq!(again.status, RunStatus::Posted);
    let err = local
        .app
        .pipeline()
        .cancel_run(run.id)
        .await
        .expect_err("posted");
    assert_eq!(
        conflict_code(&err),
        Some(ConflictCode::RunPosted),
        "{err:?}"
    );
}

#[tokio::test]
async fn posting_a_pending_run_is_a_conflict() {
    let local = local_with(BOOK.as_bytes(), None).await;
    let created = local
        .app
        .pipeline()
        .create_run(manual("2024-01-01"), None)
        .await
        .unwrap();
    let err = local
        .app
        .pipeline()
        .post_run(created.run().id)
        .await
        .expect_err("a pending run cannot be posted");
    assert_eq!(
        conflict_code(&err),
        Some(ConflictCode::RunNotCompleted),
        "{err:?}"
    );
    let run = local.app.queries().get_run(created.run().id).await.unwrap();
    assert_eq!(run.status, RunStatus::Pending);
}

#[tokio::test]
async fn cancel_is_refused_when_a_later_run_has_billed_past_the_runs_watermarks() {
    let local = local_with(BOOK.as_bytes(), None).await;
    let january = run_to_end(&local, request("2024-01-01")).await;
    let february = run_to_end(&local, request("2024-02-01")).await;
    assert_eq!(documents(&local, february.id).await.len(), 2);

    let err = local
        .app
        .pipeline()
        .cancel_run(january.id)
        .await
        .expect_err("February billed past January's watermarks");
    assert_eq!(
        conflict_code(&err),
        Some(ConflictCode::RunSuperseded),
        "{err:?}"
    );
    // The refused cancel changed nothing.
    assert_eq!(
        local
            .app
            .queries()
            .get_run(january.id)
            .await
            .unwrap()
            .status,
        RunStatus::Completed
    );
    assert!(documents(&local, january.id)
        .await
        .iter()
        .all(|d| d.status == DocumentStatus::Draft));

    // Undone in reverse order, both cancel, and January and February bill again.
    let canceled = local
        .app
        .pipeline()
        .cancel_run(february.id)
        .await
        .expect("cancel");
    assert_eq!(canceled.status, RunStatus::Canceled);
    let canceled = local
        .app
        .pipeline()
        .cancel_run(january.id)
        .await
        .expect("cancel");
    assert_eq!(canceled.status, RunStatus::Canceled);
    let again = run_to_end(&local, request("2024-02-01")).await;
    let docs = documents(&local, again.id).await;
    let periods: Vec<usize> = docs.iter().map(|d| d.lines.len()).collect();
    assert_eq!(periods, [2, 2], "January and February for each account");
}

#[tokio::test]
async fn retrying_failed_accounts_bills_them_in_a_further_block_of_numbers() {
    // A-1's charge is in EUR on a USD account: A-1 fails, B-1 is billed.
    let bad = BOOK.replace(
        r#""price": "100.00","#,
        r#""price": "100.00", "currency": "EUR","#,
    );
    assert_ne!(bad, BOOK);
    let local = local_with(bad.as_bytes(), None).await;
    let run = run_to_end(&local, request("2024-01-01")).await;
    assert_eq!(run.status, RunStatus::CompletedWithErrors);
    let outcomes = local.app.queries().account_outcomes(run.id).await.unwrap();
    assert_eq!(outcomes[0].account_id, id("A-1"));
    assert_eq!(outcomes[0].outcome, Outcome::Failed);
    let reason = outcomes[0].reason.as_deref().unwrap_or_default();
    assert!(reason.contains("EUR"), "reason: {reason}");
    assert_eq!(outcomes[1].outcome, Outcome::Billed);
    assert_eq!(outcomes[1].document_numbers, ["INV-000000001"]);

    // Another run takes the next number before the retry.
    let other = RunRequest {
        filters: Filters {
            account_ids: vec![id("B-1")],
            ..Filters::default()
        },
        ..request("2024-02-01")
    };
    let other = run_to_end(&local, other).await;
    assert_eq!(
        numbers(&documents(&local, other.id).await),
        ["INV-000000002"]
    );

    // Fix the book: the subscription again, without the foreign currency.
    local
        .app
        .reference()
        .import_book(BOOK.as_bytes())
        .await
        .expect("the fixed book imports");
    let retried = local
        .app
        .pipeline()
        .retry_failed(run.id)
        .await
        .expect("a retry");
    assert_eq!(retried.status, RunStatus::Processing);
    assert_eq!(retried.round, 1);
    drain_queue(&local).await;

    let view = local.app.queries().run_view(run.id).await.unwrap();
    assert_eq!(view.status, RunStatus::Completed);
    let c = &view.counters;
    assert!(c.reconciles(), "{c:?}");
    assert_eq!(
        (c.accounts_selected, c.billed, c.failed, c.invoices),
        (2, 2, 0, 2)
    );
    let outcomes = local.app.queries().account_outcomes(run.id).await.unwrap();
    assert_eq!(outcomes[0].outcome, Outcome::Billed);
    assert_eq!(outcomes[0].reason, None);
    // A-1 sorts first but was billed in round 1: its number comes from a further block,
    // after every number taken so far.
    assert_eq!(outcomes[0].document_numbers, ["INV-000000003"]);
    assert_eq!(outcomes[1].document_numbers, ["INV-000000001"]);
    // Documents are listed in numbering order: the first round's block, then the retry's.
    let docs = documents(&local, run.id).await;
    assert_eq!(numbers(&docs), ["INV-000000001", "INV-000000003"]);
    assert_eq!(docs[1].account_id.as_str(), "A-1");
    assert_eq!(docs[1].totals.total.to_string(), "110.00");
    let blocks = local
        .app
        .queries()
        .get_run(run.id)
        .await
        .unwrap()
        .number_blocks;
    assert_eq!(blocks.len(), 2);
    assert_eq!((blocks[1].round, blocks[1].first_invoice), (1, 3));
    assert_eq!(local.store.sequence(DocumentKind::Invoice), 3);

    let err = local
        .app
        .pipeline()
        .retry_failed(run.id)
        .await
        .expect_err("no failures");
    assert_eq!(
        conflict_code(&err),
        Some(ConflictCode::RunHasNoFailures),
        "{err:?}"
    );
}

/// Everything a redelivered message could change.
#[derive(Debug, PartialEq)]
struct Snapshot {
    run: RunRecord,
    counters: billrun_domain::run::Counters,
    documents: Vec<Document>,
    outcomes: Vec<billrun_app::AccountOutcomeView>,
    states: Vec<Option<AccountState>>,
    sequences: (u64, u64),
}

async fn snapshot(local: &Local, run: RunId) -> Snapshot {
    let mut states = Vec::new();
    for a in ["A-1", "B-1"] {
        let book = local.app.book.account_book(&id(a)).await.unwrap();
        states.push(book.map(|b| b.state));
    }
    Snapshot {
        run: local.app.queries().get_run(run).await.unwrap(),
        counters: local.app.runs.counters(run).await.unwrap(),
        documents: documents(local, run).await,
        outcomes: local.app.queries().account_outcomes(run).await.unwrap(),
        states,
        sequences: (
            local.store.sequence(DocumentKind::Invoice),
            local.store.sequence(DocumentKind::CreditMemo),
        ),
    }
}

#[tokio::test]
async fn a_redelivered_account_message_changes_nothing() {
    let local = local_with(BOOK.as_bytes(), None).await;
    let created = local
        .app
        .pipeline()
        .create_run(manual("2024-01-01"), None)
        .await
        .unwrap();
    let run = created.run().id;
    local.app.pipeline().start_run(run).await.unwrap();

    // Deliver by hand: every account message is handled, then handled again at once.
    let mut redelivered = Vec::new();
    loop {
        let delivery = match local.queue.try_receive() {
            Receive::Delivery(d) => d,
            Receive::Drained => break,
            Receive::Empty => panic!("nothing is in flight"),
        };
        local.app.handle(&delivery.message).await.expect("handled");
        local.queue.ack();
        if let Message::Account { .. } = &delivery.message {
            let before = snapshot(&local, run).await;
            local
                .app
                .handle(&delivery.message)
                .await
                .expect("handled again");
            assert_eq!(
                snapshot(&local, run).await,
                before,
                "{:?}",
                delivery.message
            );
            redelivered.push(delivery.message);
        }
    }
    assert_eq!(redelivered.len(), 2);
    let done = snapshot(&local, run).await;
    assert_eq!(done.run.status, RunStatus::Completed);
    assert_eq!(numbers(&done.documents), ["INV-000000001", "INV-000000002"]);

    // Once the run has completed, too.
    for m in &redelivered {
        local.app.handle(m).await.expect("handled after completion");
    }
    assert_eq!(snapshot(&local, run).await, done);
}

/// An Immediate run whose POST failed after the run was stored, with `op` failing once;
/// `stored` changes the run as stored before the client retries the POST.
async fn immediate_run_with_a_failed_start(
    op: &'static str,
    stored: impl FnOnce(&mut RunRecord),
) -> (Local, RunId) {
    let local = local_with(BOOK.as_bytes(), None).await;
    let plan = billrun_testkit::faults::FaultPlan::new(0, 0);
    let (app, _) = plan.wrap(&local.app);
    plan.fail_next(op, 1);
    let key = Some(format!("start-{op}"));
    let err = app
        .pipeline()
        .create_run(request("2024-01-01"), key.clone())
        .await
        .expect_err("the start fails");
    assert!(err.is_retryable(), "{err:?}");
    let mut runs = local
        .app
        .run_listing
        .list_runs(&Default::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(runs.len(), 1);
    let mut run = runs.remove(0);
    // Stored started: no read and conditional write of its own to start it.
    assert_eq!((run.status, run.version), (RunStatus::Processing, 1));
    stored(&mut run);
    local.app.runs.update_run(&run).await.unwrap();
    // The client retries the POST under the same key: it replays the run and finishes
    // starting it.
    let replay = app
        .pipeline()
        .create_run(request("2024-01-01"), key)
        .await
        .expect("the retry replays the run");
    assert!(matches!(replay, Created::Replayed(_)), "{replay:?}");
    assert_eq!(replay.run().status, RunStatus::Processing);
    (local, replay.run().id)
}

#[tokio::test]
async fn a_retried_post_starts_an_immediate_run_stored_pending() {
    // A release before Immediate runs were stored started could leave one Pending (its
    // start failed after it was stored): the retry under the same key starts it.
    let (local, run) = immediate_run_with_a_failed_start("send", |r| {
        r.status = RunStatus::Pending;
        r.commenced_at = None;
        r.version += 1;
    })
    .await;
    drain_queue(&local).await;
    let view = local.app.queries().run_view(run).await.unwrap();
    assert_eq!(view.status, RunStatus::Completed);
    assert_eq!(view.counters.billed, 2);
    assert_eq!(
        numbers(&documents(&local, run).await),
        ["INV-000000001", "INV-000000002"]
    );
}

#[tokio::test]
async fn a_retried_post_queues_the_planning_an_immediate_run_failed_to_queue() {
    // The run is Processing, but its first planning message was never sent.
    let (local, run) = immediate_run_with_a_failed_start("send", |r| r.version += 1).await;
    drain_queue(&local).await;
    let view = local.app.queries().run_view(run).await.unwrap();
    assert_eq!(view.status, RunStatus::Completed);
    assert_eq!(view.counters.billed, 2);
}

#[tokio::test]
async fn a_document_that_keeps_failing_is_recorded_failed_with_its_reason_and_the_request_completes(
) {
    use billrun_app::docgen::{DocumentRequestStatus, GenerationStatus};
    let local = local_with(BOOK.as_bytes(), None).await;
    let run = run_to_end(&local, request("2024-01-01")).await;
    let template = serde_json::json!({
        "name": "Default",
        "content": serde_json::to_string(&billrun_documents_template()).unwrap(),
    });
    local
        .app
        .templates()
        .put_template("T-1", template.to_string().as_bytes())
        .await
        .unwrap();
    local
        .app
        .templates()
        .activate_template("T-1")
        .await
        .unwrap();
    let view = local.app.docgen().request_documents(run.id).await.unwrap();
    // Rendering cannot read the template on any receive of either document.
    let plan = billrun_testkit::faults::FaultPlan::new(0, 0);
    let (app, _) = plan.wrap(&local.app);
    let config = WorkerConfig {
        workers: 1,
        max_receives: 3,
    };
    plan.fail_next("get_template", 2 * config.max_receives);
    drain(std::sync::Arc::new(app), local.queue.clone(), config).await;
    let done = local.app.docgen().document_request(view.id).await.unwrap();
    assert_eq!(done.status, DocumentRequestStatus::CompletedWithErrors);
    assert_eq!((done.counters.generated, done.counters.failed), (0, 2));
    let mut reasons = Vec::new();
    for d in documents(&local, run.id).await {
        let file = local
            .app
            .document_requests
            .document_file(d.id)
            .await
            .unwrap()
            .unwrap();
        if file.status == GenerationStatus::Failed {
            reasons.push(file.reason.unwrap_or_default());
        }
    }
    assert_eq!(reasons.len(), 2);
    assert!(
        reasons
            .iter()
            .all(|r| r.contains("gave up after 3 receives") && r.contains("get_template")),
        "{reasons:?}"
    );
}

fn billrun_documents_template() -> billrun_documents::DocumentTemplate {
    billrun_documents::sample::demo_template("en-US")
}
