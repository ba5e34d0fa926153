//! The audit trail: every entry (`GET /v1/audit-events`, filtered by actor, resource
//! and instant, a page at a time by its cursor), and the table the run and invoice
//! pages show of their own entries.

use crate::fmt::{instant, text};
use crate::layout::{page, problem};
use crate::lists::items;
use crate::session::Visitor;
use crate::{enc, segment, Console};
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::Response;
use maud::{html, Markup};
use serde_json::Value;
use std::collections::HashMap;

/// Entries a page shows.
const PAGE: usize = 50;

/// The console page of a resource, where it has one: a run's, a document's, a
/// template's, an invoice schedule's.
fn resource_link(resource: &Value) -> Markup {
    let (kind, id) = (text(resource, "type"), text(resource, "id"));
    let href = match (kind, segment(id)) {
        ("run", Some(id)) => Some(format!("/console/runs/{id}")),
        ("document", Some(id)) => Some(format!("/console/invoices/{id}")),
        ("template", Some(id)) => Some(format!("/console/templates/{id}")),
        ("invoiceSchedule", Some(id)) => Some(format!("/console/invoice-schedules/{id}")),
        _ => None,
    };
    html! {
        (kind) " "
        @match href {
            Some(h) => { a href=(h) { (id) } }
            None => { (id) }
        }
    }
}

/// Audit entries under `heading`: when, who, what, on which resource.
pub fn audit_table(heading: &str, entries: &[Value]) -> Markup {
    html! {
        section aria-labelledby="audit-h" {
            h2 id="audit-h" { (heading) }
            @if entries.is_empty() { p { "No entries." } } @else {
                div class="scroll" role="region" aria-label="Audit trail" tabindex="0" {
                    table data-testid="audit" {
                        caption { "Changes, oldest first" }
                        thead { tr { th scope="col" { "Time" } th scope="col" { "Actor" } th scope="col" { "Action" } th scope="col" { "Resource" } } }
                        tbody { @for e in entries { tr {
                            td { (instant(text(e, "time"))) }
                            td { (e.get("actor").and_then(Value::as_str).unwrap_or("(system)")) }
                            td { (text(e, "action")) }
                            td { (resource_link(&e["resource"])) }
                        } } }
                    }
                }
            }
        }
    }
}

/// The filters of the trail: each the API's parameter of the same name, except `since`,
/// a date here (the start of that day, UTC).
const FILTERS: [(&str, &str, &str); 3] = [
    ("actor", "Actor", "A token's name, a JWT's subject or an IAM ARN."),
    (
        "resource",
        "Resource",
        "A run's id (its changes and its documents'), a document's, or a configuration item's (book, a template's, a schedule's).",
    ),
    (
        "since",
        "Since (UTC date)",
        "YYYY-MM-DD; by default the last 90 days.",
    ),
];

/// One filter field, with the API's error about it when it refused it.
fn filter_field(name: &str, label: &str, hint: &str, value: &str, error: Option<&str>) -> Markup {
    let hint_id = format!("{name}-hint");
    let error_id = format!("{name}-error");
    let described = match error {
        Some(_) => format!("{hint_id} {error_id}"),
        None => hint_id.clone(),
    };
    html! {
        div class="field" {
            label for=(name) { (label) }
            span class="hint" id=(hint_id) { (hint) }
            @if let Some(e) = error { span class="error" id=(error_id) data-testid={ "error-" (name) } { (e) } }
            input id=(name) name=(name) type="text" value=(value)
                aria-describedby=(described) aria-invalid=[error.map(|_| "true")];
        }
    }
}

pub async fn list(
    State(console): State<Console>,
    visitor: Visitor,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    // The filters as given, carried to the next page's link too.
    let mut filters = String::new();
    let mut uri = format!("/v1/audit-events?limit={PAGE}");
    for (name, _, _) in FILTERS {
        if let Some(v) = get(name) {
            filters.push_str(&format!("{name}={}&", enc(v)));
            let v = if name == "since" {
                format!("{v}T00:00:00Z")
            } else {
                v.to_string()
            };
            uri.push_str(&format!("&{name}={}", enc(&v)));
        }
    }
    if let Some(c) = get("cursor") {
        uri.push_str(&format!("&cursor={}", enc(c)));
    }
    let answer = match console
        .json(visitor.principal(), Method::GET, &uri, None)
        .await
    {
        Ok(a) => a,
        Err(r) => return r,
    };
    // A bad filter is shown at its field; anything else is the error page.
    let refused = (!answer.ok()).then(|| answer.error());
    if let Some(e) = &refused {
        if !FILTERS
            .iter()
            .any(|(n, _, _)| e.field.as_deref() == Some(n))
        {
            return problem(&visitor, e);
        }
    }
    let error_at = |name: &str| {
        refused
            .as_ref()
            .filter(|e| e.field.as_deref() == Some(name))
            .map(|e| e.message.as_str())
    };
    let entries = items(&answer.body);
    page(
        &visitor,
        "Audit trail",
        html! {
            h1 { "Audit trail" }
            form method="get" action="/console/audit" aria-label="Filter the audit trail" {
                @for (name, label, hint) in FILTERS {
                    (filter_field(name, label, hint, get(name).unwrap_or(""), error_at(name)))
                }
                button type="submit" { "Filter" }
            }
            (audit_table("Entries", &entries))
            @if let Some(c) = answer.body.get("nextCursor").and_then(Value::as_str) {
                p { a href={ "/console/audit?" (filters) "cursor=" (enc(c)) } rel="next" { "Next entries" } }
            }
        },
    )
}
