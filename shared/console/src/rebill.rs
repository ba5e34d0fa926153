//! Rebill an account from a voided or canceled invoice's page: a confirmation that
//! states the new run it makes, with the target date as a field (the voided invoice's
//! run's target date by default), then `POST /v1/accounts/{id}/rebill` with an
//! `Idempotency-Key` made when the confirmation was rendered, so that a form submitted
//! twice makes one run.

use crate::fields::{self, field};
use crate::fmt::text;
use crate::layout::{page, problem};
use crate::session::{check_change, Visitor};
use crate::{enc, segment, ApiProblem, Console, Id};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde_json::{json, Value};
use std::collections::HashMap;

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// The API route, as its scope table spells it.
const ROUTE: &str = "/v1/accounts/{id}/rebill";

/// Whether the document's account is to be billed again from its page: an invoice
/// voided or canceled (its billing was rolled back), not a preview's.
fn allowed(doc: &Value) -> Result<(), String> {
    if doc.get("preview").and_then(Value::as_bool) == Some(true) {
        return Err("A preview's document is never rebilled.".into());
    }
    if text(doc, "kind") != "Invoice" {
        return Err("A credit memo is not rebilled: rebill from the invoice it voided.".into());
    }
    match text(doc, "status") {
        "Voided" | "Canceled" => Ok(()),
        s => Err(format!(
            "Only a voided or canceled invoice's account is rebilled from its page; this one is {s}."
        )),
    }
}

/// The "Rebill account" section of an invoice's page: shown to a visitor whose scopes
/// allow the rebill, when the invoice's status does.
pub fn offer(visitor: &Visitor, id: &str, doc: &Value) -> Markup {
    html! {
        @if visitor.may(&Method::POST, ROUTE) && allowed(doc).is_ok() {
            section aria-labelledby="rebill-h" {
                h2 id="rebill-h" { "Rebill" }
                p { "This invoice's billing was rolled back: the account's next run bills the same items again, or rebill it now in a run of its own." }
                p { a class="button" href={ "/console/invoices/" (id) "/rebill" } { "Rebill account" } }
            }
        }
    }
}

/// A fresh Idempotency-Key: 128 random bits, URL-safe base64 (as the session's own
/// tokens are written).
fn new_key() -> Result<String, String> {
    use base64::Engine;
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| format!("no random key: {e}"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// A key the form carried back: as the confirmation made it.
fn key_of(form: &HashMap<String, String>) -> Option<&str> {
    form.get("key").map(String::as_str).filter(|k| {
        k.len() == 22
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

struct Confirmation<'a> {
    id: &'a str,
    doc: &'a Value,
    target: &'a str,
    key: &'a str,
}

fn confirmation(visitor: &Visitor, c: &Confirmation, error: Option<&ApiProblem>) -> Response {
    let account = text(c.doc, "accountId");
    let number = text(c.doc, "number");
    let back = format!("/console/invoices/{}", c.id);
    let at_field = error.filter(|e| e.field.as_deref() == Some("targetDate"));
    let hint = format!(
        "YYYY-MM-DD: bill what is due up to this day. By default the target date of invoice {number}'s run."
    );
    let elsewhere = error.filter(|e| e.field.as_deref() != Some("targetDate"));
    let mut res = page(
        visitor,
        &format!("Rebill account {account}"),
        html! {
            h1 { "Rebill account: " (account) }
            @if let Some(e) = elsewhere { p class="error" role="alert" { @if let Some(f) = &e.field { (f) ": " } (e.message) } }
            @if at_field.is_some() { p class="error" role="alert" { "No run was made: see the field marked below." } }
            p class="notice" data-testid="consequence" {
                "Rebilling makes a new Immediate run for account " (account) " alone: it starts at once and bills what is due up to its target date, including what invoice " (number)
                " billed before its billing was rolled back. Submitting this form twice makes one run."
            }
            form method="post" action={ (back) "/rebill" } novalidate {
                input type="hidden" name="csrf" value=(visitor.csrf);
                input type="hidden" name="key" value=(c.key);
                // The form carries what its POST needs: on AWS the POST is served by the
                // API's write half, which reads nothing.
                input type="hidden" name="accountId" value=(account);
                input type="hidden" name="number" value=(number);
                (field(&fields::text("targetDate", "Target date", &hint), c.target, at_field.map(|e| e.message.as_str())))
                button type="submit" { "Confirm: Rebill account" }
                " " a class="button secondary" href=(back) { "Back" }
            }
        },
    );
    if error.is_some() {
        *res.status_mut() = error.map_or(StatusCode::BAD_REQUEST, |e| e.status);
    }
    res
}

fn forbidden(visitor: &Visitor) -> Response {
    let scope = billrun_api::access::scope_of(&Method::POST, ROUTE);
    problem(
        visitor,
        &ApiProblem {
            status: StatusCode::FORBIDDEN,
            message: format!("Rebilling an account needs the scope {}.", scope.as_str()),
            field: None,
        },
    )
}

/// The invoice, when the visitor may rebill its account from it (else the page that
/// says why not).
async fn invoice(console: &Console, visitor: &Visitor, id: &str) -> Result<Value, Response> {
    if !visitor.may(&Method::POST, ROUTE) {
        return Err(forbidden(visitor));
    }
    let doc = console.get(visitor, &format!("/v1/invoices/{id}")).await?;
    if let Err(why) = allowed(&doc) {
        return Err(problem(
            visitor,
            &ApiProblem {
                status: StatusCode::CONFLICT,
                message: why,
                field: None,
            },
        ));
    }
    Ok(doc)
}

/// The confirmation, with a new key.
pub async fn confirm(State(console): State<Console>, visitor: Visitor, Id(id): Id) -> Response {
    let doc = match invoice(&console, &visitor, &id).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let run = match console
        .get(
            &visitor,
            &format!("/v1/invoice-runs/{}", enc(text(&doc, "runId"))),
        )
        .await
    {
        Ok(r) => r,
        Err(r) => return r,
    };
    let key = match new_key() {
        Ok(k) => k,
        Err(e) => return crate::internal(&e),
    };
    let c = Confirmation {
        id: &id,
        doc: &doc,
        target: text(&run, "targetDate"),
        key: &key,
    };
    confirmation(&visitor, &c, None)
}

/// Rebills through the API with the form's key; the new (or, for a resubmitted form,
/// the same) run's page follows.
pub async fn rebill(
    State(console): State<Console>,
    visitor: Visitor,
    headers: HeaderMap,
    Id(id): Id,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = check_change(&console, &visitor, &headers, &form) {
        return r.into_response();
    }
    let (Some(key), Some(account)) = (
        key_of(&form),
        form.get("accountId").and_then(|a| segment(a)),
    ) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    // Not read again here (a form's POST reaches only the API's writes): the API checks
    // the scope, and the confirmation checked the invoice's status.
    let doc = json!({
        "accountId": account,
        "number": form.get("number").map_or("", String::as_str),
    });
    let target = form.get("targetDate").map_or("", |t| t.trim());
    let body = (!target.is_empty()).then(|| json!({ "targetDate": target }));
    let uri = format!("/v1/accounts/{}/rebill", enc(account));
    let answer = match console
        .json_with(
            visitor.principal(),
            Method::POST,
            &uri,
            body,
            &[(IDEMPOTENCY_KEY, key)],
        )
        .await
    {
        Ok(a) => a,
        Err(r) => return r,
    };
    if answer.ok() {
        let run = answer.body.get("id").and_then(Value::as_str).unwrap_or("");
        return Redirect::to(&format!("/console/runs/{}", enc(run))).into_response();
    }
    let e = answer.error();
    if e.status == StatusCode::BAD_REQUEST {
        let c = Confirmation {
            id: &id,
            doc: &doc,
            target,
            key,
        };
        return confirmation(&visitor, &c, Some(&e));
    }
    problem(&visitor, &e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_voided_or_canceled_invoice_is_rebilled_from_its_page() {
        let doc = |kind: &str, status: &str| json!({"kind": kind, "status": status});
        assert!(allowed(&doc("Invoice", "Voided")).is_ok());
        assert!(allowed(&doc("Invoice", "Canceled")).is_ok());
        assert!(allowed(&doc("Invoice", "Posted")).is_err());
        assert!(allowed(&doc("CreditMemo", "Posted")).is_err());
        let mut preview = doc("Invoice", "Canceled");
        preview["preview"] = json!(true);
        assert!(allowed(&preview).is_err());
    }

    #[test]
    fn a_key_comes_back_only_as_the_confirmation_made_it() {
        let form = |k: &str| HashMap::from([("key".to_string(), k.to_string())]);
        let made = new_key().unwrap_or_default();
        assert_eq!(key_of(&form(&made)), Some(made.as_str()));
        assert_eq!(key_of(&form("x\r\nInjected: 1")), None);
        assert_eq!(key_of(&form("")), None);
    }
}
