//! Create a run: the canonical run request as a form. Validation is the API's: its
//! error names the field (`targetDate`), and the form shows the message at that field.

use crate::layout::{page, problem};
use crate::session::{check_change, Visitor};
use crate::{ApiProblem, Console};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The form's text fields: (request field, label, hint).
const TEXT_FIELDS: [(&str, &str, &str); 5] = [
    ("name", "Name", "Optional: how the run is listed."),
    (
        "targetDate",
        "Target date",
        "YYYY-MM-DD: bill what is due up to this day.",
    ),
    (
        "invoiceDate",
        "Invoice date",
        "YYYY-MM-DD, optional: the target date when empty.",
    ),
    (
        "dueDate",
        "Due date",
        "YYYY-MM-DD, optional: from each account's payment terms when empty.",
    ),
    (
        "invoiceMessage",
        "Invoice message",
        "Optional: printed on every invoice.",
    ),
];

const RUN_TYPES: [(&str, &str); 3] = [
    ("Immediate", "Immediate: starts at once"),
    (
        "Manual",
        "Manual: created Pending, previewed and started from its page",
    ),
    (
        "Preview",
        "Preview: a dry run with its diff, never numbered or posted",
    ),
];

fn form(visitor: &Visitor, values: &HashMap<String, String>, error: Option<&ApiProblem>) -> Markup {
    let value = |k: &str| values.get(k).map(String::as_str).unwrap_or("");
    let at = |k: &str| {
        error
            .filter(|e| e.field.as_deref() == Some(k))
            .map(|e| e.message.clone())
    };
    let elsewhere = error.filter(|e| {
        !e.field
            .as_deref()
            .is_some_and(|f| TEXT_FIELDS.iter().any(|(k, _, _)| *k == f) || f == "runType")
    });
    html! {
        h1 { "New invoice run" }
        @if let Some(e) = elsewhere {
            p class="error" role="alert" {
                @if let Some(f) = &e.field { (f) ": " } (e.message)
            }
        }
        @if error.is_some() && elsewhere.is_none() {
            p class="error" role="alert" { "The run was not created: see the field marked below." }
        }
        form method="post" action="/console/runs" novalidate {
            input type="hidden" name="csrf" value=(visitor.csrf);
            div class="field" {
                label for="runType" { "Run type" }
                select id="runType" name="runType" {
                    @for (v, label) in RUN_TYPES { option value=(v) selected[value("runType") == v] { (label) } }
                }
            }
            @for (k, label, hint) in TEXT_FIELDS {
                (crate::fields::field(&crate::fields::text(k, label, hint), value(k), at(k).as_deref()))
            }
            div class="field" {
                input type="checkbox" id="suppressZeroInvoices" name="suppressZeroInvoices" value="true"
                    checked[value("suppressZeroInvoices") == "true"];
                " " label for="suppressZeroInvoices" style="display:inline" { "Suppress zero invoices" }
            }
            button type="submit" { "Create run" }
        }
    }
}

pub async fn new_run(State(_console): State<Console>, visitor: Visitor) -> Response {
    if !visitor.may(&Method::POST, "/v1/invoice-runs") {
        return forbidden(&visitor);
    }
    page(&visitor, "New run", form(&visitor, &HashMap::new(), None))
}

fn forbidden(visitor: &Visitor) -> Response {
    let scope = billrun_api::access::scope_of(&Method::POST, "/v1/invoice-runs");
    problem(
        visitor,
        &ApiProblem {
            status: StatusCode::FORBIDDEN,
            message: format!("Creating a run needs the scope {}.", scope.as_str()),
            field: None,
        },
    )
}

/// The run request of the form: empty fields are left out (the API's defaults).
fn request_of(values: &HashMap<String, String>) -> Value {
    let mut req = Map::new();
    for key in TEXT_FIELDS.iter().map(|(k, _, _)| *k).chain(["runType"]) {
        if let Some(v) = values.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            req.insert(key.to_string(), Value::String(v.to_string()));
        }
    }
    if values.get("suppressZeroInvoices").map(String::as_str) == Some("true") {
        req.insert("suppressZeroInvoices".into(), Value::Bool(true));
    }
    Value::Object(req)
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
    let answer = match console
        .json(
            visitor.principal(),
            Method::POST,
            "/v1/invoice-runs",
            Some(request_of(&values)),
        )
        .await
    {
        Ok(a) => a,
        Err(r) => return r,
    };
    if answer.ok() {
        let id = answer.body.get("id").and_then(Value::as_str).unwrap_or("");
        return Redirect::to(&format!("/console/runs/{}", crate::enc(id))).into_response();
    }
    let e = answer.error();
    if e.status == StatusCode::BAD_REQUEST {
        let mut res = page(&visitor, "New run", form(&visitor, &values, Some(&e)));
        *res.status_mut() = StatusCode::BAD_REQUEST;
        return res;
    }
    problem(&visitor, &e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_fields_are_left_to_the_api_defaults() {
        let values: HashMap<String, String> = [
            ("name", "Dec"),
            ("targetDate", "2026-12-01"),
            ("dueDate", " "),
            ("csrf", "x"),
            ("runType", "Manual"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            request_of(&values),
            serde_json::json!({"name": "Dec", "targetDate": "2026-12-01", "runType": "Manual"})
        );
    }
}
