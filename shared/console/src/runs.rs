//! The runs list (`GET /v1/invoice-runs`, a page at a time by its cursor) and the live
//! progress of a Processing run.

use crate::fmt::{amount, count, instant, text, thousands};
use crate::layout::{page, status};
use crate::session::Visitor;
use crate::{enc, Console, Id};
use axum::extract::{Query, State};
use axum::http::HeaderValue;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup};
use serde_json::Value;
use std::collections::HashMap;

/// Runs a page shows.
const PAGE: usize = 25;

const STATUSES: [&str; 6] = [
    "Pending",
    "Processing",
    "Completed",
    "CompletedWithErrors",
    "Posted",
    "Canceled",
];

pub async fn list(
    State(console): State<Console>,
    visitor: Visitor,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let mut uri = format!("/v1/invoice-runs?limit={PAGE}");
    let status_filter = get("status");
    if let Some(s) = status_filter {
        uri.push_str(&format!("&status={}", enc(s)));
    }
    let since = get("since");
    if let Some(d) = since {
        // A date is the start of that day, UTC; the API names a bad one.
        uri.push_str(&format!("&createdSince={}", enc(&format!("{d}T00:00:00Z"))));
    }
    if let Some(c) = get("cursor") {
        uri.push_str(&format!("&cursor={}", enc(c)));
    }
    let answer = match console
        .json(visitor.principal(), axum::http::Method::GET, &uri, None)
        .await
    {
        Ok(a) => a,
        Err(r) => return r,
    };
    // A bad filter is shown at its field; anything else is the error page.
    let filter_error = match (answer.ok(), answer.error().field.as_deref()) {
        (false, Some("status" | "createdSince")) => Some(answer.error()),
        (false, _) => return crate::layout::problem(&visitor, &answer.error()),
        _ => None,
    };
    let items = answer
        .body
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let next = answer.body.get("nextCursor").and_then(Value::as_str);
    let mut next_link = String::from("/console/runs?");
    if let Some(s) = status_filter {
        next_link.push_str(&format!("status={}&", enc(s)));
    }
    if let Some(d) = since {
        next_link.push_str(&format!("since={}&", enc(d)));
    }
    let error_at = |f: &str| {
        filter_error
            .as_ref()
            .filter(|e| e.field.as_deref() == Some(f))
            .map(|e| e.message.clone())
    };
    page(
        &visitor,
        "Runs",
        html! {
            h1 { "Invoice runs" }
            form method="get" action="/console/runs" aria-label="Filter runs" {
                div class="field" {
                    label for="status" { "Status" }
                    select id="status" name="status" {
                        option value="" { "Any" }
                        @for s in STATUSES {
                            option value=(s) selected[status_filter == Some(s)] { (s) }
                        }
                    }
                    @if let Some(e) = error_at("status") { span class="error" { (e) } }
                }
                div class="field" {
                    label for="since" { "Created since (UTC date)" }
                    span class="hint" id="since-hint" { "YYYY-MM-DD" }
                    input id="since" name="since" type="text" inputmode="numeric" value=(since.unwrap_or(""))
                        aria-describedby="since-hint" aria-invalid=[error_at("createdSince").map(|_| "true")];
                    @if let Some(e) = error_at("createdSince") { span class="error" { (e) } }
                }
                button type="submit" { "Filter" }
            }
            @if items.is_empty() {
                p { "No runs." }
            } @else {
                div class="scroll" role="region" aria-label="Runs" tabindex="0" {
                    table {
                        caption { "Runs, newest first" }
                        thead { tr {
                            th scope="col" { "Run" } th scope="col" { "Name" } th scope="col" { "Status" }
                            th scope="col" { "Target date" } th scope="col" { "Created" }
                            th scope="col" { "Accounts" } th scope="col" { "Invoiced" }
                        } }
                        tbody {
                            @for r in &items { (row(r)) }
                        }
                    }
                }
            }
            @if let Some(c) = next {
                p { a href={ (next_link) "cursor=" (enc(c)) } rel="next" { "Next page" } }
            }
        },
    )
}

fn row(r: &Value) -> Markup {
    let id = text(r, "id");
    let counters = r.get("counters").cloned().unwrap_or(Value::Null);
    html! {
        tr {
            th scope="row" { a href={ "/console/runs/" (id) } { (text(r, "number")) } }
            td { (text(r, "name")) }
            td { (status(text(r, "status"))) }
            td { (text(r, "targetDate")) }
            td { (instant(text(r, "createdAt"))) }
            td { (progress(r)) }
            td { (amounts(&counters, "invoiced")) }
        }
    }
}

/// The accounts processed so far: a live bar while Processing (htmx polls it every
/// second and reloads the page when the run has moved on), the counts otherwise.
pub fn progress(run: &Value) -> Markup {
    let id = text(run, "id");
    let c = run.get("counters").cloned().unwrap_or(Value::Null);
    let selected = count(&c, "accountsSelected");
    let done = count(&c, "billed")
        + count(&c, "suppressed")
        + count(&c, "nothingToBill")
        + count(&c, "failed");
    let failed = count(&c, "failed");
    let label = format!(
        "{} of {} accounts processed{}",
        thousands(done),
        thousands(selected),
        if failed > 0 {
            format!(", {} failed", thousands(failed))
        } else {
            String::new()
        }
    );
    if text(run, "status") == "Processing" {
        html! {
            div hx-get={ "/console/runs/" (id) "/progress" } hx-trigger="every 1s" hx-swap="outerHTML" {
                progress max=(selected.max(1)) value=(done) aria-label={ "Progress of " (text(run, "number")) } {}
                " " span { (label) }
            }
        }
    } else {
        html! { span { (label) } }
    }
}

/// Amounts per currency: `invoiced` or `credited` of the counters' `amounts`.
pub fn amounts(counters: &Value, which: &str) -> Markup {
    let list = counters
        .get("amounts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    html! {
        @for (i, a) in list.iter().enumerate() {
            @if i > 0 { br; }
            (amount(text(a, which), text(a, "currency")))
        }
    }
}

pub async fn progress_fragment(
    console: &Console,
    visitor: &Visitor,
    id: &str,
) -> Result<Response, Response> {
    let run = console
        .get(visitor, &format!("/v1/invoice-runs/{id}"))
        .await?;
    let mut res = Html(progress(&run).into_string()).into_response();
    if text(&run, "status") != "Processing" {
        // The run moved on: the page reloads to show its new state and actions.
        res.headers_mut()
            .insert("HX-Refresh", HeaderValue::from_static("true"));
    }
    Ok(res)
}

pub async fn progress_route(
    State(console): State<Console>,
    visitor: Visitor,
    Id(id): Id,
) -> Response {
    match progress_fragment(&console, &visitor, &id).await {
        Ok(r) | Err(r) => r,
    }
}
