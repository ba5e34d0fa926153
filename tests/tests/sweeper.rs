//! The stuck-run sweeper on the in-memory adapters, with time driven through
//! the clock port: messages lost mid-run, a lost planning message, a message that is
//! lost every time, a run never finalized, a run making progress.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use billrun_app::memory::{MemoryQueue, MemoryStore, Receive};
use billrun_app::scheduling::TickReport;
use billrun_app::sweeper::{SweepConfig, DEAD_LETTERED};
use billrun_app::worker::{drain, WorkerConfig};
use billrun_app::{AccountCommit, AccountOutcomeRecord, App, Message, RunRecord};
use billrun_domain::ids::{AccountId, RunId};
use billrun_domain::request::RunRequest;
use billrun_domain::run::{Counters, Outcome, RunStatus};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// Ten USD accounts `A-00` … `A-09`, each billed monthly in advance from 2024-01-01
/// ($10, $11, … $19).
fn book() -> String {
    let accounts: Vec<Value> = (0..10)
        .map(|i| json!({"id": format!("A-{i:02}"), "name": format!("Account {i}"), "currency": "USD", "billCycleDay": 1, "taxRate": "0.1"}))
        .collect();
    let subscriptions: Vec<Value> = (0..10)
        .map(|i| {
            json!({"id": format!("S-{i:02}"), "accountId": format!("A-{i:02}"), "productId": "P-1",
             "productName": "Plan", "startDate": "2024-01-01",
             "charges": [{"id": format!("C-{i:02}"), "type": "Recurring", "price": format!("{}.00", 10 + i),
                          "billingPeriod": "Month", "timing": "InAdvance"}]})
        })
        .collect();
    json!({"accounts": accounts, "subscriptions": subscriptions}).to_string()
}

struct TestClock(Mutex<DateTime<Utc>>);

impl billrun_app::ports::Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

struct Env {
    app: Arc<App>,
    queue: Arc<MemoryQueue>,
    clock: Arc<TestClock>,
}

const START: &str = "2024-02-01T06:00:00Z";

/// A fresh store with the book, three accounts per planning page, the default sweeper
/// configuration (stale after 15 minutes, 3 re-sends).
async fn env() -> Env {
    let queue = Arc::new(MemoryQueue::new());
    let mut app = App::in_memory(
        Arc::new(MemoryStore::new()),
        queue.clone(),
        std::sync::Arc::new(billrun_documents::PdfRenderer),
    );
    let clock = Arc::new(TestClock(Mutex::new(START.parse().unwrap())));
    app.clock = clock.clone();
    app.plan_page_size = 3;
    assert_eq!(app.sweep, SweepConfig::default());
    app.reference()
        .import_book(book().as_bytes())
        .await
        .unwrap();
    Env {
        app: Arc::new(app),
        queue,
        clock,
    }
}

fn account(s: &str) -> AccountId {
    AccountId::parse(s).unwrap()
}

impl Env {
    fn now(&self) -> DateTime<Utc> {
        *self.clock.0.lock().unwrap()
    }

    fn advance(&self, by: TimeDelta) -> DateTime<Utc> {
        let mut g = self.clock.0.lock().unwrap();
        *g += by;
        *g
    }

    /// Creates and starts an Immediate run (its first plan message is queued).
    async fn start(&self) -> RunId {
        let created = self
            .app
            .pipeline()
            .create_run(RunRequest::for_target("2024-02-01".parse().unwrap()), None)
            .await
            .unwrap();
        created.run().id
    }

    async fn drain(&self) {
        drain(
            self.app.clone(),
            self.queue.clone(),
            WorkerConfig::default(),
        )
        .await;
    }

    /// Takes queued deliveries one by one: handles those `keep` accepts and loses the
    /// others (received and deleted unhandled, as a crashed consumer whose message was
    /// dead-lettered), until the queue is empty.
    async fn deliver_or_lose(&self, keep: impl Fn(&Message) -> bool) {
        loop {
            match self.queue.try_receive() {
                Receive::Delivery(d) => {
                    if keep(&d.message) {
                        self.app.handle(&d.message).await.unwrap();
                    }
                    self.queue.ack();
                }
                Receive::Empty => tokio::task::yield_now().await,
                Receive::Drained => return,
            }
        }
    }

    /// A scheduler tick at the clock's now.
    async fn tick(&self) -> TickReport {
        let report = self.app.tick(self.now()).await.unwrap();
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        report
    }

    async fn run(&self, id: RunId) -> RunRecord {
        self.app.queries().get_run(id).await.unwrap()
    }

    /// Ticks every `stale_after` + 1 minute, handling what each tick sends, until the
    /// run leaves Processing; returns the ticks' reports.
    async fn sweep_until_done(&self, id: RunId) -> Vec<TickReport> {
        let mut reports = Vec::new();
        for _ in 0..20 {
            if self.run(id).await.status != RunStatus::Processing {
                return reports;
            }
            self.advance(SweepConfig::default().stale_after + TimeDelta::minutes(1));
            reports.push(self.tick().await);
            self.drain().await;
        }
        panic!("run {id} still Processing after 20 sweeps: {reports:?}");
    }

    /// The run's documents without their ids and run id (the rest must be equal across
    /// runs of the same book: lines, totals, numbers).
    async fn documents(&self, id: RunId) -> Vec<Value> {
        let docs = self.app.queries().all_documents(id).await.unwrap();
        docs.into_iter()
            .map(|d| {
                let mut v = serde_json::to_value(d).unwrap();
                let o = v.as_object_mut().unwrap();
                o.remove("id");
                o.remove("runId");
                v
            })
            .collect()
    }

    async fn counters(&self, id: RunId) -> Counters {
        self.app.queries().run_view(id).await.unwrap().counters
    }
}

/// The documents of the same run undisturbed, in a store of its own.
async fn undisturbed() -> Vec<Value> {
    let e = env().await;
    let id = e.start().await;
    e.drain().await;
    assert_eq!(e.run(id).await.status, RunStatus::Completed);
    let docs = e.documents(id).await;
    assert_eq!(docs.len(), 10);
    docs
}

fn is_account(m: &Message, id: &str) -> bool {
    matches!(m, Message::Account { account_id, .. } if account_id.as_str() == id)
}

#[tokio::test]
async fn messages_lost_mid_run_are_re_sent_and_the_run_completes_with_the_same_documents() {
    let expected = undisturbed().await;
    let e = env().await;
    let id = e.start().await;
    // Processing dies mid-run: plan pages 0 and 1 and accounts A-00..A-02 were handled;
    // the rest (A-03..A-05 and the plan 2 message) is lost.
    e.deliver_or_lose(|m| match m {
        Message::Plan { page, .. } => *page < 2,
        Message::Account { account_id, .. } => account_id.as_str() < "A-03",
        Message::Document { .. }
        | Message::Deliver { .. }
        | Message::AutoEmail { .. }
        | Message::Feedback { .. }
        | Message::Export { .. }
        | Message::Dispatch { .. }
        | Message::DocumentEvents { .. }
        | Message::TemplateSample { .. }
        | Message::Webhook { .. } => true,
    })
    .await;
    let run = e.run(id).await;
    assert_eq!(run.status, RunStatus::Processing);
    assert_eq!((run.plan.pages, run.plan.done), (2, false));
    assert_eq!(e.counters(id).await.accounted_for(), 3);

    let reports = e.sweep_until_done(id).await;
    let run = e.run(id).await;
    assert_eq!(run.status, RunStatus::Completed, "{reports:?}");
    assert!(reports.iter().any(|r| r.sweep.resumed == vec![id]));
    assert!(reports.iter().any(|r| r.sweep.resent == vec![(id, 3)]));
    assert!(reports.iter().all(|r| r.sweep.dead_lettered.is_empty()));
    assert_eq!(e.documents(id).await, expected);
    let c = e.counters(id).await;
    assert_eq!((c.accounts_selected, c.billed, c.failed), (10, 10, 0));
}

#[tokio::test]
async fn a_lost_planning_message_is_re_sent_and_planning_resumes_from_the_stored_cursor() {
    let expected = undisturbed().await;
    let e = env().await;
    let id = e.start().await;
    // Plan 0 and its three accounts are handled; the plan 1 message is lost.
    e.deliver_or_lose(|m| !matches!(m, Message::Plan { page: 1, .. }))
        .await;
    let run = e.run(id).await;
    assert_eq!(
        (run.plan.pages, run.plan.selected, run.plan.done),
        (1, 3, false)
    );
    assert_eq!(e.queue.sent(), 5);

    // The first tick notes the progress marker; 14 minutes without progress are not
    // stale yet: nothing is re-sent.
    e.advance(TimeDelta::minutes(1));
    assert_eq!(e.tick().await.sweep, Default::default());
    e.advance(TimeDelta::minutes(14));
    assert_eq!(e.tick().await.sweep, Default::default());
    assert_eq!(e.queue.sent(), 5);

    e.advance(TimeDelta::minutes(2));
    let report = e.tick().await;
    assert_eq!(report.sweep.resumed, vec![id]);
    e.drain().await;
    // Resumed from the cursor: the plan message of page 1, then pages 1..3 (A-03..A-09
    // and two further plan messages), nothing of page 0 again.
    assert_eq!(e.queue.sent(), 5 + 1 + 7 + 2);
    let run = e.run(id).await;
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(e.documents(id).await, expected);
}

#[tokio::test]
async fn an_account_whose_message_is_always_lost_is_failed_dead_lettered_after_the_budget() {
    let e = env().await;
    let id = e.start().await;
    e.deliver_or_lose(|m| !is_account(m, "A-04")).await;
    assert_eq!(e.counters(id).await.accounted_for(), 9);
    // Every re-sent message for A-04 is lost too.
    let mut reports = Vec::new();
    for _ in 0..10 {
        if e.run(id).await.status != RunStatus::Processing {
            break;
        }
        e.advance(TimeDelta::minutes(16));
        reports.push(e.tick().await);
        e.deliver_or_lose(|m| !is_account(m, "A-04")).await;
    }
    let resends: Vec<_> = reports
        .iter()
        .flat_map(|r| r.sweep.resent.clone())
        .collect();
    assert_eq!(resends, vec![(id, 1); 3], "the budget is three re-sends");
    let dead: Vec<_> = reports
        .iter()
        .flat_map(|r| r.sweep.dead_lettered.clone())
        .collect();
    assert_eq!(dead, vec![(id, account("A-04"))]);
    // The first tick only notes the progress marker (nine outcomes); three stale ticks
    // re-send; the fifth records the account Failed and finalizes.
    assert_eq!(reports.len(), 5, "{reports:?}");
    assert_eq!(reports[0].sweep, Default::default());
    assert_eq!(reports[4].sweep.finalized, vec![id]);

    let run = e.run(id).await;
    assert_eq!(run.status, RunStatus::CompletedWithErrors);
    let c = e.counters(id).await;
    assert!(c.reconciles(), "{c:?}");
    assert_eq!((c.accounts_selected, c.billed, c.failed), (10, 9, 1));
    let outcome = e
        .app
        .runs
        .outcome(id, &account("A-04"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.outcome, Outcome::Failed);
    assert_eq!(outcome.reason.as_deref(), Some(DEAD_LETTERED));

    // The dead-lettered account can be re-driven like any Failed one.
    e.app.pipeline().retry_failed(id).await.unwrap();
    e.drain().await;
    assert_eq!(e.run(id).await.status, RunStatus::Completed);
    assert_eq!(e.counters(id).await.billed, 10);
}

#[tokio::test]
async fn a_run_whose_accounts_all_have_outcomes_but_was_never_finalized_is_finalized() {
    let expected_numbers: Vec<Value> = undisturbed()
        .await
        .into_iter()
        .map(|d| d["number"].clone())
        .collect();
    let e = env().await;
    let id = e.start().await;
    e.deliver_or_lose(|m| !is_account(m, "A-09")).await;
    // A-09's give-up recorded its outcome and crashed before finalizing.
    let commit = AccountCommit {
        outcome: AccountOutcomeRecord {
            run_id: id,
            account_id: account("A-09"),
            outcome: Outcome::Failed,
            reason: Some("gave up after 8 receives".into()),
            document_ids: vec![],
            changes: vec![],
            counters: Counters::for_account(Outcome::Failed, &[], 0),
            round: 0,
        },
        documents: vec![],
        expires_at: None,
    };
    e.app.ledger.commit_account(&commit).await.unwrap();
    let run = e.run(id).await;
    assert_eq!(run.status, RunStatus::Processing);
    assert!(run.plan.done);
    assert!(e.counters(id).await.reconciles());

    // The very next tick finalizes it, stale or not.
    let report = e.tick().await;
    assert_eq!(report.sweep.finalized, vec![id]);
    assert_eq!(e.run(id).await.status, RunStatus::CompletedWithErrors);
    let numbers: Vec<Value> = e
        .documents(id)
        .await
        .into_iter()
        .map(|d| d["number"].clone())
        .collect();
    assert_eq!(numbers, expected_numbers[..9]);
    // Sweeping again changes nothing.
    e.advance(TimeDelta::hours(1));
    assert_eq!(e.tick().await.sweep, Default::default());
}

#[tokio::test]
async fn a_run_making_progress_is_left_alone() {
    let e = env().await;
    let id = e.start().await;
    let mut handled = 0;
    // One delivery every 10 minutes: slow, but never 15 minutes without progress.
    loop {
        match e.queue.try_receive() {
            Receive::Delivery(d) => {
                e.app.handle(&d.message).await.unwrap();
                e.queue.ack();
                handled += 1;
            }
            Receive::Empty => continue,
            Receive::Drained => break,
        }
        if e.run(id).await.status != RunStatus::Processing {
            break;
        }
        e.advance(TimeDelta::minutes(10));
        let sent = e.queue.sent();
        let report = e.tick().await;
        assert!(report.sweep.resumed.is_empty() && report.sweep.resent.is_empty());
        assert!(report.sweep.dead_lettered.is_empty());
        assert_eq!(e.queue.sent(), sent, "nothing re-sent");
    }
    assert!(handled > 10);
    assert_eq!(e.run(id).await.status, RunStatus::Completed);
    let c = e.counters(id).await;
    assert_eq!((c.billed, c.failed), (10, 0));
}

#[tokio::test]
async fn a_run_stored_before_the_sweeper_still_loads() {
    let e = env().await;
    let id = e.start().await;
    let mut stored = serde_json::to_value(e.run(id).await).unwrap();
    assert!(stored.as_object_mut().unwrap().remove("sweep").is_some());
    let run: RunRecord = serde_json::from_value(stored).unwrap();
    assert_eq!(run.sweep, Default::default());
}

/// The memory run store with a progress one account ahead of the outcomes, as an add
/// retried after it had landed leaves it.
struct LeadingProgress(Arc<MemoryStore>);

#[async_trait::async_trait]
impl billrun_app::ports::RunStore for LeadingProgress {
    async fn create_run(
        &self,
        run: RunRecord,
    ) -> billrun_app::ports::StoreResult<billrun_app::Created> {
        self.0.create_run(run).await
    }
    async fn get_run(&self, id: RunId) -> billrun_app::ports::StoreResult<Option<RunRecord>> {
        self.0.get_run(id).await
    }
    async fn update_run(&self, run: &RunRecord) -> billrun_app::ports::StoreResult<()> {
        self.0.update_run(run).await
    }
    async fn counters(&self, id: RunId) -> billrun_app::ports::StoreResult<Counters> {
        self.0.counters(id).await
    }
    async fn progress(&self, id: RunId) -> billrun_app::ports::StoreResult<Counters> {
        let mut c = self.0.counters(id).await?;
        c.billed += 1;
        Ok(c)
    }
    async fn outcome(
        &self,
        run: RunId,
        account: &AccountId,
    ) -> billrun_app::ports::StoreResult<Option<AccountOutcomeRecord>> {
        self.0.outcome(run, account).await
    }
    async fn outcomes(
        &self,
        run: RunId,
        after: Option<&AccountId>,
        limit: usize,
    ) -> billrun_app::ports::StoreResult<Vec<AccountOutcomeRecord>> {
        self.0.outcomes(run, after, limit).await
    }
}

/// A progress that leads the outcomes says the run is complete while an account's
/// message was lost: the finalizer's exact count finds it missing, and the sweeper
/// still re-sends it once the run is stale, so the run completes with every account.
#[tokio::test]
async fn a_progress_ahead_of_the_outcomes_does_not_keep_a_lost_account_from_being_re_sent() {
    let queue = Arc::new(MemoryQueue::new());
    let store = Arc::new(MemoryStore::new());
    let mut app = App::in_memory(
        store.clone(),
        queue.clone(),
        std::sync::Arc::new(billrun_documents::PdfRenderer),
    );
    let clock = Arc::new(TestClock(Mutex::new(START.parse().unwrap())));
    app.clock = clock.clone();
    app.plan_page_size = 3;
    app.runs = Arc::new(LeadingProgress(store));
    app.reference()
        .import_book(book().as_bytes())
        .await
        .unwrap();
    let e = Env {
        app: Arc::new(app),
        queue,
        clock,
    };
    let id = e.start().await;
    e.deliver_or_lose(|m| !is_account(m, "A-04")).await;
    assert_eq!(e.run(id).await.status, RunStatus::Processing);
    let exact = e.app.runs.counters(id).await.unwrap();
    assert_eq!(exact.accounted_for(), 9);
    let reports = e.sweep_until_done(id).await;
    assert!(
        reports.iter().any(|r| r.sweep.resent == vec![(id, 1)]),
        "{reports:?}"
    );
    let c = e.app.runs.counters(id).await.unwrap();
    assert_eq!((c.accounts_selected, c.billed, c.failed), (10, 10, 0));
    assert_eq!(e.run(id).await.status, RunStatus::Completed);
}
