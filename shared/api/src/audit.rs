//! `/v1/audit-events`: the audit trail, every change of a run, a document or the
//! configuration with who made it (docs/api.md "Audit trail").

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{next_cursor, parse_instant, Params};
use crate::v1::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use billrun_app::model::audit::{AuditEvent, AuditPosition, FieldChange, ResourceKind};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// What changed, and where to read it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditResource {
    /// `run`, `document`, `template`, `invoiceSchedule`, `runSchedule`,
    /// `webhookEndpoint` or `book`.
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "run")]
    pub kind: ResourceKind,
    /// The resource's id (`book` for a change of the book as a whole: an import).
    pub id: String,
}

/// One field's value before and after the change (absent: it had none).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditChange {
    #[schema(example = "status")]
    pub field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// One entry of the audit trail.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventView {
    pub id: uuid::Uuid,
    pub time: DateTime<Utc>,
    /// Who made the change (a `serve` token's name, a JWT's `sub`, an IAM principal's
    /// ARN); null for the system's own work (queue workers, the scheduler).
    pub actor: Option<String>,
    pub resource: AuditResource,
    /// The run the resource is or belongs to; null for configuration.
    pub run_id: Option<uuid::Uuid>,
    /// A run event's type (`run.created`, `run.posted`, …), `document.approved`,
    /// `document.posted`, or a configuration change (`template.updated`,
    /// `webhookEndpoint.created`, `book.imported`, …).
    #[schema(example = "run.posted")]
    pub action: String,
    pub changes: Vec<AuditChange>,
}

impl From<FieldChange> for AuditChange {
    fn from(c: FieldChange) -> Self {
        AuditChange {
            field: c.field,
            before: c.before,
            after: c.after,
        }
    }
}

impl From<AuditEvent> for AuditEventView {
    fn from(e: AuditEvent) -> Self {
        AuditEventView {
            id: e.id,
            time: e.time,
            actor: e.actor,
            resource: AuditResource {
                kind: e.resource_kind,
                id: e.resource_id,
            },
            run_id: e.run_id.map(|r| r.0),
            action: e.action,
            changes: e.changes.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventList {
    pub items: Vec<AuditEventView>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/audit-events", tag = "audit",
    params(
        ("resource" = Option<String>, Query, description = "A run's id (its changes and its documents'), a document's id, or a configuration item's id (`book` for imports)"),
        ("actor" = Option<String>, Query, description = "Only this actor's changes"),
        ("since" = Option<String>, Query, description = "Inclusive, RFC 3339; default 90 days before now"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
        ("limit" = Option<usize>, Query, description = "1 to 1000, default 100")),
    responses(
        (status = 200, description = "Changes in the order they were made, each with its actor and the fields it changed", body = AuditEventList),
        (status = 400, description = "A bad parameter (named)", body = ErrorBody)))]
pub async fn list(State(app): AppState, params: Params) -> ApiResult<Response> {
    params.only(&["resource", "actor", "since", "cursor", "limit"])?;
    let resource = params.parse("resource", |v| match v.chars().count() {
        1..=256 => Ok(v.to_string()),
        _ => Err("must be a resource's id, 1 to 256 characters".into()),
    })?;
    let actor = params.parse("actor", |v| match v.chars().count() {
        1..=512 => Ok(v.to_string()),
        _ => Err("must be 1 to 512 characters".into()),
    })?;
    let since = params.parse("since", parse_instant)?;
    let limit = params.limit()?;
    let after: Option<AuditPosition> = params.cursor()?;
    let page = app
        .audit()
        .list(resource, actor, since, after.as_ref(), limit)
        .await?;
    let next_cursor = next_cursor(&page, limit, AuditEvent::position);
    Ok(Json(AuditEventList {
        items: page.into_iter().map(Into::into).collect(),
        next_cursor,
    })
    .into_response())
}
