//! The audit trail: one entry per change of a run or a document, with who made it,
//! when, and the fields it changed. Entries are only ever added: no port method updates
//! or deletes one. A document's status change is recorded in the same atomic write as
//! the change; a run's change is projected from the event its write recorded
//! ([`super::events`]) by the dispatcher, under the event's id.

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
}

/// One field's value before and after a change (absent: the field had no value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
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
    /// The run's or the document's id.
    pub resource_id: uuid::Uuid,
    /// The run the resource is or belongs to.
    pub run_id: RunId,
    /// What was done: a run event's type (`run.posted`), or `document.<status>`.
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
    /// A run's id (its own changes and its documents') or a document's id.
    pub resource: Option<uuid::Uuid>,
    /// Only this actor's changes.
    pub actor: Option<String>,
    /// Only changes at or after this time.
    pub since: DateTime<Utc>,
}

impl AuditFilter {
    pub fn keeps(&self, e: &AuditEvent) -> bool {
        e.time >= self.since
            && self
                .resource
                .is_none_or(|r| e.resource_id == r || e.run_id.0 == r)
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
            resource_id: run.0,
            run_id: run,
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
        resource_id: id.0,
        run_id: run,
        action,
        changes: vec![FieldChange {
            field: "status".into(),
            before: before.map(|b| format!("{b:?}")),
            after: Some(format!("{after:?}")),
        }],
    }
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
