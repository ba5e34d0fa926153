//! One port conformance suite, the same test code run against the in-memory adapters
//! and against the DynamoDB / SQS / S3 adapters on a local wire-protocol endpoint.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "conformance/approval.rs"]
mod approval;
#[path = "conformance/audit.rs"]
mod audit;
mod common;
#[path = "conformance/corrections.rs"]
mod corrections;
#[path = "conformance/deliveries.rs"]
mod deliveries;
#[path = "conformance/events.rs"]
mod events;
#[path = "conformance/exports.rs"]
mod exports;
#[path = "conformance/listings.rs"]
mod listings;
#[path = "conformance/payments.rs"]
mod payments;
#[path = "conformance/previews.rs"]
mod previews;
#[path = "conformance/races.rs"]
mod races;
#[path = "conformance/webhooks.rs"]
mod webhooks;

use approval::*;
use audit::*;
use billrun_app::model::{AccountCommit, AccountOutcomeRecord, CommitResult, Created};
use billrun_app::{AppError, ConflictCode, StoreError};
use billrun_domain::book::Book;
use billrun_domain::document::{DocumentKind, DocumentStatus};
use billrun_domain::ids::AccountId;
use billrun_domain::request::{AccountSelection, Filters, RunRequest};
use billrun_domain::run::{Counters, Outcome, RunStatus};
use billrun_domain::state::StateChange;
use billrun_testkit::fixtures::{aid, manual, monthly_book, request, EXAMPLE_BOOK};
use common::{usage_book, Backend};
use corrections::*;
use deliveries::*;
use events::*;
use exports::*;
use listings::*;
use payments::*;
use previews::*;
use races::*;
use webhooks::*;

const EXAMPLE: &str = EXAMPLE_BOOK;

/// `n` monthly accounts `A-00`.. with bill cycle day 1, batches alternating B1/B2,
/// one started mid-January (a stub), all billed in advance.
fn many(n: usize) -> Book {
    monthly_book(
        n,
        |i| format!("{}.00", 10 + i),
        |i| serde_json::json!({"batch": if i % 2 == 0 { "B1" } else { "B2" }, "taxRate": "0.1"}),
    )
}

async fn run_to_end(b: &Backend, req: RunRequest) -> billrun_app::RunRecord {
    let created = b.app.pipeline().create_run(req, None).await.unwrap();
    let id = created.run().id;
    b.finish(id).await;
    b.app.queries().get_run(id).await.unwrap()
}

async fn import_then_read_an_account_book(b: Backend) {
    b.app
        .reference()
        .import_book(EXAMPLE.as_bytes())
        .await
        .unwrap();
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

/// A run's client fields are stored with it (one write), read back whole, and part of
/// what a replay under the same key must repeat.
async fn a_runs_client_fields_are_stored_with_it_and_compared_on_replay(b: Backend) {
    let mut req = request("2024-02-01");
    req.run_type = billrun_domain::request::RunType::Manual;
    let fields: billrun_app::ClientFields = serde_json::from_value(serde_json::json!({
        "custom_fields": {"cost_center__c": "CC-7", "n": 3}, "email": true
    }))
    .unwrap();
    let created = b
        .app
        .pipeline()
        .create_run_with(req.clone(), Some("cf-1".into()), Some(fields.clone()))
        .await
        .unwrap();
    let id = created.run().id;
    let stored = b.app.runs.get_run(id).await.unwrap().unwrap();
    assert_eq!(stored.client_fields.as_ref(), Some(&fields));
    assert_eq!(
        b.app.queries().run_view(id).await.unwrap().client_fields,
        Some(fields.clone())
    );
    let again = b
        .app
        .pipeline()
        .create_run_with(req.clone(), Some("cf-1".into()), Some(fields))
        .await
        .unwrap();
    assert!(matches!(again, Created::Replayed(r) if r.id == id));
    let err = b
        .app
        .pipeline()
        .create_run_with(req, Some("cf-1".into()), None)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        AppError::Conflict {
            code: ConflictCode::IdempotencyKeyReused,
            ..
        }
    ));
}

async fn a_replayed_idempotency_key_returns_the_same_run_and_a_changed_body_conflicts(b: Backend) {
    let mut req = request("2024-02-01");
    req.run_type = billrun_domain::request::RunType::Manual;
    let first = b
        .app
        .pipeline()
        .create_run(req.clone(), Some("key-1".into()))
        .await
        .unwrap();
    assert!(matches!(first, Created::New(_)));
    let again = b
        .app
        .pipeline()
        .create_run(req.clone(), Some("key-1".into()))
        .await
        .unwrap();
    assert!(
        matches!(&again, Created::Replayed(r) if r.id == first.run().id && r.number == first.run().number)
    );
    req.name = Some("other".into());
    let err = b
        .app
        .pipeline()
        .create_run(req, Some("key-1".into()))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        AppError::Conflict {
            code: ConflictCode::IdempotencyKeyReused,
            ..
        }
    ));
    assert_eq!(
        b.app
            .queries()
            .get_run(first.run().id)
            .await
            .unwrap()
            .status,
        RunStatus::Pending
    );
}

/// Run numbers are gapless: concurrent creations take consecutive numbers, and neither
/// a replay nor a creation that lost a race for its key takes one.
async fn a_deleted_run_is_stored_as_deleted_and_no_longer_found_listed_or_replayed(b: Backend) {
    let code = |r: Result<(), AppError>| match r {
        Err(AppError::Conflict { code, .. }) => Some(code),
        Err(AppError::NotFound(_)) => None,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let keep = b
        .app
        .pipeline()
        .create_run(manual("2024-02-01"), None)
        .await
        .unwrap();
    let gone = b
        .app
        .pipeline()
        .create_run(manual("2024-03-01"), Some("del-1".into()))
        .await
        .unwrap();
    let (keep, gone) = (keep.run().id, gone.run().id);
    assert_eq!(
        code(b.app.pipeline().delete_run(gone).await),
        Some(ConflictCode::RunNotCanceled)
    );
    b.app.pipeline().cancel_run(gone).await.unwrap();
    b.app.pipeline().delete_run(gone).await.unwrap();
    // Stored as deleted (the record stays: its number is never given again).
    let stored = b.app.runs.get_run(gone).await.unwrap().unwrap();
    assert!(stored.deleted_at.is_some());
    assert_eq!(stored.status, RunStatus::Canceled);
    assert!(matches!(
        b.app.queries().get_run(gone).await,
        Err(AppError::NotFound(_))
    ));
    assert_eq!(code(b.app.pipeline().delete_run(gone).await), None);
    let listed: Vec<_> = b
        .app
        .queries()
        .list_runs(&Default::default(), None, 1)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, vec![keep]);
    let replay = b
        .app
        .pipeline()
        .create_run(manual("2024-03-01"), Some("del-1".into()))
        .await;
    assert!(matches!(
        replay,
        Err(AppError::Conflict {
            code: ConflictCode::RunDeleted,
            ..
        })
    ));
}

async fn a_run_number_beyond_any_stored_one_finds_no_run(b: Backend) {
    let created = b
        .app
        .pipeline()
        .create_run(manual("2024-02-01"), None)
        .await
        .unwrap();
    let stored = b.app.run_listing.run_by_number(1).await.unwrap();
    assert_eq!(stored.map(|r| r.id), Some(created.run().id));
    for n in [2, i64::MAX as u64, i64::MAX as u64 + 1, u64::MAX] {
        assert_eq!(
            b.app.run_listing.run_by_number(n).await.unwrap(),
            None,
            "{n}"
        );
    }
}

async fn concurrent_run_creations_take_consecutive_numbers_and_replays_take_none(b: Backend) {
    let mut req = request("2024-02-01");
    req.run_type = billrun_domain::request::RunType::Manual;
    let create = |key: String| {
        let (app, req) = (b.app.clone(), req.clone());
        async move { app.pipeline().create_run(req, Some(key)).await }
    };
    // Six keys, each sent twice at once: six runs, the other six calls replays.
    let calls = (0..12).map(|i| create(format!("seq-{}", i % 6)));
    let created = futures_util::future::join_all(calls).await;
    let mut numbers = Vec::new();
    let mut replays = 0;
    for c in created {
        match c.unwrap() {
            Created::New(r) => numbers.push(r.number),
            Created::Replayed(_) => replays += 1,
        }
    }
    numbers.sort();
    let expected: Vec<String> = (1..=6).map(|n| format!("BR-{n:08}")).collect();
    assert_eq!((numbers, replays), (expected, 6));
    let next = b
        .app
        .pipeline()
        .create_run(req.clone(), None)
        .await
        .unwrap();
    assert_eq!(next.run().number, "BR-00000007");
}

async fn the_book_format_example_bills_the_documented_totals(b: Backend) {
    b.app
        .reference()
        .import_book(EXAMPLE.as_bytes())
        .await
        .unwrap();
    let run = run_to_end(&b, request("2024-02-01")).await;
    assert_eq!(run.status, RunStatus::Completed);
    let docs = b.app.queries().all_documents(run.id).await.unwrap();
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
    b.app
        .reference()
        .import_book(EXAMPLE.as_bytes())
        .await
        .unwrap();
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
        expires_at: None,
    };
    assert_eq!(
        b.app.ledger.commit_account(&commit).await.unwrap(),
        CommitResult::AlreadyDone
    );
    // Processing the message again changes nothing either.
    b.app
        .pipeline()
        .process_account(run.id, &aid("A-1001"), 0)
        .await
        .unwrap();
    assert_eq!(
        b.app.queries().all_documents(run.id).await.unwrap().len(),
        1
    );
    assert_eq!(b.app.runs.counters(run.id).await.unwrap().billed, 1);
}

async fn a_commit_whose_watermark_moved_is_a_conflict(b: Backend) {
    b.app
        .reference()
        .import_book(EXAMPLE.as_bytes())
        .await
        .unwrap();
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
            expires_at: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let _ = run;
}

async fn number_blocks_are_reserved_once_per_round_and_follow_each_other(b: Backend) {
    let mut req = request("2024-02-01");
    req.run_type = billrun_domain::request::RunType::Manual;
    let r1 = b
        .app
        .pipeline()
        .create_run(req.clone(), None)
        .await
        .unwrap()
        .run()
        .id;
    let r2 = b
        .app
        .pipeline()
        .create_run(req, None)
        .await
        .unwrap()
        .run()
        .id;
    let a = b.app.sequences.reserve_block(r1, 0, 3, 1).await.unwrap();
    let again = b.app.sequences.reserve_block(r1, 0, 3, 1).await.unwrap();
    assert_eq!(a, again);
    assert_eq!((a.first_invoice, a.first_credit_memo), (1, 1));
    let c = b.app.sequences.reserve_block(r2, 0, 2, 0).await.unwrap();
    assert_eq!((c.first_invoice, c.first_credit_memo), (4, 2));
    let d = b.app.sequences.reserve_block(r1, 1, 1, 0).await.unwrap();
    assert_eq!(d.first_invoice, 6);
    let stored = b.app.queries().get_run(r1).await.unwrap();
    assert_eq!(
        stored.number_blocks.len(),
        2,
        "blocks are stored on the run"
    );
}

async fn planning_pages_select_filtered_accounts_in_order(mut b: Backend) {
    b.app
        .reference()
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
            .select_accounts(&filters.clone().into(), cursor.as_deref(), 2)
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
    assert!(b.app.queries().get_run(run.id).await.unwrap().plan.pages >= 2);
}

/// docs/billing-rules.md "Subruns": a run with a subrun selects only the accounts of
/// that subrun (with its other filters); a run without one, accounts whatever their
/// subrun. Planning and the sweeper's re-selection go through the same port.
async fn a_run_with_a_subrun_selects_only_the_accounts_of_that_subrun(b: Backend) {
    let mut book = many(8);
    for (i, subrun) in [(1, "North"), (2, "North"), (3, "South"), (5, "North")] {
        book.accounts[i].subrun = Some(subrun.into());
    }
    b.app.book.import_book(&book).await.unwrap();
    let select = |filters: Filters, subrun: Option<&str>| {
        let selection = AccountSelection {
            filters,
            subrun: subrun.map(String::from),
        };
        let app = b.app.clone();
        async move {
            let page = app
                .book
                .select_accounts(&selection, None, 100)
                .await
                .unwrap();
            page.ids.iter().map(|a| a.to_string()).collect::<Vec<_>>()
        }
    };
    assert_eq!(
        select(Filters::default(), Some("North")).await,
        ["A-01", "A-02", "A-05"]
    );
    let b2 = Filters {
        batches: vec!["B2".into()],
        ..Filters::default()
    };
    assert_eq!(select(b2, Some("North")).await, ["A-01", "A-05"]);
    assert_eq!(
        select(Filters::default(), Some("West")).await,
        Vec::<String>::new()
    );
    assert_eq!(select(Filters::default(), None).await.len(), 8);
    let mut req = request("2024-02-01");
    req.subrun = Some("North".into());
    let run = run_to_end(&b, req).await;
    let c = b.app.runs.counters(run.id).await.unwrap();
    assert_eq!((c.accounts_selected, c.billed, c.invoices), (3, 3, 3));
    let billed: Vec<String> = b
        .app
        .queries()
        .all_documents(run.id)
        .await
        .unwrap()
        .iter()
        .map(|d| d.account_id.to_string())
        .collect();
    assert_eq!(billed, ["A-01", "A-02", "A-05"]);
    // The next run without a subrun bills the others for the same month.
    let rest = run_to_end(&b, request("2024-02-01")).await;
    let c = b.app.runs.counters(rest.id).await.unwrap();
    assert_eq!(
        (c.accounts_selected, c.billed, c.nothing_to_bill),
        (8, 5, 3)
    );
}

async fn outcomes_and_documents_page_in_numbering_order(b: Backend) {
    b.app
        .reference()
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
        .reference()
        .import_book(serde_json::to_vec(&many(3)).unwrap().as_slice())
        .await
        .unwrap();
    let mut manual = request("2024-02-01");
    manual.run_type = billrun_domain::request::RunType::Manual;
    let pending = b
        .app
        .pipeline()
        .create_run(manual, None)
        .await
        .unwrap()
        .run()
        .id;
    assert!(matches!(
        b.app.pipeline().post_run(pending).await,
        Err(AppError::Conflict {
            code: ConflictCode::RunNotCompleted,
            ..
        })
    ));
    let run = run_to_end(&b, request("2024-02-01")).await;
    let posted = b.app.pipeline().post_run(run.id).await.unwrap();
    assert_eq!(posted.status, RunStatus::Posted);
    let docs = b.app.queries().all_documents(run.id).await.unwrap();
    assert_eq!(docs.len(), 3);
    assert!(docs.iter().all(|d| d.status == DocumentStatus::Posted));
    assert!(matches!(
        b.app.pipeline().cancel_run(run.id).await,
        Err(AppError::Conflict {
            code: ConflictCode::RunPosted,
            ..
        })
    ));
}

async fn cancel_reverts_so_a_rerun_bills_the_same_lines_unless_a_later_run_moved_on(b: Backend) {
    b.app
        .reference()
        .import_book(serde_json::to_vec(&many(4)).unwrap().as_slice())
        .await
        .unwrap();
    let first = run_to_end(&b, request("2024-02-01")).await;
    let first_docs = b.app.queries().all_documents(first.id).await.unwrap();
    b.app.pipeline().cancel_run(first.id).await.unwrap();
    assert_eq!(
        b.app.queries().get_run(first.id).await.unwrap().status,
        RunStatus::Canceled
    );
    let canceled = b.app.queries().all_documents(first.id).await.unwrap();
    assert!(canceled
        .iter()
        .all(|d| d.status == DocumentStatus::Canceled && d.number.is_some()));
    let second = run_to_end(&b, request("2024-02-01")).await;
    let second_docs = b.app.queries().all_documents(second.id).await.unwrap();
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
        b.app.pipeline().cancel_run(second.id).await,
        Err(AppError::Conflict {
            code: ConflictCode::RunSuperseded,
            ..
        })
    ));
    assert_eq!(
        b.app.queries().get_run(second.id).await.unwrap().status,
        RunStatus::Completed
    );
}

/// Two accounts whose terms end Feb 1, renewed monthly: R-1 bills in advance (the renewed
/// February), R-2 in arrears (nothing ready by Feb 1: its only change is the renewal).
fn renewing_book() -> Book {
    let sub = |i: u8, timing: &str| {
        serde_json::json!({
            "id": format!("RS-{i}"), "accountId": format!("R-{i}"), "productId": "P",
            "startDate": "2024-01-01",
            "term": {"endDate": "2024-02-01", "autoRenew": true, "renewalMonths": 1},
            "charges": [{"id": format!("RC-{i}"), "type": "Recurring", "price": "100.00",
                "billingPeriod": "Month", "timing": timing, "billedThrough": "2024-02-01"}]
        })
    };
    let account = |i: u8| serde_json::json!({"id": format!("R-{i}"), "name": "Renewer", "currency": "USD", "billCycleDay": 1});
    let json = serde_json::json!({
        "accounts": [account(1), account(2)],
        "subscriptions": [sub(1, "InAdvance"), sub(2, "InArrears")]
    });
    Book::parse(json.to_string().as_bytes()).unwrap()
}

fn renewing(target: &str) -> RunRequest {
    let mut r = request(target);
    r.renew_subscriptions = true;
    r
}

/// The renewal counts of R-1's and R-2's subscriptions as stored.
async fn renewals(b: &Backend) -> [u32; 2] {
    let mut out = [0; 2];
    for (i, k) in out.iter_mut().enumerate() {
        let book = b
            .app
            .book
            .account_book(&aid(&format!("R-{}", i + 1)))
            .await
            .unwrap()
            .unwrap();
        let sub = &book.subscriptions[0].id;
        *k = book.state.renewals(sub);
    }
    out
}

async fn a_renewal_is_committed_once_and_undone_by_cancel(b: Backend) {
    b.app
        .reference()
        .import_book(serde_json::to_vec(&renewing_book()).unwrap().as_slice())
        .await
        .unwrap();
    let first = run_to_end(&b, renewing("2024-02-01")).await;
    assert_eq!(renewals(&b).await, [1, 1]);
    let outcomes = b.app.runs.outcomes(first.id, None, 10).await.unwrap();
    assert_eq!(
        outcomes.iter().map(|o| o.outcome).collect::<Vec<_>>(),
        [Outcome::Billed, Outcome::NothingToBill]
    );
    // The outcome records the renewal: term end Feb 1 -> Mar 1.
    assert!(outcomes[1].changes.iter().any(|c| matches!(c,
        StateChange::Renewal { from: 0, to: 1, term_end_from, term_end_to, .. }
            if term_end_from.to_string() == "2024-02-01" && term_end_to.to_string() == "2024-03-01")));
    let docs = b.app.queries().all_documents(first.id).await.unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].totals.total.to_string(), "100.00");
    // A redelivered commit of the same outcome changes nothing: renewed once.
    let again = AccountCommit {
        outcome: outcomes[1].clone(),
        documents: vec![],
        expires_at: None,
    };
    assert_eq!(
        b.app.ledger.commit_account(&again).await.unwrap(),
        CommitResult::AlreadyDone
    );
    assert_eq!(renewals(&b).await, [1, 1]);

    // Cancel undoes the renewals with the watermarks; a re-run renews and bills the same.
    b.app.pipeline().cancel_run(first.id).await.unwrap();
    assert_eq!(renewals(&b).await, [0, 0]);
    // A reverted outcome lists no renewal any more (its changes are undone).
    let reverted = b.app.queries().account_outcomes(first.id).await.unwrap();
    assert!(
        reverted.iter().all(|o| o.renewals.is_empty()),
        "{reverted:?}"
    );
    let second = run_to_end(&b, renewing("2024-02-01")).await;
    assert_eq!(renewals(&b).await, [1, 1]);
    let second_docs = b.app.queries().all_documents(second.id).await.unwrap();
    assert_eq!(
        docs.iter()
            .map(|d| (&d.lines, &d.totals))
            .collect::<Vec<_>>(),
        second_docs
            .iter()
            .map(|d| (&d.lines, &d.totals))
            .collect::<Vec<_>>()
    );

    // A later run that only renews (recurring charges excluded) relied on the second
    // run's renewal: the second can no longer be canceled.
    let mut later = renewing("2024-03-01");
    later.filters.account_ids = vec![aid("R-1")];
    later.charge_types_excluded = vec![billrun_domain::request::ExcludableType::Recurring];
    let later = run_to_end(&b, later).await;
    assert_eq!(renewals(&b).await, [2, 1]);
    assert_eq!(
        b.app.runs.counters(later.id).await.unwrap().nothing_to_bill,
        1
    );
    assert!(matches!(
        b.app.pipeline().cancel_run(second.id).await,
        Err(AppError::Conflict {
            code: ConflictCode::RunSuperseded,
            ..
        })
    ));
    assert_eq!(renewals(&b).await, [2, 1]);
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
    b.app.pipeline().retry_failed(run.id).await.unwrap();
    b.finish(run.id).await;
    let after = b.app.queries().get_run(run.id).await.unwrap();
    assert_eq!(after.status, RunStatus::Completed);
    let c = b.app.runs.counters(run.id).await.unwrap();
    assert_eq!(
        (c.accounts_selected, c.billed, c.failed, c.invoices),
        (3, 3, 0, 3)
    );
    assert!(c.reconciles());
    let docs = b.app.queries().all_documents(run.id).await.unwrap();
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

/// The progress a completion check reads follows a retry's removal of the Failed
/// outcomes exactly, whichever progress items their reports went to (the removal goes
/// to one item, which may then hold a negative count), and each retry round completes.
/// The progress may lead the outcomes (a redelivery reports its batch again), never lag
/// them once a round is complete.
async fn the_progress_follows_the_outcomes_through_retry_rounds(b: Backend) {
    let mut book = many(8);
    for s in &mut book.subscriptions {
        s.charges[0].currency = Some(billrun_domain::money::Currency::parse("EUR").unwrap());
    }
    b.app.book.import_book(&book).await.unwrap();
    let run = run_to_end(&b, request("2024-02-01")).await;
    assert_eq!(run.status, RunStatus::CompletedWithErrors);
    for round in 1..=5 {
        let before = b.app.runs.progress(run.id).await.unwrap();
        b.app.pipeline().retry_failed(run.id).await.unwrap();
        let after = b.app.runs.progress(run.id).await.unwrap();
        assert_eq!(
            (after.accounted_for(), after.failed),
            (before.accounted_for() - 8, before.failed - 8),
            "round {round}: the 8 Failed outcomes' progress removed"
        );
        assert_eq!(b.app.runs.counters(run.id).await.unwrap().failed, 0);
        b.finish(run.id).await;
        let r = b.app.queries().get_run(run.id).await.unwrap();
        assert_eq!((r.status, r.round), (RunStatus::CompletedWithErrors, round));
        let progress = b.app.runs.progress(run.id).await.unwrap();
        assert!(progress.failed >= 8, "round {round}: {progress:?}");
    }
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

async fn document_requests_need_an_active_template_and_render_each_document_once(b: Backend) {
    use billrun_app::docgen::{
        DocumentFile, DocumentRequestStatus, GenerationStatus, DOCUMENTS_PER_PACK,
    };
    b.app
        .reference()
        .import_book(EXAMPLE.as_bytes())
        .await
        .unwrap();
    let run = run_to_end(&b, request("2024-02-01")).await;
    let queued = b.queued_documents().await;
    match b.app.docgen().request_documents(run.id).await {
        Err(AppError::Conflict { code, message, .. }) => {
            assert_eq!(code, ConflictCode::NoActiveTemplate);
            assert_eq!(message, "no active invoice document template");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(b.queued_documents().await, queued, "nothing is queued");
    assert_eq!(
        b.app.queries().run_document_counters(run.id).await.unwrap(),
        None
    );

    let template = serde_json::json!({
        "name": "Default",
        "content": billrun_documents_template(),
    });
    b.app
        .templates()
        .put_template("T-1", template.to_string().as_bytes())
        .await
        .unwrap();
    b.app.templates().activate_template("T-1").await.unwrap();
    let view = b.app.docgen().request_documents(run.id).await.unwrap();
    assert_eq!(view.status, DocumentRequestStatus::Pending);
    let documents = b.app.queries().all_documents(run.id).await.unwrap();
    assert!(!documents.is_empty());
    assert_eq!(view.counters.requested, documents.len() as u64);
    b.finish_documents(view.id).await;
    let done = b.app.docgen().document_request(view.id).await.unwrap();
    assert_eq!(done.status, DocumentRequestStatus::Completed);
    assert_eq!(done.counters.generated, documents.len() as u64);
    assert_eq!(
        b.app.queries().run_document_counters(run.id).await.unwrap(),
        Some(done.counters)
    );
    // One pack per chunk of DOCUMENTS_PER_PACK documents in numbering order, holding
    // exactly the chunk's PDFs back to back; each record names its range.
    let mut keys = Vec::new();
    let mut packs: Vec<(String, u64)> = Vec::new();
    for (i, d) in documents.iter().enumerate() {
        let file = b
            .app
            .document_requests
            .document_file(d.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(file.status, GenerationStatus::Generated);
        let key = file.key.clone().unwrap();
        let range = file.range.unwrap();
        if i % DOCUMENTS_PER_PACK == 0 {
            let first = d.number.clone().unwrap();
            assert!(key.starts_with(&format!("documents/{}/pack-{first}-", run.id)));
            assert_eq!(range.offset, 0);
            packs.push((key.clone(), 0));
        }
        let (pack, end) = packs.last_mut().unwrap();
        assert_eq!(&key, pack, "document {i} is in its chunk's pack");
        assert_eq!(range.offset, *end, "right after the previous PDF");
        *end += range.length;
        let pdf = b
            .blobs
            .get_blob_range(&key, range.offset, range.length)
            .await
            .unwrap()
            .unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.trim_ascii_end().ends_with(b"%%EOF"));
        assert_eq!(b.app.docgen().document_download(d.id).await.unwrap(), pdf);
        keys.push(key);
    }
    for (key, end) in &packs {
        let whole = b.blobs.get_blob(key).await.unwrap().unwrap();
        assert_eq!(
            whole.len() as u64,
            *end,
            "{key} holds its chunk's PDFs only"
        );
    }
    // A range past the end of a pack is an error, not fewer bytes.
    let (key, end) = &packs[0];
    assert!(b.blobs.get_blob_range(key, end - 1, 2).await.is_err());
    assert_eq!(
        b.blobs.get_blob_range("documents/none.bin", 0, 1).await,
        Ok(None)
    );

    // A redelivered message changes nothing; a recorded pair is recorded once.
    let chunk: Vec<_> = documents
        .iter()
        .take(DOCUMENTS_PER_PACK)
        .map(|d| d.id)
        .collect();
    b.app
        .docgen()
        .generate_documents(view.id, &chunk)
        .await
        .unwrap();
    let again: DocumentFile = b
        .app
        .document_requests
        .document_file(documents[0].id)
        .await
        .unwrap()
        .unwrap();
    assert!(!b
        .app
        .document_requests
        .record_document_file(&again)
        .await
        .unwrap());
    assert_eq!(
        b.app
            .document_requests
            .record_document_files(&[again.clone(), again])
            .await,
        Ok(0)
    );
    assert_eq!(
        b.app
            .docgen()
            .document_request(view.id)
            .await
            .unwrap()
            .counters,
        done.counters
    );

    // A second request renders the same bytes under the same keys.
    let second = b.app.docgen().request_documents(run.id).await.unwrap();
    b.finish_documents(second.id).await;
    for (d, key) in documents.iter().zip(&keys) {
        let file = b
            .app
            .document_requests
            .document_file(d.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(file.request_id, second.id);
        assert_eq!(file.key.as_ref(), Some(key));
    }

    // A chunk redelivered after part of it was recorded records the rest, each once,
    // pointing into the same pack (rebuilt from the same bytes, not written anew).
    let third = b.app.docgen().request_documents(run.id).await.unwrap();
    let mut first = b
        .app
        .document_requests
        .document_file(chunk[0])
        .await
        .unwrap()
        .unwrap();
    first.request_id = third.id;
    assert!(b
        .app
        .document_requests
        .record_document_file(&first)
        .await
        .unwrap());
    b.app
        .docgen()
        .generate_documents(third.id, &chunk)
        .await
        .unwrap();
    let counters = b
        .app
        .docgen()
        .document_request(third.id)
        .await
        .unwrap()
        .counters;
    assert_eq!(
        (counters.generated, counters.failed),
        (chunk.len() as u64, 0),
        "each of the chunk counted once"
    );
    for (d, key) in chunk.iter().zip(&keys) {
        let file = b
            .app
            .document_requests
            .document_file(*d)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((file.request_id, file.key.as_ref()), (third.id, Some(key)));
    }
}

/// The template JSON the demo installs.
fn billrun_documents_template() -> serde_json::Value {
    serde_json::json!({
        "companyName": "Northwind Analytics, Inc.",
        "address": {"line1": "500 Market Street", "city": "San Francisco, CA",
                    "postalCode": "94105", "country": "United States"},
        "taxId": "EIN 94-3187452", "accentColor": "#1F4E79",
        "footer": "Thank you for your business.", "locale": "en-US"
    })
}

/// A clock that moves one second per reading, so creation and update times are
/// distinct and ordered on every backend.
struct SteppingClock(std::sync::atomic::AtomicI64);

impl billrun_app::ports::Clock for SteppingClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        let s = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        chrono::DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }
}

fn stepping(b: &Backend) -> billrun_app::App {
    let mut app = b.app.clone();
    app.clock = std::sync::Arc::new(SteppingClock(std::sync::atomic::AtomicI64::new(0)));
    app
}

async fn runs_list_in_creation_order_with_filters_and_positions(b: Backend) {
    use billrun_app::catalog::{run_number, RunFilter, RunPosition};
    let app = stepping(&b);
    let mut created = Vec::new();
    for _ in 0..23 {
        created.push(
            app.pipeline()
                .create_run(manual("2024-02-01"), None)
                .await
                .unwrap()
                .run()
                .clone(),
        );
    }
    // Three runs change later (updatedAt moves on).
    for r in &created[20..] {
        app.pipeline().cancel_run(r.id).await.unwrap();
    }
    let all_filter = RunFilter::default();
    let mut seen = Vec::new();
    let mut after: Option<RunPosition> = None;
    loop {
        let page = app
            .run_listing
            .list_runs(&all_filter, after.as_ref(), 7)
            .await
            .unwrap();
        assert!(page.len() <= 7);
        seen.extend(page.iter().map(|r| r.id));
        match page.last() {
            Some(last) if page.len() == 7 => after = Some(RunPosition::of(last)),
            _ => break,
        }
    }
    let expected: Vec<_> = created.iter().map(|r| r.id).collect();
    assert_eq!(seen, expected, "every run once, in creation order");

    let n10 = run_number(&created[9].number).unwrap();
    let later = app
        .run_listing
        .list_runs(
            &RunFilter {
                id_after: Some(n10),
                ..RunFilter::default()
            },
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(later.len(), 13);
    assert!(later.iter().all(|r| run_number(&r.number).unwrap() > n10));

    let since = created[5].created_at;
    let created_since = app
        .run_listing
        .list_runs(
            &RunFilter {
                created_since: Some(since),
                ..RunFilter::default()
            },
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(created_since.first().map(|r| r.id), Some(created[5].id));
    assert_eq!(created_since.len(), 18);

    let canceled = app.queries().get_run(created[20].id).await.unwrap();
    let updated = app
        .run_listing
        .list_runs(
            &RunFilter {
                updated_since: Some(canceled.updated_at),
                ..RunFilter::default()
            },
            None,
            100,
        )
        .await
        .unwrap();
    let ids: Vec<_> = updated.iter().map(|r| r.id).collect();
    assert_eq!(ids, [created[20].id, created[21].id, created[22].id]);
    let pending = app
        .run_listing
        .list_runs(
            &RunFilter {
                status: Some(RunStatus::Canceled),
                ..RunFilter::default()
            },
            None,
            2,
        )
        .await
        .unwrap();
    assert_eq!(pending.len(), 2);
    assert!(pending.iter().all(|r| r.status == RunStatus::Canceled));
    let by_number = app.run_listing.run_by_number(n10).await.unwrap().unwrap();
    assert_eq!(by_number.id, created[9].id);
    assert!(app
        .run_listing
        .run_by_number(n10 + 1000)
        .await
        .unwrap()
        .is_none());
}

async fn accounts_list_by_batch_from_a_position(b: Backend) {
    b.app.book.import_book(&many(9)).await.unwrap();
    let page = b
        .app
        .account_listing
        .list_accounts(Some("B1"), None, 3)
        .await
        .unwrap();
    let ids: Vec<&str> = page.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["A-00", "A-02", "A-04"]);
    let page = b
        .app
        .account_listing
        .list_accounts(Some("B1"), Some(&aid("A-04")), 3)
        .await
        .unwrap();
    let ids: Vec<&str> = page.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["A-06", "A-08"]);
    let all = b
        .app
        .account_listing
        .list_accounts(None, Some(&aid("A-06")), 100)
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    assert!(b
        .app
        .account_listing
        .list_accounts(Some("B9"), None, 3)
        .await
        .unwrap()
        .is_empty());
}

/// More accounts than one request of the account index returns (500 for listings,
/// 1,000 for planning), so every listing follows the index from page to page.
async fn account_listings_read_on_past_one_request_page(b: Backend) {
    let accounts: Vec<serde_json::Value> = (0..1201)
        .map(|i| {
            serde_json::json!({
                "id": format!("A-{i:04}"), "name": format!("Customer {i}"), "currency": "USD",
                "billCycleDay": 1, "batch": if i % 2 == 0 { "B1" } else { "B2" }, "taxRate": "0.1"
            })
        })
        .collect();
    let json = serde_json::json!({ "accounts": accounts });
    let book = Book::parse(json.to_string().as_bytes()).unwrap();
    b.app.book.import_book(&book).await.unwrap();
    let all = b
        .app
        .account_listing
        .list_accounts(None, None, 5000)
        .await
        .unwrap();
    let ids: Vec<String> = all.iter().map(|a| a.id.to_string()).collect();
    let expected: Vec<String> = (0..1201).map(|i| format!("A-{i:04}")).collect();
    assert_eq!(ids, expected);
    let odd = b
        .app
        .account_listing
        .list_accounts(Some("B2"), Some(&aid("A-0100")), 550)
        .await
        .unwrap();
    assert_eq!(odd.len(), 550);
    assert_eq!(odd[0].id.as_str(), "A-0101");
    assert_eq!(odd[549].id.as_str(), "A-1199");
    let filters = Filters {
        batches: vec!["B1".into()],
        ..Filters::default()
    };
    let page = b
        .app
        .book
        .select_accounts(&filters.clone().into(), None, 600)
        .await
        .unwrap();
    assert_eq!(page.ids.len(), 600);
    assert_eq!(page.ids[599].as_str(), "A-1198");
    assert_eq!(page.next.as_deref(), Some("A-1198"));
    let rest = b
        .app
        .book
        .select_accounts(&filters.into(), page.next.as_deref(), 600)
        .await
        .unwrap();
    let rest: Vec<&str> = rest.ids.iter().map(|a| a.as_str()).collect();
    assert_eq!(rest, ["A-1200"]);
}

async fn a_runs_documents_list_by_kind_from_a_position(b: Backend) {
    use billrun_app::catalog::DocumentPosition;
    let mut book = many(6);
    // Odd accounts get a large credit: their documents are credit memos.
    let mut json = serde_json::to_value(&book).unwrap();
    json["adjustments"] = serde_json::json!((0..6).filter(|i| i % 2 == 1).map(|i| serde_json::json!({
        "id": format!("J-{i}"), "accountId": format!("A-{i:02}"), "date": "2024-01-20", "amount": "-500.00"
    })).collect::<Vec<_>>());
    book = Book::parse(json.to_string().as_bytes()).unwrap();
    b.app.book.import_book(&book).await.unwrap();
    let run = run_to_end(&b, request("2024-02-01")).await;
    let list = |kind, after: Option<DocumentPosition>, limit| {
        let app = b.app.clone();
        async move {
            app.document_listing
                .list_run_documents(run.id, kind, after.as_ref(), limit)
                .await
                .unwrap()
        }
    };
    let all = list(None, None, 100).await;
    assert_eq!(all.len(), 6);
    let memos = list(Some(DocumentKind::CreditMemo), None, 2).await;
    let accts: Vec<&str> = memos
        .iter()
        .map(|d| d.document.account_id.as_str())
        .collect();
    assert_eq!(accts, ["A-01", "A-03"]);
    let rest = list(
        Some(DocumentKind::CreditMemo),
        Some(DocumentPosition::of(&memos[1])),
        2,
    )
    .await;
    let accts: Vec<&str> = rest
        .iter()
        .map(|d| d.document.account_id.as_str())
        .collect();
    assert_eq!(accts, ["A-05"]);
    let invoices = list(Some(DocumentKind::Invoice), None, 10).await;
    assert!(invoices
        .iter()
        .all(|d| d.document.kind == DocumentKind::Invoice && d.document.number.is_some()));
    assert_eq!(invoices.len(), 3);
}

const SCHEDULED: &str = r#"{
  "accounts": [{"id": "A-S", "name": "Scheduled", "currency": "USD", "billCycleDay": 1, "taxRate": "0.1"}],
  "subscriptions": [{"id": "S-S", "accountId": "A-S", "productId": "P", "startDate": "2024-01-01", "endDate": "2025-01-01",
    "charges": [{"id": "C-S", "type": "Recurring", "price": "99.00", "billingPeriod": "Month"}]}],
  "invoiceSchedules": [{"id": "IS-1", "accountId": "A-S", "subscriptionIds": ["S-S"], "items": [
    {"id": "I-1", "invoiceDate": "2024-01-01", "amount": "600.00"},
    {"id": "I-2", "invoiceDate": "2024-07-01", "amount": "600.00"}]}]
}"#;

async fn schedules_and_subscriptions_are_found_by_id_and_items_execute_once(b: Backend) {
    use billrun_domain::book::ScheduleItemStatus;
    use billrun_domain::ids::{ScheduleId, ScheduleItemId, SubscriptionId};
    b.app
        .reference()
        .import_book(SCHEDULED.as_bytes())
        .await
        .unwrap();
    let sid = ScheduleId::parse("IS-1").unwrap();
    assert_eq!(
        b.app
            .subscriptions
            .subscription_account(&SubscriptionId::parse("S-S").unwrap())
            .await
            .unwrap(),
        Some(aid("A-S"))
    );
    assert_eq!(
        b.app
            .subscriptions
            .subscription_account(&SubscriptionId::parse("S-X").unwrap())
            .await
            .unwrap(),
        None
    );
    let stored = b
        .app
        .invoice_schedules
        .get_schedule(&sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.schedule.items.len(), 2);
    assert!(stored.processed.is_empty());
    assert_eq!(
        b.app
            .invoice_schedules
            .account_schedules(&aid("A-S"))
            .await
            .unwrap()
            .len(),
        1
    );

    let x = b
        .app
        .schedules()
        .execute_schedule(&sid, None)
        .await
        .unwrap();
    assert_eq!(x.executed_item.as_str(), "I-1");
    assert_eq!(x.run.status, RunStatus::Completed);
    assert_eq!(x.document.number.as_deref(), Some("INV-000000001"));
    assert_eq!(x.document.totals.total.to_string(), "660.00");
    assert_eq!(x.run.counters.invoices, 1);
    let err = b
        .app
        .schedules()
        .execute_schedule(&sid, Some(ScheduleItemId::parse("I-1").unwrap()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AppError::Conflict {
                code: ConflictCode::ScheduleItemProcessed,
                ..
            }
        ),
        "{err:?}"
    );
    // Re-importing the schedule keeps the executed item Processed.
    b.app
        .reference()
        .import_book(SCHEDULED.as_bytes())
        .await
        .unwrap();
    let stored = b
        .app
        .invoice_schedules
        .get_schedule(&sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.schedule.items[0].status,
        ScheduleItemStatus::Processed
    );
    assert_eq!(stored.schedule.items[1].status, ScheduleItemStatus::Pending);
    assert_eq!(stored.processed[0].run_id, x.run.id);
    assert_eq!(stored.processed[0].document_id, x.document.id);
    let y = b
        .app
        .schedules()
        .execute_schedule(&sid, None)
        .await
        .unwrap();
    assert_eq!(y.executed_item.as_str(), "I-2");
    assert_eq!(y.document.lines[0].description, "Installment 2 of 2");
    let err = b
        .app
        .schedules()
        .execute_schedule(&sid, None)
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::NotFound(_)), "{err:?}");
    // A regular run leaves the scheduled subscription alone.
    let run = run_to_end(&b, request("2024-02-01")).await;
    let c = b.app.runs.counters(run.id).await.unwrap();
    assert_eq!((c.nothing_to_bill, c.invoices), (1, 0));
}

async fn templates_are_stored_and_one_is_active(b: Backend) {
    use billrun_app::catalog::DocumentTemplate;
    let t = |id: &str| DocumentTemplate {
        id: id.into(),
        name: format!("Template {id}"),
        content: "<p>{{number}}</p>".into(),
        active: false,
        updated_at: chrono::Utc::now(),
    };
    use billrun_app::model::audit::{AuditFilter, ConfigChange, ConfigVerb, ResourceKind};
    // Each change carries its audit entry, written with it.
    let entry = |id: &str, verb: ConfigVerb| {
        ConfigChange {
            kind: ResourceKind::Template,
            id: id.into(),
            verb,
            changes: Vec::new(),
        }
        .entry(None, Some("ann".into()), chrono::Utc::now())
    };
    let c = &b.app.templates;
    c.put_template(&t("T-1"), &entry("T-1", ConfigVerb::Created))
        .await
        .unwrap();
    c.put_template(&t("T-2"), &entry("T-2", ConfigVerb::Created))
        .await
        .unwrap();
    assert!(c.active_template().await.unwrap().is_none());
    let missing = c
        .activate_template("T-9", &entry("T-9", ConfigVerb::Activated))
        .await
        .unwrap();
    assert!(missing.is_none());
    for id in ["T-1", "T-2"] {
        let activated = c
            .activate_template(id, &entry(id, ConfigVerb::Activated))
            .await
            .unwrap();
        assert!(activated.unwrap().active);
    }
    assert_eq!(c.active_template().await.unwrap().unwrap().id, "T-2");
    assert!(!c.get_template("T-1").await.unwrap().unwrap().active);
    let again = c
        .put_template(&t("T-2"), &entry("T-2", ConfigVerb::Updated))
        .await
        .unwrap();
    assert!(
        again.active,
        "replacing the active template keeps it active"
    );
    let trail = b
        .app
        .audit
        .audit_events(
            &AuditFilter {
                resource: None,
                actor: Some("ann".into()),
                since: chrono::Utc::now() - chrono::TimeDelta::hours(1),
            },
            None,
            100,
        )
        .await
        .unwrap();
    let mut actions: Vec<(String, String)> = trail
        .iter()
        .map(|e| (e.resource_id.clone(), e.action.clone()))
        .collect();
    actions.sort();
    let expected = [
        ("T-1", "template.activated"),
        ("T-1", "template.created"),
        ("T-2", "template.activated"),
        ("T-2", "template.created"),
        ("T-2", "template.updated"),
    ];
    assert_eq!(
        actions,
        expected.map(|(r, a)| (r.to_string(), a.to_string())),
        "an entry per change, none for a template that does not exist"
    );
}

async fn a_created_template_is_never_replaced_by_another_create(b: Backend) {
    use billrun_app::catalog::DocumentTemplate;
    use billrun_app::model::audit::{ConfigChange, ConfigVerb, ResourceKind};
    let t = |name: &str| DocumentTemplate {
        id: "T-7".into(),
        name: name.into(),
        content: "{}".into(),
        active: false,
        updated_at: chrono::Utc::now(),
    };
    let entry = |verb: ConfigVerb| {
        ConfigChange {
            kind: ResourceKind::Template,
            id: "T-7".into(),
            verb,
            changes: Vec::new(),
        }
        .entry(None, Some("ann".into()), chrono::Utc::now())
    };
    let c = &b.app.templates;
    let made = c
        .create_template(&t("First"), &entry(ConfigVerb::Created))
        .await
        .unwrap();
    assert_eq!(made.name, "First");
    let again = c
        .create_template(&t("Second"), &entry(ConfigVerb::Created))
        .await
        .unwrap_err();
    assert!(matches!(again, StoreError::Conflict(_)), "{again:?}");
    assert_eq!(c.get_template("T-7").await.unwrap().unwrap().name, "First");
    // A replace is still a replace.
    c.put_template(&t("Third"), &entry(ConfigVerb::Updated))
        .await
        .unwrap();
    assert_eq!(c.get_template("T-7").await.unwrap().unwrap().name, "Third");
}

async fn a_pending_run_is_patched_and_its_dates_lock_once_it_starts(b: Backend) {
    b.app
        .reference()
        .import_book(EXAMPLE.as_bytes())
        .await
        .unwrap();
    let run = b
        .app
        .pipeline()
        .create_run(manual("2024-02-01"), None)
        .await
        .unwrap()
        .run()
        .clone();
    let v = b
        .app
        .pipeline()
        .patch_run(run.id, br#"{"dueDate": "2024-03-31"}"#)
        .await
        .unwrap();
    assert_eq!(v.request.due_date, Some("2024-03-31".parse().unwrap()));
    let err = b
        .app
        .pipeline()
        .patch_run(run.id, br#"{"dueDate": "2024-02-30"}"#)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppError::Validation(ref f) if f.field == "dueDate"),
        "{err:?}"
    );
    b.app.pipeline().start_run(run.id).await.unwrap();
    b.finish(run.id).await;
    let err = b
        .app
        .pipeline()
        .patch_run(run.id, br#"{"dueDate": "2024-04-30"}"#)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppError::Conflict { code: ConflictCode::FieldLocked, field: Some(ref f), .. } if f == "dueDate"),
        "{err:?}"
    );
    let docs = b.app.queries().all_documents(run.id).await.unwrap();
    assert_eq!(docs[0].due_date.to_string(), "2024-03-31");
}

/// A clock that stays where a test puts it.
struct FixedClock(parking_lot::Mutex<chrono::DateTime<chrono::Utc>>);

impl billrun_app::ports::Clock for FixedClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self.0.lock()
    }
}

fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
    s.parse().unwrap()
}

fn fixed(b: &Backend, now: &str) -> (billrun_app::App, std::sync::Arc<FixedClock>) {
    let clock = std::sync::Arc::new(FixedClock(parking_lot::Mutex::new(at(now))));
    let mut app = b.app.clone();
    app.clock = clock.clone();
    (app, clock)
}

async fn a_scheduled_run_starts_at_its_time_once_under_concurrent_ticks(b: Backend) {
    let (app, clock) = fixed(&b, "2024-01-20T00:00:00Z");
    let mut req = request("2024-02-01");
    req.run_type = billrun_domain::request::RunType::Scheduled;
    req.scheduled_at = Some(at("2024-02-01T06:00:00Z"));
    let run = app
        .pipeline()
        .create_run(req, None)
        .await
        .unwrap()
        .run()
        .clone();
    let early = app.tick(at("2024-02-01T05:59:59Z")).await.unwrap();
    assert!(early.started.is_empty(), "{early:?}");
    assert_eq!(
        app.queries().get_run(run.id).await.unwrap().status,
        RunStatus::Pending
    );
    let now = at("2024-02-01T06:00:00Z");
    *clock.0.lock() = now;
    let (x, y) = tokio::join!(app.tick(now), app.tick(now));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.started.len() + y.started.len(), 1, "{x:?} {y:?}");
    assert_ne!(
        app.queries().get_run(run.id).await.unwrap().status,
        RunStatus::Pending
    );
    b.finish(run.id).await;
    assert_eq!(
        app.queries().get_run(run.id).await.unwrap().status,
        RunStatus::Completed
    );
    let later = app.tick(at("2024-02-01T06:05:00Z")).await.unwrap();
    assert!(
        later.started.is_empty() && later.failures.is_empty(),
        "{later:?}"
    );
}

async fn a_run_schedule_catches_up_one_run_per_occurrence_one_after_another(b: Backend) {
    use billrun_app::scheduling::occurrence_run_id;
    use billrun_domain::ids::RunScheduleId;
    let (app, clock) = fixed(&b, "2024-01-15T00:00:00Z");
    let body = serde_json::json!({
        "runTemplate": {"name": "Month end"},
        "recurrence": {"kind": "Monthly", "dayOfMonth": 1, "localTime": "02:30", "timeZone": "Europe/Berlin"},
        "targetDate": {"rule": "LastDayOfPreviousMonth"},
        "missed": "CatchUpAll",
        "enabled": true
    });
    let (view, created) = app
        .schedules()
        .put_run_schedule("month-end", body.to_string().as_bytes())
        .await
        .unwrap();
    assert!(created);
    assert_eq!(view.next_occurrence.unwrap().at, at("2024-02-01T01:30:00Z"));
    let id = RunScheduleId::parse("month-end").unwrap();
    // Three months later: Feb 1, Mar 1 and Apr 1 (CEST) are due.
    let now = at("2024-04-20T00:00:00Z");
    *clock.0.lock() = now;
    let mut runs = Vec::new();
    for _ in 0..5 {
        let (x, y) = tokio::join!(app.tick(now), app.tick(now));
        let (x, y) = (x.unwrap(), y.unwrap());
        assert!(
            x.failures.is_empty() && y.failures.is_empty(),
            "{x:?} {y:?}"
        );
        let new: Vec<_> = x.created.into_iter().chain(y.created).collect();
        assert!(new.len() <= 1, "two runs side by side: {new:?}");
        for r in &new {
            // A tick while the run is processing creates nothing.
            let during = app.tick(now).await.unwrap();
            assert!(during.created.is_empty(), "{during:?}");
            b.finish(*r).await;
        }
        runs.extend(new);
    }
    let expected = [
        ("2024-02-01T01:30:00Z", "2024-01-31"),
        ("2024-03-01T01:30:00Z", "2024-02-29"),
        ("2024-04-01T00:30:00Z", "2024-03-31"),
    ];
    assert_eq!(runs.len(), expected.len());
    for (r, (when, target)) in runs.iter().zip(expected) {
        assert_eq!(*r, occurrence_run_id(&id, at(when)));
        let run = app.queries().get_run(*r).await.unwrap();
        assert_eq!(run.target_date.to_string(), target);
        assert_eq!(run.status, RunStatus::Completed);
        assert_eq!(run.name, "Month end");
    }
    let listed = app
        .run_schedules
        .list_run_schedules(None, 10)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].version, 4, "created, then three claims");
    // Pause, resume and delete.
    assert!(
        !app.schedules()
            .pause_run_schedule(&id)
            .await
            .unwrap()
            .spec
            .enabled
    );
    let resumed = app.schedules().resume_run_schedule(&id).await.unwrap();
    assert_eq!(
        resumed.next_occurrence.unwrap().at,
        at("2024-05-01T00:30:00Z")
    );
    app.schedules().delete_run_schedule(&id).await.unwrap();
    assert!(app
        .run_schedules
        .get_run_schedule(&id)
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        app.schedules().delete_run_schedule(&id).await,
        Err(AppError::NotFound(_))
    ));
    // The caller's changes are in the audit trail, the scheduler's claims are not.
    let trail = app
        .audit()
        .list(
            Some(id.to_string()),
            None,
            Some(at("2024-01-01T00:00:00Z")),
            None,
            100,
        )
        .await
        .unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "runSchedule.created",
            "runSchedule.updated",
            "runSchedule.updated",
            "runSchedule.deleted"
        ]
    );
    let enabled: Vec<_> = trail[1..3]
        .iter()
        .map(|e| {
            e.changes
                .iter()
                .map(|c| (c.field.as_str(), c.before.as_deref(), c.after.as_deref()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        enabled,
        [
            vec![("enabled", Some("true"), Some("false"))],
            vec![("enabled", Some("false"), Some("true"))]
        ],
        "pause and resume change one field each"
    );
}

async fn run_schedule_writes_are_conditional_on_the_version(b: Backend) {
    let (app, _) = fixed(&b, "2024-01-15T00:00:00Z");
    let body = br#"{"runTemplate": {}, "recurrence": {"kind": "Weekly", "weekday": "Friday", "localTime": "18:00", "timeZone": "UTC"}}"#;
    for id in ["b", "a", "c"] {
        app.schedules().put_run_schedule(id, body).await.unwrap();
    }
    let (_, created) = app.schedules().put_run_schedule("a", body).await.unwrap();
    assert!(!created);
    let all = app
        .run_schedules
        .list_run_schedules(None, 10)
        .await
        .unwrap();
    let ids: Vec<_> = all.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(all[0].version, 2);
    let after_a = app
        .run_schedules
        .list_run_schedules(Some(&all[0].id), 1)
        .await
        .unwrap();
    assert_eq!(after_a[0].id.as_str(), "b");
    let mut stale = all[1].clone();
    stale.version = 3; // the stored one is 1
    assert!(matches!(
        app.run_schedules.put_run_schedule(&stale, None).await,
        Err(StoreError::Conflict(_))
    ));
    let mut fresh = all[1].clone();
    fresh.version = 1; // "create" over an existing one
    assert!(matches!(
        app.run_schedules.put_run_schedule(&fresh, None).await,
        Err(StoreError::Conflict(_))
    ));
}

async fn an_invoice_schedule_item_is_executed_on_its_date_once_by_concurrent_ticks(b: Backend) {
    let (app, _) = fixed(&b, "2023-12-01T00:00:00Z");
    app.reference()
        .import_book(SCHEDULED.as_bytes())
        .await
        .unwrap();
    let early = app.tick(at("2023-12-31T23:59:59Z")).await.unwrap();
    assert!(early.executed.is_empty(), "{early:?}");
    let now = at("2024-01-01T00:00:00Z");
    let (x, y) = tokio::join!(app.tick(now), app.tick(now));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.executed.len() + y.executed.len(), 1, "{x:?} {y:?}");
    let sid = billrun_domain::ids::ScheduleId::parse("IS-1").unwrap();
    let stored = app.reference().get_schedule(&sid).await.unwrap();
    assert_eq!(stored.processed.len(), 1);
    assert_eq!(stored.processed[0].item_id.as_str(), "I-1");
    let doc = app
        .queries()
        .get_document(stored.processed[0].document_id)
        .await
        .unwrap();
    assert_eq!(doc.lines[0].description, "Installment 1 of 2");
    let again = app.tick(at("2024-01-02T00:00:00Z")).await.unwrap();
    assert!(
        again.executed.is_empty() && again.failures.is_empty(),
        "{again:?}"
    );
    let july = app.tick(at("2024-07-01T00:00:00Z")).await.unwrap();
    assert_eq!(july.executed.len(), 1, "{july:?}");
}

/// A work queue that loses every message (processing killed mid-run).
struct LosingQueue;

#[async_trait::async_trait]
impl billrun_app::ports::WorkQueue for LosingQueue {
    async fn send(&self, _: Vec<billrun_app::Message>) -> billrun_app::ports::StoreResult<()> {
        Ok(())
    }
}

async fn the_sweeper_resends_lost_messages_and_resumes_planning_so_runs_complete(mut b: Backend) {
    b.app
        .reference()
        .import_book(serde_json::to_vec(&many(10)).unwrap().as_slice())
        .await
        .unwrap();
    b.app.plan_page_size = 3;
    let (app, clock) = fixed(&b, "2024-02-01T06:00:00Z");
    let mut lossy = app.clone();
    lossy.queue = std::sync::Arc::new(LosingQueue);
    let step = |minutes: i64| {
        let mut g = clock.0.lock();
        *g += chrono::TimeDelta::minutes(minutes);
        *g
    };
    let batch = |b: &str| {
        let mut r = request("2024-02-01");
        r.filters = Filters {
            batches: vec![b.into()],
            ..Filters::default()
        };
        r
    };

    // Batch B1: planned to the end, every account message lost.
    let run = lossy
        .pipeline()
        .create_run(batch("B1"), None)
        .await
        .unwrap()
        .run()
        .id;
    lossy.pipeline().plan_page(run, 0).await.unwrap();
    lossy.pipeline().plan_page(run, 1).await.unwrap();
    assert!(app.queries().get_run(run).await.unwrap().plan.done);
    let noted = app.tick(step(16)).await.unwrap();
    assert_eq!(noted.sweep, Default::default(), "{noted:?}");
    let resent = app.tick(step(16)).await.unwrap();
    assert_eq!(resent.sweep.resent, vec![(run, 5)], "{resent:?}");
    b.finish(run).await;
    assert_eq!(
        app.queries().get_run(run).await.unwrap().status,
        RunStatus::Completed
    );
    let c = app.runs.counters(run).await.unwrap();
    assert_eq!((c.accounts_selected, c.billed, c.invoices), (5, 5, 5));

    // Batch B2: the first plan message lost; the sweeper resumes planning.
    let run = lossy
        .pipeline()
        .create_run(batch("B2"), None)
        .await
        .unwrap()
        .run()
        .id;
    let early = app.tick(step(14)).await.unwrap();
    assert_eq!(early.sweep, Default::default(), "{early:?}");
    let resumed = app.tick(step(2)).await.unwrap();
    assert_eq!(resumed.sweep.resumed, vec![run], "{resumed:?}");
    b.finish(run).await;
    assert_eq!(
        app.queries().get_run(run).await.unwrap().status,
        RunStatus::Completed
    );
    let c = app.runs.counters(run).await.unwrap();
    assert_eq!((c.accounts_selected, c.billed, c.invoices), (5, 5, 5));
    let docs = app.queries().all_documents(run).await.unwrap();
    assert_eq!(docs.len(), 5);
    assert!(docs.iter().all(|d| d.number.is_some()));
    let later = app.tick(step(60)).await.unwrap();
    assert_eq!(later.sweep, Default::default(), "{later:?}");
}

/// Usage units on the run's documents of `account`.
async fn usage_units(
    b: &Backend,
    run: billrun_domain::ids::RunId,
    account: &str,
) -> rust_decimal::Decimal {
    b.app
        .queries()
        .all_documents(run)
        .await
        .unwrap()
        .iter()
        .filter(|d| d.account_id.as_str() == account)
        .flat_map(|d| d.lines.iter())
        .filter(|l| l.charge_id.as_ref().is_some_and(|c| c.as_str() == "C-U"))
        .map(|l| l.quantity)
        .sum()
}

/// 250 billed usage marks with the document, watermark, counter and outcome: more than
/// one transaction's 100 actions on DynamoDB.
async fn an_account_over_one_transaction_is_billed_once_and_reverted_whole(b: Backend) {
    const USAGE: usize = 250;
    b.app
        .reference()
        .import_book(serde_json::to_vec(&usage_book(USAGE)).unwrap().as_slice())
        .await
        .unwrap();
    let first = run_to_end(&b, request("2024-02-01")).await;
    assert_eq!(first.status, RunStatus::Completed);
    let units = rust_decimal::Decimal::from(2 * USAGE as i64);
    assert_eq!(usage_units(&b, first.id, "A-00").await, units);
    let state = |b: &Backend| {
        let book = b.app.book.clone();
        async move {
            book.account_book(&aid("A-00"))
                .await
                .unwrap()
                .unwrap()
                .state
        }
    };
    assert_eq!(state(&b).await.usage_billed.len(), USAGE);
    // A redelivery changes nothing.
    b.app
        .pipeline()
        .process_account(first.id, &aid("A-00"), 0)
        .await
        .unwrap();
    let counters = b.app.runs.counters(first.id).await.unwrap();
    assert_eq!((counters.billed, counters.invoices), (2, 2));
    assert!(counters.reconciles());
    assert_eq!(
        b.app.queries().all_documents(first.id).await.unwrap().len(),
        2
    );
    // Cancel reverts every mark; a new run bills the same usage again, once.
    b.app.pipeline().cancel_run(first.id).await.unwrap();
    assert!(state(&b).await.usage_billed.is_empty());
    let second = run_to_end(&b, request("2024-02-01")).await;
    assert_eq!(usage_units(&b, second.id, "A-00").await, units);
    assert_eq!(state(&b).await.usage_billed.len(), USAGE);
    let third = run_to_end(&b, request("2024-03-01")).await;
    assert_eq!(
        usage_units(&b, third.id, "A-00").await,
        rust_decimal::Decimal::ZERO
    );
    assert_eq!(
        b.app.queries().all_documents(third.id).await.unwrap().len(),
        2
    );
}

/// Fails `assign_numbers` while armed: a finalizer that stops after a page.
struct StoppingNumbers {
    inner: std::sync::Arc<dyn billrun_app::ports::DocumentStore>,
    armed_after: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl billrun_app::ports::DocumentStore for StoppingNumbers {
    async fn get_document(
        &self,
        id: billrun_domain::ids::DocumentId,
    ) -> billrun_app::ports::StoreResult<Option<billrun_app::model::StoredDocument>> {
        self.inner.get_document(id).await
    }
    async fn round_documents(
        &self,
        run: billrun_domain::ids::RunId,
        round: u32,
        cursor: Option<&str>,
        limit: usize,
    ) -> billrun_app::ports::StoreResult<billrun_app::model::DocumentPage> {
        self.inner.round_documents(run, round, cursor, limit).await
    }
    async fn run_documents(
        &self,
        run: billrun_domain::ids::RunId,
        cursor: Option<&str>,
        limit: usize,
    ) -> billrun_app::ports::StoreResult<billrun_app::model::DocumentPage> {
        self.inner.run_documents(run, cursor, limit).await
    }
    async fn assign_numbers(
        &self,
        run: billrun_domain::ids::RunId,
        round: u32,
        numbers: &[billrun_app::model::Numbered],
    ) -> billrun_app::ports::StoreResult<()> {
        use std::sync::atomic::Ordering;
        let left = self.armed_after.load(Ordering::SeqCst);
        if left == 0 {
            return Err(StoreError::transient("finalizer stopped"));
        }
        self.armed_after
            .store(left.saturating_sub(1), Ordering::SeqCst);
        self.inner.assign_numbers(run, round, numbers).await
    }
    async fn set_run_status(
        &self,
        run: billrun_domain::ids::RunId,
        status: DocumentStatus,
    ) -> billrun_app::ports::StoreResult<()> {
        self.inner.set_run_status(run, status).await
    }
    async fn set_document_statuses(
        &self,
        ids: &[billrun_domain::ids::DocumentId],
        from: &[DocumentStatus],
        to: DocumentStatus,
        by: Option<&str>,
        at: chrono::DateTime<chrono::Utc>,
    ) -> billrun_app::ports::StoreResult<()> {
        self.inner
            .set_document_statuses(ids, from, to, by, at)
            .await
    }
}

/// 13 documents numbered 4 a page; the finalizer stops after its first page and the
/// next one resumes from the stored cursor: gapless numbers in numbering order.
async fn finalization_is_paged_and_resumes_after_a_stopped_page(b: Backend) {
    b.app
        .reference()
        .import_book(serde_json::to_vec(&many(13)).unwrap().as_slice())
        .await
        .unwrap();
    let stopping = std::sync::Arc::new(StoppingNumbers {
        inner: b.app.documents.clone(),
        armed_after: std::sync::atomic::AtomicUsize::new(1),
    });
    let mut app = b.app.clone();
    app.documents = stopping.clone();
    app.finalize_page_size = 4;
    let id = app
        .pipeline()
        .create_run(manual("2024-02-01"), None)
        .await
        .unwrap()
        .run()
        .id;
    app.pipeline().start_run(id).await.unwrap();
    app.handle(&billrun_app::model::Message::Plan {
        run_id: id,
        page: 0,
    })
    .await
    .unwrap();
    let mut stopped = 0;
    for i in 0..13 {
        let account = aid(&format!("A-{i:02}"));
        if app
            .pipeline()
            .process_account(id, &account, 0)
            .await
            .is_err()
        {
            stopped += 1;
        }
    }
    assert_eq!(
        stopped, 1,
        "the last account's finalization stops after page 1"
    );
    let run = b.app.queries().get_run(id).await.unwrap();
    assert_eq!(run.status, RunStatus::Processing);
    let progress = run.finalize.clone().expect("progress stored after page 1");
    assert_eq!((progress.pages, progress.done), (1, false));
    assert_eq!(
        progress.next_invoice,
        run.number_blocks[0].first_invoice + 4
    );
    let numbered = b.app.queries().all_documents(id).await.unwrap();
    assert_eq!(numbered.iter().filter(|d| d.number.is_some()).count(), 4);
    // Another finalizer resumes there (the first page is not numbered again).
    stopping
        .armed_after
        .store(usize::MAX, std::sync::atomic::Ordering::SeqCst);
    app.pipeline().try_finalize(id).await.unwrap();
    let run = b.app.queries().get_run(id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    let progress = run.finalize.clone().unwrap();
    assert!(progress.done);
    assert_eq!(progress.pages, 4, "pages of 4, 4, 4 and 1 documents");
    let numbers: Vec<(String, String)> = b
        .app
        .queries()
        .all_documents(id)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.account_id.to_string(), d.number.unwrap()))
        .collect();
    let first = run.number_blocks[0].first_invoice;
    let expected: Vec<(String, String)> = (0..13u64)
        .map(|i| (format!("A-{i:02}"), DocumentKind::Invoice.number(first + i)))
        .collect();
    assert_eq!(numbers, expected, "gapless, in byte-wise account order");
    // Finalizing again changes nothing.
    app.pipeline().try_finalize(id).await.unwrap();
    assert_eq!(
        b.app.queries().get_run(id).await.unwrap().version,
        run.version
    );
}

/// Three documents per account (grouping by subscription), numbered 4 a page: pages end
/// within accounts, and every document reads back with its number, alone or listed.
async fn numbers_read_back_when_pages_end_within_an_account(b: Backend) {
    let mut accounts = Vec::new();
    let mut subs = Vec::new();
    for i in 0..5 {
        accounts.push(serde_json::json!({
            "id": format!("A-{i:02}"), "name": format!("Customer {i}"), "currency": "USD",
            "billCycleDay": 1, "batch": "B1", "taxRate": "0"
        }));
        for j in 0..3 {
            subs.push(serde_json::json!({
                "id": format!("S-{i:02}-{j}"), "accountId": format!("A-{i:02}"), "productId": "P",
                "startDate": "2024-01-01",
                "charges": [{"id": format!("C-{i:02}-{j}"), "type": "Recurring", "price": "10.00", "billingPeriod": "Month"}]
            }));
        }
    }
    let book = serde_json::json!({"accounts": accounts, "subscriptions": subs});
    b.app
        .reference()
        .import_book(book.to_string().as_bytes())
        .await
        .unwrap();
    let mut app = b.app.clone();
    app.finalize_page_size = 4;
    let mut req = manual("2024-02-01");
    req.grouping = billrun_domain::request::Grouping::Subscription;
    let id = app.pipeline().create_run(req, None).await.unwrap().run().id;
    app.pipeline().start_run(id).await.unwrap();
    app.handle(&billrun_app::model::Message::Plan {
        run_id: id,
        page: 0,
    })
    .await
    .unwrap();
    for i in 0..5 {
        app.pipeline()
            .process_account(id, &aid(&format!("A-{i:02}")), 0)
            .await
            .unwrap();
    }
    let run = b.app.queries().get_run(id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.finalize.as_ref().map(|f| f.pages), Some(4), "4+4+4+3");
    let listed = b.app.queries().all_documents(id).await.unwrap();
    assert_eq!(listed.len(), 15);
    let first = run.number_blocks[0].first_invoice;
    for (i, d) in listed.iter().enumerate() {
        let expected = DocumentKind::Invoice.number(first + i as u64);
        assert_eq!(d.number.as_deref(), Some(expected.as_str()), "listed #{i}");
        assert_eq!(d.account_id.to_string(), format!("A-{:02}", i / 3));
        let alone = b.app.documents.get_document(d.id).await.unwrap().unwrap();
        assert_eq!(
            alone.document.number.as_deref(),
            Some(expected.as_str()),
            "alone #{i}"
        );
    }
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
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::sqlite().await).await
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
    a_void_credits_a_posted_invoice_once_and_rolls_its_billing_back,
    racing_voids_of_one_invoice_make_exactly_one_credit_memo,
    a_void_past_a_later_run_or_of_a_wrong_status_writes_nothing,
    a_draft_is_canceled_alone_and_its_lines_billed_again,
    a_preview_leaves_the_store_as_it_found_it_and_the_run_then_bills_the_same,
    a_replayed_idempotency_key_returns_the_same_run_and_a_changed_body_conflicts,
    a_runs_client_fields_are_stored_with_it_and_compared_on_replay,
    a_deleted_run_is_stored_as_deleted_and_no_longer_found_listed_or_replayed,
    a_run_number_beyond_any_stored_one_finds_no_run,
    concurrent_run_creations_take_consecutive_numbers_and_replays_take_none,
    the_book_format_example_bills_the_documented_totals,
    a_second_commit_of_the_same_account_is_already_done,
    a_commit_whose_watermark_moved_is_a_conflict,
    number_blocks_are_reserved_once_per_round_and_follow_each_other,
    planning_pages_select_filtered_accounts_in_order,
    a_run_with_a_subrun_selects_only_the_accounts_of_that_subrun,
    outcomes_and_documents_page_in_numbering_order,
    post_marks_every_document_posted_and_refuses_unfinished_runs,
    cancel_reverts_so_a_rerun_bills_the_same_lines_unless_a_later_run_moved_on,
    a_renewal_is_committed_once_and_undone_by_cancel,
    retry_failed_redrives_only_the_failed_accounts_into_a_further_block,
    the_progress_follows_the_outcomes_through_retry_rounds,
    blobs_round_trip,
    runs_list_in_creation_order_with_filters_and_positions,
    accounts_list_by_batch_from_a_position,
    account_listings_read_on_past_one_request_page,
    a_runs_documents_list_by_kind_from_a_position,
    schedules_and_subscriptions_are_found_by_id_and_items_execute_once,
    templates_are_stored_and_one_is_active,
    a_created_template_is_never_replaced_by_another_create,
    a_created_invoice_schedule_is_never_replaced_by_another_create,
    templates_list_in_id_order_a_page_at_a_time_with_the_active_one_marked,
    invoice_schedules_list_in_id_order_across_accounts_a_page_at_a_time,
    a_pending_run_is_patched_and_its_dates_lock_once_it_starts,
    a_scheduled_run_starts_at_its_time_once_under_concurrent_ticks,
    a_run_schedule_catches_up_one_run_per_occurrence_one_after_another,
    run_schedule_writes_are_conditional_on_the_version,
    an_invoice_schedule_item_is_executed_on_its_date_once_by_concurrent_ticks,
    the_sweeper_resends_lost_messages_and_resumes_planning_so_runs_complete,
    document_requests_need_an_active_template_and_render_each_document_once,
    an_account_over_one_transaction_is_billed_once_and_reverted_whole,
    finalization_is_paged_and_resumes_after_a_stopped_page,
    numbers_read_back_when_pages_end_within_an_account,
    cancels_and_posts_racing_on_a_completed_run_end_whole,
    cancels_and_selective_posts_racing_end_whole,
    a_cancel_racing_retry_failed_ends_whole,
    posts_racing_the_finalizer_end_whole,
    delivery_requests_are_created_once_and_the_last_created_is_the_runs_latest,
    a_delivery_claim_then_a_send_counts_one_sent_and_shows_on_the_document,
    a_stale_expected_delivery_result_is_a_conflict_that_writes_nothing,
    concurrent_delivery_claims_of_one_document_have_exactly_one_winner,
    a_retried_delivery_failure_that_is_sent_moves_from_failed_to_sent,
    skipped_deliveries_count_by_reason,
    bounces_and_complaints_count_among_the_sent_and_show_on_the_document,
    a_later_delivery_requests_skip_keeps_the_documents_last_send,
    the_runs_last_delivery_is_the_latest_send_of_its_requests,
    a_delivery_result_of_an_unknown_request_is_refused_and_writes_nothing,
    payments_add_up_to_the_total_once_each_and_never_beyond,
    concurrent_payments_of_one_invoice_never_exceed_its_total,
    a_credit_memo_applies_within_its_credit_and_the_invoices_balance,
    an_export_is_created_once_and_moved_on_one_version_at_a_time,
    an_export_file_appears_whole_when_its_upload_completes,
    each_change_of_a_run_is_stored_with_its_event,
    webhook_endpoints_and_deliveries_are_written_once_per_version,
    a_selection_is_approved_then_posted_and_the_last_post_posts_the_run,
    audit_entries_are_written_once_and_listed_in_order_by_filter,
    racing_approvals_and_posts_record_each_change_once,
);
