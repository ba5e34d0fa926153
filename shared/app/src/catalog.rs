//! Ports the HTTP API needs beyond the run pipeline: listing runs, accounts and a run's
//! documents with positions (the API turns them into opaque cursors), looking
//! subscriptions and invoice schedules up by id, recording executed schedule items,
//! document templates. Small traits named by capability; [`Catalog`] is all of them.
//! The in-memory adapter is in [`crate::memory`], the DynamoDB one in `shared/aws`.

use crate::model::RunRecord;
use crate::ports::StoreResult;
use async_trait::async_trait;
use billrun_domain::book::{Account, InvoiceSchedule, ScheduleItemStatus};
use billrun_domain::document::DocumentKind;
use billrun_domain::ids::{
    AccountId, DocumentId, RunId, ScheduleId, ScheduleItemId, SubscriptionId,
};
use billrun_domain::run::RunStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which runs a listing keeps. Every bound is inclusive except `id_after`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Only runs whose number (`BR-00000042` → 42) is greater.
    pub id_after: Option<u64>,
    pub created_since: Option<DateTime<Utc>>,
    pub updated_since: Option<DateTime<Utc>>,
    pub status: Option<RunStatus>,
}

/// The numeric part of a run number (`BR-00000042` → 42).
pub fn run_number(number: &str) -> Option<u64> {
    number.strip_prefix("BR-").and_then(|n| n.parse().ok())
}

impl RunFilter {
    pub fn keeps(&self, r: &RunRecord) -> bool {
        self.id_after
            .is_none_or(|after| run_number(&r.number).is_some_and(|n| n > after))
            && self.created_since.is_none_or(|t| r.created_at >= t)
            && self.updated_since.is_none_or(|t| r.updated_at >= t)
            && self.status.is_none_or(|s| r.status == s)
    }
}

/// Where a run listing stands: runs are listed by (createdAt, id).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RunPosition {
    pub created_at: DateTime<Utc>,
    pub id: RunId,
}

impl RunPosition {
    pub fn of(r: &RunRecord) -> RunPosition {
        RunPosition {
            created_at: r.created_at,
            id: r.id,
        }
    }
}

/// Lists runs in (createdAt, id) order.
#[async_trait]
pub trait RunListing: Send + Sync {
    /// Up to `limit` runs the filter keeps, strictly after `after`.
    async fn list_runs(
        &self,
        filter: &RunFilter,
        after: Option<&RunPosition>,
        limit: usize,
    ) -> StoreResult<Vec<RunRecord>>;
    /// The run numbered `BR-<number>`.
    async fn run_by_number(&self, number: u64) -> StoreResult<Option<RunRecord>>;
}

/// Lists accounts in byte-wise id order.
#[async_trait]
pub trait AccountListing: Send + Sync {
    /// Up to `limit` accounts (of `batch` when given) with an id greater than `after`.
    async fn list_accounts(
        &self,
        batch: Option<&str>,
        after: Option<&AccountId>,
        limit: usize,
    ) -> StoreResult<Vec<Account>>;
}

/// A document's place in its run's numbering order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DocumentPosition {
    pub round: u32,
    pub account_id: AccountId,
    pub group_key: String,
}

impl DocumentPosition {
    pub fn of(d: &crate::model::StoredDocument) -> DocumentPosition {
        DocumentPosition {
            round: d.round,
            account_id: d.document.account_id.clone(),
            group_key: d.document.group_key.clone(),
        }
    }
}

/// Lists a run's documents in numbering order, optionally of one kind.
#[async_trait]
pub trait DocumentListing: Send + Sync {
    async fn list_run_documents(
        &self,
        run: RunId,
        kind: Option<DocumentKind>,
        after: Option<&DocumentPosition>,
        limit: usize,
    ) -> StoreResult<Vec<crate::model::StoredDocument>>;
}

/// Finds the account a subscription belongs to.
#[async_trait]
pub trait SubscriptionIndex: Send + Sync {
    async fn subscription_account(&self, id: &SubscriptionId) -> StoreResult<Option<AccountId>>;
}

/// An executed invoice-schedule item: the run and the document it produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessedItem {
    pub item_id: ScheduleItemId,
    pub run_id: RunId,
    pub document_id: DocumentId,
    pub processed_at: DateTime<Utc>,
}

/// A stored invoice schedule: the schedule as imported, with the items executed here.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSchedule {
    /// Item statuses are effective: Processed when the book says so or it was executed.
    pub schedule: InvoiceSchedule,
    pub processed: Vec<ProcessedItem>,
}

impl StoredSchedule {
    /// Sets each executed item's status to Processed.
    pub fn new(mut schedule: InvoiceSchedule, processed: Vec<ProcessedItem>) -> StoredSchedule {
        for it in &mut schedule.items {
            if processed.iter().any(|p| p.item_id == it.id) {
                it.status = ScheduleItemStatus::Processed;
            }
        }
        StoredSchedule {
            schedule,
            processed,
        }
    }
}

/// Invoice schedules by id, and the record of executed items.
#[async_trait]
pub trait ScheduleStore: Send + Sync {
    async fn get_schedule(&self, id: &ScheduleId) -> StoreResult<Option<StoredSchedule>>;
    /// Every schedule of an account.
    async fn account_schedules(&self, account: &AccountId) -> StoreResult<Vec<InvoiceSchedule>>;
    /// Upserts a validated schedule (its account and subscriptions exist). Executed
    /// items stay executed.
    async fn put_schedule(&self, schedule: &InvoiceSchedule) -> StoreResult<()>;
    /// Records an item as executed; `Conflict` when it already was.
    async fn mark_processed(&self, schedule: &ScheduleId, item: &ProcessedItem) -> StoreResult<()>;
}

/// An invoice document template. `content` is the template JSON of
/// `billrun_documents::DocumentTemplate` (seller block, logo, accent colour, footer,
/// locale), validated when the template is PUT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentTemplate {
    pub id: String,
    pub name: String,
    pub content: String,
    pub active: bool,
    pub updated_at: DateTime<Utc>,
}

#[async_trait]
pub trait TemplateStore: Send + Sync {
    /// Upserts a template, keeping whether it is the active one.
    async fn put_template(&self, template: &DocumentTemplate) -> StoreResult<DocumentTemplate>;
    async fn get_template(&self, id: &str) -> StoreResult<Option<DocumentTemplate>>;
    /// Makes the template the one active template; `None` when it does not exist.
    async fn activate_template(&self, id: &str) -> StoreResult<Option<DocumentTemplate>>;
    async fn active_template(&self) -> StoreResult<Option<DocumentTemplate>>;
}

/// Every port of this module.
pub trait Catalog:
    RunListing
    + AccountListing
    + DocumentListing
    + SubscriptionIndex
    + ScheduleStore
    + TemplateStore
    + crate::scheduling::RunScheduleStore
    + crate::scheduling::DueIndex
    + crate::docgen::DocumentRequestStore
{
}

impl<T> Catalog for T where
    T: RunListing
        + AccountListing
        + DocumentListing
        + SubscriptionIndex
        + ScheduleStore
        + TemplateStore
        + crate::scheduling::RunScheduleStore
        + crate::scheduling::DueIndex
        + crate::docgen::DocumentRequestStore
{
}
