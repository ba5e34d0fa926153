//! Concurrency: what happens when commands race the workers or each other.
//! Every case has one defined outcome (docs/reliability.md).

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use billrun_app::memory::Receive;
use billrun_app::worker::{drain, WorkerConfig};
use billrun_app::{AppError, ConflictCode, Message};
use billrun_domain::document::{DocumentKind, DocumentStatus};
use billrun_domain::ids::RunId;
use billrun_domain::request::RunRequest;
use billrun_domain::run::RunStatus;
use billrun_local::pipeline::Local;
use billrun_testkit::fixtures::{date, manual};
use billrun_tests::local::{drain_queue, local_with};
use std::collections::BTreeMap;

const BOOK: &str = r#"{
  "accounts": [
    {"id": "A-1", "name": "Acme", "currency": "USD", "billCycleDay": 1, "taxRate": "0.1"},
    {"id": "B-1", "name": "Bolt", "currency": "USD", "billCycleDay": 1}
  ],
  "subscriptions": [
    {"id": "S-A", "accountId": "A-1", "productId": "P-GOLD", "startDate": "2024-01-01",
     "charges": [{"id": "C-A", "type": "Recurring", "price": "100.00", "billingPeriod": "Month"}]},
    {"id": "S-B", "accountId": "B-1", "productId": "P-SILVER", "startDate": "2024-01-01",
     "charges": [{"id": "C-B", "type": "Recurring", "price": "50.00", "billingPeriod": "Month"}]}
  ]
}"#;

fn code(r: Result<impl std::fmt::Debug, AppError>) -> Option<ConflictCode> {
    match r {
        Err(AppError::Conflict { code, .. }) => Some(code),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// A started Manual run whose planning ran, its account messages still queued.
async fn planned(local: &Local, target: &str) -> RunId {
    let id = local
        .app
        .pipeline()
        .create_run(manual(target), None)
        .await
        .expect("a run")
        .run()
        .id;
    local.app.pipeline().start_run(id).await.expect("started");
    let Receive::Delivery(d) = local.queue.try_receive() else {
        panic!("the planning message is queued");
    };
    assert!(matches!(d.message, Message::Plan { .. }));
    local.app.handle(&d.message).await.expect("planned");
    local.queue.ack();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_post_and_retry_failed_while_processing_are_refused_and_change_nothing() {
    let local = local_with(BOOK.as_bytes(), None).await;
    let run = planned(&local, "2024-01-01").await;
    let before = local.store.digest();
    assert_eq!(
        code(local.app.pipeline().cancel_run(run).await),
        Some(ConflictCode::RunProcessing)
    );
    assert_eq!(
        code(local.app.pipeline().post_run(run).await),
        Some(ConflictCode::RunNotCompleted)
    );
    assert_eq!(
        code(local.app.pipeline().retry_failed(run).await),
        Some(ConflictCode::RunHasNoFailures)
    );
    assert_eq!(
        local.store.digest(),
        before,
        "a refused command writes nothing"
    );

    // The run goes on as if nothing had been asked.
    drain_queue(&local).await;
    let view = local.app.queries().run_view(run).await.unwrap();
    assert_eq!(view.status, RunStatus::Completed);
    assert!(view.counters.reconciles());
    assert_eq!(view.counters.billed, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_racing_the_workers_is_refused_until_the_run_completes_then_reverts_it_whole() {
    let local = local_with(BOOK.as_bytes(), Some(7)).await;
    let run = planned(&local, "2024-02-01").await;
    let workers = tokio::spawn(drain(
        local.app.clone(),
        local.queue.clone(),
        WorkerConfig::default(),
    ));
    let mut refused = 0u32;
    loop {
        match local.app.pipeline().cancel_run(run).await {
            Ok(r) => {
                assert_eq!(r.status, RunStatus::Canceled);
                break;
            }
            Err(AppError::Conflict { code, .. }) => {
                assert_eq!(code, ConflictCode::RunProcessing);
                refused += 1;
                tokio::task::yield_now().await;
            }
            Err(e) => panic!("cancel failed: {e}"),
        }
    }
    workers.await.expect("the workers finish");
    // Cancel is atomic: every document canceled (numbers kept), every watermark back.
    let docs = local.app.queries().all_documents(run).await.unwrap();
    assert_eq!(docs.len(), 2, "refused {refused} times first");
    assert!(docs.iter().all(|d| d.status == DocumentStatus::Canceled));
    assert!(docs.iter().all(|d| d.number.is_some()));
    let again = local
        .app
        .pipeline()
        .create_run(RunRequest::for_target(date("2024-02-01")), None)
        .await
        .unwrap();
    drain_queue(&local).await;
    let again = local
        .app
        .queries()
        .all_documents(again.run().id)
        .await
        .unwrap();
    let lines: Vec<usize> = again.iter().map(|d| d.lines.len()).collect();
    assert_eq!(lines, [2, 2], "January and February are billed again");
    assert_eq!(local.store.sequence(DocumentKind::Invoice), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_racing_the_start_either_lands_before_it_or_is_refused_field_locked() {
    let mut landed = 0;
    let mut locked = 0;
    for _ in 0..40 {
        let local = local_with(BOOK.as_bytes(), None).await;
        let id = local
            .app
            .pipeline()
            .create_run(manual("2024-01-01"), None)
            .await
            .unwrap()
            .run()
            .id;
        let pipeline = local.app.pipeline();
        let (patched, started) = tokio::join!(
            pipeline.patch_run(id, br#"{"targetDate": "2024-02-01"}"#),
            pipeline.start_run(id)
        );
        started.expect("the start wins or follows the patch");
        drain_queue(&local).await;
        let run = local.app.queries().get_run(id).await.unwrap();
        assert_eq!(run.status, RunStatus::Completed);
        let docs = local.app.queries().all_documents(id).await.unwrap();
        let lines: Vec<usize> = docs.iter().map(|d| d.lines.len()).collect();
        match patched {
            Ok(_) => {
                landed += 1;
                // The run processed the patched request: January and February.
                assert_eq!(run.target_date, date("2024-02-01"));
                assert_eq!(lines, [2, 2]);
            }
            Err(AppError::Conflict { code, field, .. }) => {
                locked += 1;
                assert_eq!(
                    (code, field.as_deref()),
                    (ConflictCode::FieldLocked, Some("targetDate"))
                );
                assert_eq!(run.target_date, date("2024-01-01"));
                assert_eq!(lines, [1, 1]);
            }
            Err(e) => panic!("the patch failed: {e}"),
        }
    }
    assert_eq!(landed + locked, 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_runs_over_the_same_sample_accounts_bill_every_period_once() {
    let target = date("2026-03-01");
    let book = billrun_local::sample::generate(120, target, 9);
    let bytes = serde_json::to_vec(&book).unwrap();
    // The reference: one run alone.
    let alone = local_with(&bytes, None).await;
    let created = alone
        .app
        .pipeline()
        .create_run(RunRequest::for_target(target), None)
        .await
        .unwrap();
    drain_queue(&alone).await;
    let reference = alone
        .app
        .queries()
        .all_documents(created.run().id)
        .await
        .unwrap();

    // Two runs of the same request at once, every message delivered twice, shuffled.
    let local = local_with(&bytes, Some(3)).await;
    let a = local
        .app
        .pipeline()
        .create_run(RunRequest::for_target(target), None)
        .await
        .unwrap()
        .run()
        .id;
    let b = local
        .app
        .pipeline()
        .create_run(RunRequest::for_target(target), None)
        .await
        .unwrap()
        .run()
        .id;
    drain_queue(&local).await;
    let mut lines: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut total = 0;
    for run in [a, b] {
        let view = local.app.queries().run_view(run).await.unwrap();
        assert!(view.status.is_completed(), "{:?}", view.status);
        assert!(view.counters.reconciles(), "{:?}", view.counters);
        assert_eq!(view.counters.accounts_selected, 120);
        for d in local.app.queries().all_documents(run).await.unwrap() {
            total += 1;
            let e = lines.entry(d.account_id.to_string()).or_default();
            e.extend(d.lines.iter().map(|l| {
                format!(
                    "{:?}",
                    (
                        l.charge_id.as_ref(),
                        l.adjustment_id.as_ref(),
                        l.line_type,
                        l.period_start,
                        l.period_end,
                        l.quantity,
                        l.amount
                    )
                )
            }));
        }
    }
    let mut want: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in &reference {
        let e = want.entry(d.account_id.to_string()).or_default();
        e.extend(d.lines.iter().map(|l| {
            format!(
                "{:?}",
                (
                    l.charge_id.as_ref(),
                    l.adjustment_id.as_ref(),
                    l.line_type,
                    l.period_start,
                    l.period_end,
                    l.quantity,
                    l.amount
                )
            )
        }));
    }
    for v in lines.values_mut().chain(want.values_mut()) {
        v.sort();
    }
    assert_eq!(lines, want, "every line billed once over both runs");
    // Numbers stay gapless over both runs.
    assert_eq!(
        local.store.sequence(DocumentKind::Invoice)
            + local.store.sequence(DocumentKind::CreditMemo),
        total
    );
}
