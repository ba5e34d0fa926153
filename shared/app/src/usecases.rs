//! The use cases. Each is safe to run again after a crash or a duplicate delivery: every
//! write is conditional (run versions, the account commit, number blocks per round).

use crate::error::{AppError, StoreError};
use crate::memory::{MemoryQueue, MemoryStore};
use crate::model::*;
use crate::ports::*;
use crate::transition::Admit;
use billrun_domain::book::Book;
use billrun_domain::document::{Document, DocumentKind, DocumentStatus};
use billrun_domain::ids::{AccountId, RunId};
use billrun_domain::rating::{rate_account, RunSpec};
use billrun_domain::request::{RunRequest, RunType};
use billrun_domain::run::{Counters, Outcome, RunStatus};
use std::collections::HashMap;
use std::sync::Arc;
use tracing::{info, info_span, warn, Instrument};

/// Accounts per planning page.
pub const DEFAULT_PLAN_PAGE: usize = 1000;
/// Documents per finalization page.
pub const DEFAULT_FINALIZE_PAGE: usize = 1000;
/// How often a conflicting account commit is re-read and re-rated before giving up
/// for this delivery.
const COMMIT_ATTEMPTS: usize = 8;
/// How long a finalizer's claim holds without a page stored (a page takes well under a
/// second, the exact count of a million outcomes a few seconds; a stopped finalizer is
/// taken over by the next check after this: a redelivered message retries until then,
/// see [`Finalizing::Held`]).
const FINALIZE_LEASE: chrono::TimeDelta = chrono::TimeDelta::seconds(20);

/// What a completion check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finalizing {
    /// Nothing more for this check to do: the run is not complete, was finalized (by
    /// this check or another), or left Processing.
    Idle,
    /// Another finalizer's claim holds the run: it completes the run, or finds an
    /// account missing and, before it lets go, checks whether progress came meanwhile
    /// (see [`Finalizing::Again`]), so a first delivery leaves the run to it. If it
    /// stopped (a crash), its claim runs out after [`FINALIZE_LEASE`] and the next check
    /// takes over: a redelivered message (maybe the stopped finalizer's own) comes again
    /// rather than being acknowledged.
    Held,
    /// This check counted, found accounts missing, and the progress that came during
    /// its counts says they may have landed since: the check must come again.
    Again,
}

/// What [`App::number_documents`] found.
enum Numbering {
    Done(Box<(FinalizeState, NumberBlock)>),
    Held,
    Again,
    Idle,
}

/// What an exact count of a round found.
enum Count {
    /// Every selected account has an outcome: the counters and the round's block.
    Complete(Counters, NumberBlock),
    /// Accounts are missing: the outcomes counted.
    Missing(Counters),
}

/// How many times one check counts again when progress came during its count.
const RECOUNTS: u32 = 3;

/// How often an optimistic run update is retried.
const RUN_UPDATE_ATTEMPTS: usize = 16;

/// The use cases over a set of ports.
#[derive(Clone)]
pub struct App {
    pub runs: Arc<dyn RunStore>,
    pub book: Arc<dyn BookStore>,
    pub documents: Arc<dyn DocumentStore>,
    pub ledger: Arc<dyn WatermarkStore>,
    pub sequences: Arc<dyn SequenceStore>,
    pub queue: Arc<dyn WorkQueue>,
    /// Rendered document files.
    pub blobs: Arc<dyn BlobStore>,
    pub clock: Arc<dyn Clock>,
    pub plan_page_size: usize,
    /// Documents numbered per finalization page (the cursor is stored after each).
    pub finalize_page_size: usize,
    /// What the HTTP API reads and writes beyond the run pipeline.
    pub catalog: Arc<dyn crate::catalog::Catalog>,
    /// When a Processing run counts as stuck, and how often its messages are re-sent.
    pub sweeper: crate::sweeper::SweepConfig,
}

impl App {
    /// Every port in memory.
    pub fn in_memory(store: Arc<MemoryStore>, queue: Arc<MemoryQueue>) -> App {
        App {
            runs: store.clone(),
            book: store.clone(),
            documents: store.clone(),
            ledger: store.clone(),
            sequences: store.clone(),
            catalog: store,
            queue,
            blobs: Arc::new(crate::memory::MemoryBlobs::default()),
            clock: Arc::new(SystemClock),
            plan_page_size: DEFAULT_PLAN_PAGE,
            finalize_page_size: DEFAULT_FINALIZE_PAGE,
            sweeper: crate::sweeper::SweepConfig::default(),
        }
    }

    /// Parses and validates a whole book, then stores it: an invalid book writes nothing.
    pub async fn import_book(&self, bytes: &[u8]) -> Result<Book, AppError> {
        let book = Book::parse(bytes)?;
        self.note_schedule_items(&book.invoice_schedules).await?;
        self.book.import_book(&book).await?;
        Ok(book)
    }

    /// Creates a run from a validated request. An Immediate run starts at once.
    pub async fn create_run(
        &self,
        request: RunRequest,
        idempotency_key: Option<String>,
    ) -> Result<Created, AppError> {
        let request = request.validated()?;
        let now = self.clock.now();
        let target = request.target();
        let id = RunId(uuid::Uuid::new_v4());
        self.note_scheduled_run(id, &request).await?;
        // An Immediate run is stored already started (Processing), so that starting it
        // costs no read and conditional write of its own: its first planning message is
        // sent once it is stored. A crash before the send leaves it Processing with
        // nothing planned; the client's retry under the same key re-sends the message
        // (`finish_immediate_start`), and so does the sweeper once the run is stale.
        let immediate = request.run_type == RunType::Immediate;
        let run = RunRecord {
            id,
            number: String::new(),
            name: request
                .name
                .clone()
                .unwrap_or_else(|| format!("Invoice run {target}")),
            status: if immediate {
                RunStatus::Processing
            } else {
                RunStatus::Pending
            },
            target_date: target,
            request,
            created_at: now,
            updated_at: now,
            commenced_at: immediate.then_some(now),
            completed_at: None,
            idempotency_key,
            plan: PlanState::default(),
            round: 0,
            number_blocks: vec![],
            finalize: None,
            sweep: SweepState::default(),
            transition: None,
            version: 1,
        };
        let created = self.runs.create_run(run).await.map_err(|e| match e {
            StoreError::Conflict(m) => AppError::Conflict {
                code: "idempotency_key_reused",
                message: m,
                field: None,
            },
            other => other.into(),
        })?;
        if let Created::New(run) = &created {
            // Ids, numbers and types only: a run's name or message may name a customer.
            info!(run_id = %run.id, number = %run.number, run_type = ?run.request.run_type, target_date = %run.target_date, "run created");
        }
        match created {
            Created::New(run) if run.request.run_type == RunType::Immediate => {
                self.queue
                    .send(vec![Message::Plan {
                        run_id: run.id,
                        page: 0,
                    }])
                    .await?;
                Ok(Created::New(run))
            }
            // The first call stored the run but failed before (or while) starting it:
            // the client's retry under the same key finishes the start, so an Immediate
            // run never stays Pending nor waits for the sweeper.
            Created::Replayed(run) if run.request.run_type == RunType::Immediate => {
                Ok(Created::Replayed(self.finish_immediate_start(run).await?))
            }
            other => Ok(other),
        }
    }

    /// Starts a replayed Immediate run that is still Pending (one stored before Immediate
    /// runs were stored started), and re-sends the first planning message of one that
    /// started but has planned nothing yet (its send may have failed; a duplicate plan
    /// message changes nothing).
    async fn finish_immediate_start(&self, run: RunRecord) -> Result<RunRecord, AppError> {
        match run.status {
            RunStatus::Pending => match self.start_run(run.id).await {
                Ok(started) => Ok(started),
                // Started concurrently by another replay.
                Err(AppError::Conflict {
                    code: "run_not_pending",
                    ..
                }) => self.get_run(run.id).await,
                Err(e) => Err(e),
            },
            RunStatus::Processing if run.round == 0 && run.plan.pages == 0 && !run.plan.done => {
                self.queue
                    .send(vec![Message::Plan {
                        run_id: run.id,
                        page: 0,
                    }])
                    .await?;
                Ok(run)
            }
            _ => Ok(run),
        }
    }

    pub async fn get_run(&self, id: RunId) -> Result<RunRecord, AppError> {
        self.runs
            .get_run(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("invoice run {id}")))
    }

    /// Reads, changes and conditionally writes a run, again on a lost race. `change`
    /// returns whether it changed anything.
    pub(crate) async fn modify_run(
        &self,
        id: RunId,
        mut change: impl FnMut(&mut RunRecord) -> Result<bool, AppError>,
    ) -> Result<RunRecord, AppError> {
        for _ in 0..RUN_UPDATE_ATTEMPTS {
            let mut run = self.get_run(id).await?;
            if !change(&mut run)? {
                return Ok(run);
            }
            run.version += 1;
            run.updated_at = self.clock.now();
            match self.runs.update_run(&run).await {
                Ok(()) => return Ok(run),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::Transient(format!(
            "run {id} is being changed concurrently"
        )))
    }

    /// Pending → Processing, then the first planning page is queued.
    pub async fn start_run(&self, id: RunId) -> Result<RunRecord, AppError> {
        let now = self.clock.now();
        let run = self
            .modify_run(id, |r| {
                if r.status != RunStatus::Pending {
                    return Err(AppError::conflict(
                        "run_not_pending",
                        format!(
                            "run {} is {:?}; only a Pending run can start",
                            r.id, r.status
                        ),
                    ));
                }
                r.status = RunStatus::Processing;
                r.commenced_at = Some(now);
                Ok(true)
            })
            .await?;
        self.queue
            .send(vec![Message::Plan {
                run_id: id,
                page: 0,
            }])
            .await?;
        Ok(run)
    }

    /// Handles one queue message.
    pub async fn handle(&self, message: &Message) -> Result<(), AppError> {
        match message {
            Message::Plan { run_id, page } => self.plan_page(*run_id, *page).await,
            Message::Account {
                run_id,
                account_id,
                round,
            } => self.process_account(*run_id, account_id, *round).await,
            Message::Document {
                request_id,
                document_ids,
            } => self.generate_documents(*request_id, document_ids).await,
        }
    }

    /// What to do with a message that will not be delivered again (its last allowed
    /// receive failed): an account is recorded Failed with the reason, so the run
    /// still completes.
    pub async fn give_up(&self, message: &Message, reason: &str) -> Result<(), AppError> {
        match message {
            Message::Account {
                run_id,
                account_id,
                round,
            } => {
                self.record_failure(*run_id, account_id, *round, reason)
                    .await
            }
            Message::Plan { run_id, .. } => {
                warn!(run_id = %run_id, reason, "planning message given up");
                Ok(())
            }
            Message::Document {
                request_id,
                document_ids,
            } => {
                self.give_up_documents(*request_id, document_ids, reason)
                    .await
            }
        }
    }

    /// Plans one page: selects accounts from the stored cursor by the account filters,
    /// queues a message for each and the next page's message, then stores the cursor.
    /// A crash repeats the page (its messages are idempotent); a page message that
    /// arrives before its predecessor stored the cursor is retried.
    pub async fn plan_page(&self, run_id: RunId, page: u64) -> Result<(), AppError> {
        let span = info_span!("plan_page", run_id = %run_id, page);
        async move {
            let Some(run) = self.runs.get_run(run_id).await? else {
                return Ok(());
            };
            if run.status == RunStatus::Processing && run.plan.done && run.plan.pages == page + 1 {
                // The last page again (its check asked to come again, or it stopped
                // after storing the cursor): the completion check it owes.
                return self.check_completion(run_id).await;
            }
            if run.status != RunStatus::Processing || run.plan.done || run.plan.pages > page {
                return Ok(()); // planned already
            }
            if run.plan.pages < page {
                return Err(AppError::Transient(
                    "previous planning page not finished".into(),
                ));
            }
            let limit = self.plan_page_size.max(1);
            let selected = self
                .book
                .select_accounts(&run.request.filters, run.plan.cursor.as_deref(), limit)
                .await?;
            let count = selected.ids.len() as u64;
            let messages: Vec<Message> = selected
                .ids
                .into_iter()
                .map(|account_id| Message::Account {
                    run_id,
                    account_id,
                    round: run.round,
                })
                .collect();
            if !messages.is_empty() {
                self.queue.send(messages).await?;
            }
            let done = selected.next.is_none();
            if !done {
                self.queue
                    .send(vec![Message::Plan {
                        run_id,
                        page: page + 1,
                    }])
                    .await?;
            }
            self.modify_run(run_id, |r| {
                if r.plan.done || r.plan.pages != page {
                    return Ok(false);
                }
                r.plan.cursor = selected.next.clone();
                r.plan.selected += count;
                r.plan.pages += 1;
                r.plan.done = done;
                Ok(true)
            })
            .await?;
            info!(run_id = %run_id, page, accounts = count, last = done, "planned a page of accounts");
            if done {
                self.check_completion(run_id).await?;
            }
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// Rates one account and commits its documents, state changes and outcome in one
    /// atomic step. A duplicate message finds the outcome and changes nothing.
    pub async fn process_account(
        &self,
        run_id: RunId,
        account_id: &AccountId,
        round: u32,
    ) -> Result<(), AppError> {
        let Some(run) = self.runs.get_run(run_id).await? else {
            return Ok(());
        };
        if let Some(added) = self.process_account_of(&run, account_id, round).await? {
            self.runs.add_progress(run_id, &added).await?;
            self.check_completion(run_id).await?;
        }
        Ok(())
    }

    /// A message's completion check: [`Finalizing::Again`] fails the message so that it
    /// is delivered again and checks again.
    async fn check_completion(&self, run_id: RunId) -> Result<(), AppError> {
        match self.try_finalize(run_id).await? {
            Finalizing::Again => Err(AppError::Transient(
                "accounts were missing while progress came; checking again".into(),
            )),
            Finalizing::Idle | Finalizing::Held => Ok(()),
        }
    }

    /// Rates and commits one account of `run` as the caller read it (a batch of account
    /// messages shares one read of the run record instead of each reading it: that item
    /// is read by every account of a run, and one item takes at most 3,000 reads a
    /// second), without the completion check, which the caller runs once after the
    /// batch ([`App::try_finalize`]), like the progress it adds ([`RunStore::add_progress`]).
    /// `None` when the run is not processing this round (nothing to do, nothing to
    /// check); else the counters this call committed (zero when a redelivery found the
    /// account done).
    pub async fn process_account_of(
        &self,
        run: &RunRecord,
        account_id: &AccountId,
        round: u32,
    ) -> Result<Option<Counters>, AppError> {
        let run_id = run.id;
        let span = info_span!("process_account", run_id = %run_id, account_id = %account_id);
        async move {
            if run.status != RunStatus::Processing || run.round != round {
                return Ok(None);
            }
            // A redelivered message is re-rated and its commit finds the outcome already
            // recorded (no extra read on the hot path to detect it earlier).
            let spec = RunSpec::new(run_id, &run.request);
            let mut committed = None;
            let mut last_conflict = String::new();
            for _ in 0..COMMIT_ATTEMPTS {
                let commit = match self.book.account_book(account_id).await? {
                    None => failed_commit(
                        run_id,
                        account_id,
                        round,
                        "account is not in the book".into(),
                    ),
                    Some(book) => match rate_account(&spec, &book) {
                        Err(reason) => failed_commit(run_id, account_id, round, reason),
                        Ok(rated) => {
                            let mut docs: Vec<Document> = Vec::with_capacity(rated.documents.len());
                            let mut suppressed = 0u64;
                            for d in rated.documents {
                                if d.suppressed {
                                    suppressed += 1;
                                } else {
                                    docs.push(d.document);
                                }
                            }
                            self.resolve_credited_numbers(&mut docs).await?;
                            let outcome = if !docs.is_empty() {
                                Outcome::Billed
                            } else if suppressed > 0 {
                                Outcome::Suppressed
                            } else {
                                Outcome::NothingToBill
                            };
                            AccountCommit {
                                outcome: AccountOutcomeRecord {
                                    run_id,
                                    account_id: account_id.clone(),
                                    outcome,
                                    reason: None,
                                    document_ids: docs.iter().map(|d| d.id).collect(),
                                    changes: rated.changes,
                                    counters: Counters::for_account(outcome, &docs, suppressed),
                                    round,
                                },
                                documents: docs,
                            }
                        }
                    },
                };
                match self.ledger.commit_account(&commit).await {
                    Ok(CommitResult::Committed) => {
                        committed = Some(commit.outcome.counters);
                        break;
                    }
                    // Done by an earlier delivery, which may have stopped before adding
                    // its progress (a crash, a timeout): the progress is reported again,
                    // so that completion never waits for the sweeper's exact count. It
                    // may then lead the outcomes, which only costs an exact count that
                    // finds an account missing.
                    Ok(CommitResult::AlreadyDone) => {
                        committed = Some(self.reported_again(run_id, account_id, round).await?);
                        break;
                    }
                    // A watermark moved under us (a concurrent run): re-read, re-rate.
                    Err(StoreError::Conflict(m)) => last_conflict = m,
                    Err(e) => return Err(e.into()),
                }
            }
            match committed {
                None => Err(AppError::Transient(format!(
                    "account kept changing: {last_conflict}"
                ))),
                added => Ok(added),
            }
        }
        .instrument(span)
        .await
    }

    /// The counters of the account's stored outcome of `round`, for a redelivery that
    /// found it committed (none of another round: that round counted it).
    async fn reported_again(
        &self,
        run_id: RunId,
        account_id: &AccountId,
        round: u32,
    ) -> Result<Counters, AppError> {
        Ok(self
            .runs
            .outcome(run_id, account_id)
            .await?
            .filter(|o| o.round == round)
            .map(|o| o.counters)
            .unwrap_or_default())
    }

    /// Credit lines name the document that billed the credited period by number.
    async fn resolve_credited_numbers(&self, docs: &mut [Document]) -> Result<(), AppError> {
        let mut cache: HashMap<billrun_domain::ids::DocumentId, Option<String>> = HashMap::new();
        for d in docs.iter_mut() {
            for l in d.lines.iter_mut() {
                if !l.is_credit() {
                    continue;
                }
                let number = match l.credits_document_id {
                    None => None,
                    Some(id) => match cache.get(&id) {
                        Some(n) => n.clone(),
                        None => {
                            let n = self
                                .documents
                                .get_document(id)
                                .await?
                                .and_then(|s| s.document.number);
                            cache.insert(id, n.clone());
                            n
                        }
                    },
                };
                l.credits_document = Some(number);
            }
        }
        Ok(())
    }

    /// Records an account as Failed with `reason` (its message's last receive failed).
    pub async fn record_failure(
        &self,
        run_id: RunId,
        account_id: &AccountId,
        round: u32,
        reason: &str,
    ) -> Result<(), AppError> {
        let Some(run) = self.runs.get_run(run_id).await? else {
            return Ok(());
        };
        if run.status != RunStatus::Processing || run.round != round {
            return Ok(());
        }
        let commit = failed_commit(run_id, account_id, round, reason.to_string());
        let added = match self.ledger.commit_account(&commit).await? {
            CommitResult::Committed => commit.outcome.counters,
            // Committed by an earlier delivery that may have stopped before its progress.
            CommitResult::AlreadyDone => self.reported_again(run_id, account_id, round).await?,
        };
        self.runs.add_progress(run_id, &added).await?;
        self.try_finalize(run_id).await?;
        Ok(())
    }

    /// Completes the run once planning is done and every selected account has an
    /// outcome: checks the reconciliation invariant, reserves the round's block of
    /// numbers (stored on the run first), numbers the round's documents in byte-wise
    /// (accountId, groupKey) order and sets Completed or CompletedWithErrors. Safe to
    /// run any number of times, concurrently.
    pub async fn try_finalize(&self, run_id: RunId) -> Result<Finalizing, AppError> {
        self.finalize_at(run_id, None).await
    }

    /// [`App::try_finalize`], judging another finalizer's claim at `now` (the sweeper's
    /// time) instead of the clock's: a claim that ran out by then is taken over.
    pub(crate) async fn finalize_at(
        &self,
        run_id: RunId,
        now: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Finalizing, AppError> {
        let Some(run) = self.runs.get_run(run_id).await? else {
            return Ok(Finalizing::Idle);
        };
        // A retry of failed accounts that holds the run has not cleared and queued them
        // all yet: the round is not complete whatever the outcomes say.
        if run.status != RunStatus::Processing || !run.plan.done || run.transition.is_some() {
            return Ok(Finalizing::Idle);
        }
        let this_round = run.finalize.as_ref().filter(|f| f.round == run.round);
        let counted = this_round.is_some_and(|f| f.counters.is_some());
        // A worker's check after each batch reads the progress, which is cheap; the exact
        // count reads every outcome, so it is made once the progress says it is worth it
        // (or the sweeper asks), under the finalization claim. The progress can lead the
        // outcomes (an add retried after it landed, a redelivery reporting again) by at
        // least the excess an earlier count found, so it is worth it only past that.
        if !counted && now.is_none() {
            let progress = self.runs.progress(run_id).await?;
            let excess = this_round.map_or(0, |f| f.excess);
            if progress.accounted_for() < progress.accounts_selected.saturating_add(excess) {
                return Ok(Finalizing::Idle);
            }
        }
        let round = run.round;
        let (progress, block) = match self.number_documents(run_id, round, now).await? {
            Numbering::Done(done) => *done,
            Numbering::Held => return Ok(Finalizing::Held),
            Numbering::Again => return Ok(Finalizing::Again),
            // Not complete yet, or the run moved on.
            Numbering::Idle => return Ok(Finalizing::Idle),
        };
        let counters = match progress.counters.clone() {
            Some(c) => c,
            None => self.runs.counters(run_id).await?,
        };
        if progress.next_invoice != block.first_invoice + block.invoices
            || progress.next_credit_memo != block.first_credit_memo + block.credit_memos
        {
            return Err(AppError::Internal(format!(
                "run {run_id} round {round}: numbered up to {}/{} in a block {block:?}",
                progress.next_invoice, progress.next_credit_memo
            )));
        }
        let now = self.clock.now();
        self.modify_run(run_id, |r| {
            if r.status != RunStatus::Processing || r.round != round || r.transition.is_some() {
                return Ok(false);
            }
            r.status = if counters.failed > 0 {
                RunStatus::CompletedWithErrors
            } else if r.request.auto_post {
                RunStatus::Posted
            } else {
                RunStatus::Completed
            };
            r.completed_at = Some(now);
            Ok(true)
        })
        .await?;
        // Counts only: amounts, like names and addresses, stay out of the logs.
        info!(
            run_id = %run_id,
            round,
            selected = counters.accounts_selected,
            billed = counters.billed,
            suppressed = counters.suppressed,
            nothing_to_bill = counters.nothing_to_bill,
            failed = counters.failed,
            invoices = block.invoices,
            credit_memos = block.credit_memos,
            "run finished"
        );
        Ok(Finalizing::Idle)
    }

    /// Counts the run exactly and, once every account of the run has an outcome,
    /// reserves the round's block.
    async fn count_round(&self, run: &RunRecord) -> Result<Count, AppError> {
        let run_id = run.id;
        let counters = self.runs.counters(run_id).await?;
        if counters.accounted_for() < counters.accounts_selected {
            return Ok(Count::Missing(counters));
        }
        if !counters.reconciles() {
            return Err(AppError::Internal(format!(
                "run {run_id}: {} outcomes for {} selected accounts",
                counters.accounted_for(),
                counters.accounts_selected
            )));
        }
        // The round's documents by kind: the counters hold every round so far; earlier
        // rounds have their blocks.
        let earlier = |f: fn(&NumberBlock) -> u64| -> u64 {
            run.number_blocks
                .iter()
                .filter(|b| b.round < run.round)
                .map(f)
                .sum()
        };
        let (Some(invoices), Some(credit_memos)) = (
            counters.invoices.checked_sub(earlier(|b| b.invoices)),
            counters
                .credit_memos
                .checked_sub(earlier(|b| b.credit_memos)),
        ) else {
            return Err(AppError::Internal(format!(
                "run {run_id}: counters below the numbers of earlier rounds"
            )));
        };
        let block = self
            .sequences
            .reserve_block(run_id, run.round, invoices, credit_memos)
            .await?;
        if block.invoices != invoices || block.credit_memos != credit_memos {
            return Err(AppError::Internal(format!(
                "run {run_id} round {}: block reserved for {}+{} documents, found {invoices}+{credit_memos}",
                run.round, block.invoices, block.credit_memos
            )));
        }
        Ok(Count::Complete(counters, block))
    }

    /// Under a claim stored on the run: counts the run exactly, reserves the round's
    /// block of numbers ([`App::count_round`]) and numbers the round's documents page by
    /// page in numbering order, storing the counters, the cursor and the next numbers on
    /// the run after each step, so a finalizer that stops resumes after the last stored
    /// step; a page numbered again gets the same numbers. `None` when the run is not
    /// complete, another finalizer holds it, or it left this round meanwhile.
    async fn number_documents(
        &self,
        run_id: RunId,
        round: u32,
        judged_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Numbering, AppError> {
        let limit = self.finalize_page_size.max(1);
        let me = uuid::Uuid::new_v4().to_string();
        let mut recounts = 0;
        loop {
            let run = self.get_run(run_id).await?;
            if run.status != RunStatus::Processing || run.round != round {
                return Ok(Numbering::Idle);
            }
            let at = match &run.finalize {
                Some(f) if f.round == round => f.clone(),
                _ => FinalizeState {
                    round,
                    ..FinalizeState::default()
                },
            };
            if at.done {
                let block = run
                    .number_blocks
                    .iter()
                    .find(|b| b.round == round)
                    .cloned()
                    .ok_or_else(|| {
                        AppError::Internal(format!(
                            "run {run_id} round {round}: numbered without a block"
                        ))
                    })?;
                return Ok(Numbering::Done(Box::new((at, block))));
            }
            let now = judged_at.unwrap_or_else(|| self.clock.now());
            match &at.lease {
                // Another finalizer holds the run: it completes it (or, if it stops, its
                // claim runs out and the next check — a redelivery, the sweeper — resumes).
                Some(l) if l.holder != me && l.until > now => return Ok(Numbering::Held),
                Some(l) if l.holder == me => {}
                _ => {
                    let mut claimed = at.clone();
                    claimed.lease = Some(FinalizeLease {
                        holder: me.clone(),
                        until: self.clock.now() + FINALIZE_LEASE,
                    });
                    self.store_finalize(run_id, &run, claimed).await?;
                    continue; // re-read: counted and numbered only under a stored claim
                }
            }
            let lease = Some(FinalizeLease {
                holder: me.clone(),
                until: self.clock.now() + FINALIZE_LEASE,
            });
            if at.counters.is_none() {
                // Read before the count: what it says beyond the outcomes counted after
                // is progress reported twice (an account reports only once committed).
                let before = match self.runs.progress(run_id).await {
                    Ok(p) => p.accounted_for(),
                    Err(e) => return Err(self.release_claim(run_id, &me, e.into()).await),
                };
                let (counters, block) = match self.count_round(&run).await {
                    Ok(Count::Complete(counters, block)) => (counters, block),
                    Ok(Count::Missing(counted)) => {
                        let excess = at
                            .excess
                            .max(before.saturating_sub(counted.accounted_for()));
                        self.release_counted(run_id, &me, excess).await?;
                        // A commit that landed after the count reported its progress
                        // before its check found this claim (and left the run to it):
                        // the progress read now shows it.
                        let after = self.runs.progress(run_id).await?;
                        if after.accounted_for() < after.accounts_selected.saturating_add(excess) {
                            return Ok(Numbering::Idle);
                        }
                        if recounts < RECOUNTS {
                            recounts += 1;
                            continue;
                        }
                        return Ok(Numbering::Again);
                    }
                    Err(e) => return Err(self.release_claim(run_id, &me, e).await),
                };
                let next = FinalizeState {
                    round,
                    cursor: None,
                    next_invoice: block.first_invoice,
                    next_credit_memo: block.first_credit_memo,
                    pages: 0,
                    done: false,
                    lease,
                    counters: Some(counters),
                    excess: at.excess,
                };
                self.store_finalize(run_id, &run, next).await?;
                continue;
            }
            let page = match self
                .documents
                .round_documents(run_id, round, at.cursor.as_deref(), limit)
                .await
            {
                Ok(page) => page,
                Err(e) => return Err(self.release_claim(run_id, &me, e.into()).await),
            };
            let mut next = at.clone();
            next.lease = lease;
            let mut numbers = Vec::with_capacity(page.documents.len());
            for d in &page.documents {
                let n = match d.document.kind {
                    DocumentKind::Invoice => &mut next.next_invoice,
                    DocumentKind::CreditMemo => &mut next.next_credit_memo,
                };
                numbers.push(Numbered {
                    id: d.document.id,
                    account_id: d.document.account_id.clone(),
                    number: d.document.kind.number(*n),
                });
                *n += 1;
            }
            if let Err(e) = self.documents.assign_numbers(run_id, round, &numbers).await {
                return Err(self.release_claim(run_id, &me, e.into()).await);
            }
            next.cursor = page.next.clone().or(at.cursor.clone());
            next.pages += 1;
            next.done = page.next.is_none();
            if next.done {
                next.lease = None;
            }
            self.store_finalize(run_id, &run, next).await?;
        }
    }

    /// Stores the round's finalization state over the one `read` had: a concurrent
    /// finalizer that stored first did the same step the same way, and this one re-reads.
    async fn store_finalize(
        &self,
        run_id: RunId,
        read: &RunRecord,
        next: FinalizeState,
    ) -> Result<(), AppError> {
        let round = next.round;
        let started = read.finalize.as_ref().filter(|f| f.round == round);
        self.modify_run(run_id, |r| {
            if r.status != RunStatus::Processing || r.round != round {
                return Ok(false);
            }
            if r.finalize.as_ref().filter(|f| f.round == round) != started {
                return Ok(false);
            }
            r.finalize = Some(next.clone());
            Ok(true)
        })
        .await?;
        Ok(())
    }

    /// Gives up this finalizer's claim, if it still holds it.
    async fn release(&self, run_id: RunId, me: &str) -> Result<(), AppError> {
        self.release_counted(run_id, me, 0).await
    }

    /// Gives up this finalizer's claim, if it still holds it, after a count that found
    /// accounts missing and the progress leading the outcomes by at least `excess`.
    async fn release_counted(&self, run_id: RunId, me: &str, excess: u64) -> Result<(), AppError> {
        self.modify_run(run_id, |r| match &mut r.finalize {
            Some(f) if f.lease.as_ref().is_some_and(|l| l.holder == me) => {
                f.lease = None;
                f.excess = f.excess.max(excess);
                Ok(true)
            }
            _ => Ok(false),
        })
        .await?;
        Ok(())
    }

    /// A finalizer that failed gives up its claim (best effort), so that the next check
    /// (the redelivery of its batch) resumes at once rather than when the claim runs out;
    /// returns the error it failed with.
    async fn release_claim(&self, run_id: RunId, me: &str, error: AppError) -> AppError {
        if let Err(e) = self.release(run_id, me).await {
            warn!(run_id = %run_id, error = %e, "could not release the finalization claim");
        }
        error
    }

    /// Completed / CompletedWithErrors → Posted; every document becomes Posted. The run
    /// is claimed first ([`crate::transition`]): a concurrent cancel or retry is refused.
    pub async fn post_run(&self, id: RunId) -> Result<RunRecord, AppError> {
        let claim = self
            .claim(id, Transition::Post, |r| match r.status {
                RunStatus::Posted => Ok(Admit::Done),
                s if s.is_completed() => Ok(Admit::Claim),
                s => Err(AppError::conflict(
                    "run_not_completed",
                    format!("run {id} is {s:?}; only a completed run can be posted"),
                )),
            })
            .await?;
        let Some(token) = claim.token else {
            return Ok(claim.run);
        };
        if let Err(e) = self
            .documents
            .set_run_status(id, DocumentStatus::Posted)
            .await
        {
            return Err(self.yield_claim(id, &token, e.into()).await);
        }
        self.finish(id, Transition::Post, |r| r.status = RunStatus::Posted)
            .await
    }

    /// Cancels a run that has posted nothing: its documents become Canceled (keeping
    /// their numbers) and every watermark and billed mark it moved is rolled back, so a
    /// later run bills the same items again. Refused when a later run has billed past
    /// any of them. A completed run is claimed first ([`crate::transition`]): a
    /// concurrent post or retry is refused, and the revert is whole or resumed.
    pub async fn cancel_run(&self, id: RunId) -> Result<RunRecord, AppError> {
        let claim = self
            .claim(id, Transition::Cancel, |r| match r.status {
                RunStatus::Canceled => Ok(Admit::Done),
                // Nothing written yet: the status change is the whole cancel.
                RunStatus::Pending => {
                    r.status = RunStatus::Canceled;
                    Ok(Admit::Apply)
                }
                s if s.is_completed() => Ok(Admit::Claim),
                RunStatus::Processing => Err(AppError::conflict(
                    "run_processing",
                    format!("run {id} is processing; cancel it once it has completed"),
                )),
                s => Err(AppError::conflict(
                    "run_posted",
                    format!("run {id} is {s:?}; a posted run cannot be canceled"),
                )),
            })
            .await?;
        let Some(token) = claim.token else {
            return Ok(claim.run);
        };
        match self.ledger.revert_run(id).await {
            Ok(()) => {}
            // Checked before anything was reverted: nothing written, the claim goes.
            Err(StoreError::Conflict(m)) if !claim.resumed => {
                self.release_transition(id, &token).await?;
                return Err(AppError::conflict("run_superseded", m));
            }
            Err(StoreError::Conflict(m)) => {
                return Err(self
                    .yield_claim(id, &token, AppError::conflict("run_superseded", m))
                    .await)
            }
            Err(e) => return Err(self.yield_claim(id, &token, e.into()).await),
        }
        self.finish(id, Transition::Cancel, |r| r.status = RunStatus::Canceled)
            .await
    }

    /// Re-drives the Failed accounts of a CompletedWithErrors run in a new round; the
    /// documents they produce are numbered in a further block. The run moves to
    /// Processing and is claimed in one write; the claim is finished once the Failed
    /// outcomes are cleared and their accounts queued, and the round is not finalized
    /// before. A retry after a stop resumes those steps, and so does the sweeper.
    pub async fn retry_failed(&self, id: RunId) -> Result<RunRecord, AppError> {
        let claim = self
            .claim(id, Transition::RetryFailed, |r| {
                if r.status != RunStatus::CompletedWithErrors {
                    return Err(AppError::conflict(
                        "run_has_no_failures",
                        format!(
                            "run {id} is {:?}; only CompletedWithErrors can retry",
                            r.status
                        ),
                    ));
                }
                r.status = RunStatus::Processing;
                r.round += 1;
                r.completed_at = None;
                Ok(Admit::Claim)
            })
            .await?;
        let Some(token) = claim.token else {
            return Ok(claim.run);
        };
        match self.redrive_failed(&claim.run).await {
            Ok(()) => {}
            Err(e) => return Err(self.yield_claim(id, &token, e).await),
        }
        let run = self.finish(id, Transition::RetryFailed, |_| {}).await?;
        self.try_finalize(id).await?;
        Ok(run)
    }

    /// Clears the run's Failed outcomes and queues their accounts for the run's round.
    /// Again after a stop: outcomes already cleared are not found, accounts already
    /// queued are queued twice (the second message finds the outcome).
    pub(crate) async fn redrive_failed(&self, run: &RunRecord) -> Result<(), AppError> {
        let failed = self.ledger.clear_failed(run.id).await?;
        let messages: Vec<Message> = failed
            .into_iter()
            .map(|account_id| Message::Account {
                run_id: run.id,
                account_id,
                round: run.round,
            })
            .collect();
        if !messages.is_empty() {
            self.queue.send(messages).await?;
        }
        Ok(())
    }

    /// The run with its counters.
    pub async fn run_view(&self, id: RunId) -> Result<RunView, AppError> {
        let r = self.get_run(id).await?;
        self.view_of(r).await
    }

    /// The counters a view of the run shows: exact once the round was counted at
    /// finalization (stored on the run), the cheap progress while it is processed (an
    /// exact count reads every outcome), else an exact count.
    pub(crate) async fn view_counters(&self, r: &RunRecord) -> Result<Counters, AppError> {
        if let Some(c) = r
            .finalize
            .as_ref()
            .filter(|f| f.round == r.round)
            .and_then(|f| f.counters.clone())
        {
            return Ok(c);
        }
        Ok(match r.status {
            RunStatus::Pending | RunStatus::Processing => self.runs.progress(r.id).await?,
            _ => self.runs.counters(r.id).await?,
        })
    }

    /// Every document of the run in numbering order.
    pub async fn all_documents(&self, id: RunId) -> Result<Vec<Document>, AppError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .documents
                .run_documents(id, cursor.as_deref(), 1000)
                .await?;
            out.extend(page.documents.into_iter().map(|d| d.document));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(out)
    }

    /// Every account outcome of the run, by account id, with document numbers.
    pub async fn account_outcomes(&self, id: RunId) -> Result<Vec<AccountOutcomeView>, AppError> {
        let mut out: Vec<AccountOutcomeView> = Vec::new();
        let mut after: Option<AccountId> = None;
        loop {
            let page = self.runs.outcomes(id, after.as_ref(), 1000).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.account_id.clone());
            for o in page {
                let mut numbers = Vec::with_capacity(o.document_ids.len());
                for d in &o.document_ids {
                    if let Some(n) = self
                        .documents
                        .get_document(*d)
                        .await?
                        .and_then(|s| s.document.number)
                    {
                        numbers.push(n);
                    }
                }
                out.push(AccountOutcomeView {
                    account_id: o.account_id,
                    outcome: o.outcome,
                    document_numbers: numbers,
                    reason: o.reason,
                });
            }
        }
        Ok(out)
    }
}

fn failed_commit(
    run_id: RunId,
    account_id: &AccountId,
    round: u32,
    reason: String,
) -> AccountCommit {
    AccountCommit {
        outcome: AccountOutcomeRecord {
            run_id,
            account_id: account_id.clone(),
            outcome: Outcome::Failed,
            reason: Some(reason),
            document_ids: vec![],
            changes: vec![],
            counters: Counters::for_account(Outcome::Failed, &[], 0),
            round,
        },
        documents: vec![],
    }
}
