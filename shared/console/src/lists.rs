//! Read-only pages: the aging report, and the list answers' items.

use crate::fmt::{amount, text};
use crate::layout::page;
use crate::session::Visitor;
use crate::{cursor_arg, enc, Console};
use axum::extract::{Query, State};
use axum::response::Response;
use maud::html;
use serde_json::Value;
use std::collections::HashMap;

/// A list answer's `items` (none when it has none).
pub(crate) fn items(v: &Value) -> Vec<Value> {
    v.get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

const BUCKETS: [(&str, &str); 6] = [
    ("current", "Current"),
    ("days1To30", "1–30 days"),
    ("days31To60", "31–60 days"),
    ("days61To90", "61–90 days"),
    ("over90Days", "Over 90 days"),
    ("total", "Total"),
];

pub async fn aging(
    State(console): State<Console>,
    visitor: Visitor,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let uri = format!("/v1/reports/aging?limit=50{}", cursor_arg(q.get("cursor")));
    let report = match console.get(&visitor, &uri).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let totals = report
        .get("totals")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let rows = items(&report);
    let table = |caption: &str, first: &str, list: &[Value]| {
        html! {
            div class="scroll" role="region" aria-label=(caption) tabindex="0" {
                table {
                    caption { (caption) }
                    thead { tr { th scope="col" { (first) } th scope="col" { "Currency" } th scope="col" class="num" { "Invoices" }
                        @for (_, label) in BUCKETS { th scope="col" class="num" { (label) } } } }
                    tbody { @for r in list { tr {
                        th scope="row" { @if first == "Account" { (text(r, "accountId")) } @else { "All accounts" } }
                        td { (text(r, "currency")) }
                        td class="num" { (r.get("invoices").and_then(Value::as_u64).unwrap_or(0)) }
                        @for (k, _) in BUCKETS { td class="num" { (amount(text(r, k), text(r, "currency"))) } }
                    } } }
                }
            }
        }
    };
    page(
        &visitor,
        "Aging",
        html! {
            h1 { "Aging of open invoices" }
            p { "As of " (text(&report, "asOf")) " (UTC)." }
            @if totals.is_empty() { p { "No open posted invoices." } } @else {
                (table("Totals per currency", "Scope", &totals))
                (table("Accounts", "Account", &rows))
            }
            @if let Some(c) = report.get("nextCursor").and_then(Value::as_str) {
                p { a href={ "/console/aging?cursor=" (enc(c)) } rel="next" { "Next accounts" } }
            }
        },
    )
}
