//! Webhook endpoints: registering, changing, deleting them, rotating their signing
//! secrets, and their deliveries (listing, redelivering). Sending is [`crate::dispatch`].

use crate::error::AppError;
use crate::model::webhooks::*;
use crate::model::Message;
use crate::ports::{Clock, WebhookSender, WebhookStore, WorkQueue};
use base64::Engine;
use billrun_domain::error::FieldError;
use billrun_domain::ids::{WebhookDeliveryId, WebhookEndpointId};
use std::sync::Arc;

/// Tries of a read-change-write of an endpoint or delivery before a lost race is
/// reported (each write is conditioned on the version it read).
pub(crate) const SAVE_ATTEMPTS: usize = 5;

/// Key bytes of a new signing secret.
const SECRET_BYTES: usize = 32;

/// What a client sets on an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSpec {
    pub url: String,
    pub events: Vec<EventPattern>,
    pub enabled: bool,
    pub description: Option<String>,
}

/// An endpoint after a write, with its new signing secret when the write made one
/// (shown once: on creation and rotation).
#[derive(Debug, Clone)]
pub struct EndpointSaved {
    pub endpoint: WebhookEndpoint,
    pub created: bool,
    pub secret: Option<String>,
}

/// Webhook endpoints and their deliveries.
pub struct Webhooks {
    pub store: Arc<dyn WebhookStore>,
    pub sender: Arc<dyn WebhookSender>,
    pub queue: Arc<dyn WorkQueue>,
    pub clock: Arc<dyn Clock>,
}

/// `whsec_` and the base64 of [`SECRET_BYTES`] from the operating system's generator.
pub fn new_secret() -> Result<String, AppError> {
    let mut key = [0u8; SECRET_BYTES];
    getrandom::fill(&mut key)
        .map_err(|e| AppError::internal(format!("no random bytes for a secret: {e}")))?;
    Ok(format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    ))
}

fn lost_race(what: &str) -> AppError {
    AppError::transient(format!("{what} is being changed concurrently; try again"))
}

impl Webhooks {
    /// Checks a client's endpoint: the URL is one billrun sends to (scheme, address),
    /// at least one event type.
    pub fn check(&self, spec: &EndpointSpec) -> Result<(), AppError> {
        self.sender
            .check_url(&spec.url)
            .map_err(|m| AppError::Validation(FieldError::new("url", m)))?;
        if spec.events.is_empty() {
            return Err(AppError::Validation(FieldError::new(
                "events",
                "must name at least one event type, or [\"*\"] for all",
            )));
        }
        Ok(())
    }

    /// Creates the endpoint (with a new secret) or replaces what the client set on it.
    /// Enabling an endpoint billrun disabled clears the reason and starts afresh.
    pub async fn put_endpoint(
        &self,
        id: &WebhookEndpointId,
        spec: EndpointSpec,
    ) -> Result<EndpointSaved, AppError> {
        self.check(&spec)?;
        for _ in 0..SAVE_ATTEMPTS {
            let now = self.clock.now();
            let stored = self.store.get_endpoint(id).await?;
            let before = stored.clone();
            let (endpoint, secret) = match stored {
                Some(e) if e.is_live() => {
                    let mut e = e;
                    if spec.enabled && !e.enabled {
                        e.disabled_reason = None;
                        e.failing_since = None;
                    }
                    e.url = spec.url.clone();
                    e.events = spec.events.clone();
                    e.enabled = spec.enabled;
                    e.description = spec.description.clone();
                    e.updated_at = now;
                    e.version += 1;
                    (e, None)
                }
                previous => {
                    let secret = new_secret()?;
                    let e = WebhookEndpoint {
                        id: id.clone(),
                        url: spec.url.clone(),
                        events: spec.events.clone(),
                        enabled: spec.enabled,
                        description: spec.description.clone(),
                        secrets: vec![SigningSecret {
                            secret: secret.clone(),
                            created_at: now,
                            expires_at: None,
                        }],
                        disabled_reason: None,
                        failing_since: None,
                        created_at: now,
                        updated_at: now,
                        deleted_at: None,
                        version: previous.map_or(0, |p| p.version) + 1,
                    };
                    (e, Some(secret))
                }
            };
            let entry = endpoint_change(before.as_ref(), &endpoint, now);
            if self.store.save_endpoint(&endpoint, Some(&entry)).await? {
                return Ok(EndpointSaved {
                    created: secret.is_some(),
                    endpoint,
                    secret,
                });
            }
        }
        Err(lost_race(&format!("webhook endpoint {id}")))
    }

    /// The live endpoint, or NotFound.
    pub async fn get_endpoint(&self, id: &WebhookEndpointId) -> Result<WebhookEndpoint, AppError> {
        self.store
            .get_endpoint(id)
            .await?
            .filter(WebhookEndpoint::is_live)
            .ok_or_else(|| AppError::NotFound(format!("webhook endpoint {id}")))
    }

    /// Every live endpoint, in id order.
    pub async fn list_endpoints(&self) -> Result<Vec<WebhookEndpoint>, AppError> {
        let mut all = self.store.list_endpoints().await?;
        all.retain(WebhookEndpoint::is_live);
        Ok(all)
    }

    /// Reads, changes and writes the live endpoint, again on a lost race.
    async fn modify_endpoint(
        &self,
        id: &WebhookEndpointId,
        mut change: impl FnMut(&mut WebhookEndpoint, chrono::DateTime<chrono::Utc>),
    ) -> Result<WebhookEndpoint, AppError> {
        for _ in 0..SAVE_ATTEMPTS {
            let mut e = self.get_endpoint(id).await?;
            let before = e.clone();
            let now = self.clock.now();
            change(&mut e, now);
            e.updated_at = now;
            e.version += 1;
            if self
                .store
                .save_endpoint(&e, Some(&endpoint_change(Some(&before), &e, now)))
                .await?
            {
                return Ok(e);
            }
        }
        Err(lost_race(&format!("webhook endpoint {id}")))
    }

    /// Deletes the endpoint: it receives nothing more, and its pending deliveries fail.
    pub async fn delete_endpoint(&self, id: &WebhookEndpointId) -> Result<(), AppError> {
        self.modify_endpoint(id, |e, now| {
            e.deleted_at = Some(now);
            e.enabled = false;
        })
        .await
        .map(|_| ())
    }

    /// A new signing secret; the one it replaces still signs (beside it) for
    /// [`ROTATED_SECRET_GRACE`], older ones no more.
    pub async fn rotate_secret(&self, id: &WebhookEndpointId) -> Result<EndpointSaved, AppError> {
        let secret = new_secret()?;
        let endpoint = self
            .modify_endpoint(id, |e, now| {
                e.secrets.retain(|s| s.expires_at.is_none_or(|t| t > now));
                for s in &mut e.secrets {
                    let grace = now + ROTATED_SECRET_GRACE;
                    s.expires_at = Some(s.expires_at.map_or(grace, |t| t.min(grace)));
                }
                e.secrets.insert(
                    0,
                    SigningSecret {
                        secret: secret.clone(),
                        created_at: now,
                        expires_at: None,
                    },
                );
            })
            .await?;
        Ok(EndpointSaved {
            endpoint,
            created: false,
            secret: Some(secret),
        })
    }

    /// The endpoint's deliveries in the order they were made, after `after`.
    pub async fn list_deliveries(
        &self,
        id: &WebhookEndpointId,
        after: Option<&DeliveryPosition>,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>, AppError> {
        self.get_endpoint(id).await?;
        Ok(self.store.list_deliveries(id, after, limit).await?)
    }

    pub async fn get_delivery(&self, id: WebhookDeliveryId) -> Result<WebhookDelivery, AppError> {
        self.store
            .get_delivery(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("webhook delivery {id}")))
    }

    /// Sends a delivery again, from the first step of the retry schedule, with the same
    /// `webhook-id` and body: a finished one (Delivered or Failed) becomes Pending; a
    /// Pending one is queued again (the sender's lease keeps it to one attempt at a time).
    pub async fn redeliver(&self, id: WebhookDeliveryId) -> Result<WebhookDelivery, AppError> {
        for _ in 0..SAVE_ATTEMPTS {
            let mut d = self.get_delivery(id).await?;
            if d.status == WebhookDeliveryStatus::Pending {
                self.queue
                    .send(vec![Message::Webhook { delivery_id: d.id }])
                    .await?;
                return Ok(d);
            }
            d.status = WebhookDeliveryStatus::Pending;
            d.round_start = d.attempts.len();
            d.next_attempt_at = self.clock.now();
            d.lease_until = None;
            d.error = None;
            d.version += 1;
            if self.store.save_delivery(&d).await? {
                self.queue
                    .send(vec![Message::Webhook { delivery_id: d.id }])
                    .await?;
                return Ok(d);
            }
        }
        Err(lost_race(&format!("webhook delivery {id}")))
    }
}

/// The audit entry of an endpoint's change from `before` to `after` (the version it
/// writes makes its id). Signing secrets appear by when they were made and until when
/// they sign, never by value.
pub(crate) fn endpoint_change(
    before: Option<&WebhookEndpoint>,
    after: &WebhookEndpoint,
    time: chrono::DateTime<chrono::Utc>,
) -> crate::model::audit::AuditEvent {
    use crate::model::audit::{ConfigChange, ConfigVerb, ResourceKind};
    let audited = |e: &WebhookEndpoint| {
        serde_json::json!({
            "url": e.url,
            "events": e.events,
            "enabled": e.enabled,
            "description": e.description,
            "disabledReason": e.disabled_reason,
            "deletedAt": e.deleted_at,
            "signingSecrets": e.secrets.iter()
                .map(|s| serde_json::json!({ "createdAt": s.created_at, "expiresAt": s.expires_at }))
                .collect::<Vec<_>>(),
        })
    };
    let live_before = before.filter(|b| b.is_live());
    let mut change = ConfigChange::between(
        ResourceKind::WebhookEndpoint,
        after.id.to_string(),
        live_before.map(audited).as_ref(),
        Some(&audited(after)),
    );
    if after.deleted_at.is_some() {
        change = change.with_verb(ConfigVerb::Deleted);
    }
    change.entry(Some(after.version), crate::actor::current(), time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_whsec_and_32_random_bytes() {
        let a = new_secret().unwrap();
        let b = new_secret().unwrap();
        assert_ne!(a, b);
        let key = base64::engine::general_purpose::STANDARD
            .decode(a.strip_prefix("whsec_").unwrap())
            .unwrap();
        assert_eq!(key.len(), SECRET_BYTES);
    }
}
