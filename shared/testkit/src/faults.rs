//! Fault injection: [`Faulty`] wraps any adapter of every port and, by a
//! seeded [`FaultPlan`], fails or times out a call, fails a write *after* it landed,
//! delivers a batch of messages twice, reorders messages (a batch is shuffled and held
//! back until the next send), or kills the worker at a port call (the delivery's
//! future is dropped there, with or without the write landing, and the message comes
//! back after its visibility timeout without the consumer deciding anything).
//!
//! [`FaultPlan::wrap`] turns an [`App`] into the same app over faulty ports;
//! [`drain_with_faults`] is the in-process worker pool with kills; [`killable`] runs
//! one delivery so that a kill can stop it (any transport). Used by
//! `tests/tests/faults.rs` (in memory) and `tests/tests/faults_moto.rs` (AWS adapters
//! on moto); nothing in production constructs it.

mod audit;
mod catalog;
mod deliveries;
mod document_requests;
mod exports;
mod payments;
mod webhooks;

use async_trait::async_trait;
use billrun_app::memory::{MemoryQueue, Receive};
use billrun_app::model::corrections::{CorrectionResult, DocumentCorrection};
use billrun_app::model::listing::{DocumentPosition, RunFilter, RunPosition};
use billrun_app::model::*;
use billrun_app::ports::*;
use billrun_app::worker::{deliver, Disposition, WorkerConfig, WorkerStats};
use billrun_app::App;
use billrun_app::StoreError;
use billrun_domain::book::{Account, Book};
use billrun_domain::document::{DocumentKind, DocumentStatus};
use billrun_domain::ids::{AccountId, DocumentId, RunId, SubscriptionId};
use billrun_domain::rating::AccountBook;
use billrun_domain::request::AccountSelection;
use billrun_domain::run::Counters;
use parking_lot::Mutex;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// The call fails before doing anything.
    Fail,
    /// The call takes a while and fails; a write may or may not have landed.
    Timeout,
    /// The write lands, the caller sees an error.
    FailAfterWrite,
    /// A batch of messages is sent twice.
    Duplicate,
    /// A batch of messages is shuffled and held back until the next send.
    Reorder,
    /// The worker dies at this call (a write may have landed); the message comes back
    /// after its visibility timeout.
    Kill,
    /// The worker dies after an account's commit, before its progress is added: the
    /// redelivery finds the account committed and must report its progress again.
    KillBeforeProgress,
}

impl FaultKind {
    pub const ALL: [FaultKind; 7] = [
        FaultKind::Fail,
        FaultKind::Timeout,
        FaultKind::FailAfterWrite,
        FaultKind::Duplicate,
        FaultKind::Reorder,
        FaultKind::Kill,
        FaultKind::KillBeforeProgress,
    ];

    fn index(self) -> usize {
        match self {
            FaultKind::Fail => 0,
            FaultKind::Timeout => 1,
            FaultKind::FailAfterWrite => 2,
            FaultKind::Duplicate => 3,
            FaultKind::Reorder => 4,
            FaultKind::Kill => 5,
            FaultKind::KillBeforeProgress => 6,
        }
    }
}

/// A seeded fault schedule: call `n` (counted over every wrapped port) faults when
/// `hash(seed, n)` falls under the rate; the same hash picks the kind among those that
/// apply to the call. Off until [`FaultPlan::set_active`].
pub struct FaultPlan {
    seed: u64,
    /// Faults per 1,000 calls.
    per_mille: u64,
    /// The rate of queue sends' faults (8x `per_mille` unless set).
    send_per_mille: u64,
    calls: AtomicU64,
    /// Progress writes seen inside workers while active ([`FaultKind::KillBeforeProgress`]).
    progress_calls: AtomicU64,
    fired: [AtomicU64; 7],
    active: AtomicBool,
    /// Batches held back by a reorder fault, sent on the next send or [`Self::flush`].
    held: Mutex<Vec<Vec<Message>>>,
    /// Scripted failures: the next `n` calls of the named operation fail.
    scripted: Mutex<Vec<(&'static str, u32)>>,
    /// Message-IDs sent in the documented window of a second copy ([`deliveries`]).
    send_window: Mutex<Vec<String>>,
}

// The kill switch of the delivery the current task is running (see `killable`).
tokio::task_local! {
    static KILL: Arc<Notify>;
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Runs one delivery so that a [`FaultKind::Kill`] at any port call inside it stops it
/// there: `None` when it was killed.
pub async fn killable<F: Future>(f: F) -> Option<F::Output> {
    let switch = Arc::new(Notify::new());
    KILL.scope(switch.clone(), async move {
        tokio::select! {
            biased;
            _ = switch.notified() => None,
            r = f => Some(r),
        }
    })
    .await
}

fn injected(kind: &str, op: &str) -> StoreError {
    StoreError::transient(format!("injected fault: {kind} in {op}"))
}

/// What one call does under the plan.
enum Decision {
    Pass,
    Fail,
    Timeout { lands: bool },
    FailAfterWrite,
    Kill { lands: bool },
    Duplicate,
    Reorder,
}

impl FaultPlan {
    pub fn new(seed: u64, per_mille: u64) -> Arc<FaultPlan> {
        Self::with_send_rate(seed, per_mille, (per_mille * 8).min(400))
    }

    /// Like [`FaultPlan::new`], with queue sends faulted at `send_per_mille` (at most
    /// 400) rather than 8x the rate of the other calls.
    pub fn with_send_rate(seed: u64, per_mille: u64, send_per_mille: u64) -> Arc<FaultPlan> {
        Arc::new(FaultPlan {
            seed,
            per_mille,
            send_per_mille: send_per_mille.min(400),
            calls: AtomicU64::new(0),
            progress_calls: AtomicU64::new(0),
            fired: Default::default(),
            active: AtomicBool::new(false),
            held: Mutex::new(Vec::new()),
            scripted: Mutex::new(Vec::new()),
            send_window: Mutex::new(Vec::new()),
        })
    }

    /// Makes the next `times` calls of operation `op` (the port method's name, `send`
    /// for the queue) fail before doing anything, active or not.
    pub fn fail_next(&self, op: &'static str, times: u32) {
        self.scripted.lock().push((op, times));
    }

    fn scripted_failure(&self, op: &str) -> bool {
        let mut s = self.scripted.lock();
        let Some(entry) = s.iter_mut().find(|(o, n)| *o == op && *n > 0) else {
            return false;
        };
        entry.1 -= 1;
        self.count(FaultKind::Fail);
        true
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Turns injection on or off (off: setup and verification reads).
    pub fn set_active(&self, on: bool) {
        self.active.store(on, Ordering::SeqCst);
    }

    /// Faults injected so far, by kind, in [`FaultKind::ALL`] order.
    pub fn fired(&self) -> [(FaultKind, u64); 7] {
        FaultKind::ALL.map(|k| (k, self.fired[k.index()].load(Ordering::Relaxed)))
    }

    /// Calls seen while active.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn count(&self, k: FaultKind) {
        self.fired[k.index()].fetch_add(1, Ordering::Relaxed);
    }

    fn decide(&self, write: bool, send: bool) -> Decision {
        if !self.active.load(Ordering::SeqCst) {
            return Decision::Pass;
        }
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        let h = splitmix(self.seed ^ splitmix(n));
        // Sends are few (batched) and their faults the point of the queue: 8x the rate.
        let rate = if send {
            self.send_per_mille
        } else {
            self.per_mille
        };
        if h % 1000 >= rate {
            return Decision::Pass;
        }
        let in_worker = KILL.try_with(|_| ()).is_ok();
        let mut kinds: Vec<FaultKind> = vec![FaultKind::Fail, FaultKind::Timeout];
        if write {
            kinds.push(FaultKind::FailAfterWrite);
        }
        if send {
            // Queue faults are the point of sends: weigh them up.
            kinds.extend([FaultKind::Duplicate, FaultKind::Duplicate]);
            kinds.extend([FaultKind::Reorder, FaultKind::Reorder]);
        }
        if in_worker {
            kinds.push(FaultKind::Kill);
        }
        let kind = kinds[((h >> 20) % kinds.len() as u64) as usize];
        self.count(kind);
        let lands = write && (h >> 40) & 1 == 1;
        match kind {
            FaultKind::Fail => Decision::Fail,
            FaultKind::Timeout => Decision::Timeout { lands },
            FaultKind::FailAfterWrite => Decision::FailAfterWrite,
            // Never picked here: decided per progress write (`kills_before_progress`).
            FaultKind::Kill | FaultKind::KillBeforeProgress => Decision::Kill { lands },
            FaultKind::Duplicate => Decision::Duplicate,
            FaultKind::Reorder => Decision::Reorder,
        }
    }

    /// Whether this progress write is where the worker dies (after the commit it
    /// follows): one in 50 of a worker's progress writes, on its own count of calls.
    fn kills_before_progress(&self) -> bool {
        if !self.active.load(Ordering::SeqCst) || KILL.try_with(|_| ()).is_err() {
            return false;
        }
        let n = self.progress_calls.fetch_add(1, Ordering::Relaxed);
        if !splitmix(self.seed.rotate_left(17) ^ splitmix(n)).is_multiple_of(50) {
            return false;
        }
        self.count(FaultKind::KillBeforeProgress);
        true
    }

    async fn kill<R>() -> StoreResult<R> {
        let _ = KILL.try_with(|k| k.notify_one());
        std::future::pending::<StoreResult<R>>().await
    }

    async fn read<R>(
        &self,
        op: &'static str,
        call: impl Future<Output = StoreResult<R>>,
    ) -> StoreResult<R> {
        self.call(op, false, call).await
    }

    async fn write<R>(
        &self,
        op: &'static str,
        call: impl Future<Output = StoreResult<R>>,
    ) -> StoreResult<R> {
        self.call(op, true, call).await
    }

    async fn call<R>(
        &self,
        op: &'static str,
        write: bool,
        call: impl Future<Output = StoreResult<R>>,
    ) -> StoreResult<R> {
        if self.scripted_failure(op) {
            return Err(injected("scripted failure", op));
        }
        if op == "add_progress" && self.kills_before_progress() {
            return Self::kill().await;
        }
        match self.decide(write, false) {
            Decision::Pass | Decision::Duplicate | Decision::Reorder => call.await,
            Decision::Fail => Err(injected("failure", op)),
            Decision::Timeout { lands } => {
                tokio::time::sleep(Duration::from_millis(1)).await;
                if lands {
                    let _ = call.await;
                }
                Err(injected("timeout", op))
            }
            Decision::FailAfterWrite => {
                call.await?;
                Err(injected("failure after the write", op))
            }
            Decision::Kill { lands } => {
                if lands {
                    let _ = call.await;
                }
                Self::kill().await
            }
        }
    }

    /// Sends the batches a reorder fault held back.
    pub async fn flush(&self, queue: &dyn WorkQueue) -> StoreResult<()> {
        let held: Vec<Vec<Message>> = std::mem::take(&mut *self.held.lock());
        for batch in held {
            queue.send(batch).await?;
        }
        Ok(())
    }

    /// Whether a reorder fault holds messages back.
    pub fn holds_messages(&self) -> bool {
        !self.held.lock().is_empty()
    }

    /// `port` wrapped by this plan.
    fn faulty<T: ?Sized>(self: &Arc<Self>, port: &Arc<T>) -> Arc<Faulty<T>> {
        Arc::new(Faulty {
            inner: port.clone(),
            plan: self.clone(),
        })
    }

    /// The same use cases over the app's ports wrapped by this plan. The wrapped queue
    /// is returned too, for [`Self::flush`].
    pub fn wrap(self: &Arc<Self>, app: &App) -> (App, Arc<dyn WorkQueue>) {
        let queue: Arc<dyn WorkQueue> = Arc::new(Faulty {
            inner: app.queue.clone(),
            plan: self.clone(),
        });
        let wrapped = App {
            runs: self.faulty(&app.runs),
            audit: self.faulty(&app.audit),
            book: self.faulty(&app.book),
            documents: self.faulty(&app.documents),
            ledger: self.faulty(&app.ledger),
            sequences: self.faulty(&app.sequences),
            blobs: self.faulty(&app.blobs),
            run_listing: self.faulty(&app.run_listing),
            account_listing: self.faulty(&app.account_listing),
            document_listing: self.faulty(&app.document_listing),
            subscriptions: self.faulty(&app.subscriptions),
            invoice_schedules: self.faulty(&app.invoice_schedules),
            templates: self.faulty(&app.templates),
            run_schedules: self.faulty(&app.run_schedules),
            due: self.faulty(&app.due),
            document_requests: self.faulty(&app.document_requests),
            payments: self.faulty(&app.payments),
            exports: self.faulty(&app.exports),
            export_files: self.faulty(&app.export_files),
            export_part_bytes: app.export_part_bytes,
            queue: queue.clone(),
            // Rendering reads nothing and writes nothing: no fault to inject.
            renderer: app.renderer.clone(),
            clock: app.clock.clone(),
            finalize_page_size: app.finalize_page_size,
            plan_page_size: app.plan_page_size,
            sweep: app.sweep,
            delivery: app.delivery.as_ref().map(|d| self.wrap_delivery(d)),
            webhooks: self.faulty(&app.webhooks),
            webhook_sender: self.faulty(&app.webhook_sender),
            event_bus: app.event_bus.as_ref().map(|b| {
                let bus: Arc<dyn EventBus> = self.faulty(b);
                bus
            }),
            dispatch: app.dispatch.clone(),
            controls: app.controls,
        };
        (wrapped, queue)
    }
}

/// A port adapter whose calls fault by a [`FaultPlan`].
pub struct Faulty<T: ?Sized> {
    pub inner: Arc<T>,
    pub plan: Arc<FaultPlan>,
}

#[async_trait]
impl<T: ?Sized + WorkQueue> WorkQueue for Faulty<T> {
    async fn send(&self, mut messages: Vec<Message>) -> StoreResult<()> {
        let p = &self.plan;
        // Batches held back by an earlier reorder go out after this one.
        let release = |p: &FaultPlan| std::mem::take(&mut *p.held.lock());
        if p.scripted_failure("send") {
            return Err(injected("scripted failure", "send"));
        }
        match p.decide(true, true) {
            Decision::Pass => {
                self.inner.send(messages).await?;
            }
            Decision::Fail => return Err(injected("failure", "send")),
            Decision::Timeout { lands } => {
                tokio::time::sleep(Duration::from_millis(1)).await;
                if lands {
                    self.inner.send(messages).await?;
                }
                return Err(injected("timeout", "send"));
            }
            Decision::FailAfterWrite => {
                self.inner.send(messages).await?;
                return Err(injected("failure after the write", "send"));
            }
            Decision::Kill { lands } => {
                if lands {
                    self.inner.send(messages).await?;
                }
                return FaultPlan::kill().await;
            }
            Decision::Duplicate => {
                self.inner.send(messages.clone()).await?;
                self.inner.send(messages).await?;
            }
            Decision::Reorder => {
                let mut state = splitmix(p.seed ^ p.calls());
                for i in (1..messages.len()).rev() {
                    state = splitmix(state);
                    messages.swap(i, (state % (i as u64 + 1)) as usize);
                }
                p.held.lock().push(messages);
                return Ok(());
            }
        }
        for batch in release(p) {
            self.inner.send(batch).await?;
        }
        Ok(())
    }

    async fn send_after(&self, messages: Vec<Message>, delay: Duration) -> StoreResult<()> {
        self.plan
            .write("send_after", self.inner.send_after(messages, delay))
            .await
    }
}

#[async_trait]
impl<T: ?Sized + RunStore> RunStore for Faulty<T> {
    async fn create_run(&self, run: RunRecord) -> StoreResult<Created> {
        self.plan
            .write("create_run", self.inner.create_run(run))
            .await
    }
    async fn get_run(&self, id: RunId) -> StoreResult<Option<RunRecord>> {
        self.plan.read("get_run", self.inner.get_run(id)).await
    }
    async fn update_run(&self, run: &RunRecord) -> StoreResult<()> {
        self.plan
            .write("update_run", self.inner.update_run(run))
            .await
    }
    async fn counters(&self, id: RunId) -> StoreResult<Counters> {
        self.plan.read("counters", self.inner.counters(id)).await
    }
    async fn progress(&self, id: RunId) -> StoreResult<Counters> {
        self.plan.read("progress", self.inner.progress(id)).await
    }
    async fn add_progress(&self, id: RunId, added: &Counters) -> StoreResult<()> {
        self.plan
            .write("add_progress", self.inner.add_progress(id, added))
            .await
    }
    async fn outcome(
        &self,
        run: RunId,
        account: &AccountId,
    ) -> StoreResult<Option<AccountOutcomeRecord>> {
        self.plan
            .read("outcome", self.inner.outcome(run, account))
            .await
    }
    async fn outcomes(
        &self,
        run: RunId,
        after: Option<&AccountId>,
        limit: usize,
    ) -> StoreResult<Vec<AccountOutcomeRecord>> {
        self.plan
            .read("outcomes", self.inner.outcomes(run, after, limit))
            .await
    }
}

#[async_trait]
impl<T: ?Sized + BookStore> BookStore for Faulty<T> {
    async fn import_book(&self, book: &Book) -> StoreResult<()> {
        self.plan
            .write("import_book", self.inner.import_book(book))
            .await
    }
    async fn account_book(&self, id: &AccountId) -> StoreResult<Option<AccountBook>> {
        self.plan
            .read("account_book", self.inner.account_book(id))
            .await
    }
    async fn select_accounts(
        &self,
        selection: &AccountSelection,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<AccountPage> {
        self.plan
            .read(
                "select_accounts",
                self.inner.select_accounts(selection, cursor, limit),
            )
            .await
    }
}

#[async_trait]
impl<T: ?Sized + DocumentStore> DocumentStore for Faulty<T> {
    async fn get_document(&self, id: DocumentId) -> StoreResult<Option<StoredDocument>> {
        self.plan
            .read("get_document", self.inner.get_document(id))
            .await
    }
    async fn round_documents(
        &self,
        run: RunId,
        round: u32,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<DocumentPage> {
        self.plan
            .read(
                "round_documents",
                self.inner.round_documents(run, round, cursor, limit),
            )
            .await
    }
    async fn run_documents(
        &self,
        run: RunId,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<DocumentPage> {
        self.plan
            .read(
                "run_documents",
                self.inner.run_documents(run, cursor, limit),
            )
            .await
    }
    async fn assign_numbers(
        &self,
        run: RunId,
        round: u32,
        numbers: &[Numbered],
    ) -> StoreResult<()> {
        self.plan
            .write(
                "assign_numbers",
                self.inner.assign_numbers(run, round, numbers),
            )
            .await
    }
    async fn set_run_status(&self, run: RunId, status: DocumentStatus) -> StoreResult<()> {
        self.plan
            .write("set_run_status", self.inner.set_run_status(run, status))
            .await
    }
    async fn set_document_statuses(
        &self,
        ids: &[DocumentId],
        from: &[DocumentStatus],
        to: DocumentStatus,
        by: Option<&str>,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        self.plan
            .write(
                "set_document_statuses",
                self.inner.set_document_statuses(ids, from, to, by, at),
            )
            .await
    }
}

#[async_trait]
impl<T: ?Sized + WatermarkStore> WatermarkStore for Faulty<T> {
    async fn commit_account(&self, commit: &AccountCommit) -> StoreResult<CommitResult> {
        self.plan
            .write("commit_account", self.inner.commit_account(commit))
            .await
    }
    async fn revert_run(&self, run: RunId) -> StoreResult<()> {
        self.plan
            .write("revert_run", self.inner.revert_run(run))
            .await
    }
    async fn correct_document(&self, c: &DocumentCorrection) -> StoreResult<CorrectionResult> {
        let write = self.inner.correct_document(c);
        self.plan.write("correct", write).await
    }
    async fn clear_failed(&self, run: RunId) -> StoreResult<Vec<AccountId>> {
        self.plan
            .write("clear_failed", self.inner.clear_failed(run))
            .await
    }
}

#[async_trait]
impl<T: ?Sized + SequenceStore> SequenceStore for Faulty<T> {
    async fn reserve_block(
        &self,
        run: RunId,
        round: u32,
        invoices: u64,
        credit_memos: u64,
    ) -> StoreResult<NumberBlock> {
        self.plan
            .write(
                "reserve_block",
                self.inner.reserve_block(run, round, invoices, credit_memos),
            )
            .await
    }
}

#[async_trait]
impl<T: ?Sized + BlobStore> BlobStore for Faulty<T> {
    async fn put_blob(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> StoreResult<bool> {
        self.plan
            .write("put_blob", self.inner.put_blob(key, bytes, content_type))
            .await
    }
    async fn get_blob(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.plan.read("get_blob", self.inner.get_blob(key)).await
    }
    async fn get_blob_range(
        &self,
        key: &str,
        offset: u64,
        length: u64,
    ) -> StoreResult<Option<Vec<u8>>> {
        self.plan
            .read(
                "get_blob_range",
                self.inner.get_blob_range(key, offset, length),
            )
            .await
    }
}

#[async_trait]
impl<T: ?Sized + RunListing> RunListing for Faulty<T> {
    async fn list_runs(
        &self,
        filter: &RunFilter,
        after: Option<&RunPosition>,
        limit: usize,
    ) -> StoreResult<Vec<RunRecord>> {
        self.plan
            .read("list_runs", self.inner.list_runs(filter, after, limit))
            .await
    }
    async fn run_by_number(&self, number: u64) -> StoreResult<Option<RunRecord>> {
        self.plan
            .read("run_by_number", self.inner.run_by_number(number))
            .await
    }
}

#[async_trait]
impl<T: ?Sized + AccountListing> AccountListing for Faulty<T> {
    async fn list_accounts(
        &self,
        batch: Option<&str>,
        after: Option<&AccountId>,
        limit: usize,
    ) -> StoreResult<Vec<Account>> {
        self.plan
            .read(
                "list_accounts",
                self.inner.list_accounts(batch, after, limit),
            )
            .await
    }
}

#[async_trait]
impl<T: ?Sized + DocumentListing> DocumentListing for Faulty<T> {
    async fn list_run_documents(
        &self,
        run: RunId,
        kind: Option<DocumentKind>,
        after: Option<&DocumentPosition>,
        limit: usize,
    ) -> StoreResult<Vec<StoredDocument>> {
        self.plan
            .read(
                "list_run_documents",
                self.inner.list_run_documents(run, kind, after, limit),
            )
            .await
    }
}

#[async_trait]
impl<T: ?Sized + SubscriptionIndex> SubscriptionIndex for Faulty<T> {
    async fn subscription_account(&self, id: &SubscriptionId) -> StoreResult<Option<AccountId>> {
        self.plan
            .read("subscription_account", self.inner.subscription_account(id))
            .await
    }
}

/// What [`drain_with_faults`] saw beyond [`WorkerStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultyDrain {
    pub stats: WorkerStats,
    /// Deliveries a kill stopped (returned to the queue unacknowledged).
    pub killed: u64,
}

/// Like [`billrun_app::worker::drain`], with every delivery [`killable`]: a killed one is
/// neither acknowledged nor disposed of; it comes back after its visibility timeout.
pub async fn drain_with_faults(
    app: Arc<App>,
    queue: Arc<MemoryQueue>,
    config: WorkerConfig,
) -> FaultyDrain {
    let mut handles = Vec::new();
    for _ in 0..config.workers.max(1) {
        let app = app.clone();
        let queue = queue.clone();
        handles.push(tokio::spawn(async move {
            let mut out = FaultyDrain::default();
            loop {
                let delivery = match queue.try_receive() {
                    Receive::Drained => return out,
                    Receive::Empty => {
                        tokio::time::sleep(Duration::from_micros(200)).await;
                        continue;
                    }
                    Receive::Delivery(d) => d,
                };
                let handled = killable(deliver(
                    &app,
                    &delivery.message,
                    delivery.receive_count,
                    config.max_receives,
                ))
                .await;
                match handled {
                    None => {
                        out.killed += 1;
                        queue.retry(delivery);
                    }
                    Some(Disposition::Done) => {
                        out.stats.handled += 1;
                        queue.ack();
                    }
                    Some(Disposition::GivenUp) => {
                        out.stats.given_up += 1;
                        queue.ack();
                    }
                    Some(Disposition::Retry) => {
                        out.stats.retried += 1;
                        queue.retry(delivery);
                    }
                }
            }
        }));
    }
    let mut total = FaultyDrain::default();
    for h in handles {
        if let Ok(s) = h.await {
            total.killed += s.killed;
            total.stats.handled += s.stats.handled;
            total.stats.retried += s.stats.retried;
            total.stats.given_up += s.stats.given_up;
        }
    }
    total
}
