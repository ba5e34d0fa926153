//! `/v1/webhook-endpoints` and `/v1/webhook-deliveries`: receivers of run events
//! (Standard Webhooks; docs/events/README.md), their signing secrets, and the log of
//! what was sent to them.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{next_cursor, path_id, uuid_id, JsonBody, Params, Path};
use crate::v1::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use billrun_app::model::webhooks::{
    DeliveryPosition, EventPattern, WebhookAttempt, WebhookDelivery, WebhookEndpoint,
};
use billrun_app::webhooks::{EndpointSaved, EndpointSpec};
use billrun_app::AppError;
use billrun_domain::error::FieldError;
use billrun_domain::ids::{WebhookDeliveryId, WebhookEndpointId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Longest description kept.
const MAX_DESCRIPTION: usize = 500;

/// What a client sets on an endpoint.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookEndpointBody {
    /// `https`, to a public address (checked again, resolved, at every delivery).
    // A reserved name (RFC 2606) that resolves nowhere: tools that send the example
    // (schemathesis) reach no one.
    #[schema(example = "https://hooks.example.invalid/billrun")]
    pub url: String,
    /// Event types (docs/events/), or `["*"]` for every type but the per-document
    /// ones (`documents.posted`, `documents.delivered`, `documents.bounced`), which an
    /// endpoint receives only by naming them.
    #[schema(value_type = Vec<String>, example = json!(["run.completed", "run.posted"]))]
    pub events: Vec<EventPattern>,
    /// Default true.
    pub enabled: Option<bool>,
    pub description: Option<String>,
}

/// A webhook endpoint. `secret` is shown once: in the answer to its creation and to
/// each rotation.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpointView {
    pub id: String,
    pub url: String,
    #[schema(value_type = Vec<String>)]
    pub events: Vec<EventPattern>,
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Why billrun disabled it (sustained failure); PUT with `enabled: true` clears it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// The first failed attempt since the last success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the current signing secret was made (at creation, or its last rotation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_created_at: Option<DateTime<Utc>>,
    /// Until when the last rotated-out secret signs beside the current one (a time
    /// that may have passed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// `whsec_` and base64: the signing secret, only in the answer that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl WebhookEndpointView {
    fn of(e: WebhookEndpoint, secret: Option<String>) -> Self {
        // The current secret is first; the rotated-out ones follow, newest first.
        let secret_created_at = e.secrets.first().map(|s| s.created_at);
        let previous_secret_expires_at =
            e.secrets.iter().skip(1).filter_map(|s| s.expires_at).max();
        WebhookEndpointView {
            secret_created_at,
            previous_secret_expires_at,
            id: e.id.to_string(),
            url: e.url,
            events: e.events,
            enabled: e.enabled,
            description: e.description,
            disabled_reason: e.disabled_reason,
            failing_since: e.failing_since,
            created_at: e.created_at,
            updated_at: e.updated_at,
            secret,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct WebhookEndpointList {
    pub items: Vec<WebhookEndpointView>,
}

/// One attempt of a delivery.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAttemptView {
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status; absent when none came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The start of the receiver's answer (at most 256 bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
}

impl From<WebhookAttempt> for WebhookAttemptView {
    fn from(a: WebhookAttempt) -> Self {
        WebhookAttemptView {
            at: a.at,
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            error: a.error,
            response: a.response,
        }
    }
}

/// The delivery of one event to one endpoint.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDeliveryView {
    pub id: uuid::Uuid,
    pub endpoint_id: String,
    /// The `webhook-id` of every attempt.
    pub event_id: uuid::Uuid,
    #[schema(value_type = String)]
    pub event_type: billrun_app::model::events::RunEventType,
    pub run_id: uuid::Uuid,
    /// Pending, Delivered or Failed.
    #[schema(value_type = String)]
    pub status: billrun_app::model::webhooks::WebhookDeliveryStatus,
    /// While Pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub attempts: Vec<WebhookAttemptView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<WebhookDelivery> for WebhookDeliveryView {
    fn from(d: WebhookDelivery) -> Self {
        use billrun_app::model::webhooks::WebhookDeliveryStatus::Pending;
        WebhookDeliveryView {
            id: d.id.0,
            endpoint_id: d.endpoint_id.to_string(),
            event_id: d.event_id,
            event_type: d.event_type,
            run_id: d.run_id.0,
            next_attempt_at: (d.status == Pending).then_some(d.next_attempt_at),
            status: d.status,
            attempts: d.attempts.into_iter().map(Into::into).collect(),
            error: d.error,
            created_at: d.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDeliveryList {
    pub items: Vec<WebhookDeliveryView>,
    pub next_cursor: Option<String>,
}

fn endpoint_id(raw: &str) -> ApiResult<WebhookEndpointId> {
    path_id("id", raw, |s| WebhookEndpointId::parse(s))
}

fn saved(s: EndpointSaved) -> Response {
    let status = if s.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, Json(WebhookEndpointView::of(s.endpoint, s.secret))).into_response()
}

#[utoipa::path(put, path = "/v1/webhook-endpoints/{id}", tag = "events",
    params(("id" = String, Path, description = "Endpoint id (chosen by the client)")),
    request_body = WebhookEndpointBody,
    responses(
        (status = 201, description = "Created; the answer carries the signing secret, shown this once", body = WebhookEndpointView),
        (status = 200, description = "Replaced (the secret is kept and not shown; enabling an endpoint billrun disabled clears the reason)", body = WebhookEndpointView),
        (status = 400, description = "Invalid (`field` names it): a URL that is not https or points at a loopback, private, link-local or metadata address; no or unknown event types", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)))]
pub async fn put_endpoint(
    State(app): AppState,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let id = endpoint_id(&id)?;
    let body: WebhookEndpointBody =
        billrun_domain::error::parse_json(&body).map_err(AppError::Validation)?;
    if body
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
    {
        return Err(AppError::Validation(FieldError::new(
            "description",
            format!("must be at most {MAX_DESCRIPTION} characters"),
        ))
        .into());
    }
    let spec = EndpointSpec {
        url: body.url,
        events: body.events,
        enabled: body.enabled.unwrap_or(true),
        description: body.description,
    };
    Ok(saved(app.webhooks().put_endpoint(&id, spec).await?))
}

#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}", tag = "events",
    params(("id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 200, description = "The endpoint (without its secret)", body = WebhookEndpointView),
        (status = 400, description = "Not an id", body = ErrorBody),
        (status = 404, description = "Unknown or deleted", body = ErrorBody)))]
pub async fn get_endpoint(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let e = app.webhooks().get_endpoint(&endpoint_id(&id)?).await?;
    Ok(Json(WebhookEndpointView::of(e, None)).into_response())
}

#[utoipa::path(get, path = "/v1/webhook-endpoints", tag = "events",
    responses((status = 200, description = "Every endpoint, in id order (without secrets)", body = WebhookEndpointList)))]
pub async fn list_endpoints(State(app): AppState) -> ApiResult<Response> {
    let items = app
        .webhooks()
        .list_endpoints()
        .await?
        .into_iter()
        .map(|e| WebhookEndpointView::of(e, None))
        .collect();
    Ok(Json(WebhookEndpointList { items }).into_response())
}

#[utoipa::path(delete, path = "/v1/webhook-endpoints/{id}", tag = "events",
    params(("id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 204, description = "Deleted: it receives nothing more, its pending deliveries fail"),
        (status = 400, description = "Not an id", body = ErrorBody),
        (status = 404, description = "Unknown or deleted", body = ErrorBody)))]
pub async fn delete_endpoint(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    app.webhooks().delete_endpoint(&endpoint_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(post, path = "/v1/webhook-endpoints/{id}/rotate-secret", tag = "events",
    params(("id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 200, description = "A new secret, shown this once; the previous one still signs beside it for 24 hours", body = WebhookEndpointView),
        (status = 400, description = "Not an id", body = ErrorBody),
        (status = 404, description = "Unknown or deleted", body = ErrorBody)))]
pub async fn rotate_secret(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(saved(
        app.webhooks().rotate_secret(&endpoint_id(&id)?).await?,
    ))
}

#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}/deliveries", tag = "events",
    params(("id" = String, Path, description = "Endpoint id"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
        ("limit" = Option<usize>, Query, description = "1 to 1000, default 100")),
    responses(
        (status = 200, description = "The endpoint's deliveries in the order they were made, each with its attempts (status codes, latency)", body = WebhookDeliveryList),
        (status = 400, description = "A bad parameter (named)", body = ErrorBody),
        (status = 404, description = "Unknown or deleted endpoint", body = ErrorBody)))]
pub async fn list_deliveries(
    State(app): AppState,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    params.only(&["cursor", "limit"])?;
    let id = endpoint_id(&id)?;
    let limit = params.limit()?;
    let after: Option<DeliveryPosition> = params.cursor()?;
    let page = app
        .webhooks()
        .list_deliveries(&id, after.as_ref(), limit)
        .await?;
    let next_cursor = next_cursor(&page, limit, DeliveryPosition::of);
    Ok(Json(WebhookDeliveryList {
        items: page.into_iter().map(Into::into).collect(),
        next_cursor,
    })
    .into_response())
}

#[utoipa::path(get, path = "/v1/webhook-deliveries/{id}", tag = "events",
    params(("id" = uuid::Uuid, Path, description = "Delivery id")),
    responses(
        (status = 200, description = "The delivery, with its attempts", body = WebhookDeliveryView),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "Unknown delivery", body = ErrorBody)))]
pub async fn get_delivery(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let id: WebhookDeliveryId = uuid_id(&id)?;
    let d = app.webhooks().get_delivery(id).await?;
    Ok(Json(WebhookDeliveryView::from(d)).into_response())
}

#[utoipa::path(post, path = "/v1/webhook-deliveries/{id}/redeliver", tag = "events",
    params(("id" = uuid::Uuid, Path, description = "Delivery id")),
    responses(
        (status = 202, description = "Queued again with the same webhook-id and body, from the first step of the retry schedule", body = WebhookDeliveryView),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "Unknown delivery", body = ErrorBody)))]
pub async fn redeliver(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let id: WebhookDeliveryId = uuid_id(&id)?;
    let d = app.webhooks().redeliver(id).await?;
    Ok((StatusCode::ACCEPTED, Json(WebhookDeliveryView::from(d))).into_response())
}
