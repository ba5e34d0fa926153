//! Listings the HTTP API pages through (the API turns positions into opaque cursors),
//! and subscriptions looked up by id.

use super::StoreResult;
use crate::model::listing::{DocumentPosition, RunFilter, RunPosition};
use crate::model::RunRecord;
use async_trait::async_trait;
use billrun_domain::book::Account;
use billrun_domain::document::DocumentKind;
use billrun_domain::ids::{AccountId, RunId, SubscriptionId};
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
