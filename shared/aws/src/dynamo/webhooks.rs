//! The DynamoDB adapter of webhook endpoints and deliveries
//! (`billrun_app::ports::WebhookStore`): each one item (keys in `keys.rs`) with the
//! record as data and its version as an attribute of its own (`ver`), which every later
//! write is conditioned on; a delivery carries gsi1 keys that list it under its
//! endpoint in creation order.

use super::client::{Limit, SortKey};
use super::codec::{decode, entity, s};
use super::keys::{self, Index};
use super::DynamoStore;
use async_trait::async_trait;
use billrun_app::error::StoreError;
use billrun_app::model::audit::AuditEvent;
use billrun_app::model::webhooks::{DeliveryPosition, WebhookDelivery, WebhookEndpoint};
use billrun_app::ports::{StoreResult, WebhookStore};
use billrun_domain::ids::{WebhookDeliveryId, WebhookEndpointId};

/// [`DynamoStore::put_version`] as the port answers it: `false` when another write
/// came first (and for a version 0, which no record has).
async fn put_next(
    store: &DynamoStore,
    item: super::codec::Item,
    version: u64,
) -> StoreResult<bool> {
    if version == 0 {
        return Ok(false);
    }
    match store.put_version(item, version).await {
        Ok(()) => Ok(true),
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

fn delivery_item(d: &WebhookDelivery) -> StoreResult<super::codec::Item> {
    let mut item = entity(&keys::webhook_delivery(d.id), d)?;
    item.insert(
        Index::Gsi1.pk().to_string(),
        s(keys::endpoint_deliveries(&d.endpoint_id)),
    );
    item.insert(
        Index::Gsi1.sk().to_string(),
        s(keys::delivery_sort(&d.created_at, d.id)),
    );
    Ok(item)
}

#[async_trait]
impl WebhookStore for DynamoStore {
    async fn save_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
        audit: Option<&AuditEvent>,
    ) -> StoreResult<bool> {
        let item = entity(&keys::webhook_endpoint(&endpoint.id), endpoint)?;
        match audit {
            None => put_next(self, item, endpoint.version).await,
            Some(_) if endpoint.version == 0 => Ok(false),
            Some(audit) => {
                let put = self.put_version_tx(item, endpoint.version)?;
                self.write_audited(vec![put], Some(audit)).await
            }
        }
    }

    async fn get_endpoint(&self, id: &WebhookEndpointId) -> StoreResult<Option<WebhookEndpoint>> {
        match self.get(&keys::webhook_endpoint(id)).await? {
            None => Ok(None),
            Some(item) => Ok(Some(decode(&item)?)),
        }
    }

    async fn list_endpoints(&self) -> StoreResult<Vec<WebhookEndpoint>> {
        self.query(
            None,
            keys::WEBHOOK_ENDPOINTS.into(),
            SortKey::Any,
            Limit::All,
        )
        .await?
        .iter()
        .map(decode)
        .collect()
    }

    async fn create_delivery(&self, delivery: &WebhookDelivery) -> StoreResult<bool> {
        if delivery.version != 1 {
            return Ok(false);
        }
        put_next(self, delivery_item(delivery)?, 1).await
    }

    async fn get_delivery(&self, id: WebhookDeliveryId) -> StoreResult<Option<WebhookDelivery>> {
        match self.get(&keys::webhook_delivery(id)).await? {
            None => Ok(None),
            Some(item) => Ok(Some(decode(&item)?)),
        }
    }

    async fn save_delivery(&self, delivery: &WebhookDelivery) -> StoreResult<bool> {
        if delivery.version < 2 {
            return Ok(false);
        }
        put_next(self, delivery_item(delivery)?, delivery.version).await
    }

    async fn list_deliveries(
        &self,
        endpoint: &WebhookEndpointId,
        after: Option<&DeliveryPosition>,
        limit: usize,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        let after = after.map(|p| keys::delivery_sort(&p.created_at, p.id));
        let sk = match &after {
            Some(a) => SortKey::After(a, ""),
            None => SortKey::Any,
        };
        self.query(
            Some(Index::Gsi1),
            keys::endpoint_deliveries(endpoint),
            sk,
            Limit::AtMost(limit.max(1)),
        )
        .await?
        .iter()
        .map(decode)
        .collect()
    }
}
