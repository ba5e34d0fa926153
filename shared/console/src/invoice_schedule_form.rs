//! Create or edit an invoice schedule: its account, subscriptions, flags and items
//! (a row each: id, invoice date, amount) as a form, saved with `PUT
//! /v1/invoice-schedules/{id}`. The rows' fields are named by their request paths
//! (`items[2].amount`), so the API's error names the field it is shown at. "Add a row"
//! is a plain submit that shows the form again with one more blank row (no script).
//! Blank rows are left out of the request; an error about a request item is shown at
//! the row it came from. The amounts are in the account's currency (a schedule has none
//! of its own). An edit keeps each item's status as put in a hidden field; the API keeps
//! executed items executed. Nothing is read on the POST (on AWS a form's POST reaches
//! only the API's writes).

use crate::fields::{field, text, Field};
use crate::layout::page;
use crate::put_form::{new_id, notice, Resource, Saved};
use crate::session::{check_change, Visitor};
use crate::{ApiProblem, Console, Id};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use serde_json::{json, Value};
use std::collections::HashMap;

pub static SCHEDULE: Resource = Resource {
    route: "/v1/invoice-schedules/{id}",
    what: "an invoice schedule",
};

/// Blank rows a new schedule's form starts with, and the most a form shows.
const BLANK_ROWS: usize = 3;
const MAX_ROWS: usize = 200;

/// The hidden field with the number of rows shown.
const ROWS: &str = "rows";
/// The submit button's name when it adds a row rather than saves.
const ADD: &str = "add";

const ID: Field<'static> = text(
    "id",
    "Schedule id",
    "Letters, digits, - and _: how the API and the audit trail name it.",
);
const ACCOUNT: Field<'static> = text(
    "accountId",
    "Account",
    "The account billed; the amounts are in its currency.",
);
const SUBSCRIPTIONS: Field<'static> = text(
    "subscriptionIds",
    "Subscriptions",
    "One or more of the account's subscriptions, billed by this schedule: their ids, separated by commas.",
);
const FLAGS: [(&str, &str); 3] = [
    (
        "autoPost",
        "Post its invoices at once (else they stay Draft)",
    ),
    ("autoEmail", "Email its invoices once posted"),
    ("emailZeroAmountInvoices", "Email zero-amount invoices too"),
];
/// A row's fields: (request key, label, hint).
const ITEM_FIELDS: [(&str, &str, &str); 3] = [
    ("id", "Item id", "Letters, digits, - and _."),
    (
        "invoiceDate",
        "Invoice date",
        "YYYY-MM-DD: the item falls due at 00:00 UTC that day.",
    ),
    (
        "amount",
        "Amount",
        "A decimal in the account's currency: 1250.00.",
    ),
];

fn item_key(row: usize, k: &str) -> String {
    format!("items[{row}].{k}")
}

fn rows_of(values: &HashMap<String, String>) -> usize {
    values
        .get(ROWS)
        .and_then(|r| r.parse::<usize>().ok())
        .unwrap_or(BLANK_ROWS)
        .clamp(1, MAX_ROWS)
}

/// The request of the form, and the form row of each request item (blank rows are
/// left out, so `items[1]` of the request may be row 3 of the form).
fn request_of(values: &HashMap<String, String>, id: &str) -> (Value, Vec<usize>) {
    let get = |k: &str| values.get(k).map_or("", |v| v.trim());
    let mut items = Vec::new();
    let mut rows = Vec::new();
    for row in 0..rows_of(values) {
        let cell = |k: &str| get(&item_key(row, k)).to_string();
        let (item_id, date, amount) = (cell("id"), cell("invoiceDate"), cell("amount"));
        if item_id.is_empty() && date.is_empty() && amount.is_empty() {
            continue;
        }
        let mut item = json!({"id": item_id, "invoiceDate": date, "amount": amount});
        if let s @ ("Pending" | "Processed") = get(&item_key(row, "status")) {
            item["status"] = json!(s);
        }
        items.push(item);
        rows.push(row);
    }
    let subscriptions: Vec<&str> = get("subscriptionIds")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let mut req = json!({
        "id": id,
        "accountId": get("accountId"),
        "subscriptionIds": subscriptions,
        "items": items,
    });
    for (k, _) in FLAGS {
        req[k] = json!(values.get(k).map(String::as_str) == Some("true"));
    }
    (req, rows)
}

/// The API's error with its request item's index turned into the form row's
/// (`items[1].amount` → `items[3].amount`), and a subscription's (`subscriptionIds[0]`)
/// named by the field that holds them all.
fn at_form(mut e: ApiProblem, rows: &[usize]) -> ApiProblem {
    let Some(f) = e.field.clone() else { return e };
    if f.starts_with("subscriptionIds[") {
        e.field = Some("subscriptionIds".into());
    } else if let Some(rest) = f.strip_prefix("items[") {
        if let Some((n, tail)) = rest.split_once(']') {
            if let Some(row) = n.parse::<usize>().ok().and_then(|i| rows.get(i)) {
                e.field = Some(format!("items[{row}]{tail}"));
            }
        }
    }
    e
}

/// The form's values of a stored schedule, with one blank row to add an item.
fn values_of(s: &Value) -> HashMap<String, String> {
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let mut values = HashMap::from([("accountId".to_string(), text(s, "accountId"))]);
    let subs: Vec<&str> = s["subscriptionIds"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    values.insert("subscriptionIds".into(), subs.join(", "));
    for (k, _) in FLAGS {
        if s[k] == json!(true) {
            values.insert(k.into(), "true".into());
        }
    }
    let items = s["items"].as_array().cloned().unwrap_or_default();
    for (row, item) in items.iter().enumerate() {
        for k in ["id", "invoiceDate", "amount", "status"] {
            values.insert(item_key(row, k), text(item, k));
        }
    }
    values.insert(ROWS.into(), (items.len() + 1).to_string());
    values
}

/// The form: `id` is `None` for a new schedule (its id is a field).
fn form(
    visitor: &Visitor,
    id: Option<&str>,
    values: &HashMap<String, String>,
    error: Option<&ApiProblem>,
) -> Response {
    let value = |k: &str| values.get(k).map_or("", String::as_str);
    let at = |k: &str| {
        error
            .filter(|e| e.field.as_deref() == Some(k))
            .map(|e| e.message.as_str())
    };
    let rows = rows_of(values);
    let shown = |f: &str| {
        ["id", "accountId", "subscriptionIds"].contains(&f)
            || (0..rows).any(|r| ITEM_FIELDS.iter().any(|(k, _, _)| item_key(r, k) == f))
    };
    let (title, action, back) = match id {
        None => (
            "New invoice schedule".to_string(),
            "/console/invoice-schedules".to_string(),
            "/console/invoice-schedules".to_string(),
        ),
        Some(id) => (
            format!("Edit invoice schedule {id}"),
            format!("/console/invoice-schedules/{id}/edit"),
            format!("/console/invoice-schedules/{id}"),
        ),
    };
    let mut res = page(
        visitor,
        &title,
        html! {
            h1 { (title) }
            (notice(error, shown, "schedule"))
            form method="post" action=(action) novalidate {
                input type="hidden" name="csrf" value=(visitor.csrf);
                input type="hidden" name=(ROWS) value=(rows);
                @if id.is_none() { (field(&ID, value("id"), at("id"))) }
                (field(&ACCOUNT, value("accountId"), at("accountId")))
                (field(&SUBSCRIPTIONS, value("subscriptionIds"), at("subscriptionIds")))
                @for (k, label) in FLAGS {
                    div class="field" {
                        input type="checkbox" id=(k) name=(k) value="true" checked[value(k) == "true"];
                        " " label for=(k) style="display:inline" { (label) }
                    }
                }
                @for row in 0..rows {
                    fieldset data-testid="item-row" {
                        legend { "Item " (row + 1) @if value(&item_key(row, "status")) == "Processed" { " (executed)" } }
                        @let status = item_key(row, "status");
                        @if !value(&status).is_empty() { input type="hidden" name=(status) value=(value(&status)); }
                        @for (k, label, hint) in ITEM_FIELDS {
                            @let name = item_key(row, k);
                            (field(&text(&name, &format!("{label} (item {})", row + 1), hint), value(&name), at(&name)))
                        }
                    }
                }
                @if rows < MAX_ROWS {
                    p { button type="submit" class="secondary" name=(ADD) value="row" { "Add a row" } }
                }
                button type="submit" { "Save schedule" }
                " " a class="button secondary" href=(back) { "Back" }
            }
        },
    );
    if let Some(e) = error {
        *res.status_mut() = e.status;
    }
    res
}

pub async fn new(visitor: Visitor) -> Response {
    if let Some(r) = SCHEDULE.forbidden(&visitor) {
        return r;
    }
    let values = HashMap::from([("emailZeroAmountInvoices".to_string(), "true".to_string())]);
    form(&visitor, None, &values, None)
}

pub async fn edit(State(console): State<Console>, visitor: Visitor, Id(id): Id) -> Response {
    if let Some(r) = SCHEDULE.forbidden(&visitor) {
        return r;
    }
    match console
        .get(&visitor, &format!("/v1/invoice-schedules/{id}"))
        .await
    {
        Ok(s) => form(&visitor, Some(&id), &values_of(&s), None),
        Err(r) => r,
    }
}

/// Saves through the API, or shows the form with one more row ("Add a row").
async fn submit(
    console: &Console,
    visitor: &Visitor,
    id: Result<&str, ApiProblem>,
    new: bool,
    mut values: HashMap<String, String>,
) -> Response {
    let shown_id = (!new).then(|| id.as_ref().map_or("", |i| *i));
    if values.contains_key(ADD) {
        let rows = (rows_of(&values) + 1).min(MAX_ROWS);
        values.insert(ROWS.into(), rows.to_string());
        return form(visitor, shown_id, &values, None);
    }
    let id = match id {
        Ok(id) => id,
        Err(e) => return form(visitor, shown_id, &values, Some(&e)),
    };
    let (req, rows) = request_of(&values, id);
    match SCHEDULE.save(console, visitor, id, new, req).await {
        Saved::Done => Redirect::to(&format!("/console/invoice-schedules/{id}")).into_response(),
        Saved::AtForm(e) => form(visitor, shown_id, &values, Some(&at_form(e, &rows))),
        Saved::Page(r) => r,
    }
}

pub async fn create(
    State(console): State<Console>,
    visitor: Visitor,
    headers: HeaderMap,
    Form(values): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = check_change(&console, &visitor, &headers, &values) {
        return r.into_response();
    }
    let raw = values.get("id").cloned().unwrap_or_default();
    submit(&console, &visitor, new_id(&raw), true, values).await
}

pub async fn update(
    State(console): State<Console>,
    visitor: Visitor,
    headers: HeaderMap,
    Id(id): Id,
    Form(values): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = check_change(&console, &visitor, &headers, &values) {
        return r.into_response();
    }
    submit(&console, &visitor, Ok(&id), false, values).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn values(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn blank_rows_are_left_out_and_an_items_error_is_shown_at_its_row() {
        let v = values(&[
            ("rows", "3"),
            ("accountId", "A-1"),
            ("subscriptionIds", "S-1, S-2,"),
            ("items[0].id", ""),
            ("items[2].id", "I-1"),
            ("items[2].invoiceDate", "2027-01-01"),
            ("items[2].amount", "1.005"),
            ("items[2].status", "Processed"),
            ("autoPost", "true"),
        ]);
        let (req, rows) = request_of(&v, "S");
        assert_eq!(
            req,
            json!({"id": "S", "accountId": "A-1", "subscriptionIds": ["S-1", "S-2"],
                "items": [{"id": "I-1", "invoiceDate": "2027-01-01", "amount": "1.005", "status": "Processed"}],
                "autoPost": true, "autoEmail": false, "emailZeroAmountInvoices": false})
        );
        assert_eq!(rows, [2]);
        let e = ApiProblem {
            status: StatusCode::BAD_REQUEST,
            message: "too many decimals".into(),
            field: Some("items[0].amount".into()),
        };
        assert_eq!(at_form(e, &rows).field.as_deref(), Some("items[2].amount"));
    }

    #[test]
    fn a_stored_schedule_fills_the_form_with_a_blank_row_more() {
        let s = json!({"id": "S", "accountId": "A-1", "subscriptionIds": ["S-1"], "autoEmail": true,
            "items": [{"id": "I-1", "invoiceDate": "2027-01-01", "amount": "10.00", "status": "Processed"}]});
        let v = values_of(&s);
        assert_eq!(v["items[0].amount"], "10.00");
        assert_eq!(v["items[0].status"], "Processed");
        assert_eq!(v["subscriptionIds"], "S-1");
        assert_eq!(v["autoEmail"], "true");
        assert_eq!(rows_of(&v), 2);
    }
}
