//! Invoice schedules (`GET /v1/invoice-schedules`, a page at a time by its cursor) and a
//! schedule's page: its account and currency, its items with their dates, amounts and
//! statuses, the next ones to fall due, and Execute on each pending item.
//!
//! Execute acts on an item within a schedule and sends it in the body
//! (`{"scheduleItemId"}`), which the run, document and run-schedule actions of
//! [`crate::actions`] (one resource, no body) do not: it has its own confirmation here,
//! offered, CSRF-checked and refused exactly as theirs are.

use crate::fmt::{amount, instant, text};
use crate::layout::{page as render, problem, status};
use crate::lists::items;
use crate::session::{check_change, Visitor};
use crate::{cursor_arg, enc, segment, ApiProblem, Console, Id};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Form;
use maud::{html, Markup};
use serde_json::{json, Value};
use std::collections::HashMap;

/// Schedules a page lists.
const PAGE: usize = 25;

/// The API route Execute calls (as the scope table spells it).
const EXECUTE: &str = "/v1/invoice-schedules/{id}/execute";

fn pending(item: &Value) -> bool {
    text(item, "status") != "Processed"
}

/// A schedule's items, each as the API gives it.
fn schedule_items(s: &Value) -> Vec<Value> {
    s.get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The pending items, soonest first: the schedule's next occurrences.
fn upcoming(s: &Value) -> Vec<Value> {
    let mut next: Vec<Value> = schedule_items(s).into_iter().filter(pending).collect();
    next.sort_by(|a, b| text(a, "invoiceDate").cmp(text(b, "invoiceDate")));
    next
}

/// When an item falls due: 00:00 UTC of its invoice date (invoice schedules have no
/// time zone of their own; `billrun_app::model::schedules::item_due_at`).
fn due(item: &Value) -> Markup {
    let date = text(item, "invoiceDate");
    instant(&format!("{date}T00:00:00Z"))
}

pub async fn list(
    State(console): State<Console>,
    visitor: Visitor,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let uri = format!(
        "/v1/invoice-schedules?limit={PAGE}{}",
        cursor_arg(q.get("cursor"))
    );
    let answer = match console.get(&visitor, &uri).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let schedules = items(&answer);
    render(
        &visitor,
        "Invoice schedules",
        html! {
            h1 { "Invoice schedules" }
            @if crate::invoice_schedule_form::SCHEDULE.offered(&visitor) {
                p { a class="button" href="/console/invoice-schedules/new" { "New invoice schedule" } }
            }
            @if schedules.is_empty() { p { "No invoice schedules." } } @else {
                div class="scroll" role="region" aria-label="Invoice schedules" tabindex="0" {
                    table data-testid="invoice-schedules" {
                        caption { "Invoice schedules in id order, with their items as put" }
                        thead { tr {
                            th scope="col" { "Schedule" } th scope="col" { "Account" }
                            th scope="col" class="num" { "Items" } th scope="col" { "First pending item" }
                        } }
                        tbody { @for s in &schedules { tr {
                            th scope="row" {
                                @if let Some(id) = segment(text(s, "id")) {
                                    a href={ "/console/invoice-schedules/" (id) } { (id) }
                                } @else { (text(s, "id")) }
                            }
                            td { (text(s, "accountId")) }
                            td class="num" { (schedule_items(s).len()) }
                            td { @match upcoming(s).first() {
                                Some(i) => { (text(i, "invoiceDate")) " (" (text(i, "id")) ")" }
                                None => "none",
                            } }
                        } } }
                    }
                }
            }
            @if let Some(c) = answer.get("nextCursor").and_then(Value::as_str) {
                p { a href={ "/console/invoice-schedules?cursor=" (enc(c)) } rel="next" { "Next schedules" } }
            }
        },
    )
}

fn execute_url(id: &str, item: &str) -> String {
    format!("/console/invoice-schedules/{id}/items/{item}/execute")
}

async fn page_of(console: &Console, visitor: &Visitor, id: &str) -> Result<Response, Response> {
    let s = console
        .get(visitor, &format!("/v1/invoice-schedules/{id}"))
        .await?;
    let currency = currency_of(console, visitor, &s).await?;
    let processed: Vec<Value> = s
        .get("processed")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let run_of = |item: &str| {
        processed
            .iter()
            .find(|p| text(p, "itemId") == item)
            .cloned()
    };
    let may_execute = visitor.may(&Method::POST, EXECUTE);
    let yes_no = |k: &str| {
        if s.get(k).and_then(Value::as_bool).unwrap_or(false) {
            "Yes"
        } else {
            "No"
        }
    };
    let next = upcoming(&s);
    Ok(render(
        visitor,
        &format!("Invoice schedule {id}"),
        html! {
            h1 { "Invoice schedule " (id) }
            @if crate::invoice_schedule_form::SCHEDULE.offered(visitor) {
                p { a class="button secondary" href={ "/console/invoice-schedules/" (id) "/edit" } { "Edit invoice schedule " (id) } }
            }
            dl class="summary" {
                dt { "Account" } dd data-testid="account" { (text(&s, "accountId")) }
                dt { "Currency" } dd { (currency) }
                dt { "Subscriptions" } dd { @for (i, sub) in s.get("subscriptionIds").and_then(Value::as_array).cloned().unwrap_or_default().iter().enumerate() {
                    @if i > 0 { ", " } (sub.as_str().unwrap_or("")) } }
                dt { "Posts its documents at once" } dd { (yes_no("autoPost")) }
                dt { "Emails them once posted" } dd { (yes_no("autoEmail")) }
            }
            section aria-labelledby="next-h" {
                h2 id="next-h" { "Next items" }
                @if next.is_empty() { p { "Every item is executed." } } @else {
                    p { "Invoice schedules have no time zone of their own: an item falls due at 00:00 UTC on its invoice date." }
                    ol data-testid="next-items" { @for i in next.iter().take(3) {
                        li { (text(i, "id")) ": " (amount(text(i, "amount"), &currency)) " dated " (text(i, "invoiceDate")) ", falls due " (due(i)) " UTC" }
                    } }
                }
            }
            section aria-labelledby="items-h" {
                h2 id="items-h" { "Items" }
                div class="scroll" role="region" aria-label="Items" tabindex="0" {
                    table data-testid="schedule-items" {
                        caption { "Items in the order they were put" }
                        thead { tr {
                            th scope="col" { "Item" } th scope="col" { "Invoice date" } th scope="col" { "Falls due (UTC)" }
                            th scope="col" class="num" { "Amount" } th scope="col" { "Status" } th scope="col" { "Billed by" }
                            @if may_execute { th scope="col" { "Actions" } }
                        } }
                        tbody { @for i in schedule_items(&s) { tr {
                            th scope="row" { (text(&i, "id")) }
                            td { (text(&i, "invoiceDate")) }
                            td { (due(&i)) }
                            td class="num" { (amount(text(&i, "amount"), &currency)) }
                            td data-testid="item-status" { (status(text(&i, "status"))) }
                            td { @if let Some(p) = run_of(text(&i, "id")) {
                                @if let Some(run) = segment(text(&p, "runId")) { a href={ "/console/runs/" (run) } { "its run" } }
                                @if let Some(doc) = segment(text(&p, "documentId")) { ", " a href={ "/console/invoices/" (doc) } { "its invoice" } }
                                ", " (instant(text(&p, "processedAt")))
                            } }
                            @if may_execute { td {
                                @if let (true, Some(item)) = (pending(&i), segment(text(&i, "id"))) {
                                    a class="button" href=(execute_url(id, item)) aria-label={ "Execute item " (item) } { "Execute" }
                                }
                            } }
                        } } }
                    }
                }
            }
        },
    ))
}

/// The schedule's currency: its account's (a schedule's amounts are in it).
async fn currency_of(console: &Console, visitor: &Visitor, s: &Value) -> Result<String, Response> {
    let Some(account) = segment(text(s, "accountId")) else {
        return Ok(String::new());
    };
    let a = console
        .get(visitor, &format!("/v1/accounts/{account}"))
        .await?;
    Ok(text(&a, "currency").to_string())
}

pub async fn page(State(console): State<Console>, visitor: Visitor, Id(id): Id) -> Response {
    match page_of(&console, &visitor, &id).await {
        Ok(r) | Err(r) => r,
    }
}

/// What executing `item` of `s` does, in words.
fn consequence(s: &Value, item: &Value, currency: &str) -> String {
    let when = if s.get("autoPost").and_then(Value::as_bool).unwrap_or(false) {
        "posted at once, as the schedule says"
    } else {
        "a Draft until it is posted"
    };
    format!(
        "Executing bills item {} now instead of when it falls due ({} 00:00 UTC): account {} is invoiced {} dated {}, in a run of its own, {when}. An item is executed once.",
        text(item, "id"),
        text(item, "invoiceDate"),
        text(s, "accountId"),
        amount(text(item, "amount"), currency),
        text(item, "invoiceDate"),
    )
}

async fn confirm(console: &Console, visitor: &Visitor, id: &str, item_id: &str) -> Response {
    if !visitor.may(&Method::POST, EXECUTE) {
        return forbidden(visitor);
    }
    let s = match console
        .get(visitor, &format!("/v1/invoice-schedules/{id}"))
        .await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(item) = schedule_items(&s)
        .into_iter()
        .find(|i| text(i, "id") == item_id)
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let currency = match currency_of(console, visitor, &s).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let back = format!("/console/invoice-schedules/{id}");
    render(
        visitor,
        &format!("Execute item {item_id} of invoice schedule {id}"),
        html! {
            h1 { "Execute: item " (item_id) " of invoice schedule " (id) }
            @if pending(&item) {
                p class="notice" data-testid="consequence" { (consequence(&s, &item, &currency)) }
                form method="post" action=(execute_url(id, item_id)) {
                    input type="hidden" name="csrf" value=(visitor.csrf);
                    button type="submit" { "Confirm: Execute" }
                    " " a class="button secondary" href=(back) { "Back" }
                }
            } @else {
                p class="error" { "This item is executed already." }
                p { a href=(back) { "Back" } }
            }
        },
    )
}

async fn act(
    console: &Console,
    visitor: &Visitor,
    headers: &HeaderMap,
    id: &str,
    item: &str,
    form: &HashMap<String, String>,
) -> Response {
    if let Err(r) = check_change(console, visitor, headers, form) {
        return r.into_response();
    }
    // The API's own `enforce` refuses a caller without billing:run (403).
    let uri = EXECUTE.replace("{id}", id);
    let answer = match console
        .json(
            visitor.principal(),
            Method::POST,
            &uri,
            Some(json!({"scheduleItemId": item})),
        )
        .await
    {
        Ok(a) => a,
        Err(r) => return r,
    };
    if answer.ok() {
        return Redirect::to(&format!("/console/invoice-schedules/{id}")).into_response();
    }
    // Execute answers in seed 004's shape: `{"reasons": [{"message"}]}`.
    let mut refusal = answer.error();
    if let Some(m) = answer
        .body
        .pointer("/reasons/0/message")
        .and_then(Value::as_str)
    {
        refusal.message = m.to_string();
    }
    problem(visitor, &refusal)
}

fn forbidden(visitor: &Visitor) -> Response {
    let scope = billrun_api::access::scope_of(&Method::POST, EXECUTE);
    problem(
        visitor,
        &ApiProblem {
            status: StatusCode::FORBIDDEN,
            message: format!("Execute needs the scope {}.", scope.as_str()),
            field: None,
        },
    )
}

/// `/console/invoice-schedules/{id}/items/{item}/execute`: GET the confirmation.
pub fn confirm_route() -> MethodRouter<Console> {
    get(
        |State(console): State<Console>,
         visitor: Visitor,
         Path((id, item)): Path<(String, String)>| async move {
            match (segment(&id), segment(&item)) {
                (Some(id), Some(item)) => confirm(&console, &visitor, id, item).await,
                _ => StatusCode::NOT_FOUND.into_response(),
            }
        },
    )
}

/// The same path's POST: execute the item.
pub fn execute_route() -> MethodRouter<Console> {
    post(
        |State(console): State<Console>,
         visitor: Visitor,
         headers: HeaderMap,
         Path((id, item)): Path<(String, String)>,
         Form(form): Form<HashMap<String, String>>| async move {
            match (segment(&id), segment(&item)) {
                (Some(id), Some(item)) => act(&console, &visitor, &headers, id, item, &form).await,
                _ => StatusCode::NOT_FOUND.into_response(),
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_items_are_the_pending_ones_soonest_first_and_the_consequence_names_the_amount() {
        let s = json!({"accountId": "A-1", "autoPost": false, "items": [
            {"id": "I-3", "invoiceDate": "2024-09-01", "amount": "10.00", "status": "Pending"},
            {"id": "I-1", "invoiceDate": "2024-01-01", "amount": "10.00", "status": "Processed"},
            {"id": "I-2", "invoiceDate": "2024-05-01", "amount": "1234.50", "status": "Pending"}]});
        let next: Vec<String> = upcoming(&s)
            .iter()
            .map(|i| text(i, "id").to_string())
            .collect();
        assert_eq!(next, ["I-2", "I-3"]);
        let c = consequence(&s, &upcoming(&s)[0], "USD");
        assert!(
            c.contains("account A-1 is invoiced $1,234.50 dated 2024-05-01"),
            "{c}"
        );
        assert!(c.contains("a Draft until it is posted"), "{c}");
        let html = due(&upcoming(&s)[0]).into_string();
        assert!(
            html.contains("2024-05-01 00:00") && html.contains("UTC"),
            "{html}"
        );
    }
}
