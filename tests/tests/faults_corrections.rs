//! Corrections under random fault schedules on the in-memory adapters: every port call
//! may fail, time out (its write landing or not) or fail after its write landed, and the
//! client retries the void, the single cancel and the rebill (under its
//! `Idempotency-Key`) until it gets an answer. Each schedule must end with exactly one
//! credit memo for the voided invoice, both number sequences gapless, one rebill run,
//! and the billing state as if every call had gone through once: the rebill bills the
//! voided and the canceled lines again. A failing schedule prints
//! `BILLRUN_FAULT_SEED=<seed>`.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fault_support;

use billrun_app::memory::{MemoryQueue, MemoryStore};
use billrun_app::model::corrections::Corrected;
use billrun_app::worker::{drain, WorkerConfig};
use billrun_app::{App, AppError};
use billrun_domain::document::{Document, DocumentKind, DocumentStatus};
use billrun_domain::ids::{AccountId, DocumentId, RunId};
use billrun_domain::state::AccountState;
use billrun_testkit::faults::FaultPlan;
use billrun_testkit::fixtures::{aid, monthly_book, request};
use fault_support::seeds;
use std::future::Future;
use std::sync::Arc;

/// Schedules per test run (`BILLRUN_FAULT_SCHEDULES` overrides).
const SCHEDULES: u64 = 24;

struct Setup {
    app: App,
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    /// February's run: A-00's invoice posted, A-01's Draft.
    run: RunId,
    posted: Document,
    draft: Document,
}

/// Two accounts billed for February without faults: A-00's invoice posted alone.
async fn setup() -> Setup {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    let app = App::in_memory(
        store.clone(),
        queue.clone(),
        Arc::new(billrun_documents::PdfRenderer),
    );
    let book = monthly_book(2, |i| format!("{}.00", 40 + i), |_| serde_json::json!({}));
    app.reference()
        .import_book(&serde_json::to_vec(&book).unwrap())
        .await
        .unwrap();
    let run = app
        .pipeline()
        .create_run(request("2024-02-01"), None)
        .await
        .unwrap()
        .run()
        .id;
    drain(
        Arc::new(app.clone()),
        queue.clone(),
        WorkerConfig::default(),
    )
    .await;
    let docs = app.queries().all_documents(run).await.unwrap();
    let (posted, draft) = (docs[0].clone(), docs[1].clone());
    app.post_documents(run, &billrun_app::pipeline::Selection::Ids(vec![posted.id]))
        .await
        .unwrap();
    Setup {
        app,
        store,
        queue,
        run,
        posted,
        draft,
    }
}

/// Calls `call` until it answers something but a transient or internal failure.
async fn until_answered<T, F: Future<Output = Result<T, AppError>>>(
    what: &str,
    retried: &mut u64,
    mut call: impl FnMut() -> F,
) -> Result<T, String> {
    for _ in 0..200 {
        match call().await {
            Ok(v) => return Ok(v),
            Err(AppError::Transient(_) | AppError::Internal(_)) => *retried += 1,
            Err(e) => return Err(format!("{what}: {e}")),
        }
    }
    Err(format!("{what} got no answer in 200 tries"))
}

async fn state(app: &App, account: &AccountId) -> AccountState {
    let mut state = app.book.account_book(account).await.unwrap().unwrap().state;
    state
        .recurring
        .retain(|_, r| r.billed_through.is_some() || !r.history.is_empty());
    state
}

async fn schedule(seed: u64, retried: &mut u64) -> Result<(), String> {
    let s = setup().await;
    let before = (
        state(&s.app, &aid("A-00")).await,
        state(&s.app, &aid("A-01")).await,
    );
    let plan = FaultPlan::new(seed, 100 + seed % 200);
    let (faulty, faulty_queue) = plan.wrap(&s.app);
    plan.set_active(true);
    let posted: DocumentId = s.posted.id;
    let voided: Corrected = until_answered("void", retried, || {
        let p = faulty.pipeline();
        async move { p.void_document(posted).await }
    })
    .await?;
    let draft = s.draft.id;
    until_answered("cancel", retried, || {
        let p = faulty.pipeline();
        async move { p.cancel_document(draft).await }
    })
    .await?;
    // A retried void after it landed answers the same credit memo.
    let again = until_answered("void again", retried, || {
        let p = faulty.pipeline();
        async move { p.void_document(posted).await }
    })
    .await?;
    let memo = voided.credit_memo.as_ref().map(|m| m.document.id);
    if again.credit_memo.map(|m| m.document.id) != memo || memo.is_none() {
        return Err("a retried void answered another credit memo".into());
    }
    let mut rebills = Vec::new();
    for account in ["A-00", "A-01"] {
        let key = format!("rebill-{account}");
        let created = until_answered("rebill", retried, || {
            let p = faulty.pipeline();
            let key = key.clone();
            async move {
                p.rebill_account(aid(account), s.posted.invoice_date, Some(key))
                    .await
            }
        })
        .await?;
        rebills.push(created.run().id);
    }
    plan.set_active(false);
    // What a reorder fault held back is sent late, not lost.
    plan.flush(&*faulty_queue)
        .await
        .map_err(|e| format!("flush: {e}"))?;
    drain(
        Arc::new(s.app.clone()),
        s.queue.clone(),
        WorkerConfig::default(),
    )
    .await;

    // Exactly one credit memo, numbered first; the invoice Voided; the draft Canceled.
    let docs = s.app.queries().all_documents(s.run).await.unwrap();
    let memos: Vec<&Document> = docs
        .iter()
        .filter(|d| d.kind == DocumentKind::CreditMemo)
        .collect();
    if memos.len() != 1 || memos[0].number.as_deref() != Some("CM-000000001") {
        return Err(format!("credit memos {memos:?}"));
    }
    // In numbering order: A-00's invoice, its credit memo, A-01's invoice.
    let statuses: Vec<DocumentStatus> = docs.iter().map(|d| d.status).collect();
    if statuses
        != [
            DocumentStatus::Voided,
            DocumentStatus::Posted,
            DocumentStatus::Canceled,
        ]
    {
        return Err(format!("statuses {statuses:?}"));
    }
    // One run per rebill key, each billing its account's lines again.
    let runs = s
        .app
        .run_listing
        .list_runs(&Default::default(), None, 100)
        .await
        .unwrap();
    if runs.len() != 3 {
        return Err(format!("{} runs", runs.len()));
    }
    for (run, was) in rebills.iter().zip([&s.posted, &s.draft]) {
        let docs = s.app.queries().all_documents(*run).await.unwrap();
        if docs.len() != 1 || docs[0].lines != was.lines {
            let r = s.app.queries().get_run(*run).await.unwrap();
            let st = state(&s.app, &was.account_id).await;
            return Err(format!(
                "rebill of {}: {} documents, run {:?} {:?}, state {st:?}",
                was.account_id,
                docs.len(),
                r.status,
                r.request.filters.account_ids
            ));
        }
    }
    // Gapless: invoices 1, 2 (February), 3, 4 (the rebills); credit memos 1.
    let numbers = (
        s.store.sequence(DocumentKind::Invoice),
        s.store.sequence(DocumentKind::CreditMemo),
    );
    if numbers != (4, 1) {
        return Err(format!("sequences {numbers:?}"));
    }
    // Billed again as February's run had billed them: rolled back once, moved once.
    let after = (
        state(&s.app, &aid("A-00")).await,
        state(&s.app, &aid("A-01")).await,
    );
    if after.0.recurring.keys().ne(before.0.recurring.keys())
        || after
            .0
            .recurring
            .values()
            .map(|r| r.billed_through)
            .ne(before.0.recurring.values().map(|r| r.billed_through))
        || after
            .1
            .recurring
            .values()
            .map(|r| r.billed_through)
            .ne(before.1.recurring.values().map(|r| r.billed_through))
    {
        return Err(format!("billing state {after:?}, was {before:?}"));
    }
    Ok(())
}

#[test]
fn corrections_under_random_fault_schedules_make_one_credit_memo_and_gapless_numbers() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut failed = Vec::new();
    let mut retried = 0u64;
    for seed in seeds(SCHEDULES) {
        if let Err(e) = runtime.block_on(schedule(seed, &mut retried)) {
            eprintln!("   FAILED: BILLRUN_FAULT_SEED={seed}: {e}");
            failed.push((seed, e));
        }
    }
    eprintln!("== corrections under faults: {retried} retried calls");
    assert!(retried > 0, "no fault made a client retry");
    assert!(failed.is_empty(), "{failed:?}");
}
