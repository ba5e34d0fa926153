//! The audit trail: one entry per change of a run, a document or the configuration
//! (templates, schedules, webhook endpoints, the book), with who made it, when, and the
//! fields it changed. Entries are only ever added: no port method updates or deletes
//! one. A document's or a configuration item's change is recorded in the same atomic
//! write as the change; a run's change is projected from the event its write recorded
//! ([`super::events`]) by the dispatcher, under the event's id; a change of the book
//! (imports are not atomic themselves) is recorded once the change is stored.

use super::changes::field_changes;
pub use super::changes::FieldChange;
use super::events::{RunEvent, RunEventType};
use billrun_domain::document::DocumentStatus;
use billrun_domain::ids::{DocumentId, RunId};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// The UUID v5 namespace of the ids of document changes: (document, status) names one,
/// since a document enters each status at most once.
const DOCUMENT_CHANGE_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x8d2e_41c7_0b9a_4e53_a6f1_7c30_e95b_2d48);

/// How far back a listing without `since` reaches.
pub const DEFAULT_LOOKBACK: TimeDelta = TimeDelta::days(90);

/// The most entries one page lists.
pub const MAX_AUDIT_PAGE: usize = 500;

/// What kind of thing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ResourceKind {
    /// An invoice run (`/v1/invoice-runs/{id}`).
    Run,
    /// An invoice or credit memo (`/v1/invoices/{id}`).
    Document,
    /// A document template (`/v1/document-templates/{id}`).
    Template,
    /// An account's invoice schedule (`/v1/invoice-schedules/{id}`).
    InvoiceSchedule,
    /// A run schedule (`/v1/run-schedules/{id}`).
    RunSchedule,
    /// A webhook endpoint (`/v1/webhook-endpoints/{id}`).
    WebhookEndpoint,
    /// An account of the book (its entries name the fields that changed, not their
    /// values: an account holds personal data the trail does not copy).
    Account,
    /// A subscription of the book.
    Subscription,
    /// The book as a whole: an import, a batch of usage or adjustments (the entry
    /// counts what was stored; the records are in the book).
    Book,
}

impl ResourceKind {
    /// The configuration kinds: their entries belong to no run.
    pub fn is_configuration(self) -> bool {
        !matches!(self, ResourceKind::Run | ResourceKind::Document)
    }
}

/// One change, as the audit trail keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// Stable: recording the same change again finds this entry and adds nothing.
    pub id: uuid::Uuid,
    pub time: DateTime<Utc>,
    /// The change's place among those of one write, which share their time (an
    /// Immediate run's `run.created` and `run.started`): listings order by (time, seq,
    /// id).
    #[serde(default)]
    pub seq: u32,
    /// Who made the change (a token's name, a JWT's `sub`, an IAM ARN); absent for the
    /// system's own work (queue workers, the scheduler).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    pub resource_kind: ResourceKind,
    /// The resource's id (a run's, a document's, a template's, …).
    pub resource_id: String,
    /// The run the resource is or belongs to (none for configuration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<RunId>,
    /// What was done: a run event's type (`run.posted`), `document.<status>`, or
    /// `<resource>.<verb>` for configuration (`template.updated`).
    pub action: String,
    pub changes: Vec<FieldChange>,
}

/// Where a listing stands: entries are listed by (time, seq, id).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AuditPosition {
    pub time: DateTime<Utc>,
    #[serde(default)]
    pub seq: u32,
    pub id: uuid::Uuid,
}

/// Which entries a listing keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFilter {
    /// A resource's id: a run's (its own changes and its documents'), a document's, a
    /// configuration item's.
    pub resource: Option<String>,
    /// Only this actor's changes.
    pub actor: Option<String>,
    /// Only changes at or after this time.
    pub since: DateTime<Utc>,
}

impl AuditFilter {
    pub fn keeps(&self, e: &AuditEvent) -> bool {
        e.time >= self.since
            && self.resource.as_deref().is_none_or(|r| {
                e.resource_id == r || e.run_id.is_some_and(|run| run.0.to_string() == r)
            })
            && self
                .actor
                .as_deref()
                .is_none_or(|a| e.actor.as_deref() == Some(a))
    }
}

impl AuditEvent {
    pub fn position(&self) -> AuditPosition {
        AuditPosition {
            time: self.time,
            seq: self.seq,
            id: self.id,
        }
    }

    /// The entry of a run's event: the run's status before and after (under the
    /// event's id, so that projecting the event again adds nothing).
    pub fn of_run_event(run: RunId, event: &RunEvent) -> AuditEvent {
        let mut changes = Vec::new();
        if event.event_type.is_lifecycle() {
            changes.push(FieldChange {
                field: "status".into(),
                before: event.previous_status.map(|s| format!("{s:?}")),
                after: Some(format!("{:?}", event.status)),
            });
        }
        changes.extend(event.changes.iter().cloned());
        if let Some(request) = event.request_id {
            changes.push(FieldChange {
                field: "requestId".into(),
                before: None,
                after: Some(request.to_string()),
            });
        }
        AuditEvent {
            id: event.id,
            time: event.time,
            // Lifecycle order: one write's events (created, started) list in it.
            seq: RunEventType::ALL
                .iter()
                .position(|t| *t == event.event_type)
                .map_or(0, |i| i as u32),
            actor: event.actor.clone(),
            resource_kind: ResourceKind::Run,
            resource_id: run.0.to_string(),
            run_id: Some(run),
            action: billrun_domain::export::wire_name(&event.event_type),
            changes,
        }
    }

    /// The entry of document `id` (of `run`) moving from `before` to `after`.
    pub fn of_document_status(
        id: DocumentId,
        run: RunId,
        before: DocumentStatus,
        after: DocumentStatus,
        actor: Option<&str>,
        time: DateTime<Utc>,
    ) -> AuditEvent {
        let action = format!("document.{}", status_word(after));
        document_entry(id, run, action, Some(before), after, actor, time, 0)
    }
}

impl AuditEvent {
    /// The entry of document `id` (of `run`) created by a correction in `status` (a
    /// void's credit memo): `document.created`, its status after. A document enters
    /// existence once, so (document, created) names the entry.
    pub fn of_document_created(
        id: DocumentId,
        run: RunId,
        status: DocumentStatus,
        actor: Option<&str>,
        time: DateTime<Utc>,
    ) -> AuditEvent {
        // After the voided invoice's own entry in the same write.
        let action = "document.created".to_string();
        document_entry(id, run, action, None, status, actor, time, 1)
    }
}

/// The entry of document `id` (of `run`) doing `action`, its status from `before` to
/// `after`, under the id (document, action) names.
#[allow(clippy::too_many_arguments)]
fn document_entry(
    id: DocumentId,
    run: RunId,
    action: String,
    before: Option<DocumentStatus>,
    after: DocumentStatus,
    actor: Option<&str>,
    time: DateTime<Utc>,
    seq: u32,
) -> AuditEvent {
    let name = format!("{id}/{action}");
    AuditEvent {
        id: uuid::Uuid::new_v5(&DOCUMENT_CHANGE_NAMESPACE, name.as_bytes()),
        time,
        seq,
        actor: actor.map(str::to_string),
        resource_kind: ResourceKind::Document,
        resource_id: id.0.to_string(),
        run_id: Some(run),
        action,
        changes: vec![FieldChange {
            field: "status".into(),
            before: before.map(|b| format!("{b:?}")),
            after: Some(format!("{after:?}")),
        }],
    }
}

/// The UUID v5 namespace of the ids of configuration changes of versioned items: (kind,
/// item, version) names one, since each version is written once.
const CONFIGURATION_CHANGE_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x3f6b_9c12_7e4d_4a0b_b5e8_21d9_60c7_f31a);

/// What a configuration change did, for its action (`template.updated`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigVerb {
    Created,
    Updated,
    Deleted,
    Activated,
    Imported,
}

impl ConfigVerb {
    fn word(self) -> &'static str {
        match self {
            ConfigVerb::Created => "created",
            ConfigVerb::Updated => "updated",
            ConfigVerb::Deleted => "deleted",
            ConfigVerb::Activated => "activated",
            ConfigVerb::Imported => "imported",
        }
    }
}

/// The entry of a configuration change, before it is stored with the change.
#[derive(Debug, Clone)]
pub struct ConfigChange {
    pub kind: ResourceKind,
    pub id: String,
    pub verb: ConfigVerb,
    pub changes: Vec<FieldChange>,
}

impl ConfigChange {
    /// The change from `before` to `after` (absent: the item did not or no longer
    /// exists), field by field over their JSON forms; `Updated` unless one is absent.
    pub fn between<T: Serialize>(
        kind: ResourceKind,
        id: impl Into<String>,
        before: Option<&T>,
        after: Option<&T>,
    ) -> ConfigChange {
        let verb = match (before, after) {
            (None, _) => ConfigVerb::Created,
            (Some(_), None) => ConfigVerb::Deleted,
            (Some(_), Some(_)) => ConfigVerb::Updated,
        };
        ConfigChange {
            kind,
            id: id.into(),
            verb,
            changes: field_changes(
                before.and_then(|b| serde_json::to_value(b).ok()),
                after.and_then(|a| serde_json::to_value(a).ok()),
            ),
        }
    }

    pub fn with_verb(mut self, verb: ConfigVerb) -> ConfigChange {
        self.verb = verb;
        self
    }

    /// The same change naming its fields only (personal data stays out of the trail).
    pub fn without_values(mut self) -> ConfigChange {
        for c in &mut self.changes {
            c.before = None;
            c.after = None;
        }
        self
    }

    /// The change of the book as a whole: how many of each kind of record it stored.
    pub fn of_book(counts: &[(&str, usize)]) -> ConfigChange {
        ConfigChange {
            kind: ResourceKind::Book,
            id: "book".into(),
            verb: ConfigVerb::Imported,
            changes: counts
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(field, n)| FieldChange {
                    field: (*field).to_string(),
                    before: None,
                    after: Some(n.to_string()),
                })
                .collect(),
        }
    }

    /// The entry, made by the request's actor at `time`. `version` (of a versioned
    /// item: the version this change writes) makes the id stable, so that the same
    /// write repeated finds its entry, and orders the item's changes made within one
    /// instant; an unversioned item's every write is a change of its own (a fresh id).
    pub fn entry(
        self,
        version: Option<u64>,
        actor: Option<String>,
        time: DateTime<Utc>,
    ) -> AuditEvent {
        let action = format!("{}.{}", kind_word(self.kind), self.verb.word());
        let id = match version {
            Some(v) => {
                let name = format!("{}/{}/{v}", kind_word(self.kind), self.id);
                uuid::Uuid::new_v5(&CONFIGURATION_CHANGE_NAMESPACE, name.as_bytes())
            }
            None => uuid::Uuid::new_v4(),
        };
        AuditEvent {
            id,
            time,
            seq: version.map_or(0, |v| u32::try_from(v).unwrap_or(u32::MAX)),
            actor,
            resource_kind: self.kind,
            resource_id: self.id,
            run_id: None,
            action,
            changes: self.changes,
        }
    }
}

/// The wire word of a resource kind (`invoiceSchedule`), as its serde name.
fn kind_word(kind: ResourceKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The action word of a document entering `status` (`document.approved`).
fn status_word(status: DocumentStatus) -> String {
    format!("{status:?}").to_lowercase()
}

/// Whether a run event becomes an audit entry: every change a caller or the system
/// made to the run, not the per-document pages derived from them.
pub fn audited(event_type: RunEventType) -> bool {
    !event_type.is_per_document()
}
