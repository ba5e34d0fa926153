//! In-memory adapters of every port: one [`MemoryStore`] behind a single lock (each
//! port call is one short critical section, which makes every multi-item write atomic
//! exactly as a DynamoDB transaction is), and a [`MemoryQueue`].

use crate::catalog::*;
use crate::docgen::*;
use crate::error::StoreError;
use crate::model::*;
use crate::ports::*;
use async_trait::async_trait;
use billrun_domain::book::Book;
use billrun_domain::book::{Account, InvoiceSchedule};
use billrun_domain::document::{DocumentKind, DocumentStatus};
use billrun_domain::ids::{
    AccountId, DocumentId, DocumentRequestId, RunId, ScheduleId, SubscriptionId,
};
use billrun_domain::rating::AccountBook;
use billrun_domain::request::Filters;
use billrun_domain::run::{Counters, Outcome};
use billrun_domain::state::AccountState;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Inner {
    accounts: BTreeMap<AccountId, AccountBook>,
    runs: HashMap<RunId, RunRecord>,
    idempotency: HashMap<String, RunId>,
    run_sequence: u64,
    invoice_sequence: u64,
    credit_memo_sequence: u64,
    /// Boxed: a B-tree node then holds 11 pointers, not 11 half-filled 208-byte records.
    outcomes: HashMap<RunId, BTreeMap<AccountId, Box<AccountOutcomeRecord>>>,
    counters: HashMap<RunId, Counters>,
    /// Boxed: a table slot is 24 bytes, not a 320-byte document, so the table (and the
    /// copy it makes of itself while it grows) stays small.
    documents: HashMap<DocumentId, Box<StoredDocument>>,
    /// Per run, document ids in numbering order: (round, accountId, groupKey).
    run_documents: HashMap<RunId, BTreeMap<(u32, AccountId, String), DocumentId>>,
    reverted: std::collections::HashSet<RunId>,
    /// Reference data the API reads by id (see [`crate::catalog`]).
    subscription_accounts: HashMap<SubscriptionId, AccountId>,
    schedules: BTreeMap<ScheduleId, InvoiceSchedule>,
    processed: HashMap<ScheduleId, Vec<ProcessedItem>>,
    templates: BTreeMap<String, DocumentTemplate>,
    active_template: Option<String>,
    /// Document generation: requests with (generated, failed), each run's latest
    /// request, recorded (request, document) pairs, each document's latest file.
    doc_requests: HashMap<DocumentRequestId, (DocumentRequest, u64, u64)>,
    latest_doc_request: HashMap<RunId, DocumentRequestId>,
    doc_results: std::collections::HashSet<(DocumentRequestId, DocumentId)>,
    doc_files: HashMap<DocumentId, DocumentFile>,
}

/// Every storage port in memory.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    /// Due entries and run schedules ([`crate::scheduling`]).
    pub(crate) scheduling: crate::scheduling::SchedulingCell,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of accounts in the book.
    pub fn account_count(&self) -> usize {
        self.inner.lock().accounts.len()
    }
}

fn upsert<T, K: PartialEq>(list: &mut Vec<T>, item: T, key: impl Fn(&T) -> &K) {
    match list.iter().position(|x| key(x) == key(&item)) {
        Some(i) => list[i] = item,
        None => list.push(item),
    }
}

#[async_trait]
impl RunStore for MemoryStore {
    async fn create_run(&self, mut run: RunRecord) -> StoreResult<Created> {
        let mut g = self.inner.lock();
        if let Some(key) = &run.idempotency_key {
            if let Some(existing) = g.idempotency.get(key).and_then(|id| g.runs.get(id)) {
                return if existing.request == run.request {
                    Ok(Created::Replayed(existing.clone()))
                } else {
                    Err(StoreError::Conflict(
                        "idempotency key reused with a different request".into(),
                    ))
                };
            }
        }
        if g.runs.contains_key(&run.id) {
            return Err(StoreError::Conflict(format!("run {} exists", run.id)));
        }
        g.run_sequence += 1;
        run.number = format!("BR-{:08}", g.run_sequence);
        if let Some(key) = &run.idempotency_key {
            g.idempotency.insert(key.clone(), run.id);
        }
        g.counters.insert(run.id, Counters::default());
        g.runs.insert(run.id, run.clone());
        Ok(Created::New(run))
    }

    async fn get_run(&self, id: RunId) -> StoreResult<Option<RunRecord>> {
        Ok(self.inner.lock().runs.get(&id).cloned())
    }

    async fn update_run(&self, run: &RunRecord) -> StoreResult<()> {
        let mut g = self.inner.lock();
        let stored = g
            .runs
            .get_mut(&run.id)
            .ok_or_else(|| StoreError::Conflict(format!("run {} does not exist", run.id)))?;
        if stored.version + 1 != run.version {
            return Err(StoreError::Conflict(format!(
                "run {} changed concurrently",
                run.id
            )));
        }
        *stored = run.clone();
        Ok(())
    }

    async fn counters(&self, id: RunId) -> StoreResult<Counters> {
        let g = self.inner.lock();
        let mut c = g.counters.get(&id).cloned().unwrap_or_default();
        c.accounts_selected = g.runs.get(&id).map_or(0, |r| r.plan.selected);
        Ok(c)
    }

    async fn outcome(
        &self,
        run: RunId,
        account: &AccountId,
    ) -> StoreResult<Option<AccountOutcomeRecord>> {
        Ok(self
            .inner
            .lock()
            .outcomes
            .get(&run)
            .and_then(|m| m.get(account))
            .map(|o| AccountOutcomeRecord::clone(o)))
    }

    async fn outcomes(
        &self,
        run: RunId,
        after: Option<&AccountId>,
        limit: usize,
    ) -> StoreResult<Vec<AccountOutcomeRecord>> {
        let g = self.inner.lock();
        let Some(m) = g.outcomes.get(&run) else {
            return Ok(vec![]);
        };
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(m.range((lower, Bound::Unbounded))
            .take(limit)
            .map(|(_, o)| AccountOutcomeRecord::clone(o))
            .collect())
    }
}

#[async_trait]
impl BookStore for MemoryStore {
    async fn import_book(&self, book: &Book) -> StoreResult<()> {
        let mut g = self.inner.lock();
        for a in &book.accounts {
            match g.accounts.get_mut(&a.id) {
                Some(existing) => existing.account = a.clone(),
                None => {
                    g.accounts.insert(
                        a.id.clone(),
                        AccountBook {
                            account: a.clone(),
                            subscriptions: vec![],
                            usage: vec![],
                            adjustments: vec![],
                            scheduled_subscriptions: Default::default(),
                            state: AccountState::default(),
                        },
                    );
                }
            }
        }
        let missing =
            |id: &AccountId| StoreError::Fatal(format!("account {id} is not in the book"));
        for s in &book.subscriptions {
            let ab = g
                .accounts
                .get_mut(&s.account_id)
                .ok_or_else(|| missing(&s.account_id))?;
            // Billing state the book carries only adds what the store does not know yet.
            ab.state
                .merge_imported(AccountState::from_book(std::slice::from_ref(s), &[], &[]));
            upsert(&mut ab.subscriptions, s.clone(), |x| &x.id);
            g.subscription_accounts
                .insert(s.id.clone(), s.account_id.clone());
        }
        for u in &book.usage {
            let ab = g
                .accounts
                .get_mut(&u.account_id)
                .ok_or_else(|| missing(&u.account_id))?;
            if ab.usage.iter().any(|x| x.id == u.id) {
                continue; // usage is idempotent by id: a re-sent record changes nothing
            }
            ab.state
                .merge_imported(AccountState::from_book(&[], std::slice::from_ref(u), &[]));
            ab.usage.push(u.clone());
        }
        for a in &book.adjustments {
            let ab = g
                .accounts
                .get_mut(&a.account_id)
                .ok_or_else(|| missing(&a.account_id))?;
            ab.state
                .merge_imported(AccountState::from_book(&[], &[], std::slice::from_ref(a)));
            upsert(&mut ab.adjustments, a.clone(), |x| &x.id);
        }
        for s in &book.invoice_schedules {
            if !g.accounts.contains_key(&s.account_id) {
                return Err(missing(&s.account_id));
            }
            store_schedule(&mut g, s);
        }
        Ok(())
    }

    async fn account_book(&self, id: &AccountId) -> StoreResult<Option<AccountBook>> {
        Ok(self.inner.lock().accounts.get(id).cloned())
    }

    async fn select_accounts(
        &self,
        filters: &Filters,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<AccountPage> {
        let g = self.inner.lock();
        // The cursor is the last account id of the previous page.
        let after = cursor
            .map(AccountId::parse)
            .transpose()
            .map_err(|e| StoreError::Fatal(format!("bad planning cursor: {e}")))?;
        let lower = after.as_ref().map_or(Bound::Unbounded, Bound::Excluded);
        let ids: Vec<AccountId> = g
            .accounts
            .range((lower, Bound::Unbounded))
            .filter(|(_, ab)| {
                let a = &ab.account;
                filters.selects(&a.id, a.batch.as_deref(), a.bill_cycle_day, a.currency)
            })
            .take(limit)
            .map(|(id, _)| id.clone())
            .collect();
        let next = match ids.last() {
            Some(last) if ids.len() == limit => Some(last.to_string()),
            _ => None,
        };
        Ok(AccountPage { ids, next })
    }
}

#[async_trait]
impl DocumentStore for MemoryStore {
    async fn get_document(&self, id: DocumentId) -> StoreResult<Option<StoredDocument>> {
        Ok(self
            .inner
            .lock()
            .documents
            .get(&id)
            .map(|d| StoredDocument::clone(d)))
    }

    async fn round_documents(
        &self,
        run: RunId,
        round: u32,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<DocumentPage> {
        let g = self.inner.lock();
        // The cursor is the position of the next document of the round.
        let offset: usize = match cursor {
            None => 0,
            Some(c) => c
                .parse()
                .map_err(|_| StoreError::Fatal(format!("bad document cursor '{c}'")))?,
        };
        let mut ids = g
            .run_documents
            .get(&run)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(|((r, _, _), _)| *r == round)
            .map(|(_, id)| id)
            .skip(offset);
        let documents: Vec<StoredDocument> = ids
            .by_ref()
            .take(limit)
            .filter_map(|id| g.documents.get(id))
            .map(|d| StoredDocument::clone(d))
            .collect();
        let next = ids
            .next()
            .is_some()
            .then(|| (offset + documents.len()).to_string());
        Ok(DocumentPage { documents, next })
    }

    async fn run_documents(
        &self,
        run: RunId,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<DocumentPage> {
        let g = self.inner.lock();
        // The cursor is the position of the next document.
        let offset: usize = match cursor {
            None => 0,
            Some(c) => c
                .parse()
                .map_err(|_| StoreError::Fatal(format!("bad document cursor '{c}'")))?,
        };
        let documents: Vec<StoredDocument> = g
            .run_documents
            .get(&run)
            .into_iter()
            .flat_map(|m| m.values())
            .skip(offset)
            .take(limit)
            .filter_map(|id| g.documents.get(id))
            .map(|d| StoredDocument::clone(d))
            .collect();
        let next = (documents.len() == limit).then(|| (offset + limit).to_string());
        Ok(DocumentPage { documents, next })
    }

    async fn assign_numbers(
        &self,
        _run: RunId,
        _round: u32,
        numbers: &[Numbered],
    ) -> StoreResult<()> {
        let mut g = self.inner.lock();
        for Numbered { id, number: n, .. } in numbers {
            let d = g
                .documents
                .get_mut(id)
                .ok_or_else(|| StoreError::Fatal(format!("document {id} does not exist")))?;
            match &d.document.number {
                Some(existing) if existing != n => {
                    return Err(StoreError::Conflict(format!(
                        "document {id} already has number {existing}"
                    )))
                }
                _ => d.document.number = Some(n.clone()),
            }
        }
        Ok(())
    }

    async fn set_run_status(&self, run: RunId, status: DocumentStatus) -> StoreResult<()> {
        let mut g = self.inner.lock();
        let ids: Vec<DocumentId> = g
            .run_documents
            .get(&run)
            .map(|m| m.values().copied().collect())
            .unwrap_or_default();
        for id in ids {
            if let Some(d) = g.documents.get_mut(&id) {
                if d.document.status != DocumentStatus::Canceled {
                    d.document.status = status;
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl WatermarkStore for MemoryStore {
    async fn commit_account(&self, commit: &AccountCommit) -> StoreResult<CommitResult> {
        let mut g = self.inner.lock();
        let o = &commit.outcome;
        if g.outcomes
            .get(&o.run_id)
            .is_some_and(|m| m.contains_key(&o.account_id))
        {
            return Ok(CommitResult::AlreadyDone);
        }
        if let Some(d) = commit
            .documents
            .iter()
            .find(|d| g.documents.contains_key(&d.id))
        {
            return Err(StoreError::Conflict(format!("document {} exists", d.id)));
        }
        let ab = g.accounts.get_mut(&o.account_id);
        match ab {
            Some(ab) => {
                ab.state
                    .check(&o.changes)
                    .map_err(|e| StoreError::Conflict(e.0))?;
                ab.state.apply(&o.changes);
            }
            None if o.changes.is_empty() => {}
            None => {
                return Err(StoreError::Conflict(format!(
                    "account {} disappeared",
                    o.account_id
                )))
            }
        }
        for d in &commit.documents {
            g.run_documents
                .entry(o.run_id)
                .or_default()
                .insert((o.round, d.account_id.clone(), d.group_key.clone()), d.id);
            g.documents.insert(
                d.id,
                Box::new(StoredDocument {
                    document: d.clone(),
                    round: o.round,
                }),
            );
        }
        g.counters
            .entry(o.run_id)
            .or_default()
            .merge(&o.counters, 1);
        g.outcomes
            .entry(o.run_id)
            .or_default()
            .insert(o.account_id.clone(), Box::new(o.clone()));
        Ok(CommitResult::Committed)
    }

    async fn revert_run(&self, run: RunId) -> StoreResult<()> {
        let mut g = self.inner.lock();
        if g.reverted.contains(&run) {
            return Ok(());
        }
        let outcomes: Vec<AccountOutcomeRecord> = g
            .outcomes
            .get(&run)
            .map(|m| m.values().map(|o| AccountOutcomeRecord::clone(o)).collect())
            .unwrap_or_default();
        for o in &outcomes {
            if let Some(ab) = g.accounts.get(&o.account_id) {
                ab.state.check_revert(&o.changes).map_err(|e| {
                    StoreError::Conflict(format!("account {}: {}", o.account_id, e.0))
                })?;
            }
        }
        for o in &outcomes {
            if let Some(ab) = g.accounts.get_mut(&o.account_id) {
                ab.state.revert(&o.changes);
            }
        }
        let ids: Vec<DocumentId> = g
            .run_documents
            .get(&run)
            .map(|m| m.values().copied().collect())
            .unwrap_or_default();
        for id in ids {
            if let Some(d) = g.documents.get_mut(&id) {
                d.document.status = DocumentStatus::Canceled;
            }
        }
        g.reverted.insert(run);
        Ok(())
    }

    async fn clear_failed(&self, run: RunId) -> StoreResult<Vec<AccountId>> {
        let mut g = self.inner.lock();
        let failed: Vec<AccountOutcomeRecord> = g
            .outcomes
            .get(&run)
            .map(|m| {
                m.values()
                    .filter(|o| o.outcome == Outcome::Failed)
                    .map(|o| AccountOutcomeRecord::clone(o))
                    .collect()
            })
            .unwrap_or_default();
        for o in &failed {
            if let Some(m) = g.outcomes.get_mut(&run) {
                m.remove(&o.account_id);
            }
            g.counters.entry(run).or_default().merge(&o.counters, -1);
        }
        Ok(failed.into_iter().map(|o| o.account_id).collect())
    }
}

#[async_trait]
impl SequenceStore for MemoryStore {
    async fn reserve_block(
        &self,
        run: RunId,
        round: u32,
        invoices: u64,
        credit_memos: u64,
    ) -> StoreResult<NumberBlock> {
        let mut g = self.inner.lock();
        let g = &mut *g;
        let r = g
            .runs
            .get_mut(&run)
            .ok_or_else(|| StoreError::Conflict(format!("run {run} does not exist")))?;
        if let Some(b) = r.number_blocks.iter().find(|b| b.round == round) {
            return Ok(b.clone());
        }
        let block = NumberBlock {
            round,
            first_invoice: g.invoice_sequence + 1,
            invoices,
            first_credit_memo: g.credit_memo_sequence + 1,
            credit_memos,
        };
        g.invoice_sequence += invoices;
        g.credit_memo_sequence += credit_memos;
        r.number_blocks.push(block.clone());
        r.version += 1;
        Ok(block)
    }
}

impl MemoryStore {
    /// The last number taken of a kind (for tests of gaplessness).
    pub fn sequence(&self, kind: DocumentKind) -> u64 {
        let g = self.inner.lock();
        match kind {
            DocumentKind::Invoice => g.invoice_sequence,
            DocumentKind::CreditMemo => g.credit_memo_sequence,
        }
    }
}

/// A delivery of a message, with how often it has been received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub message: Message,
    pub receive_count: u32,
}

/// What [`MemoryQueue::try_receive`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receive {
    Delivery(Delivery),
    /// Nothing queued now, but deliveries are in flight (and may come back).
    Empty,
    /// Nothing queued and nothing in flight.
    Drained,
}

#[derive(Default)]
struct QueueInner {
    ready: VecDeque<Delivery>,
    /// Returned deliveries, invisible until their instant (SQS's visibility timeout).
    delayed: Vec<(Instant, Delivery)>,
    in_flight: usize,
    /// Chaos mode: every message is delivered twice, in a shuffled order.
    chaos: Option<u64>,
    sent: u64,
    /// Messages given to `send`, queued or not.
    attempted: u64,
    /// The message (by `attempted`) whose send fails.
    fail_at: Option<u64>,
}

/// An in-process work queue with at-least-once semantics: a consumer receives, then
/// acknowledges or returns the delivery. In chaos mode it duplicates and reorders.
#[derive(Default)]
pub struct MemoryQueue {
    inner: Mutex<QueueInner>,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Delivers every message twice and picks deliveries in a seeded random order.
    pub fn chaotic(seed: u64) -> Self {
        let q = Self::default();
        q.inner.lock().chaos = Some(seed.max(1));
        q
    }

    fn next_random(state: &mut u64) -> u64 {
        // xorshift64*: enough to shuffle deliveries reproducibly.
        let mut x = *state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Takes the next delivery, if any.
    pub fn try_receive(&self) -> Receive {
        let mut g = self.inner.lock();
        let g = &mut *g;
        if !g.delayed.is_empty() {
            let now = Instant::now();
            let mut i = 0;
            while i < g.delayed.len() {
                if g.delayed[i].0 <= now {
                    let (_, d) = g.delayed.swap_remove(i);
                    g.ready.push_back(d);
                } else {
                    i += 1;
                }
            }
        }
        if g.ready.is_empty() {
            return if g.in_flight == 0 && g.delayed.is_empty() {
                Receive::Drained
            } else {
                Receive::Empty
            };
        }
        let idx = match &mut g.chaos {
            Some(state) => (Self::next_random(state) % g.ready.len() as u64) as usize,
            None => 0,
        };
        let Some(mut d) = g.ready.swap_remove_back(idx) else {
            return Receive::Empty;
        };
        d.receive_count += 1;
        g.in_flight += 1;
        Receive::Delivery(d)
    }

    /// The delivery was handled.
    pub fn ack(&self) {
        let mut g = self.inner.lock();
        g.in_flight = g.in_flight.saturating_sub(1);
    }

    /// The delivery failed: it becomes visible again after a back-off that doubles
    /// with every receive (5 ms, 10 ms, 20 ms...).
    pub fn retry(&self, d: Delivery) {
        let backoff = Duration::from_millis(5u64 << d.receive_count.min(10));
        let mut g = self.inner.lock();
        g.in_flight = g.in_flight.saturating_sub(1);
        g.delayed.push((Instant::now() + backoff, d));
    }

    /// Makes the `k`-th message sent from now on (1-based) fail: the send carrying it
    /// queues the messages before it and returns a transient error, as an SQS outage
    /// part-way through a request does. Once.
    pub fn fail_kth_message(&self, k: u64) {
        let mut g = self.inner.lock();
        g.fail_at = Some(g.attempted + k.max(1));
    }

    /// Messages sent so far (duplicates in chaos mode not counted).
    pub fn sent(&self) -> u64 {
        self.inner.lock().sent
    }

    pub fn is_drained(&self) -> bool {
        let g = self.inner.lock();
        g.ready.is_empty() && g.delayed.is_empty() && g.in_flight == 0
    }
}

#[async_trait]
impl WorkQueue for MemoryQueue {
    async fn send(&self, messages: Vec<Message>) -> StoreResult<()> {
        let mut g = self.inner.lock();
        let copies = if g.chaos.is_some() { 2 } else { 1 };
        for m in messages {
            g.attempted += 1;
            if g.fail_at == Some(g.attempted) {
                g.fail_at = None;
                return Err(StoreError::Transient(format!(
                    "queue unavailable (message {} of this queue failed on purpose)",
                    g.attempted
                )));
            }
            g.sent += 1;
            for _ in 1..copies {
                g.ready.push_back(Delivery {
                    message: m.clone(),
                    receive_count: 0,
                });
            }
            g.ready.push_back(Delivery {
                message: m,
                receive_count: 0,
            });
        }
        Ok(())
    }
}

/// Files in memory.
#[derive(Default)]
pub struct MemoryBlobs {
    blobs: Mutex<HashMap<String, (Vec<u8>, String)>>,
}

#[async_trait]
impl BlobStore for MemoryBlobs {
    async fn put_blob(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> StoreResult<bool> {
        let mut blobs = self.blobs.lock();
        if blobs.contains_key(key) {
            return Ok(false);
        }
        blobs.insert(key.to_string(), (bytes, content_type.to_string()));
        Ok(true)
    }

    async fn get_blob(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.blobs.lock().get(key).map(|(b, _)| b.clone()))
    }

    async fn get_blob_range(
        &self,
        key: &str,
        offset: u64,
        length: u64,
    ) -> StoreResult<Option<Vec<u8>>> {
        match self.blobs.lock().get(key) {
            None => Ok(None),
            Some((b, _)) => crate::ports::slice_range(key, b, offset, length).map(Some),
        }
    }
}

impl MemoryBlobs {
    /// Every key stored, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = self.blobs.lock().keys().cloned().collect();
        k.sort();
        k
    }
}

#[async_trait]
impl DocumentRequestStore for MemoryStore {
    async fn create_document_request(&self, request: &DocumentRequest) -> StoreResult<()> {
        let mut g = self.inner.lock();
        if g.doc_requests.contains_key(&request.id) {
            return Err(StoreError::Conflict(format!(
                "document request {} exists",
                request.id
            )));
        }
        g.doc_requests.insert(request.id, (request.clone(), 0, 0));
        g.latest_doc_request.insert(request.run_id, request.id);
        Ok(())
    }

    async fn get_document_request(
        &self,
        id: DocumentRequestId,
    ) -> StoreResult<Option<(DocumentRequest, u64, u64)>> {
        Ok(self.inner.lock().doc_requests.get(&id).cloned())
    }

    async fn latest_document_request(&self, run: RunId) -> StoreResult<Option<DocumentRequestId>> {
        Ok(self.inner.lock().latest_doc_request.get(&run).copied())
    }

    async fn record_document_files(&self, files: &[DocumentFile]) -> StoreResult<u64> {
        let mut g = self.inner.lock();
        let g = &mut *g;
        let mut recorded = 0;
        for file in files {
            let Some(r) = g.doc_requests.get_mut(&file.request_id) else {
                return Err(StoreError::Fatal(format!(
                    "document request {} does not exist",
                    file.request_id
                )));
            };
            if !g.doc_results.insert((file.request_id, file.document_id)) {
                continue;
            }
            match file.status {
                GenerationStatus::Generated => r.1 += 1,
                GenerationStatus::Failed => r.2 += 1,
            }
            g.doc_files.insert(file.document_id, file.clone());
            recorded += 1;
        }
        Ok(recorded)
    }

    async fn document_file(&self, document: DocumentId) -> StoreResult<Option<DocumentFile>> {
        Ok(self.inner.lock().doc_files.get(&document).cloned())
    }
}

/// Stores a schedule and recomputes which subscriptions of its account are scheduled
/// (a replaced schedule may have let one go).
fn store_schedule(g: &mut Inner, s: &InvoiceSchedule) {
    g.schedules.insert(s.id.clone(), s.clone());
    let scheduled: std::collections::BTreeSet<SubscriptionId> = g
        .schedules
        .values()
        .filter(|x| x.account_id == s.account_id)
        .flat_map(|x| x.subscription_ids.iter().cloned())
        .collect();
    if let Some(ab) = g.accounts.get_mut(&s.account_id) {
        ab.scheduled_subscriptions = scheduled;
    }
}

#[async_trait]
impl RunListing for MemoryStore {
    async fn list_runs(
        &self,
        filter: &RunFilter,
        after: Option<&RunPosition>,
        limit: usize,
    ) -> StoreResult<Vec<RunRecord>> {
        let g = self.inner.lock();
        let mut runs: Vec<&RunRecord> = g
            .runs
            .values()
            .filter(|r| after.is_none_or(|a| RunPosition::of(r) > *a) && filter.keeps(r))
            .collect();
        runs.sort_by_key(|r| (r.created_at, r.id));
        Ok(runs.into_iter().take(limit).cloned().collect())
    }

    async fn run_by_number(&self, number: u64) -> StoreResult<Option<RunRecord>> {
        let g = self.inner.lock();
        Ok(g.runs
            .values()
            .find(|r| run_number(&r.number) == Some(number))
            .cloned())
    }
}

#[async_trait]
impl AccountListing for MemoryStore {
    async fn list_accounts(
        &self,
        batch: Option<&str>,
        after: Option<&AccountId>,
        limit: usize,
    ) -> StoreResult<Vec<Account>> {
        let g = self.inner.lock();
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(g.accounts
            .range((lower, Bound::Unbounded))
            .map(|(_, ab)| &ab.account)
            .filter(|a| batch.is_none_or(|b| a.batch.as_deref() == Some(b)))
            .take(limit)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl DocumentListing for MemoryStore {
    async fn list_run_documents(
        &self,
        run: RunId,
        kind: Option<DocumentKind>,
        after: Option<&DocumentPosition>,
        limit: usize,
    ) -> StoreResult<Vec<StoredDocument>> {
        let g = self.inner.lock();
        let Some(m) = g.run_documents.get(&run) else {
            return Ok(vec![]);
        };
        let lower = after.map_or(Bound::Unbounded, |p| {
            Bound::Excluded((p.round, p.account_id.clone(), p.group_key.clone()))
        });
        Ok(m.range((lower, Bound::Unbounded))
            .filter_map(|(_, id)| g.documents.get(id))
            .filter(|d| kind.is_none_or(|k| d.document.kind == k))
            .take(limit)
            .map(|d| StoredDocument::clone(d))
            .collect())
    }
}

#[async_trait]
impl SubscriptionIndex for MemoryStore {
    async fn subscription_account(&self, id: &SubscriptionId) -> StoreResult<Option<AccountId>> {
        Ok(self.inner.lock().subscription_accounts.get(id).cloned())
    }
}

#[async_trait]
impl ScheduleStore for MemoryStore {
    async fn get_schedule(&self, id: &ScheduleId) -> StoreResult<Option<StoredSchedule>> {
        let g = self.inner.lock();
        Ok(g.schedules.get(id).map(|s| {
            StoredSchedule::new(s.clone(), g.processed.get(id).cloned().unwrap_or_default())
        }))
    }

    async fn account_schedules(&self, account: &AccountId) -> StoreResult<Vec<InvoiceSchedule>> {
        let g = self.inner.lock();
        Ok(g.schedules
            .values()
            .filter(|s| &s.account_id == account)
            .cloned()
            .collect())
    }

    async fn put_schedule(&self, schedule: &InvoiceSchedule) -> StoreResult<()> {
        let mut g = self.inner.lock();
        if !g.accounts.contains_key(&schedule.account_id) {
            return Err(StoreError::Fatal(format!(
                "account {} is not in the book",
                schedule.account_id
            )));
        }
        store_schedule(&mut g, schedule);
        Ok(())
    }

    async fn mark_processed(&self, schedule: &ScheduleId, item: &ProcessedItem) -> StoreResult<()> {
        let mut g = self.inner.lock();
        let list = g.processed.entry(schedule.clone()).or_default();
        if list.iter().any(|p| p.item_id == item.item_id) {
            return Err(StoreError::Conflict(format!(
                "item {} of invoice schedule {schedule} is already processed",
                item.item_id
            )));
        }
        list.push(item.clone());
        Ok(())
    }
}

#[async_trait]
impl TemplateStore for MemoryStore {
    async fn put_template(&self, template: &DocumentTemplate) -> StoreResult<DocumentTemplate> {
        let mut g = self.inner.lock();
        let mut t = template.clone();
        t.active = g.active_template.as_deref() == Some(t.id.as_str());
        g.templates.insert(t.id.clone(), t.clone());
        Ok(t)
    }

    async fn get_template(&self, id: &str) -> StoreResult<Option<DocumentTemplate>> {
        let g = self.inner.lock();
        Ok(g.templates.get(id).cloned().map(|mut t| {
            t.active = g.active_template.as_deref() == Some(id);
            t
        }))
    }

    async fn activate_template(&self, id: &str) -> StoreResult<Option<DocumentTemplate>> {
        let mut g = self.inner.lock();
        let Some(mut t) = g.templates.get(id).cloned() else {
            return Ok(None);
        };
        g.active_template = Some(id.to_string());
        t.active = true;
        Ok(Some(t))
    }

    async fn active_template(&self) -> StoreResult<Option<DocumentTemplate>> {
        let g = self.inner.lock();
        Ok(g.active_template
            .as_ref()
            .and_then(|id| g.templates.get(id))
            .cloned()
            .map(|mut t| {
                t.active = true;
                t
            }))
    }
}

impl MemoryStore {
    /// Everything stored, printed in a stable order: two equal digests mean nothing was
    /// written in between (tests of "a rejected request writes nothing").
    pub fn digest(&self) -> String {
        use std::fmt::Write;
        fn sorted<K: Ord + std::fmt::Debug, V: std::fmt::Debug>(m: &HashMap<K, V>) -> String {
            let mut v: Vec<(&K, &V)> = m.iter().collect();
            v.sort_by(|a, b| a.0.cmp(b.0));
            format!("{v:?}")
        }
        let g = self.inner.lock();
        let mut out = String::new();
        let mut reverted: Vec<&RunId> = g.reverted.iter().collect();
        reverted.sort();
        let _ = write!(
            out,
            "{:?}\n{}\n{}\n{} {} {}\n{}\n{}\n{}\n{}\n{:?}\n{}\n{:?}\n{}\n{:?}\n{:?}\n{}\n{}",
            g.accounts,
            sorted(&g.runs),
            sorted(&g.idempotency),
            g.run_sequence,
            g.invoice_sequence,
            g.credit_memo_sequence,
            sorted(&g.outcomes),
            sorted(&g.counters),
            sorted(&g.documents),
            sorted(&g.run_documents),
            reverted,
            sorted(&g.subscription_accounts),
            g.schedules,
            sorted(&g.processed),
            g.templates,
            g.active_template,
            sorted(&g.doc_requests),
            sorted(&g.doc_files),
        );
        out
    }
}
