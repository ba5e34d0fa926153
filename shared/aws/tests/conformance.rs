//! One port conformance suite, the same test code run against the in-memory adapters
//! and against the DynamoDB / SQS / S3 adapters on a local wire-protocol endpoint.

mod common;

use billrun_app::model::{AccountCommit, AccountOutcomeRecord, CommitResult, Created};
use billrun_app::{AppError, StoreError};
use billrun_domain::book::Book;
use billrun_domain::document::{DocumentKind, DocumentStatus};
use billrun_domain::ids::AccountId;
use billrun_domain::request::{Filters, RunRequest};
use billrun_domain::run::{Counters, Outcome, RunStatus};
use billrun_domain::state::StateChange;
use common::Backend;

const EXAMPLE: &str = include_str!("../../../infra/local/tests/fixtures/book.json");

fn request(target: &str) -> RunRequest {
    RunRequest::for_target(target.parse().unwrap())
        .validated()
        .unwrap()
}

fn aid(s: &str) -> AccountId {
    AccountId::parse(s).unwrap()
}

/// `n` monthly accounts `A-00`.. with bill cycle day 1, batches alternating B1/B2,
/// one started mid-January (a stub), all billed in advance.
fn many(n: usize) -> Book {
    let mut accounts = Vec::new();
    let mut subs = Vec::new();
    for i in 0..n {
        accounts.push(serde_json::json!({
            "id": format!("A-{i:02}"), "name": format!("Customer {i}"), "currency": "USD",
            "billCycleDay": 1, "batch": if i % 2 == 0 { "B1" } else { "B2" }, "taxRate": "0.1"
        }));
        subs.push(serde_json::json!({
            "id": format!("S-{i:02}"), "accountId": format!("A-{i:02}"), "productId": "P",
            "productName": "Plan", "startDate": "2024-01-15",
            "charges": [{"id": format!("C-{i:02}"), "type": "Recurring", "price": format!("{}.00", 10 + i), "billingPeriod": "Month"}]
        }));
    }
    let json = serde_json::json!({"accounts": accounts, "subscriptions": subs});
    Book::parse(json.to_string().as_bytes()).unwrap()
}

async fn run_to_end(b: &Backend, req: RunRequest) -> billrun_app::RunRecord {
    let created = b.app.create_run(req, None).await.unwrap();
    let id = created.run().id;
    b.finish(id).await;
    b.app.get_run(id).await.unwrap()
}

async fn import_then_read_an_account_book(b: Backend) {
    b.app.import_book(EXAMPLE.as_bytes()).await.unwrap();
    let book = b
        .app
        .book
        .account_book(&aid("A-1001"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(book.account.name, "Acme Aviation");
    assert_eq!(book.subscriptions.len(), 1);
    assert_eq!(book.subscriptions[0].charges.len(), 3);
    assert_eq!(book.usage.len(), 1);
    assert_eq!(book.adjustments.len(), 1);
    assert!(b
        .app
        .book
        .account_book(&aid("A-404"))
        .await
        .unwrap()
        .is_none());
}

async fn a_replayed_idempotency_key_returns_the_same_run_and_a_changed_body_conflicts(b: Backend) {
    let mut req = request("2024-02-01");
    req.run_type = billrun_domain::request::RunType::Manual;
    let first = b
        .app
        .create_run(req.clone(), Some("key-1".into()))
        .await
        .unwrap();
    assert!(matches!(first, Created::New(_)));
    let again = b
        .app
        .create_run(req.clone(), Some("key-1".into()))
        .await
        .unwrap();
    assert!(
        matches!(&again, Created::Replayed(r) if r.id == first.run().id && r.number == first.run().number)
    );
    req.name = Some("other".into());
    let err = b
        .app
        .create_run(req, Some("key-1".into()))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        AppError::Conflict {
            code: "idempotency_key_reused",
            ..
        }
    ));
    assert_eq!(
        b.app.get_run(first.run().id).await.unwrap().status,
        RunStatus::Pending
    );
}

async fn the_book_format_example_bills_the_documented_totals(b: Backend) {
    b.app.import_book(EXAMPLE.as_bytes()).await.unwrap();
    let run = run_to_end(&b, request("2024-02-01")).await;
    assert_eq!(run.status, RunStatus::Completed);
    let docs = b.app.all_documents(run.id).await.unwrap();
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    assert_eq!(d.number.as_deref(), Some("INV-000000001"));
    let amounts: Vec<String> = d.lines.iter().map(|l| l.amount.to_string()).collect();
    assert_eq!(amounts, ["54.84", "100.00", "50.00", "50.00", "-10.00"]);
    assert_eq!(d.totals.tax.to_string(), "20.20");
    assert_eq!(d.totals.total.to_string(), "265.04");
    let c = b.app.runs.counters(run.id).await.unwrap();
    assert_eq!((c.accounts_selected, c.billed, c.invoices), (1, 1, 1));
    assert_eq!(c.amounts[0].invoiced.to_string(), "265.04");
    // A second run bills nothing more.
    let again = run_to_end(&b, request("2024-02-01")).await;
    let c = b.app.runs.counters(again.id).await.unwrap();
    assert_eq!((c.nothing_to_bill, c.invoices), (1, 0));
}

async fn a_second_commit_of_the_same_account_is_already_done(b: Backend) {
    b.app.import_book(EXAMPLE.as_bytes()).await.unwrap();
    let run = run_to_end(&b, request("2024-02-01")).await;
    let outcome = b
        .app
        .runs
        .outcome(run.id, &aid("A-1001"))
        .await
        .unwrap()
        .unwrap();
    let commit = AccountCommit {
        outcome: outcome.clone(),
        documents: vec![],
    };
    assert_eq!(
        b.app.ledger.commit_account(&commit).await.unwrap(),
        CommitResult::AlreadyDone
    );
    // Processing the message again changes nothing either.
    b.app
        .process_account(run.id, &aid("A-1001"), 0)
        .await
        .unwrap();
    assert_eq!(b.app.all_documents(run.id).await.unwrap().len(), 1);
    assert_eq!(b.app.runs.counters(run.id).await.unwrap().billed, 1);
}

async fn a_commit_whose_watermark_moved_is_a_conflict(b: Backend) {
    b.app.import_book(EXAMPLE.as_bytes()).await.unwrap();
    let run = run_to_end(&b, request("2024-02-01")).await;
    let stale = AccountOutcomeRecord {
        run_id: billrun_domain::ids::RunId(uuid::Uuid::new_v4()),
        account_id: aid("A-1001"),
        outcome: Outcome::Billed,
        reason: None,
        document_ids: vec![],
        changes: vec![StateChange::Watermark {
            charge_id: billrun_domain::ids::ChargeId::parse("C-1").unwrap(),
            from: None, // the run above moved it to 2024-03-01
            to: "2024-02-01".parse().unwrap(),
            billed: vec![],
        }],
        counters: Counters::for_account(Outcome::Billed, &[], 0),
        round: 0,
    };
    let err = b
        .app
        .ledger
        .commit_account(&AccountCommit {
            outcome: stale,
            documents: vec![],
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let _ = run;
}

async fn number_blocks_are_reserved_once_per_round_and_follow_each_other(b: Backend) {
    let mut req = request("2024-02-01");
    req.run_type = billrun_domain::request::RunType::Manual;
    let r1 = b.app.create_run(req.clone(), None).await.unwrap().run().id;
    let r2 = b.app.create_run(req, None).await.unwrap().run().id;
    let a = b.app.sequences.reserve_block(r1, 0, 3, 1).await.unwrap();
    let again = b.app.sequences.reserve_block(r1, 0, 3, 1).await.unwrap();
    assert_eq!(a, again);
    assert_eq!((a.first_invoice, a.first_credit_memo), (1, 1));
    let c = b.app.sequences.reserve_block(r2, 0, 2, 0).await.unwrap();
    assert_eq!((c.first_invoice, c.first_credit_memo), (4, 2));
    let d = b.app.sequences.reserve_block(r1, 1, 1, 0).await.unwrap();
    assert_eq!(d.first_invoice, 6);
    let stored = b.app.get_run(r1).await.unwrap();
    assert_eq!(
        stored.number_blocks.len(),
        2,
        "blocks are stored on the run"
    );
}

async fn planning_pages_select_filtered_accounts_in_order(mut b: Backend) {
    b.app
        .import_book(serde_json::to_vec(&many(11)).unwrap().as_slice())
        .await
        .unwrap();
    // The selection port pages by cursor.
    let filters = Filters {
        batches: vec!["B2".into()],
        ..Filters::default()
    };
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = b
            .app
            .book
            .select_accounts(&filters, cursor.as_deref(), 2)
            .await
            .unwrap();
        seen.extend(page.ids.iter().map(|a| a.to_string()));
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, ["A-01", "A-03", "A-05", "A-07", "A-09"]);
    // A run plans in pages of 3 and bills exactly the selected accounts.
    b.app.plan_page_size = 3;
    let mut req = request("2024-02-01");
    req.filters = filters;
    let run = run_to_end(&b, req).await;
    let c = b.app.runs.counters(run.id).await.unwrap();
    assert_eq!((c.accounts_selected, c.billed, c.invoices), (5, 5, 5));
    assert!(b.app.get_run(run.id).await.unwrap().plan.pages >= 2);
}

async fn outcomes_and_documents_page_in_numbering_order(b: Backend) {
    b.app
        .import_book(serde_json::to_vec(&many(13)).unwrap().as_slice())
        .await
        .unwrap();
    let run = run_to_end(&b, request("2024-02-01")).await;
    let mut accounts = Vec::new();
    let mut after: Option<AccountId> = None;
    loop {
        let page = b
            .app
            .runs
            .outcomes(run.id, after.as_ref(), 4)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.account_id.clone());
        accounts.extend(page.into_iter().map(|o| o.account_id.to_string()));
    }
    let expected: Vec<String> = (0..13).map(|i| format!("A-{i:02}")).collect();
    assert_eq!(accounts, expected);
    let mut numbers = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = b
            .app
            .documents
            .run_documents(run.id, cursor.as_deref(), 4)
            .await
            .unwrap();
        numbers.extend(page.documents.iter().map(|d| {
            (
                d.document.account_id.to_string(),
                d.document.number.clone().unwrap(),
            )
        }));
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    let expected: Vec<(String, String)> = (0..13)
        .map(|i| (format!("A-{i:02}"), DocumentKind::Invoice.number(i + 1)))
        .collect();
    assert_eq!(numbers, expected, "gapless, in byte-wise account order");
}

async fn post_marks_every_document_posted_and_refuses_unfinished_runs(b: Backend) {
    b.app
        .import_book(serde_json::to_vec(&many(3)).unwrap().as_slice())
        .await
        .unwrap();
    let mut manual = request("2024-02-01");
    manual.run_type = billrun_domain::request::RunType::Manual;
    let pending = b.app.create_run(manual, None).await.unwrap().run().id;
    assert!(matches!(
        b.app.post_run(pending).await,
        Err(AppError::Conflict {
            code: "run_not_completed",
            ..
        })
    ));
    let run = run_to_end(&b, request("2024-02-01")).await;
    let posted = b.app.post_run(run.id).await.unwrap();
    assert_eq!(posted.status, RunStatus::Posted);
    let docs = b.app.all_documents(run.id).await.unwrap();
    assert_eq!(docs.len(), 3);
    assert!(docs.iter().all(|d| d.status == DocumentStatus::Posted));
    assert!(matches!(
        b.app.cancel_run(run.id).await,
        Err(AppError::Conflict {
            code: "run_posted",
            ..
        })
    ));
}

async fn cancel_reverts_so_a_rerun_bills_the_same_lines_unless_a_later_run_moved_on(b: Backend) {
    b.app
        .import_book(serde_json::to_vec(&many(4)).unwrap().as_slice())
        .await
        .unwrap();
    let first = run_to_end(&b, request("2024-02-01")).await;
    let first_docs = b.app.all_documents(first.id).await.unwrap();
    b.app.cancel_run(first.id).await.unwrap();
    assert_eq!(
        b.app.get_run(first.id).await.unwrap().status,
        RunStatus::Canceled
    );
    let canceled = b.app.all_documents(first.id).await.unwrap();
    assert!(canceled
        .iter()
        .all(|d| d.status == DocumentStatus::Canceled && d.number.is_some()));
    let second = run_to_end(&b, request("2024-02-01")).await;
    let second_docs = b.app.all_documents(second.id).await.unwrap();
    assert_eq!(
        first_docs
            .iter()
            .map(|d| (&d.lines, &d.totals))
            .collect::<Vec<_>>(),
        second_docs
            .iter()
            .map(|d| (&d.lines, &d.totals))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        second_docs[0].number.as_deref(),
        Some("INV-000000005"),
        "a further block"
    );
    // A later run bills past the second run's watermarks: the second can no longer be canceled.
    run_to_end(&b, request("2024-03-01")).await;
    assert!(matches!(
        b.app.cancel_run(second.id).await,
        Err(AppError::Conflict {
            code: "run_superseded",
            ..
        })
    ));
    assert_eq!(
        b.app.get_run(second.id).await.unwrap().status,
        RunStatus::Completed
    );
}

async fn retry_failed_redrives_only_the_failed_accounts_into_a_further_block(b: Backend) {
    let mut book = many(3);
    book.subscriptions[1].charges[0].currency =
        Some(billrun_domain::money::Currency::parse("EUR").unwrap());
    b.app.book.import_book(&book).await.unwrap();
    let run = run_to_end(&b, request("2024-02-01")).await;
    assert_eq!(run.status, RunStatus::CompletedWithErrors);
    let failed = b
        .app
        .runs
        .outcome(run.id, &aid("A-01"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(failed.outcome, Outcome::Failed);
    assert!(failed.reason.unwrap().contains("EUR"));
    // Fix the data, retry.
    book.subscriptions[1].charges[0].currency = None;
    b.app.book.import_book(&book).await.unwrap();
    b.app.retry_failed(run.id).await.unwrap();
    b.finish(run.id).await;
    let after = b.app.get_run(run.id).await.unwrap();
    assert_eq!(after.status, RunStatus::Completed);
    let c = b.app.runs.counters(run.id).await.unwrap();
    assert_eq!(
        (c.accounts_selected, c.billed, c.failed, c.invoices),
        (3, 3, 0, 3)
    );
    assert!(c.reconciles());
    let docs = b.app.all_documents(run.id).await.unwrap();
    let numbers: Vec<(&str, &str)> = docs
        .iter()
        .map(|d| (d.account_id.as_str(), d.number.as_deref().unwrap()))
        .collect();
    assert_eq!(
        numbers,
        [
            ("A-00", "INV-000000001"),
            ("A-02", "INV-000000002"),
            ("A-01", "INV-000000003")
        ]
    );
}

async fn blobs_round_trip(b: Backend) {
    b.blobs
        .put_blob(
            "documents/x.pdf",
            b"%PDF-1.7 test".to_vec(),
            "application/pdf",
        )
        .await
        .unwrap();
    assert_eq!(
        b.blobs.get_blob("documents/x.pdf").await.unwrap().unwrap(),
        b"%PDF-1.7 test"
    );
    assert_eq!(
        b.blobs.get_blob("documents/missing.pdf").await.unwrap(),
        None
    );
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::memory().await).await
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::aws().await).await
                }
            )*
        }
    };
}

conformance!(
    import_then_read_an_account_book,
    a_replayed_idempotency_key_returns_the_same_run_and_a_changed_body_conflicts,
    the_book_format_example_bills_the_documented_totals,
    a_second_commit_of_the_same_account_is_already_done,
    a_commit_whose_watermark_moved_is_a_conflict,
    number_blocks_are_reserved_once_per_round_and_follow_each_other,
    planning_pages_select_filtered_accounts_in_order,
    outcomes_and_documents_page_in_numbering_order,
    post_marks_every_document_posted_and_refuses_unfinished_runs,
    cancel_reverts_so_a_rerun_bills_the_same_lines_unless_a_later_run_moved_on,
    retry_failed_redrives_only_the_failed_accounts_into_a_further_block,
    blobs_round_trip,
);
