//! Delivery requests, their results and each document's latest delivery.

use super::StoreResult;
use crate::model::deliveries::{
    DeliveryCounters, DeliveryRequest, DeliveryResult, DocumentDelivery,
};
use async_trait::async_trait;
use billrun_domain::ids::{DeliveryRequestId, DocumentId, RunId};
use chrono::{DateTime, Utc};

/// Delivery requests and results.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Stores a new request with zero counters and makes it its run's latest;
    /// `StoreError::Conflict` when the id exists.
    async fn create_delivery_request(&self, request: &DeliveryRequest) -> StoreResult<()>;
    /// The request with its counters (`requested` from the request).
    async fn get_delivery_request(
        &self,
        id: DeliveryRequestId,
    ) -> StoreResult<Option<(DeliveryRequest, DeliveryCounters)>>;
    async fn latest_delivery_request(&self, run: RunId) -> StoreResult<Option<DeliveryRequestId>>;
    async fn delivery_result(
        &self,
        request: DeliveryRequestId,
        document: DocumentId,
    ) -> StoreResult<Option<DeliveryResult>>;
    /// Replaces the (request, document) result `expected` (`None`: there is none) by
    /// `next`, atomically with the request's counters
    /// ([`DeliveryCounters::apply`]) and the document's latest delivery
    /// ([`DocumentDelivery::after`]). `StoreError::Conflict` when the stored result is
    /// not `expected` (another worker got there first), with nothing written.
    async fn record_delivery(
        &self,
        expected: Option<&DeliveryResult>,
        next: &DeliveryResult,
    ) -> StoreResult<()>;
    async fn document_delivery(
        &self,
        document: DocumentId,
    ) -> StoreResult<Option<DocumentDelivery>>;
    /// The latest send of any request of the run.
    async fn run_last_sent(&self, run: RunId) -> StoreResult<Option<DateTime<Utc>>>;
}
