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

/// The entries a run's or a document's page reads of its own trail (the first page of
/// the API's; the rest are on the audit page, filtered by the resource).
pub const FIRST: usize = 100;

/// `resource`'s audit entries under `heading` (`answer`: the API's first page of them):
/// when, who, what, on which resource; when there are more, a link to the rest.
pub fn resource_trail(heading: &str, answer: &Value, resource: &str) -> Markup {
    let entries = items(answer);
    let more = answer.get("nextCursor").and_then(Value::as_str).is_some();
    let rest = html! {
        @if more {
            p data-testid="audit-more" {
                "The first " (entries.len()) " entries are shown. "
                a href={ "/console/audit?resource=" (enc(resource)) } { "Every entry in the audit trail" }
            }
        }
    };
    with_footer(heading, &entries, rest)
}

/// Audit entries under `heading`: when, who, what, on which resource.
pub fn audit_table(heading: &str, entries: &[Value]) -> Markup {
    with_footer(heading, entries, html! {})
}

fn with_footer(heading: &str, entries: &[Value], footer: Markup) -> Markup {
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
            (footer)
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
    crate::fields::field(&crate::fields::text(name, label, hint), value, error)
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(i: usize) -> Value {
        json!({"time": "2024-02-01T12:00:00Z", "actor": "alice", "action": format!("run.step{i}"),
            "resource": {"type": "run", "id": "r-1"}})
    }

    #[test]
    fn a_trail_longer_than_its_first_page_links_to_the_rest() {
        let page: Vec<Value> = (0..FIRST).map(entry).collect();
        let full = resource_trail(
            "Audit trail",
            &json!({"items": page, "nextCursor": "c"}),
            "r-1",
        )
        .into_string();
        assert_eq!(
            full.matches("<tr>").count(),
            FIRST + 1,
            "the header and the first page"
        );
        assert!(full.contains("The first 100 entries are shown."));
        assert!(full.contains(r#"href="/console/audit?resource=r-1""#));

        let short = resource_trail(
            "Audit trail",
            &json!({"items": [entry(0)], "nextCursor": null}),
            "r-1",
        )
        .into_string();
        assert!(!short.contains("audit-more"), "all of it is shown");
        let odd = resource_trail(
            "Audit trail",
            &json!({"items": [], "nextCursor": "c"}),
            "a&b",
        )
        .into_string();
        assert!(odd.contains("resource=a%26b"), "{odd}");
    }
}
