//! Lifecycle commands racing each other and the finalizer, on both backends: every trial
//! ends whole, and every refused command wrote nothing (docs/reliability.md).

use super::{aid, many, request, run_to_end};
use crate::common::Backend;
use billrun_app::{AppError, ConflictCode, RunRecord};
use billrun_domain::book::Book;
use billrun_domain::document::{Document, DocumentStatus};
use billrun_domain::ids::RunId;
use billrun_domain::request::RunRequest;
use billrun_domain::run::RunStatus;
use billrun_domain::state::AccountState;
use futures_util::future::join_all;
use std::collections::{BTreeMap, BTreeSet};

/// Trials per race and backend; half of them with one command of each kind, half with
/// ten of each.
const TRIALS: usize = 20;
const ACCOUNTS: usize = 4;

/// The first of the month `i` months after January 2024.
fn month(i: usize) -> String {
    format!("{}-{:02}-01", 2024 + (i + 1) / 12, (i + 1) % 12 + 1)
}

fn racers(trial: usize) -> usize {
    if trial.is_multiple_of(2) {
        1
    } else {
        10
    }
}

/// Every account's billing state: what a cancel reverts and nothing else changes.
async fn states(b: &Backend, book: &Book) -> BTreeMap<String, AccountState> {
    let mut out = BTreeMap::new();
    for a in &book.accounts {
        let ab = b
            .app
            .book
            .account_book(&a.id)
            .await
            .unwrap()
            .expect("the account is in the book");
        let mut state = ab.state;
        // A reverted charge may keep an empty entry where none was before: the same state.
        state
            .recurring
            .retain(|_, r| r.billed_through.is_some() || !r.history.is_empty());
        out.insert(a.id.to_string(), state);
    }
    out
}

fn lines_and_totals(docs: &[Document]) -> Vec<String> {
    docs.iter()
        .map(|d| {
            format!(
                "{}:{}",
                serde_json::to_string(&d.lines).unwrap(),
                serde_json::to_string(&d.totals).unwrap()
            )
        })
        .collect()
}

/// A refused command's answer: a 409 naming the state that refused it, never a 5xx
/// (which would leave the client unsure what was written).
fn assert_refused(r: &Result<RunRecord, AppError>, allowed: &[ConflictCode]) {
    match r {
        Ok(_) => {}
        Err(AppError::Conflict { code, .. }) if allowed.contains(code) => {}
        Err(e) => panic!("a racing command answered {e:?}"),
    }
}

/// The run ended whole: Posted with every document Posted, and the billing state is what
/// the run left (a re-run bills nothing); or Canceled with every document Canceled, the
/// billing state as before the run, and a re-run bills the same documents.
async fn assert_whole(
    b: &Backend,
    book: &Book,
    run: RunId,
    req: &RunRequest,
    before: &BTreeMap<String, AccountState>,
    billed: &BTreeMap<String, AccountState>,
    docs: &[Document],
) -> RunStatus {
    let r = b.app.queries().get_run(run).await.unwrap();
    assert_eq!(r.transition, None, "no claim is left behind");
    let now = b.app.queries().all_documents(run).await.unwrap();
    assert_eq!(now.len(), docs.len());
    match r.status {
        RunStatus::Posted => {
            assert!(
                now.iter().all(|d| d.status == DocumentStatus::Posted),
                "a Posted run with documents of other statuses: {:?}",
                now.iter().map(|d| d.status).collect::<Vec<_>>()
            );
            assert_eq!(&states(b, book).await, billed, "a refused cancel reverted");
            let again = run_to_end(b, req.clone()).await;
            let c = b.app.runs.counters(again.id).await.unwrap();
            assert_eq!((c.invoices, c.credit_memos), (0, 0), "re-run after post");
        }
        RunStatus::Canceled => {
            assert!(now.iter().all(|d| d.status == DocumentStatus::Canceled));
            assert_eq!(&states(b, book).await, before, "the cancel reverted whole");
            let again = run_to_end(b, req.clone()).await;
            let redone = b.app.queries().all_documents(again.id).await.unwrap();
            assert_eq!(lines_and_totals(&redone), lines_and_totals(docs));
            // Leave the months that follow to the next trials.
            b.app.pipeline().post_run(again.id).await.unwrap();
        }
        s => panic!("the run ended {s:?}"),
    }
    r.status
}

/// What one trial starts from: the run, completed, and the state around it.
struct Trial {
    req: RunRequest,
    run: RunId,
    before: BTreeMap<String, AccountState>,
    billed: BTreeMap<String, AccountState>,
    docs: Vec<Document>,
}

/// Runs trial `trial`'s month to its end (expecting `status`), then sends `racers(trial)`
/// cancels and as many `other` commands at once. Each cancel may be refused with
/// `run_transition_in_progress` or `cancel_refusal`, each other command with
/// `run_transition_in_progress` or `other_refusal`.
async fn race<F, Fut>(
    b: &Backend,
    book: &Book,
    trial: usize,
    status: RunStatus,
    other: F,
    refusals: (&[ConflictCode], &[ConflictCode]),
) -> Trial
where
    F: Fn(billrun_app::App, RunId) -> Fut,
    Fut: std::future::Future<Output = Result<RunRecord, AppError>>,
{
    let req = request(&month(trial));
    let before = states(b, book).await;
    let run = run_to_end(b, req.clone()).await;
    assert_eq!(run.status, status);
    let billed = states(b, book).await;
    let docs = b.app.queries().all_documents(run.id).await.unwrap();
    let n = racers(trial);
    let calls = (0..2 * n).map(|i| {
        let app = b.app.clone();
        let other = &other;
        async move {
            if i % 2 == 0 {
                (true, app.pipeline().cancel_run(run.id).await)
            } else {
                (false, other(app, run.id).await)
            }
        }
    });
    for (cancel, r) in join_all(calls).await {
        let refusal = if cancel { refusals.0 } else { refusals.1 };
        let mut allowed = vec![ConflictCode::RunTransitionInProgress];
        allowed.extend_from_slice(refusal);
        assert_refused(&r, &allowed);
    }
    Trial {
        req,
        run: run.id,
        before,
        billed,
        docs,
    }
}

pub(crate) async fn cancels_and_posts_racing_on_a_completed_run_end_whole(b: Backend) {
    let book = many(ACCOUNTS);
    b.app.book.import_book(&book).await.unwrap();
    let mut ends = BTreeMap::new();
    for trial in 0..TRIALS {
        let post = |app: billrun_app::App, id| async move { app.pipeline().post_run(id).await };
        let refusals = (
            &[ConflictCode::RunPosted][..],
            &[ConflictCode::RunNotCompleted][..],
        );
        let t = race(&b, &book, trial, RunStatus::Completed, post, refusals).await;
        let end = assert_whole(&b, &book, t.run, &t.req, &t.before, &t.billed, &t.docs).await;
        *ends.entry(format!("{end:?}")).or_insert(0) += 1;
    }
    eprintln!("cancel vs post, {TRIALS} trials: {ends:?}");
}

/// Cancels racing posts of the run's documents by name (a selection that is all of
/// them): either the cancel wins and no document was posted, or a post claimed the run
/// first and the cancel is refused from then on, the run ending Posted.
pub(crate) async fn cancels_and_selective_posts_racing_end_whole(b: Backend) {
    let book = many(ACCOUNTS);
    b.app.book.import_book(&book).await.unwrap();
    let mut ends = BTreeMap::new();
    for trial in 0..TRIALS / 2 {
        let post = |app: billrun_app::App, id| async move {
            let docs = app.queries().all_documents(id).await?;
            let ids = docs.iter().map(|d| d.id).collect();
            app.pipeline()
                .post_documents(id, &billrun_app::pipeline::Selection::Ids(ids))
                .await
        };
        let refusals = (
            &[ConflictCode::RunPosted, ConflictCode::RunPartiallyPosted][..],
            &[ConflictCode::RunNotCompleted, ConflictCode::StatusLocked][..],
        );
        let t = race(&b, &book, trial, RunStatus::Completed, post, refusals).await;
        let end = assert_whole(&b, &book, t.run, &t.req, &t.before, &t.billed, &t.docs).await;
        // The audit trail: one `document.posted` entry per posted document, none for a
        // post the cancel won.
        let posted: BTreeSet<uuid::Uuid> = b
            .app
            .queries()
            .all_documents(t.run)
            .await
            .unwrap()
            .iter()
            .filter(|d| d.status == DocumentStatus::Posted)
            .map(|d| d.id.0)
            .collect();
        let filter = billrun_app::model::audit::AuditFilter {
            resource: Some(t.run.0.to_string()),
            actor: None,
            since: chrono::DateTime::UNIX_EPOCH,
        };
        let entries: Vec<uuid::Uuid> = b
            .app
            .audit
            .audit_events(&filter, None, 1000)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.action == "document.posted")
            .filter_map(|e| uuid::Uuid::parse_str(&e.resource_id).ok())
            .collect();
        assert_eq!(entries.len(), posted.len(), "one entry per posted document");
        assert_eq!(entries.into_iter().collect::<BTreeSet<_>>(), posted);
        *ends.entry(format!("{end:?}")).or_insert(0) += 1;
    }
    eprintln!("cancel vs selective post, {} trials: {ends:?}", TRIALS / 2);
}

pub(crate) async fn a_cancel_racing_retry_failed_ends_whole(b: Backend) {
    let mut book = many(ACCOUNTS);
    book.subscriptions[1].charges[0].currency =
        Some(billrun_domain::money::Currency::parse("EUR").unwrap());
    b.app.book.import_book(&book).await.unwrap();
    let mut ends = BTreeMap::new();
    for trial in 0..TRIALS / 2 {
        let retry =
            |app: billrun_app::App, id| async move { app.pipeline().retry_failed(id).await };
        let refusals = (
            &[ConflictCode::RunProcessing][..],
            &[ConflictCode::RunHasNoFailures][..],
        );
        let t = race(
            &b,
            &book,
            trial,
            RunStatus::CompletedWithErrors,
            retry,
            refusals,
        )
        .await;
        let (run, req, before, billed, docs) = (t.run, &t.req, &t.before, &t.billed, &t.docs);
        let r = b.app.queries().get_run(run).await.unwrap();
        let end = if r.status == RunStatus::Canceled {
            assert_eq!(r.round, 0, "a refused retry started no round");
            assert_whole(&b, &book, run, req, before, billed, docs).await
        } else {
            // The retry won: the refused cancel reverted nothing and canceled nothing;
            // the account still fails, so the run ends with errors again.
            assert_eq!(r.round, 1);
            b.finish(run).await;
            let r = b.app.queries().get_run(run).await.unwrap();
            assert_eq!(
                (r.status, r.transition),
                (RunStatus::CompletedWithErrors, None)
            );
            assert_eq!(
                &states(&b, &book).await,
                billed,
                "a refused cancel reverted"
            );
            let now = b.app.queries().all_documents(run).await.unwrap();
            assert!(now.iter().all(|d| d.status != DocumentStatus::Canceled));
            assert_eq!(lines_and_totals(&now), lines_and_totals(docs));
            b.app.pipeline().post_run(run).await.unwrap();
            r.status
        };
        let failed = b.app.runs.outcome(run, &aid("A-01")).await.unwrap();
        assert!(failed.is_some() || end == RunStatus::Canceled);
        *ends.entry(format!("{end:?}")).or_insert(0) += 1;
    }
    eprintln!("cancel vs retry-failed: {ends:?}");
}

/// Posts sent while the run's accounts are processed and the run is finalized: each is
/// refused until the run is complete, and the run ends Posted with every document
/// numbered and Posted.
pub(crate) async fn posts_racing_the_finalizer_end_whole(b: Backend) {
    let book = many(ACCOUNTS);
    b.app.book.import_book(&book).await.unwrap();
    for trial in 0..TRIALS / 2 {
        let req = request(&month(trial));
        let created = b.app.pipeline().create_run(req, None).await.unwrap();
        let id = created.run().id;
        let n = racers(trial);
        let posts = (0..n).map(|_| {
            let app = b.app.clone();
            async move {
                loop {
                    match app.pipeline().post_run(id).await {
                        Ok(r) => return r,
                        Err(AppError::Conflict { code, .. })
                            if code == ConflictCode::RunNotCompleted
                                || code == ConflictCode::RunTransitionInProgress =>
                        {
                            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                        }
                        Err(e) => panic!("a post racing the finalizer answered {e:?}"),
                    }
                }
            }
        });
        let (_, posted) = tokio::join!(b.finish(id), join_all(posts));
        assert!(posted.iter().all(|r| r.status == RunStatus::Posted));
        let r = b.app.queries().get_run(id).await.unwrap();
        assert_eq!((r.status, r.transition), (RunStatus::Posted, None));
        let docs = b.app.queries().all_documents(id).await.unwrap();
        assert_eq!(docs.len(), ACCOUNTS);
        assert!(docs
            .iter()
            .all(|d| d.status == DocumentStatus::Posted && d.number.is_some()));
    }
}
