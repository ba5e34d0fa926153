//! Webhook endpoints and deliveries: each as JSON, with the version every later write
//! is conditioned on; a delivery's endpoint and creation time (fixed-width RFC 3339, so
//! text order is time order) in columns for its endpoint's listing.

use crate::schema::*;
use crate::{int, limit, read_entities, read_entity, to_json, SqliteStore};
use async_trait::async_trait;
use billrun_app::model::audit::AuditEvent;
use billrun_app::model::webhooks::{DeliveryPosition, WebhookDelivery, WebhookEndpoint};
use billrun_app::ports::{StoreResult, WebhookStore};
use billrun_domain::ids::{WebhookDeliveryId, WebhookEndpointId};
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::params;

fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn save_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
        audit: Option<&AuditEvent>,
    ) -> StoreResult<bool> {
        let (e, audit) = (endpoint.clone(), audit.cloned());
        self.write(move |tx| {
            let version = int(e.version)?;
            let changed = if e.version == 1 {
                tx.execute(
                    &format!(
                        "INSERT INTO {WEBHOOK_ENDPOINTS} (id, version, data) VALUES (?1, ?2, ?3)
                         ON CONFLICT (id) DO NOTHING"
                    ),
                    params![e.id.as_str(), version, to_json(&e)?],
                )?
            } else {
                tx.execute(
                    &format!(
                        "UPDATE {WEBHOOK_ENDPOINTS} SET version = ?2, data = ?3
                         WHERE id = ?1 AND version = ?4"
                    ),
                    params![e.id.as_str(), version, to_json(&e)?, version - 1],
                )?
            };
            if changed == 1 {
                audit.iter().try_for_each(|a| crate::audit::record(tx, a))?;
            }
            Ok(changed == 1)
        })
        .await
    }

    async fn get_endpoint(&self, id: &WebhookEndpointId) -> StoreResult<Option<WebhookEndpoint>> {
        let id = id.to_string();
        self.call(move |c| {
            read_entity(
                c,
                &format!("SELECT data FROM {WEBHOOK_ENDPOINTS} WHERE id = ?1"),
                [id],
            )
        })
        .await
    }

    async fn list_endpoints(&self) -> StoreResult<Vec<WebhookEndpoint>> {
        self.call(move |c| {
            read_entities(
                c,
                &format!("SELECT data FROM {WEBHOOK_ENDPOINTS} ORDER BY id"),
                [],
            )
        })
        .await
    }

    async fn create_delivery(&self, delivery: &WebhookDelivery) -> StoreResult<bool> {
        let d = delivery.clone();
        self.write(move |tx| {
            let added = tx.execute(
                &format!(
                    "INSERT INTO {WEBHOOK_DELIVERIES} (id, endpoint_id, created_at, version, data)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO NOTHING"
                ),
                params![
                    d.id.to_string(),
                    d.endpoint_id.as_str(),
                    instant(d.created_at),
                    int(d.version)?,
                    to_json(&d)?
                ],
            )?;
            Ok(added == 1)
        })
        .await
    }

    async fn get_delivery(&self, id: WebhookDeliveryId) -> StoreResult<Option<WebhookDelivery>> {
        self.call(move |c| {
            read_entity(
                c,
                &format!("SELECT data FROM {WEBHOOK_DELIVERIES} WHERE id = ?1"),
                [id.to_string()],
            )
        })
        .await
    }

    async fn save_delivery(&self, delivery: &WebhookDelivery) -> StoreResult<bool> {
        let d = delivery.clone();
        self.write(move |tx| {
            let version = int(d.version)?;
            let changed = tx.execute(
                &format!(
                    "UPDATE {WEBHOOK_DELIVERIES} SET version = ?2, data = ?3
                     WHERE id = ?1 AND version = ?4"
                ),
                params![d.id.to_string(), version, to_json(&d)?, version - 1],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn list_deliveries(
        &self,
        endpoint: &WebhookEndpointId,
        after: Option<&DeliveryPosition>,
        n: usize,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        let endpoint = endpoint.to_string();
        let (at, id) = match after {
            Some(p) => (instant(p.created_at), p.id.to_string()),
            None => (String::new(), String::new()),
        };
        self.call(move |c| {
            read_entities(
                c,
                &format!(
                    "SELECT data FROM {WEBHOOK_DELIVERIES}
                     WHERE endpoint_id = ?1 AND (created_at, id) > (?2, ?3)
                     ORDER BY created_at, id LIMIT ?4"
                ),
                params![endpoint, at, id, limit(n)],
            )
        })
        .await
    }
}
