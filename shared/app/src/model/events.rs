//! Run events: what changed in a run's lifecycle, recorded on the run itself in the
//! same conditional write as the change (an outbox inside the item, so that no event is
//! stored without its change and no change without its event), with a stable id.

use super::RunRecord;
use billrun_domain::ids::RunId;
use billrun_domain::run::RunStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The UUID v5 namespace of event ids: (run, version, type) names one event.
const EVENT_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x3f1b_9c2e_77a4_4d0b_8e65_12c9_a0f4_d3e8);

/// The lifecycle transitions a run announces (`docs/events/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RunEventType {
    #[serde(rename = "run.created")]
    Created,
    /// The run's request changed (a PATCH: any field while Pending, `name` later).
    #[serde(rename = "run.updated")]
    Updated,
    /// Processing began (at creation for an Immediate run, on start, on a retry of
    /// failed accounts).
    #[serde(rename = "run.started")]
    Started,
    #[serde(rename = "run.completed")]
    Completed,
    #[serde(rename = "run.completed_with_errors")]
    CompletedWithErrors,
    #[serde(rename = "run.posted")]
    Posted,
    #[serde(rename = "run.canceled")]
    Canceled,
    #[serde(rename = "run.deleted")]
    Deleted,
    /// Every document of a PDF generation request has its result (generated or failed).
    #[serde(rename = "document_request.completed")]
    DocumentRequestCompleted,
    /// Every document of an email delivery request has its result (sent, skipped or
    /// failed).
    #[serde(rename = "delivery_request.completed")]
    DeliveryRequestCompleted,
    /// A page of a posted run's documents (opt-in, [`RunEventType::is_per_document`]).
    #[serde(rename = "documents.posted")]
    DocumentsPosted,
    /// A page of a completed delivery request's documents with each one's result.
    #[serde(rename = "documents.delivered")]
    DocumentsDelivered,
    /// An emailed document whose message the receiving side bounced.
    #[serde(rename = "documents.bounced")]
    DocumentsBounced,
}

impl RunEventType {
    /// Every type, in lifecycle order (docs/events/ has a schema for each).
    pub const ALL: [RunEventType; 13] = [
        RunEventType::Created,
        RunEventType::Updated,
        RunEventType::Started,
        RunEventType::Completed,
        RunEventType::CompletedWithErrors,
        RunEventType::Posted,
        RunEventType::Canceled,
        RunEventType::Deleted,
        RunEventType::DocumentRequestCompleted,
        RunEventType::DeliveryRequestCompleted,
        RunEventType::DocumentsPosted,
        RunEventType::DocumentsDelivered,
        RunEventType::DocumentsBounced,
    ];

    /// Whether the event is a change of the run's status (the others report work on
    /// the run's documents and leave its status as it was).
    pub fn is_lifecycle(self) -> bool {
        !matches!(
            self,
            RunEventType::Updated
                | RunEventType::DocumentRequestCompleted
                | RunEventType::DeliveryRequestCompleted
        ) && !self.is_per_document()
    }

    /// Whether the event reports on documents one by one (in pages): sent only where
    /// asked for by name (an endpoint listing the type, not `*`; the bus when the
    /// deployment says so), so that a million-account run does not make thousands of
    /// events nobody reads.
    pub fn is_per_document(self) -> bool {
        matches!(
            self,
            RunEventType::DocumentsPosted
                | RunEventType::DocumentsDelivered
                | RunEventType::DocumentsBounced
        )
    }
}

/// One event as recorded on its run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunEvent {
    /// Stable: the same transition recorded again (a retried write) has the same id.
    pub id: uuid::Uuid,
    #[serde(rename = "type")]
    pub event_type: RunEventType,
    /// When the change was made.
    pub time: DateTime<Utc>,
    /// The run's status after the change, and before it (none for `run.created`).
    pub status: RunStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_status: Option<RunStatus>,
    /// The run's version the change wrote.
    pub version: u64,
    /// Who made the change (a token's name, a JWT's `sub`, an IAM ARN); absent for the
    /// system's own (queue workers, the scheduler).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The document or delivery request a `*_request.completed` event reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<uuid::Uuid>,
    /// The request fields a `run.updated` changed, with their values before and after.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<super::changes::FieldChange>,
}

/// An event as it is sent to other systems: a webhook's body, an EventBridge entry's
/// `detail` (docs/events/event.v1.schema.json). The envelope is the Standard Webhooks
/// one (`type`, `timestamp`, `data`) with the event's id beside it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventEnvelope {
    pub id: uuid::Uuid,
    #[serde(rename = "type")]
    pub event_type: RunEventType,
    /// When the change was made.
    pub timestamp: DateTime<Utc>,
    pub data: EventBody,
}

/// The `data` of an event: a run's change, or a page of its documents.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EventBody {
    Run(Box<EventData>),
    Documents(super::document_events::DocumentsData),
}

impl EventBody {
    /// The run the event is about.
    pub fn run_id(&self) -> RunId {
        match self {
            EventBody::Run(d) => d.run_id,
            EventBody::Documents(d) => d.run_id,
        }
    }
}

/// What an event says: the transition, and the run as the API showed it when the
/// event was dispatched (moments after the change; its status may already be later
/// than the event's `status`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventData {
    pub run_id: RunId,
    pub run_number: String,
    pub status: RunStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_status: Option<RunStatus>,
    pub version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The request a `*_request.completed` event reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<uuid::Uuid>,
    pub run: super::RunView,
}

impl EventEnvelope {
    /// The envelope of `event`, with `run` as the API shows it now.
    pub fn of(event: &RunEvent, run: super::RunView) -> EventEnvelope {
        EventEnvelope {
            id: event.id,
            event_type: event.event_type,
            timestamp: event.time,
            data: EventBody::Run(Box::new(EventData {
                run_id: run.id,
                run_number: run.number.clone(),
                status: event.status,
                previous_status: event.previous_status,
                version: event.version,
                actor: event.actor.clone(),
                request_id: event.request_id,
                run,
            })),
        }
    }
}

/// The id of `event_type` written by `run` at `version`.
pub fn event_id(run: RunId, version: u64, event_type: RunEventType) -> uuid::Uuid {
    let name = format!(
        "{run}/{version}/{}",
        billrun_domain::export::wire_name(&event_type)
    );
    uuid::Uuid::new_v5(&EVENT_NAMESPACE, name.as_bytes())
}

/// The transitions from `before` (none: a new run) to `after`, in order.
pub fn transitions(before: Option<&RunRecord>, after: &RunRecord) -> Vec<RunEventType> {
    let mut out = Vec::new();
    let previous = before.map(|b| b.status);
    if before.is_none() {
        out.push(RunEventType::Created);
    }
    if before.is_some_and(|b| b.request != after.request) {
        out.push(RunEventType::Updated);
    }
    if previous != Some(after.status) {
        match after.status {
            RunStatus::Pending => {}
            RunStatus::Processing => out.push(RunEventType::Started),
            RunStatus::Completed => out.push(RunEventType::Completed),
            RunStatus::CompletedWithErrors => out.push(RunEventType::CompletedWithErrors),
            RunStatus::Posted => out.push(RunEventType::Posted),
            RunStatus::Canceled => out.push(RunEventType::Canceled),
        }
    }
    if after.deleted_at.is_some() && before.is_none_or(|b| b.deleted_at.is_none()) {
        out.push(RunEventType::Deleted);
    }
    out
}

impl RunRecord {
    /// Who made the run's latest change of `event_type`, if anyone did.
    pub fn actor_of(&self, event_type: RunEventType) -> Option<&str> {
        self.events
            .iter()
            .rev()
            .find(|e| e.event_type == event_type)
            .and_then(|e| e.actor.as_deref())
    }

    /// Records on the run the events of its change from `before` (none: a new run),
    /// at its current version, as of `time`: called right before the run is written.
    pub fn announce(&mut self, before: Option<&RunRecord>, time: DateTime<Utc>) {
        let previous = before.map(|b| b.status);
        let actor = crate::actor::current();
        for event_type in transitions(before, self) {
            let (status, previous_status) = match event_type {
                RunEventType::Created => (RunStatus::Pending, None),
                RunEventType::Started if before.is_none() => {
                    (self.status, Some(RunStatus::Pending))
                }
                RunEventType::Updated => (self.status, None),
                _ => (self.status, previous),
            };
            let changes = match (event_type, before) {
                (RunEventType::Updated, Some(b)) => super::changes::field_changes(
                    serde_json::to_value(&b.request).ok(),
                    serde_json::to_value(&self.request).ok(),
                ),
                _ => Vec::new(),
            };
            self.events.push(RunEvent {
                id: event_id(self.id, self.version, event_type),
                event_type,
                time,
                status,
                previous_status,
                version: self.version,
                actor: actor.clone(),
                request_id: None,
                changes,
            });
        }
    }

    /// Records, once, that `request` of the run completed (`event_type` a
    /// `*_request.completed`), at the run's current version; `false` when it is
    /// recorded already. Called right before the run is written.
    pub fn announce_request(
        &mut self,
        event_type: RunEventType,
        request: uuid::Uuid,
        time: DateTime<Utc>,
    ) -> bool {
        let id = request_event_id(request, event_type);
        if self.events.iter().any(|e| e.id == id) {
            return false;
        }
        self.events.push(RunEvent {
            id,
            event_type,
            time,
            status: self.status,
            previous_status: None,
            version: self.version,
            actor: None,
            request_id: Some(request),
            changes: Vec::new(),
        });
        true
    }
}

/// The id of `event_type` about `request`: one per request, however often its
/// completion is noticed.
pub fn request_event_id(request: uuid::Uuid, event_type: RunEventType) -> uuid::Uuid {
    let name = format!(
        "request/{request}/{}",
        billrun_domain::export::wire_name(&event_type)
    );
    uuid::Uuid::new_v5(&EVENT_NAMESPACE, name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::new_run_record;
    use billrun_domain::request::RunRequest;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn each_change_of_status_or_deletion_is_one_event_with_an_id_of_its_write() {
        let id = RunId(uuid::Uuid::new_v4());
        let mut run = new_run_record(
            id,
            RunRequest::for_target("2024-02-01".parse().unwrap()),
            None,
            at("2024-02-01T00:00:00Z"),
        );
        run.announce(None, at("2024-02-01T00:00:00Z"));
        let mut next = run.clone();
        next.version += 1;
        next.status = RunStatus::Processing;
        next.announce(Some(&run), at("2024-02-01T00:01:00Z"));
        // The same write computed again (a retry) names the same event.
        let mut again = run.clone();
        again.version += 1;
        again.status = RunStatus::Processing;
        again.announce(Some(&run), at("2024-02-01T00:02:00Z"));
        assert_eq!(next.events[1].id, again.events[1].id);
        let types: Vec<RunEventType> = next.events.iter().map(|e| e.event_type).collect();
        assert_eq!(types, [RunEventType::Created, RunEventType::Started]);
        // No change of status: no event.
        let mut same = next.clone();
        same.version += 1;
        same.plan.pages = 3;
        same.announce(Some(&next), at("2024-02-01T00:03:00Z"));
        assert_eq!(same.events, next.events);
        let mut deleted = same.clone();
        deleted.version += 1;
        deleted.status = RunStatus::Canceled;
        deleted.deleted_at = Some(at("2024-02-01T00:04:00Z"));
        assert_eq!(
            transitions(Some(&same), &deleted),
            [RunEventType::Canceled, RunEventType::Deleted]
        );
        let ids: std::collections::HashSet<uuid::Uuid> = RunEventType::ALL
            .iter()
            .map(|t| event_id(id, 7, *t))
            .collect();
        assert_eq!(ids.len(), RunEventType::ALL.len());
    }
}
