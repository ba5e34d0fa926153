//! Events leave billrun here. [`Dispatcher::dispatch`] reads the events a run's write
//! recorded (the outbox on the run, `crate::model::events`) and hands each to the event
//! bus and to one delivery per subscribed webhook endpoint; [`Dispatcher::send`] makes a
//! delivery's attempts, with retries on the schedule and the endpoint disabled after
//! sustained failure.
//!
//! Exactly once, in parts: a delivery's id is a UUID v5 of (event, endpoint) and is
//! created conditionally, so a dispatcher that runs twice (a retried stream batch, a
//! duplicate message) makes it once; an attempt is claimed with a lease on the
//! delivery's version, so two senders do not both send; a receiver sees a repeat only
//! when an attempt's result could not be recorded (a crash after the request), with the
//! same `webhook-id`. The bus is at least once (EventBridge itself is): an entry
//! carries the event's id to deduplicate on. docs/events/README.md.

use crate::error::AppError;
use crate::model::audit::{audited, AuditEvent};
use crate::model::document_events::DocumentBatch;
use crate::model::events::{EventEnvelope, RunEvent, RunEventType};
use crate::model::webhooks::*;
use crate::model::Message;
use crate::ports::*;
use crate::queries::Queries;
use billrun_domain::ids::{RunId, WebhookDeliveryId, WebhookEndpointId};
use chrono::{DateTime, TimeDelta, Utc};
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// The longest delay a queue message can carry (SQS's 15 minutes): a later retry
/// hops through messages of at most this delay.
pub const MAX_MESSAGE_DELAY: Duration = Duration::from_secs(900);

use crate::webhooks::SAVE_ATTEMPTS;

/// How sending behaves.
#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// The waits before each retry ([`DEFAULT_RETRY_SCHEDULE`]).
    pub retry: Vec<Duration>,
    /// How long an attempt holds its delivery: above the sender's timeout.
    pub lease: Duration,
    /// An endpoint whose deliveries have all failed for this long, one of them through
    /// its whole retry schedule, is disabled.
    pub disable_after: TimeDelta,
    /// Whether per-document events go to the bus too (webhook endpoints ask for them
    /// by name).
    pub bus_document_events: bool,
    /// Documents per per-document event, and pages of them a message makes
    /// ([`crate::model::document_events::DOCUMENTS_PER_EVENT`], `PAGES_PER_MESSAGE`).
    pub documents_per_event: usize,
    pub pages_per_message: u32,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            retry: DEFAULT_RETRY_SCHEDULE.to_vec(),
            lease: Duration::from_secs(60),
            disable_after: TimeDelta::hours(24),
            bus_document_events: false,
            documents_per_event: crate::model::document_events::DOCUMENTS_PER_EVENT,
            pages_per_message: crate::model::document_events::PAGES_PER_MESSAGE,
        }
    }
}

/// Hands events to the bus and the webhook endpoints, and sends deliveries.
pub struct Dispatcher {
    pub runs: Arc<dyn RunStore>,
    /// Where each run event is projected as an audit entry.
    pub audit: Arc<dyn AuditLog>,
    pub queries: Queries,
    pub store: Arc<dyn WebhookStore>,
    /// Read for per-document events.
    pub documents: Arc<dyn DocumentStore>,
    pub deliveries: Option<Arc<dyn DeliveryStore>>,
    pub sender: Arc<dyn WebhookSender>,
    pub bus: Option<Arc<dyn EventBus>>,
    pub queue: Arc<dyn WorkQueue>,
    pub clock: Arc<dyn Clock>,
    pub config: DispatchConfig,
}

fn to_delay(d: TimeDelta) -> Duration {
    d.to_std().unwrap_or(Duration::ZERO)
}

fn since(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

impl Dispatcher {
    /// Dispatches the run's events written at the versions given (a write's, or a span
    /// of writes'; later writes dispatch their own): each to the bus (when the
    /// composition has one) and to every endpoint that wants it. Safe to run again for
    /// the same write: deliveries made before are found, and queued again while
    /// Pending (a previous run may have stopped before queuing them).
    pub async fn dispatch(
        &self,
        run_id: RunId,
        versions: std::ops::RangeInclusive<u64>,
    ) -> Result<usize, AppError> {
        let Some(run) = self.runs.get_run(run_id).await? else {
            warn!(run_id = %run_id, "events of an unknown run");
            return Ok(0);
        };
        // A preview's changes are no events of billing: nothing outside should act on a
        // dry run, and its deliveries would be items a preview must not write.
        if run.is_preview() {
            return Ok(0);
        }
        let events: Vec<RunEvent> = run
            .events
            .iter()
            .filter(|e| versions.contains(&e.version))
            .cloned()
            .collect();
        if events.is_empty() {
            return Ok(0);
        }
        // The audit entries first, under the events' ids: a dispatch that stops later
        // runs again and finds them.
        let entries: Vec<AuditEvent> = events
            .iter()
            .filter(|e| audited(e.event_type))
            .map(|e| AuditEvent::of_run_event(run_id, e))
            .collect();
        self.audit.record_audit(&entries).await?;
        let view = self.queries.view_of(run).await?;
        let envelopes: Vec<EventEnvelope> = events
            .iter()
            .map(|e| EventEnvelope::of(e, view.clone()))
            .collect();
        let endpoints = self.store.list_endpoints().await?;
        let mut queued = self.fan_out(&envelopes, &endpoints).await?;
        // The per-document events these imply, made page by page by messages of their
        // own where someone asked for them.
        let mut batches = Vec::new();
        for event in &events {
            let Some(batch) = DocumentBatch::implied_by(event) else {
                continue;
            };
            if self.documents_wanted(batch.event_type(), event.time, &endpoints) {
                batches.push(Message::DocumentEvents {
                    run_id: view.id,
                    batch,
                });
            }
        }
        if !batches.is_empty() {
            queued += batches.len();
            self.queue.send(batches).await?;
        }
        Ok(queued)
    }

    /// Whether anyone takes per-document events of `event_type` about a change made at
    /// `time`: an endpoint that names the type, or the bus where the deployment sends
    /// them there.
    pub(crate) fn documents_wanted(
        &self,
        event_type: RunEventType,
        time: DateTime<Utc>,
        endpoints: &[WebhookEndpoint],
    ) -> bool {
        (self.bus.is_some() && self.config.bus_document_events)
            || endpoints.iter().any(|e| e.wants(event_type, time))
    }

    /// Hands `envelopes` to the bus (a per-document one only where the deployment says
    /// so) and makes one delivery per (event, endpoint that wants it), queuing those
    /// still Pending. Safe to run again: a delivery made before is found.
    pub(crate) async fn fan_out(
        &self,
        envelopes: &[EventEnvelope],
        endpoints: &[WebhookEndpoint],
    ) -> Result<usize, AppError> {
        if let Some(bus) = &self.bus {
            let on_bus: Vec<EventEnvelope> = envelopes
                .iter()
                .filter(|e| self.config.bus_document_events || !e.event_type.is_per_document())
                .cloned()
                .collect();
            if !on_bus.is_empty() {
                bus.publish(&on_bus).await?;
            }
        }
        let mut messages = Vec::new();
        for envelope in envelopes {
            let mut payload = None;
            for endpoint in endpoints
                .iter()
                .filter(|e| e.wants(envelope.event_type, envelope.timestamp))
            {
                // The body, serialized once per event whatever its endpoints.
                let body =
                    match &payload {
                        Some(body) => body,
                        None => payload.insert(serde_json::to_string(envelope).map_err(|e| {
                            AppError::internal(format!("event {}: {e}", envelope.id))
                        })?),
                    };
                let delivery = self.new_delivery(envelope, body.clone(), &endpoint.id);
                let pending = if self.store.create_delivery(&delivery).await? {
                    true
                } else {
                    self.store
                        .get_delivery(delivery.id)
                        .await?
                        .is_some_and(|d| d.status == WebhookDeliveryStatus::Pending)
                };
                if pending {
                    messages.push(Message::Webhook {
                        delivery_id: delivery.id,
                    });
                }
            }
        }
        let queued = messages.len();
        if !messages.is_empty() {
            self.queue.send(messages).await?;
        }
        Ok(queued)
    }

    fn new_delivery(
        &self,
        event: &EventEnvelope,
        payload: String,
        endpoint: &WebhookEndpointId,
    ) -> WebhookDelivery {
        let now = self.clock.now();
        WebhookDelivery {
            id: WebhookDelivery::id_of(event.id, endpoint),
            endpoint_id: endpoint.clone(),
            event_id: event.id,
            event_type: event.event_type,
            run_id: event.data.run_id(),
            payload,
            status: WebhookDeliveryStatus::Pending,
            attempts: Vec::new(),
            round_start: 0,
            next_attempt_at: now,
            lease_until: None,
            error: None,
            created_at: now,
            version: 1,
        }
    }

    /// Makes the delivery's next attempt when it is due (queuing it again for later when
    /// not), and records the result: Delivered on a 2xx; else the next retry, or Failed
    /// once the schedule is spent.
    pub async fn send(&self, id: WebhookDeliveryId) -> Result<(), AppError> {
        let Some(mut d) = self.store.get_delivery(id).await? else {
            warn!(delivery_id = %id, "a message of an unknown webhook delivery");
            return Ok(());
        };
        let now = self.clock.now();
        if d.status != WebhookDeliveryStatus::Pending {
            return Ok(());
        }
        // Held by an attempt under way, or not due: this message comes back when the
        // lease or the wait is over (an attempt that died with its lease, or whose
        // result could not be stored, is then made again).
        let not_before = match d.lease_until {
            Some(lease) if lease > now => lease.max(d.next_attempt_at),
            _ => d.next_attempt_at,
        };
        if not_before > now {
            let wait = to_delay(not_before - now).min(MAX_MESSAGE_DELAY);
            self.queue
                .send_after(vec![Message::Webhook { delivery_id: id }], wait)
                .await?;
            return Ok(());
        }
        let endpoint = self.store.get_endpoint(&d.endpoint_id).await?;
        let endpoint = match endpoint {
            Some(e) if e.is_live() && e.enabled => e,
            other => {
                let why = match other {
                    Some(e) if e.is_live() => "its endpoint is disabled",
                    _ => "its endpoint was deleted",
                };
                d.status = WebhookDeliveryStatus::Failed;
                d.error = Some(why.to_string());
                d.version += 1;
                self.store.save_delivery(&d).await?;
                return Ok(());
            }
        };
        // The claim: one attempt at a time, whoever else holds a message of it.
        d.lease_until = Some(now + since(self.config.lease));
        d.version += 1;
        if !self.store.save_delivery(&d).await? {
            return Ok(());
        }
        let request = OutgoingWebhook {
            url: endpoint.url.clone(),
            message_id: d.event_id.to_string(),
            timestamp: now,
            body: d.payload.clone(),
            secrets: endpoint.signing_secrets(now),
        };
        let started = std::time::Instant::now();
        let answer = self.sender.send(&request).await;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let attempt = match answer {
            Ok(r) => WebhookAttempt {
                at: now,
                status_code: Some(r.status),
                latency_ms,
                error: None,
                response: (!r.excerpt.is_empty()).then_some(r.excerpt),
            },
            Err(e) => WebhookAttempt {
                at: now,
                status_code: None,
                latency_ms,
                error: Some(e.to_string()),
                response: None,
            },
        };
        self.record(d, attempt, &endpoint.id).await
    }

    async fn record(
        &self,
        mut d: WebhookDelivery,
        attempt: WebhookAttempt,
        endpoint: &WebhookEndpointId,
    ) -> Result<(), AppError> {
        let ok = attempt.succeeded();
        let at = attempt.at;
        let summary = match (attempt.status_code, &attempt.error) {
            (Some(code), _) => format!("HTTP {code}"),
            (None, Some(e)) => e.clone(),
            (None, None) => "no answer".into(),
        };
        d.record(attempt);
        d.lease_until = None;
        d.version += 1;
        let tries = d.attempts_this_round();
        let retry = if ok {
            d.status = WebhookDeliveryStatus::Delivered;
            None
        } else if let Some(wait) = self.config.retry.get(tries.saturating_sub(1)) {
            d.next_attempt_at = at + since(*wait);
            Some(*wait)
        } else {
            d.status = WebhookDeliveryStatus::Failed;
            d.error = Some(format!("{tries} attempts failed; the last: {summary}"));
            None
        };
        if !self.store.save_delivery(&d).await? {
            // Another writer moved it (a redelivery by hand): theirs stands.
            return Ok(());
        }
        info!(delivery_id = %d.id, endpoint = %endpoint, ok, attempt = tries, "webhook attempt");
        if let Some(wait) = retry {
            self.queue
                .send_after(
                    vec![Message::Webhook { delivery_id: d.id }],
                    wait.min(MAX_MESSAGE_DELAY),
                )
                .await?;
        }
        let first_of_round = d.attempts.get(d.round_start).map(|a| a.at).unwrap_or(at);
        self.note_health(endpoint, ok, at, first_of_round, &d).await
    }

    /// Keeps the endpoint's failure record: a success clears it; a failure starts it; a
    /// delivery that spent its schedule while nothing succeeded for
    /// [`DispatchConfig::disable_after`] disables the endpoint, with the reason.
    async fn note_health(
        &self,
        id: &WebhookEndpointId,
        ok: bool,
        at: DateTime<Utc>,
        first_of_round: DateTime<Utc>,
        d: &WebhookDelivery,
    ) -> Result<(), AppError> {
        for _ in 0..SAVE_ATTEMPTS {
            let Some(mut e) = self.store.get_endpoint(id).await? else {
                return Ok(());
            };
            let before = e.clone();
            let exhausted = d.status == WebhookDeliveryStatus::Failed;
            let change = if ok {
                e.failing_since.take().is_some()
            } else {
                let newly = e.failing_since.is_none();
                let since = *e.failing_since.get_or_insert(at);
                let disable = exhausted
                    && e.enabled
                    && since <= first_of_round
                    && at - since >= self.config.disable_after;
                if disable {
                    e.enabled = false;
                    e.disabled_reason = Some(format!(
                        "disabled by billrun at {at}: every delivery failed since {since}, \
                         and delivery {} failed {} attempts",
                        d.id,
                        d.attempts_this_round()
                    ));
                    warn!(endpoint = %id, "webhook endpoint disabled after sustained failure");
                }
                newly || disable
            };
            if !change {
                return Ok(());
            }
            e.version += 1;
            // Disabling is a change the trail records (by the system); the failure
            // record alone is bookkeeping.
            let entry = crate::webhooks::endpoint_change(Some(&before), &e, at);
            let audit = (!entry.changes.is_empty()).then_some(&entry);
            if self.store.save_endpoint(&e, audit).await? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// A delivery message that will not be received again: the delivery fails with the
    /// reason (a redelivery by hand can send it again).
    pub async fn give_up(&self, id: WebhookDeliveryId, reason: &str) -> Result<(), AppError> {
        for _ in 0..SAVE_ATTEMPTS {
            let Some(mut d) = self.store.get_delivery(id).await? else {
                return Ok(());
            };
            if d.status != WebhookDeliveryStatus::Pending {
                return Ok(());
            }
            d.status = WebhookDeliveryStatus::Failed;
            d.error = Some(format!("given up: {reason}"));
            d.lease_until = None;
            d.version += 1;
            if self.store.save_delivery(&d).await? {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// The runs of a composition without a change stream (the local mode, tests): after
/// each write that recorded events, queues their dispatch ([`Message::Dispatch`]). A
/// process that stops between the write and the queue loses only the message: `serve`
/// dispatches every run's events again when it starts ([`Dispatcher::dispatch`] finds
/// what was made).
pub struct DispatchAfterWrite {
    pub inner: Arc<dyn RunStore>,
    pub queue: Arc<dyn WorkQueue>,
}

impl DispatchAfterWrite {
    async fn announce(&self, run: &crate::model::RunRecord) {
        if !run.events.iter().any(|e| e.version == run.version) {
            return;
        }
        let message = Message::Dispatch {
            run_id: run.id,
            from_version: run.version,
            through_version: Some(run.version),
        };
        if let Err(e) = self.queue.send(vec![message]).await {
            warn!(run_id = %run.id, error = %e, "cannot queue the dispatch of a run's events");
        }
    }
}

#[async_trait::async_trait]
impl RunStore for DispatchAfterWrite {
    async fn create_run(&self, run: crate::model::RunRecord) -> StoreResult<crate::model::Created> {
        let created = self.inner.create_run(run).await?;
        if let crate::model::Created::New(r) = &created {
            self.announce(r).await;
        }
        Ok(created)
    }

    async fn get_run(&self, id: RunId) -> StoreResult<Option<crate::model::RunRecord>> {
        self.inner.get_run(id).await
    }

    async fn update_run(&self, run: &crate::model::RunRecord) -> StoreResult<()> {
        self.inner.update_run(run).await?;
        self.announce(run).await;
        Ok(())
    }

    async fn counters(&self, id: RunId) -> StoreResult<billrun_domain::run::Counters> {
        self.inner.counters(id).await
    }

    async fn progress(&self, id: RunId) -> StoreResult<billrun_domain::run::Counters> {
        self.inner.progress(id).await
    }

    async fn add_progress(
        &self,
        id: RunId,
        added: &billrun_domain::run::Counters,
    ) -> StoreResult<()> {
        self.inner.add_progress(id, added).await
    }

    async fn outcome(
        &self,
        run: RunId,
        account: &billrun_domain::ids::AccountId,
    ) -> StoreResult<Option<crate::model::AccountOutcomeRecord>> {
        self.inner.outcome(run, account).await
    }

    async fn outcomes(
        &self,
        run: RunId,
        after: Option<&billrun_domain::ids::AccountId>,
        limit: usize,
    ) -> StoreResult<Vec<crate::model::AccountOutcomeRecord>> {
        self.inner.outcomes(run, after, limit).await
    }
}
