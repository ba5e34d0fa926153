//! Delivery requests and results in memory.

use super::MemoryStore;
use crate::error::StoreError;
use crate::model::deliveries::*;
use crate::ports::*;
use async_trait::async_trait;
use billrun_domain::ids::{DeliveryRequestId, DocumentId, RunId};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Requests with their counters, each run's latest request, results by (request,
/// document), each document's latest delivery.
#[derive(Default)]
pub(super) struct MemoryDeliveries {
    requests: HashMap<DeliveryRequestId, (DeliveryRequest, DeliveryCounters)>,
    latest: HashMap<RunId, DeliveryRequestId>,
    results: HashMap<(DeliveryRequestId, DocumentId), DeliveryResult>,
    documents: HashMap<DocumentId, DocumentDelivery>,
}

#[async_trait]
impl DeliveryStore for MemoryStore {
    async fn create_delivery_request(&self, request: &DeliveryRequest) -> StoreResult<()> {
        let mut g = self.deliveries.lock();
        if g.requests.contains_key(&request.id) {
            return Err(StoreError::Conflict(format!(
                "delivery request {} exists",
                request.id
            )));
        }
        let counters = DeliveryCounters {
            requested: request.requested,
            ..DeliveryCounters::default()
        };
        g.requests.insert(request.id, (request.clone(), counters));
        g.latest.insert(request.run_id, request.id);
        Ok(())
    }

    async fn get_delivery_request(
        &self,
        id: DeliveryRequestId,
    ) -> StoreResult<Option<(DeliveryRequest, DeliveryCounters)>> {
        Ok(self.deliveries.lock().requests.get(&id).cloned())
    }

    async fn latest_delivery_request(&self, run: RunId) -> StoreResult<Option<DeliveryRequestId>> {
        Ok(self.deliveries.lock().latest.get(&run).copied())
    }

    async fn delivery_result(
        &self,
        request: DeliveryRequestId,
        document: DocumentId,
    ) -> StoreResult<Option<DeliveryResult>> {
        Ok(self
            .deliveries
            .lock()
            .results
            .get(&(request, document))
            .cloned())
    }

    async fn record_delivery(
        &self,
        expected: Option<&DeliveryResult>,
        next: &DeliveryResult,
    ) -> StoreResult<()> {
        let mut g = self.deliveries.lock();
        let g = &mut *g;
        let key = (next.request_id, next.document_id);
        if g.results.get(&key) != expected {
            return Err(StoreError::Conflict(format!(
                "the delivery of document {} for request {} changed",
                next.document_id, next.request_id
            )));
        }
        let Some((_, counters)) = g.requests.get_mut(&next.request_id) else {
            return Err(StoreError::fatal(format!(
                "delivery request {} does not exist",
                next.request_id
            )));
        };
        counters.apply(expected.map(|r| &r.state), &next.state);
        let record = DocumentDelivery::after(g.documents.get(&next.document_id), next);
        g.documents.insert(next.document_id, record);
        g.results.insert(key, next.clone());
        Ok(())
    }

    async fn document_delivery(
        &self,
        document: DocumentId,
    ) -> StoreResult<Option<DocumentDelivery>> {
        Ok(self.deliveries.lock().documents.get(&document).cloned())
    }

    async fn run_last_sent(&self, run: RunId) -> StoreResult<Option<DateTime<Utc>>> {
        Ok(self
            .deliveries
            .lock()
            .requests
            .values()
            .filter(|(r, _)| r.run_id == run)
            .filter_map(|(_, c)| c.last_sent_at)
            .max())
    }
}
