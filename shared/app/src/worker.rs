//! In-process queue workers for the local mode and tests: the same at-least-once
//! contract as the SQS consumer (retry with a receive count, give up on the last
//! allowed receive by recording the account Failed).

use crate::app::App;
use crate::error::AppError;
use crate::memory::{MemoryQueue, Receive};
use crate::model::{Message, RunRecord};
use crate::pipeline::Finalizing;
use billrun_domain::ids::RunId;
use billrun_domain::run::Counters;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct WorkerConfig {
    pub workers: usize,
    /// Deliveries of one message before it is given up (SQS `maxReceiveCount`).
    pub max_receives: u32,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            workers: 2,
            max_receives: 8,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerStats {
    pub handled: u64,
    pub retried: u64,
    pub given_up: u64,
}

/// Runs `config.workers` workers until the queue is drained (nothing queued, nothing
/// in flight).
pub async fn drain(app: Arc<App>, queue: Arc<MemoryQueue>, config: WorkerConfig) -> WorkerStats {
    let mut handles = Vec::new();
    for _ in 0..config.workers.max(1) {
        let app = app.clone();
        let queue = queue.clone();
        handles.push(tokio::spawn(
            async move { work(&app, &queue, config).await },
        ));
    }
    let mut total = WorkerStats::default();
    for h in handles {
        if let Ok(s) = h.await {
            total.handled += s.handled;
            total.retried += s.retried;
            total.given_up += s.given_up;
        }
    }
    total
}

async fn work(app: &App, queue: &MemoryQueue, config: WorkerConfig) -> WorkerStats {
    let mut stats = WorkerStats::default();
    loop {
        let delivery = match queue.try_receive() {
            Receive::Drained => return stats,
            Receive::Empty => {
                tokio::time::sleep(Duration::from_micros(200)).await;
                continue;
            }
            Receive::Delivery(d) => d,
        };
        match deliver(
            app,
            &delivery.message,
            delivery.receive_count,
            config.max_receives,
        )
        .await
        {
            Disposition::Done => {
                stats.handled += 1;
                queue.ack();
            }
            Disposition::GivenUp => {
                stats.given_up += 1;
                queue.ack();
            }
            Disposition::Retry => {
                stats.retried += 1;
                queue.retry(delivery);
            }
        }
    }
}

/// A batch of deliveries (an SQS receive or Lambda event: up to 10), each with its
/// receive count, handled as [`deliver`] handles one, except that the account messages
/// of one run share one read of the run record and one completion check after the
/// batch: per account, that hot item would be read twice, capping a run at ~1,500
/// accounts a second (3,000 strongly consistent reads a second per item). If the
/// completion check fails, the batch's accounts of that run are delivered again (their
/// commits are done; the redelivery finds them so and checks again), except those on
/// their last receive (the sweeper checks stuck runs).
pub async fn deliver_batch(
    app: &App,
    batch: &[(Message, u32)],
    max_receives: u32,
) -> Vec<Disposition> {
    use std::collections::BTreeMap;
    let mut runs: HashMap<RunId, Option<RunRecord>> = HashMap::new();
    let mut check: BTreeMap<RunId, (Vec<usize>, Counters)> = BTreeMap::new();
    let mut out = Vec::with_capacity(batch.len());
    for (i, (message, receives)) in batch.iter().enumerate() {
        let Message::Account {
            run_id,
            account_id,
            round,
        } = message
        else {
            out.push(deliver_other(app, message, *receives, max_receives).await);
            continue;
        };
        let result = async {
            let run = match runs.get(run_id) {
                Some(run) => run.clone(),
                None => {
                    let run = app.runs.get_run(*run_id).await?;
                    runs.insert(*run_id, run.clone());
                    run
                }
            };
            match run {
                None => Ok(None),
                Some(run) => {
                    app.pipeline()
                        .process_account_of(&run, account_id, *round)
                        .await
                }
            }
        }
        .await;
        out.push(match result {
            Ok(processed) => {
                if let Some(added) = processed {
                    let (indexes, sum) = check.entry(*run_id).or_default();
                    indexes.push(i);
                    sum.merge(&added, 1);
                }
                Disposition::Done
            }
            Err(e) => failed(app, message, e, *receives, max_receives).await,
        });
    }
    for (run_id, (mut indexes, added)) in check {
        // One progress write per run and batch. If it fails, the commits stand and the
        // batch is delivered again: each redelivery finds its account committed and
        // reports its progress again (a failed write that landed makes it lead).
        if added != Counters::default() {
            if let Err(e) = app.runs.add_progress(run_id, &added).await {
                tracing::warn!(run_id = %run_id, error = %crate::error::chain(&e), "progress not added; redelivering");
                for &i in &indexes {
                    if batch[i].1 < max_receives {
                        out[i] = Disposition::Retry;
                    }
                }
                continue;
            }
        }
        let redeliver = match app.pipeline().try_finalize(run_id).await {
            Ok(Finalizing::Idle) => false,
            // Another finalizer is counting: it may miss this batch's commits and let
            // go (it reads the progress again first, but a holder that fails with an
            // error leaves its claim to run out), so the batch comes again to check
            // after it. Counts are rare: the lead a count proves is stored, and the
            // next count waits for the progress to pass it.
            Ok(Finalizing::Held { counting: true }) => true,
            // Another finalizer is numbering (it counted every account): it completes
            // the run. A redelivered message may have been left by that finalizer's
            // process when it stopped (its claim then runs out within seconds): it
            // comes back to take over, rather than leave the run to the sweeper.
            Ok(Finalizing::Held { counting: false }) => {
                indexes.retain(|&i| batch[i].1 > 1);
                !indexes.is_empty()
            }
            // This check found accounts missing while progress kept coming.
            Ok(Finalizing::Again) => true,
            Err(e) => {
                tracing::warn!(run_id = %run_id, error = %crate::error::chain(&e), "completion check failed; redelivering");
                true
            }
        };
        if redeliver {
            for i in indexes {
                if batch[i].1 < max_receives {
                    out[i] = Disposition::Retry;
                }
            }
        }
    }
    out
}

/// What a consumer does with a delivery once it was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Handled: delete it.
    Done,
    /// Not handled and not worth another try, or on its last allowed receive: the
    /// account was recorded Failed with the reason; delete it.
    GivenUp,
    /// Let it be delivered again (SQS: report it in `batchItemFailures`).
    Retry,
}

/// The consumer contract every transport shares (in-process queue, SQS pollers, the
/// Lambda SQS handlers): handle one message; a retryable failure is retried until its
/// last allowed receive, which records the account Failed so the run always completes.
pub async fn deliver(
    app: &App,
    message: &Message,
    receives: u32,
    max_receives: u32,
) -> Disposition {
    if matches!(message, Message::Account { .. }) {
        // The batch path's progress and completion check (with its redelivery rules).
        let batch = [(message.clone(), receives)];
        return deliver_batch(app, &batch, max_receives)
            .await
            .pop()
            .unwrap_or(Disposition::Retry);
    }
    deliver_other(app, message, receives, max_receives).await
}

/// A planning or document message.
async fn deliver_other(
    app: &App,
    message: &Message,
    receives: u32,
    max_receives: u32,
) -> Disposition {
    match app.handle_delivery(message, receives).await {
        Ok(()) => Disposition::Done,
        Err(e) => failed(app, message, e, receives, max_receives).await,
    }
}

/// A failed delivery: retried until its last allowed receive, then given up.
async fn failed(
    app: &App,
    message: &Message,
    e: AppError,
    receives: u32,
    max_receives: u32,
) -> Disposition {
    if e.is_retryable() && receives < max_receives {
        tracing::warn!(error = %crate::error::chain(&e), receives, "message will be retried");
        return Disposition::Retry;
    }
    let reason = format!("gave up after {receives} receives: {e}");
    match app.give_up(message, &reason).await {
        Ok(()) => Disposition::GivenUp,
        Err(e2) => {
            tracing::error!(error = %crate::error::chain(&e2), "could not record a given-up message");
            Disposition::Retry
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;
    use crate::model::{AccountOutcomeRecord, Created, DocumentPage, StoredDocument};
    use crate::ports::{DocumentStore, RunStore, StoreResult, WorkQueue};
    use billrun_domain::document::DocumentStatus;
    use billrun_domain::ids::AccountId;
    use billrun_domain::ids::DocumentId;
    use billrun_domain::request::{RunRequest, RunType};
    use billrun_domain::run::{Counters, RunStatus};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The memory run store, counting reads of run records and exact counts, with a
    /// progress of its own when a test makes it lead the outcomes (as a redelivery
    /// reporting a committed account again does), and run updates that take
    /// `update_delay` (as a conditional write over a network does).
    struct CountingRuns {
        store: Arc<MemoryStore>,
        reads: AtomicUsize,
        counts: AtomicUsize,
        progress: Option<std::sync::Mutex<Counters>>,
        update_delay: Duration,
        /// When not 0, the run update that many updates from now fails (once).
        fail_update: AtomicUsize,
    }

    impl CountingRuns {
        fn new(store: Arc<MemoryStore>, progress: Option<Counters>) -> Self {
            CountingRuns {
                store,
                reads: AtomicUsize::new(0),
                counts: AtomicUsize::new(0),
                progress: progress.map(std::sync::Mutex::new),
                update_delay: Duration::ZERO,
                fail_update: AtomicUsize::new(0),
            }
        }
    }

    #[async_trait::async_trait]
    impl RunStore for CountingRuns {
        async fn create_run(&self, run: RunRecord) -> StoreResult<Created> {
            self.store.create_run(run).await
        }
        async fn get_run(&self, id: RunId) -> StoreResult<Option<RunRecord>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.store.get_run(id).await
        }
        async fn update_run(&self, run: &RunRecord) -> StoreResult<()> {
            if !self.update_delay.is_zero() {
                tokio::time::sleep(self.update_delay).await;
            }
            let armed = self
                .fail_update
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            if armed == Ok(1) {
                return Err(crate::error::StoreError::transient("throttled"));
            }
            self.store.update_run(run).await
        }
        async fn counters(&self, id: RunId) -> StoreResult<Counters> {
            self.counts.fetch_add(1, Ordering::SeqCst);
            self.store.counters(id).await
        }
        async fn progress(&self, id: RunId) -> StoreResult<Counters> {
            let selected = self.store.counters(id).await?;
            let Some(progress) = &self.progress else {
                return Ok(selected);
            };
            let mut p = progress.lock().unwrap().clone();
            p.accounts_selected = selected.accounts_selected;
            Ok(p)
        }
        async fn add_progress(&self, _id: RunId, added: &Counters) -> StoreResult<()> {
            if let Some(progress) = &self.progress {
                progress.lock().unwrap().merge(added, 1);
            }
            Ok(())
        }
        async fn outcome(
            &self,
            run: RunId,
            account: &AccountId,
        ) -> StoreResult<Option<AccountOutcomeRecord>> {
            self.store.outcome(run, account).await
        }
        async fn outcomes(
            &self,
            run: RunId,
            after: Option<&AccountId>,
            limit: usize,
        ) -> StoreResult<Vec<AccountOutcomeRecord>> {
            self.store.outcomes(run, after, limit).await
        }
    }

    /// The memory document store, yielding before each read (so concurrent finalizers
    /// interleave as they would over a network) and counting numbered documents.
    struct YieldingDocs(Arc<MemoryStore>, AtomicUsize);

    #[async_trait::async_trait]
    impl DocumentStore for YieldingDocs {
        async fn get_document(&self, id: DocumentId) -> StoreResult<Option<StoredDocument>> {
            self.0.get_document(id).await
        }
        async fn round_documents(
            &self,
            run: RunId,
            round: u32,
            cursor: Option<&str>,
            limit: usize,
        ) -> StoreResult<DocumentPage> {
            tokio::task::yield_now().await;
            self.0.round_documents(run, round, cursor, limit).await
        }
        async fn run_documents(
            &self,
            run: RunId,
            cursor: Option<&str>,
            limit: usize,
        ) -> StoreResult<DocumentPage> {
            self.0.run_documents(run, cursor, limit).await
        }
        async fn assign_numbers(
            &self,
            run: RunId,
            round: u32,
            numbers: &[crate::model::Numbered],
        ) -> StoreResult<()> {
            self.1.fetch_add(numbers.len(), Ordering::SeqCst);
            tokio::task::yield_now().await;
            self.0.assign_numbers(run, round, numbers).await
        }
        async fn set_run_status(&self, run: RunId, status: DocumentStatus) -> StoreResult<()> {
            self.0.set_run_status(run, status).await
        }
        async fn set_document_statuses(
            &self,
            ids: &[DocumentId],
            from: &[DocumentStatus],
            to: DocumentStatus,
            by: Option<&str>,
            at: chrono::DateTime<chrono::Utc>,
        ) -> StoreResult<()> {
            self.0.set_document_statuses(ids, from, to, by, at).await
        }
    }

    /// Finalizers that find a run complete at the same moment (the last batches of a
    /// big run) leave it to the one that claimed it: every document is numbered once,
    /// not once per finalizer.
    #[tokio::test]
    async fn concurrent_finalizers_number_each_document_once() {
        const N: usize = 12;
        let store = Arc::new(MemoryStore::new());
        let docs = Arc::new(YieldingDocs(store.clone(), AtomicUsize::new(0)));
        let (app, id, messages) = planned(store, N, |app| {
            app.finalize_page_size = 2;
            app.documents = docs.clone();
        })
        .await;
        let run = app.queries().get_run(id).await.unwrap();
        for (message, _) in &messages {
            let Message::Account { account_id, .. } = message else {
                continue;
            };
            assert!(app
                .pipeline()
                .process_account_of(&run, account_id, 0)
                .await
                .unwrap()
                .is_some());
        }
        let pipeline = app.pipeline();
        let finalizers = (0..8).map(|_| pipeline.try_finalize(id));
        for r in futures_util::future::join_all(finalizers).await {
            r.unwrap();
        }
        assert_eq!(
            app.queries().get_run(id).await.unwrap().status,
            RunStatus::Completed
        );
        assert_eq!(
            docs.1.load(Ordering::SeqCst),
            N,
            "each document numbered once"
        );
    }

    /// An app over `store` (adjusted by `setup`) with a Manual run over `n` accounts,
    /// planned: its account messages taken off the queue, with their receive counts.
    async fn planned(
        store: Arc<MemoryStore>,
        n: usize,
        setup: impl FnOnce(&mut App),
    ) -> (App, RunId, Vec<(Message, u32)>) {
        let queue = Arc::new(MemoryQueue::new());
        let mut app = App::in_memory(
            store,
            queue.clone(),
            std::sync::Arc::new(crate::memory::NoRenderer),
        );
        setup(&mut app);
        app.reference()
            .import_book(book(n).as_bytes())
            .await
            .unwrap();
        let mut req = RunRequest::for_target("2024-02-01".parse().unwrap());
        req.run_type = RunType::Manual;
        let id = app.pipeline().create_run(req, None).await.unwrap().run().id;
        app.pipeline().start_run(id).await.unwrap();
        app.pipeline().plan_page(id, 0).await.unwrap();
        let mut batch = Vec::new();
        while let Receive::Delivery(d) = queue.try_receive() {
            queue.ack();
            if matches!(d.message, Message::Account { .. }) {
                batch.push((d.message, d.receive_count));
            }
        }
        (app, id, batch)
    }

    fn book(n: usize) -> String {
        let accounts: Vec<_> = (0..n)
            .map(|i| serde_json::json!({"id": format!("A-{i}"), "name": "C", "currency": "USD", "billCycleDay": 1}))
            .collect();
        let subs: Vec<_> = (0..n)
            .map(|i| serde_json::json!({
                "id": format!("S-{i}"), "accountId": format!("A-{i}"), "productId": "P", "startDate": "2024-01-01",
                "charges": [{"id": format!("C-{i}"), "type": "Recurring", "price": "10.00", "billingPeriod": "Month"}]
            }))
            .collect();
        serde_json::json!({"accounts": accounts, "subscriptions": subs}).to_string()
    }

    /// Every message the queue holds, taken off it.
    fn take(queue: &MemoryQueue) -> Vec<Message> {
        let mut taken = Vec::new();
        while let Receive::Delivery(d) = queue.try_receive() {
            queue.ack();
            taken.push(d.message);
        }
        taken
    }

    /// A Manual run over `n` accounts, started, planned in pages of `page` accounts, by
    /// an app adjusted by `setup`.
    async fn started(
        n: usize,
        page: usize,
        setup: impl FnOnce(&mut App, Arc<MemoryStore>),
    ) -> (Arc<App>, Arc<MemoryQueue>, RunId) {
        let queue = Arc::new(MemoryQueue::new());
        let store = Arc::new(MemoryStore::new());
        let mut app = App::in_memory(
            store.clone(),
            queue.clone(),
            std::sync::Arc::new(crate::memory::NoRenderer),
        );
        app.plan_page_size = page;
        setup(&mut app, store);
        app.reference()
            .import_book(book(n).as_bytes())
            .await
            .unwrap();
        let mut req = RunRequest::for_target("2024-02-01".parse().unwrap());
        req.run_type = RunType::Manual;
        let id = app.pipeline().create_run(req, None).await.unwrap().run().id;
        app.pipeline().start_run(id).await.unwrap();
        (Arc::new(app), queue, id)
    }

    /// The next page is queued once its predecessor's cursor is stored, so idle
    /// workers never receive a page ahead of it, however long the store takes: a run
    /// without faults retries nothing (queued before the store, 19-20 of these pages
    /// were retried).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn planning_pages_never_arrive_ahead_of_their_cursor() {
        const N: usize = 60;
        let (app, queue, id) = started(N, 3, |app, store| {
            let mut runs = CountingRuns::new(store, None);
            runs.update_delay = Duration::from_millis(1);
            app.runs = Arc::new(runs);
        })
        .await;
        let config = WorkerConfig {
            workers: 4,
            max_receives: 8,
        };
        let stats = drain(app.clone(), queue, config).await;
        assert_eq!((stats.retried, stats.given_up), (0, 0), "{stats:?}");
        let run = app.queries().get_run(id).await.unwrap();
        assert_eq!(run.status, RunStatus::Completed);
        assert_eq!(run.plan.selected, N as u64);
    }

    /// A page stored without its successor queued (the send failed after the store) is
    /// mended by its redelivery, which queues the successor; a duplicate copy received
    /// for the first time queues nothing (no second chain of plan messages).
    #[tokio::test]
    async fn a_redelivered_plan_page_queues_the_successor_its_first_delivery_could_not() {
        let (app, queue, id) = started(5, 2, |_, _| {}).await;
        let plan0 = take(&queue);
        assert!(matches!(plan0[..], [Message::Plan { page: 0, .. }]));
        // Page 0's two account messages are queued; the third message, page 1, fails.
        queue.fail_kth_message(3);
        assert_eq!(deliver(&app, &plan0[0], 1, 5).await, Disposition::Retry);
        assert_eq!(app.queries().get_run(id).await.unwrap().plan.pages, 1);
        let accounts = take(&queue);
        assert_eq!(accounts.len(), 2);
        assert!(accounts
            .iter()
            .all(|m| matches!(m, Message::Account { .. })));
        assert_eq!(deliver(&app, &plan0[0], 1, 5).await, Disposition::Done);
        assert!(take(&queue).is_empty(), "a first delivery of a copy");
        assert_eq!(deliver(&app, &plan0[0], 2, 5).await, Disposition::Done);
        let next = take(&queue);
        assert!(
            matches!(next[..], [Message::Plan { page: 1, .. }]),
            "{next:?}"
        );
        queue
            .send(accounts.into_iter().chain(next).collect())
            .await
            .unwrap();
        let stats = drain(app.clone(), queue, WorkerConfig::default()).await;
        assert_eq!(stats.given_up, 0);
        let run = app.queries().get_run(id).await.unwrap();
        assert_eq!(run.status, RunStatus::Completed);
        assert_eq!(run.plan.selected, 5);
        assert_eq!(app.runs.counters(id).await.unwrap().billed, 5);
    }

    /// A batch of one run's account messages reads the (hot) run record once to process
    /// them and completes the run once after them; per message it would be read at
    /// least twice each.
    #[tokio::test]
    async fn a_batch_of_a_runs_accounts_shares_one_read_of_the_run_and_completes_it() {
        const N: usize = 10;
        let store = Arc::new(MemoryStore::new());
        let (mut app, id, batch) = planned(store.clone(), N, |_| {}).await;
        assert_eq!(batch.len(), N);
        let counting = Arc::new(CountingRuns::new(store.clone(), None));
        app.runs = counting.clone();
        // All but one: the run does not complete, so only processing reads it (once)
        // and the completion check (once).
        let out = deliver_batch(&app, &batch[..N - 1], 5).await;
        assert_eq!(out, vec![Disposition::Done; N - 1]);
        let reads = counting.reads.load(Ordering::SeqCst);
        assert_eq!(reads, 2, "reads of the run record for {} accounts", N - 1);
        assert_eq!(
            app.queries().get_run(id).await.unwrap().status,
            RunStatus::Processing
        );
        let out = deliver_batch(&app, &batch[N - 1..], 5).await;
        assert_eq!(out, vec![Disposition::Done]);
        assert_eq!(
            app.queries().get_run(id).await.unwrap().status,
            RunStatus::Completed
        );
        assert_eq!(app.runs.counters(id).await.unwrap().billed, N as u64);
    }

    /// A progress that leads the outcomes costs one exact count that finds accounts
    /// missing; the lead it proved is stored, and the checks after count again only
    /// once the progress passes it: here, when the last account commits.
    #[tokio::test]
    async fn a_leading_progress_costs_one_count_that_finds_accounts_missing() {
        const N: usize = 10;
        const LEAD: u64 = 4;
        let store = Arc::new(MemoryStore::new());
        let (mut app, id, batch) = planned(store.clone(), N, |_| {}).await;
        let lead = Counters {
            billed: LEAD,
            ..Counters::default()
        };
        let runs = Arc::new(CountingRuns::new(store.clone(), Some(lead)));
        app.runs = runs.clone();
        for (i, delivery) in batch.iter().enumerate() {
            let out = deliver_batch(&app, std::slice::from_ref(delivery), 5).await;
            assert_eq!(out, vec![Disposition::Done], "account {i}");
            let status = app.queries().get_run(id).await.unwrap().status;
            let counts = runs.counts.load(Ordering::SeqCst);
            if i + 1 < N - LEAD as usize {
                assert_eq!(
                    counts, 0,
                    "no count while the progress is short: account {i}"
                );
            } else if i + 1 < N {
                assert_eq!(counts, 1, "one count for the lead: account {i}");
                assert_eq!(status, RunStatus::Processing);
            } else {
                assert_eq!(status, RunStatus::Completed);
                assert_eq!(counts, 2, "the lead counted once, then the run once");
            }
        }
        let excess = app
            .queries()
            .get_run(id)
            .await
            .unwrap()
            .finalize
            .map(|f| f.excess);
        assert_eq!(excess, Some(LEAD));
    }

    /// A finalizer whose step fails (here: storing the counted round) gives up its claim
    /// with the error, so the next check resumes at once instead of when the claim runs
    /// out 20 s later.
    #[tokio::test]
    async fn a_finalizer_that_fails_gives_its_claim_up() {
        let store = Arc::new(MemoryStore::new());
        let (mut app, id, batch) = planned(store.clone(), 3, |_| {}).await;
        let runs = Arc::new(CountingRuns::new(store.clone(), None));
        app.runs = runs.clone();
        let (last, first) = batch.split_last().unwrap();
        for delivery in first {
            let out = deliver_batch(&app, std::slice::from_ref(delivery), 5).await;
            assert_eq!(out, vec![Disposition::Done]);
        }
        // The last account's check claims the run (update 1), counts, and fails to store
        // the count (update 2).
        runs.fail_update.store(2, Ordering::SeqCst);
        let out = deliver_batch(&app, std::slice::from_ref(last), 5).await;
        assert_eq!(out, vec![Disposition::Retry]);
        let run = app.queries().get_run(id).await.unwrap();
        assert_eq!(run.status, RunStatus::Processing);
        let f = run.finalize.expect("the claim was stored");
        assert_eq!(
            (f.lease, f.counters),
            (None, None),
            "claim given up, count not stored"
        );
        // The redelivery completes the run at once (the clock has not moved).
        let out = deliver_batch(&app, std::slice::from_ref(&(last.0.clone(), 2)), 5).await;
        assert_eq!(out, vec![Disposition::Done]);
        let run = app.queries().get_run(id).await.unwrap();
        assert_eq!(run.status, RunStatus::Completed);
    }
}
