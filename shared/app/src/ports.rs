//! The ports: small traits named by capability. Every one has an in-memory adapter
//! ([`crate::memory`]) and, in `shared/aws`, a DynamoDB / S3 / SQS one.

use crate::error::StoreError;
use crate::model::*;
use async_trait::async_trait;
use billrun_domain::book::Book;
use billrun_domain::ids::{AccountId, DocumentId, RunId};
use billrun_domain::rating::AccountBook;
use billrun_domain::request::Filters;
use billrun_domain::run::Counters;
use chrono::{DateTime, Utc};

pub type StoreResult<T> = Result<T, StoreError>;

/// Runs, their account outcomes and counters.
#[async_trait]
pub trait RunStore: Send + Sync {
    /// Stores a new run, assigning its number from the run sequence in the same atomic
    /// step. With an idempotency key already used, returns the run stored under it
    /// (`Replayed`) when its request is equal, else `Conflict`.
    async fn create_run(&self, run: RunRecord) -> StoreResult<Created>;
    async fn get_run(&self, id: RunId) -> StoreResult<Option<RunRecord>>;
    /// Replaces the run when its stored version is `run.version - 1`; else `Conflict`.
    async fn update_run(&self, run: &RunRecord) -> StoreResult<()>;
    /// The run's counters, exactly: the sum of its outcomes' counters, with
    /// `accountsSelected` from planning. May read every outcome (DynamoDB): for the
    /// completion check under the finalization claim, the sweeper, and tests; views of a
    /// processing run read [`RunStore::progress`].
    async fn counters(&self, id: RunId) -> StoreResult<Counters>;
    /// What [`RunStore::add_progress`] added up: a cheap read that may lag behind the
    /// outcomes (an account committed by a process that stopped before adding it), never
    /// ahead of them except when an add was retried after it had landed. It only tells
    /// when an exact count is worth making. Stores that count exactly answer the counters.
    async fn progress(&self, id: RunId) -> StoreResult<Counters> {
        self.counters(id).await
    }
    /// Adds the counters of outcomes committed since the last add (a batch's). Not
    /// redelivery-safe by design: the exact counters are the outcomes'.
    async fn add_progress(&self, _id: RunId, _added: &Counters) -> StoreResult<()> {
        Ok(())
    }
    async fn outcome(
        &self,
        run: RunId,
        account: &AccountId,
    ) -> StoreResult<Option<AccountOutcomeRecord>>;
    /// Outcomes in byte-wise account order, after `after`, at most `limit`.
    async fn outcomes(
        &self,
        run: RunId,
        after: Option<&AccountId>,
        limit: usize,
    ) -> StoreResult<Vec<AccountOutcomeRecord>>;
}

/// The book: accounts and what they are billed for, with the billing state.
#[async_trait]
pub trait BookStore: Send + Sync {
    /// Upserts a validated book.
    async fn import_book(&self, book: &Book) -> StoreResult<()>;
    /// Everything rating needs about one account, with its current billing state.
    async fn account_book(&self, id: &AccountId) -> StoreResult<Option<AccountBook>>;
    /// Up to `limit` account ids passing the account filters, starting at `cursor`
    /// (`None`: the beginning).
    async fn select_accounts(
        &self,
        filters: &Filters,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<AccountPage>;
}

/// Documents of runs.
#[async_trait]
pub trait DocumentStore: Send + Sync {
    async fn get_document(&self, id: DocumentId) -> StoreResult<Option<StoredDocument>>;
    /// A run's documents of one round in numbering order (byte-wise accountId, groupKey),
    /// after `cursor` (`None`: the first), at most `limit`; `next` is `None` after the
    /// last. Once every account of the round has an outcome the pages are stable, so a
    /// stored cursor resumes where it stopped.
    async fn round_documents(
        &self,
        run: RunId,
        round: u32,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<DocumentPage>;
    /// A run's documents in numbering order, from `cursor` (`None`: the first), at most
    /// `limit`.
    async fn run_documents(
        &self,
        run: RunId,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<DocumentPage>;
    /// Sets the numbers of a page of the run's round-`round` documents, in numbering
    /// order; setting the same numbers again is a no-op. Read back with the documents.
    async fn assign_numbers(&self, run: RunId, round: u32, numbers: &[Numbered])
        -> StoreResult<()>;
    /// Moves every document of the run to `status` (post).
    async fn set_run_status(
        &self,
        run: RunId,
        status: billrun_domain::document::DocumentStatus,
    ) -> StoreResult<()>;
}

/// The billing state: one account's effect of a run is committed here atomically
/// (documents, watermark moves conditioned on their previous values, billed marks, the
/// outcome with its counters), and reverted here when the run is canceled.
#[async_trait]
pub trait WatermarkStore: Send + Sync {
    /// `AlreadyDone` when the outcome exists; `Conflict` when a watermark or billed mark
    /// moved since the account was read (re-read and re-rate).
    async fn commit_account(&self, commit: &AccountCommit) -> StoreResult<CommitResult>;
    /// Reverts every change of the run and marks its documents Canceled, checking first
    /// that no later run has billed past any of them (`Conflict` names the first).
    async fn revert_run(&self, run: RunId) -> StoreResult<()>;
    /// Removes the run's Failed outcomes (their counters too) so the accounts can be
    /// processed again; returns their account ids.
    async fn clear_failed(&self, run: RunId) -> StoreResult<Vec<AccountId>>;
}

/// Gapless number sequences.
#[async_trait]
pub trait SequenceStore: Send + Sync {
    /// Reserves the run's block for `round` and stores it on the run in one atomic step;
    /// calling again for the same (run, round) returns the stored block.
    async fn reserve_block(
        &self,
        run: RunId,
        round: u32,
        invoices: u64,
        credit_memos: u64,
    ) -> StoreResult<NumberBlock>;
}

/// Sends work messages.
#[async_trait]
pub trait WorkQueue: Send + Sync {
    async fn send(&self, messages: Vec<Message>) -> StoreResult<()>;
}

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Files (rendered documents), addressed by key.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores the object unless one with the key exists: `Ok(false)` then, and the
    /// object is left as it was. Keys are content-addressed (`docgen::document_key`), so
    /// an existing object holds the same bytes. S3: one PutObject with
    /// `If-None-Match: *` (412 when the key exists), which needs only `s3:PutObject` — a
    /// HeadObject first would need `s3:ListBucket` to tell a missing key (404) from a
    /// forbidden one (403).
    async fn put_blob(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> StoreResult<bool>;
    async fn get_blob(&self, key: &str) -> StoreResult<Option<Vec<u8>>>;
    /// The `length` bytes of the object from byte `offset` (one PDF of a pack): S3, a
    /// GetObject with `Range: bytes=offset-(offset+length-1)`. `None` when no object has
    /// the key; a range the object does not hold in full is a fatal error.
    async fn get_blob_range(
        &self,
        key: &str,
        offset: u64,
        length: u64,
    ) -> StoreResult<Option<Vec<u8>>>;
}

/// The `Range` header value of `length` bytes from `offset` (`length` > 0).
pub fn byte_range(offset: u64, length: u64) -> StoreResult<String> {
    let last = length
        .checked_sub(1)
        .and_then(|l| offset.checked_add(l))
        .ok_or_else(|| {
            crate::error::StoreError::Fatal(format!(
                "no byte range of {length} bytes from {offset}"
            ))
        })?;
    Ok(format!("bytes={offset}-{last}"))
}

/// `bytes[offset..offset + length]`, or the fatal error of a range the object does not
/// hold in full.
pub fn slice_range(key: &str, bytes: &[u8], offset: u64, length: u64) -> StoreResult<Vec<u8>> {
    let range = usize::try_from(offset)
        .ok()
        .zip(usize::try_from(length).ok())
        .and_then(|(o, l)| Some(o..o.checked_add(l)?))
        .filter(|r| r.end <= bytes.len() && !r.is_empty());
    match range {
        Some(r) => Ok(bytes[r].to_vec()),
        None => Err(crate::error::StoreError::Fatal(format!(
            "object {key} ({} bytes) does not hold {length} bytes from {offset}",
            bytes.len()
        ))),
    }
}
