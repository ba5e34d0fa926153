//! Webhook endpoints (`GET /v1/webhook-endpoints`), an endpoint with its deliveries
//! (a page at a time by the API's cursor), and the redelivery of one delivery.

use crate::actions::{Action, Subject};
use crate::fmt::{instant, text};
use crate::layout::{page, status};
use crate::session::Visitor;
use crate::{cursor_arg, enc, segment, Console, Id};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde_json::Value;
use std::collections::HashMap;

/// Deliveries a page shows.
const PAGE: usize = 25;

fn events(e: &Value) -> String {
    e.get("events")
        .and_then(Value::as_array)
        .map(|v| {
            v.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// "Enabled", or "Disabled" with billrun's reason when it disabled the endpoint.
fn state(e: &Value) -> Markup {
    html! {
        @if e.get("enabled").and_then(Value::as_bool).unwrap_or(false) { (status("Enabled")) } @else {
            (status("Disabled"))
            @if let Some(r) = e.get("disabledReason").and_then(Value::as_str) { ": " (r) }
        }
    }
}

pub async fn list(State(console): State<Console>, visitor: Visitor) -> Response {
    let list = match console.get(&visitor, "/v1/webhook-endpoints").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let endpoints = crate::lists::items(&list);
    page(
        &visitor,
        "Webhooks",
        html! {
            h1 { "Webhook endpoints" }
            @if endpoints.is_empty() { p { "No webhook endpoints." } } @else {
                div class="scroll" role="region" aria-label="Webhook endpoints" tabindex="0" {
                    table {
                        caption { "Endpoints" }
                        thead { tr { th scope="col" { "Endpoint" } th scope="col" { "URL" } th scope="col" { "Events" } th scope="col" { "State" } th scope="col" { "Updated" } } }
                        tbody { @for e in &endpoints { tr {
                            th scope="row" {
                                @match segment(text(e, "id")) {
                                    Some(id) => a href={ "/console/webhooks/" (id) } { (id) },
                                    None => (text(e, "id")),
                                }
                            }
                            td { (text(e, "url")) }
                            td { (events(e)) }
                            td { (state(e)) }
                            td { (instant(text(e, "updatedAt"))) }
                        } } }
                    }
                }
            }
        },
    )
}

/// The latest attempt's answer: its HTTP status, or the error when none came.
fn last_answer(d: &Value) -> String {
    let last = d
        .get("attempts")
        .and_then(Value::as_array)
        .and_then(|a| a.last());
    match last {
        None => "none yet".into(),
        Some(a) => match a.get("statusCode").and_then(Value::as_u64) {
            Some(code) => format!("HTTP {code}"),
            None => text(a, "error").to_string(),
        },
    }
}

fn attempts(d: &Value) -> usize {
    d.get("attempts")
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}

pub const ACTIONS: [Action; 1] = [Action {
    slug: "redeliver",
    label: "Redeliver",
    route: "/v1/webhook-deliveries/{id}/redeliver",
    allowed: |d| {
        if text(d, "status") == "Pending" {
            Err("This delivery is still being tried on its retry schedule.".into())
        } else {
            Ok(())
        }
    },
    consequence: |d| {
        format!(
            "Redelivering sends the {} event again to this endpoint, with the same webhook-id and body (a receiver that already has it can tell), now and then on the retry schedule from its first step. Its {} earlier attempts stay in its history.",
            text(d, "eventType"),
            attempts(d)
        )
    },
    follow: None,
}];

/// Webhook deliveries, as the console acts on them. A delivery is shown on its
/// endpoint's page, which its own page redirects to.
pub static DELIVERY: Subject = Subject {
    read: "/v1/webhook-deliveries/{id}",
    page: "/console/webhook-deliveries/{id}",
    name: |d| format!("the {} delivery {}", text(d, "eventType"), text(d, "id")),
    actions: &ACTIONS,
};

/// A delivery's page: its endpoint's, at the delivery's row.
pub async fn delivery(State(console): State<Console>, visitor: Visitor, Id(id): Id) -> Response {
    let d = match console
        .get(&visitor, &format!("/v1/webhook-deliveries/{id}"))
        .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    match segment(text(&d, "endpointId")) {
        Some(endpoint) => {
            Redirect::to(&format!("/console/webhooks/{endpoint}#delivery-{id}")).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// An endpoint (never its secret) and its deliveries, 25 at a time.
pub async fn endpoint(
    State(console): State<Console>,
    visitor: Visitor,
    Id(id): Id,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let e = match console
        .get(&visitor, &format!("/v1/webhook-endpoints/{id}"))
        .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let uri = format!(
        "/v1/webhook-endpoints/{id}/deliveries?limit={PAGE}{}",
        cursor_arg(q.get("cursor"))
    );
    let list = match console.get(&visitor, &uri).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let deliveries = crate::lists::items(&list);
    page(
        &visitor,
        &format!("Webhook endpoint {id}"),
        html! {
            h1 { "Webhook endpoint " (id) }
            dl class="summary" data-testid="endpoint" {
                dt { "URL" } dd { (text(&e, "url")) }
                dt { "Events" } dd { (events(&e)) }
                dt { "State" } dd data-testid="endpoint-state" { (state(&e)) }
                @if let Some(t) = e.get("failingSince").and_then(Value::as_str) {
                    dt { "Failing since" } dd { (instant(t)) }
                }
                @if let Some(t) = e.get("description").and_then(Value::as_str) {
                    dt { "Description" } dd { (t) }
                }
                dt { "Signing secret" }
                dd {
                    "Not shown here (the API shows it once, when it is made). "
                    @if let Some(t) = e.get("secretCreatedAt").and_then(Value::as_str) { "Made or last rotated " (instant(t)) "." }
                    @if let Some(t) = e.get("previousSecretExpiresAt").and_then(Value::as_str) { " The one before signs beside it until " (instant(t)) "." }
                }
                dt { "Created" } dd { (instant(text(&e, "createdAt"))) }
                dt { "Updated" } dd { (instant(text(&e, "updatedAt"))) }
            }
            p { a href={ "/console/audit?resource=" (enc(&id)) } { "Changes to this endpoint in the audit trail" } }
            h2 { "Deliveries" }
            @if deliveries.is_empty() { p { "No deliveries yet." } } @else {
                div class="scroll" role="region" aria-label="Deliveries" tabindex="0" {
                    table data-testid="deliveries" {
                        caption { "Deliveries in the order they were made" }
                        thead { tr {
                            th scope="col" { "Event" } th scope="col" { "Status" } th scope="col" class="num" { "Attempts" }
                            th scope="col" { "Last answer" } th scope="col" { "Made" } th scope="col" { "Last attempt" }
                            th scope="col" { "Next attempt" } th scope="col" { "Actions" }
                        } }
                        tbody { @for d in &deliveries { (row(&visitor, d)) } }
                    }
                }
            }
            @if let Some(c) = list.get("nextCursor").and_then(Value::as_str) {
                p { a href={ "/console/webhooks/" (id) "?cursor=" (enc(c)) } rel="next" { "Next deliveries" } }
            }
        },
    )
}

fn row(visitor: &Visitor, d: &Value) -> Markup {
    let last_at = d
        .get("attempts")
        .and_then(Value::as_array)
        .and_then(|a| a.last())
        .map(|a| text(a, "at"))
        .unwrap_or("");
    let id = segment(text(d, "id"));
    html! {
        tr id=[id.map(|i| format!("delivery-{i}"))] data-testid="delivery" {
            th scope="row" { (text(d, "eventType")) br; a href={ "/console/runs/" (enc(text(d, "runId"))) } { "its run" } }
            td { (status(text(d, "status")))
                @if let Some(err) = d.get("error").and_then(Value::as_str) { br; (err) } }
            td class="num" data-testid="attempts" { (attempts(d)) }
            td data-testid="last-answer" { (last_answer(d)) }
            td { (instant(text(d, "createdAt"))) }
            td { (instant(last_at)) }
            td { @if let Some(t) = d.get("nextAttemptAt").and_then(Value::as_str) { (instant(t)) } @else { "none" } }
            td {
                @if let Some(id) = id {
                    @for (a, allowed) in DELIVERY.offered(visitor, d) {
                        @match allowed {
                            Ok(()) => { a class="button" href=(DELIVERY.confirm_url(id, a)) aria-label={ (a.label) " " (text(d, "eventType")) } { (a.label) } }
                            Err(why) => { (why) }
                        }
                    }
                }
            }
        }
    }
}
