//! An invoice or credit memo: its lines and totals, its PDF inline, payments and
//! balance, and its history from the audit trail.

use crate::actions::{Action, Subject};
use crate::audit::resource_trail;
use crate::fmt::{amount, instant, text};
use crate::layout::{page as render, problem};
use crate::session::Visitor;
use crate::{Console, Id};
use axum::extract::State;
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde_json::Value;

/// The totals in the order they add up: the charge buckets, their sum (`fee`, the
/// charges before adjustments), adjustments, subtotal, tax, total.
const TOTALS: [(&str, &str); 9] = [
    ("recurring", "Recurring"),
    ("oneTime", "One-time"),
    ("usage", "Usage"),
    ("evergreen", "Evergreen"),
    ("fee", "Charges"),
    ("adjustments", "Adjustments"),
    ("subTotal", "Subtotal"),
    ("tax", "Tax"),
    ("total", "Total"),
];

fn status_of(doc: &Value) -> &str {
    text(doc, "status")
}

/// "invoice INV-000000001", "credit memo CM-000000001".
fn named(doc: &Value) -> String {
    let kind = if text(doc, "kind") == "Invoice" {
        "invoice"
    } else {
        "credit memo"
    };
    match doc.get("number").and_then(Value::as_str) {
        Some(n) => format!("{kind} {n}"),
        None => format!("the draft {kind}"),
    }
}

fn total(doc: &Value) -> String {
    amount(text(&doc["totals"], "total"), text(doc, "currency"))
}

/// A preview's document is never approved, posted, voided or canceled.
fn not_preview(doc: &Value) -> Result<(), String> {
    if doc.get("preview").and_then(Value::as_bool) == Some(true) {
        Err("A preview's document is never approved, posted or corrected.".into())
    } else {
        Ok(())
    }
}

/// Payments or credit applied to an invoice (`amountPaid` above zero): the API refuses
/// its void (`document_has_payments`).
fn has_payments(doc: &Value) -> bool {
    text(doc, "amountPaid")
        .parse::<rust_decimal::Decimal>()
        .is_ok_and(|paid| !paid.is_zero())
}

pub const ACTIONS: [Action; 4] = [
    Action {
        slug: "approve",
        label: "Approve",
        route: "/v1/invoices/{id}/approve",
        allowed: |d| {
            not_preview(d)?;
            match status_of(d) {
                "Draft" => Ok(()),
                s => Err(format!(
                    "Only a Draft document is approved; this one is {s}."
                )),
            }
        },
        consequence: |d| format!("Approving marks {} Approved, ready to post.", named(d)),
        follow: None,
    },
    Action {
        slug: "post",
        label: "Post",
        route: "/v1/invoices/{id}/post",
        allowed: |d| {
            not_preview(d)?;
            match status_of(d) {
                "Draft" | "Approved" => Ok(()),
                s => Err(format!(
                    "Only a Draft or Approved document is posted; this one is {s}."
                )),
            }
        },
        consequence: |d| {
            format!(
                "Posting locks {}: it can no longer be changed or canceled (only voided), and its {} becomes a receivable.",
                named(d),
                total(d)
            )
        },
        follow: None,
    },
    Action {
        slug: "void",
        label: "Void",
        route: "/v1/invoices/{id}/void",
        allowed: |d| {
            not_preview(d)?;
            if text(d, "kind") != "Invoice" {
                return Err("A credit memo is not voided.".into());
            }
            match status_of(d) {
                "Posted" if has_payments(d) => Err(format!(
                    "This invoice has {} in payments or credit applied, and the void's credit memo would reverse the whole invoice: reverse them first.",
                    amount(text(d, "amountPaid"), text(d, "currency"))
                )),
                "Posted" => Ok(()),
                "Draft" | "Approved" => Err(
                    "Only a Posted invoice is voided; this one is not posted yet: cancel it."
                        .into(),
                ),
                s => Err(format!("Only a Posted invoice is voided; this one is {s}.")),
            }
        },
        consequence: |d| {
            format!(
                "Voiding issues a credit memo for {} and marks {} Voided; the account's billing is rolled back to before it, so its next run (or a rebill) bills the same items again.",
                total(d),
                named(d)
            )
        },
        follow: Some("/creditMemo/id"),
    },
    Action {
        slug: "cancel",
        label: "Cancel",
        route: "/v1/invoices/{id}/cancel",
        allowed: |d| {
            not_preview(d)?;
            match status_of(d) {
                "Draft" | "Approved" => Ok(()),
                "Posted" => Err("A Posted document is not canceled: void it.".into()),
                s => Err(format!(
                    "Only a Draft or Approved document is canceled; this one is {s}."
                )),
            }
        },
        consequence: |d| {
            format!(
                "Canceling marks {} Canceled (it keeps its number; no credit memo is issued), and rolls the account's billing back to before it, so its next run bills the same items again.",
                named(d)
            )
        },
        follow: None,
    },
];

/// Invoices and credit memos, as the console acts on them.
pub static DOCUMENT: Subject = Subject {
    read: "/v1/invoices/{id}",
    page: "/console/invoices/{id}",
    name: named,
    actions: &ACTIONS,
};

async fn page_of(console: &Console, visitor: &Visitor, id: &str) -> Result<Response, Response> {
    let doc = console.get(visitor, &format!("/v1/invoices/{id}")).await?;
    let is_invoice = text(&doc, "kind") == "Invoice";
    let payments = if is_invoice {
        Some(
            console
                .get(visitor, &format!("/v1/invoices/{id}/payments"))
                .await?,
        )
    } else {
        None
    };
    let audit = console
        .get(
            visitor,
            &format!(
                "/v1/audit-events?resource={id}&limit={}",
                crate::audit::FIRST
            ),
        )
        .await?;
    let currency = text(&doc, "currency");
    let money = |v: &Value, k: &str| amount(text(v, k), currency);
    let number = doc
        .get("number")
        .and_then(Value::as_str)
        .unwrap_or("(draft)");
    let kind = if is_invoice { "Invoice" } else { "Credit memo" };
    let lines = doc
        .get("lines")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Ok(render(
        visitor,
        &format!("{kind} {number}"),
        html! {
            h1 { (kind) " " (number) }
            p { a href={ "/console/runs/" (text(&doc, "runId")) } { "Back to its run" } }
            dl class="summary" {
                dt { "Status" } dd data-testid="document-status" { (crate::layout::status(text(&doc, "status"))) }
                dt { "Account" } dd { (text(&doc, "accountId")) }
                dt { "Invoice date" } dd { (text(&doc, "invoiceDate")) }
                dt { "Due date" } dd { (text(&doc, "dueDate")) }
                @if let Some(by) = doc.get("voidedBy").and_then(Value::as_str) {
                    dt { "Voided" } dd { (instant(text(&doc, "voidedAt"))) " by " (by) }
                }
                @if let Some(by) = doc.get("canceledBy").and_then(Value::as_str) {
                    dt { "Canceled" } dd { (instant(text(&doc, "canceledAt"))) " by " (by) }
                }
                dt { "PDF" } dd { (text(&doc, "documentStatus"))
                    @if let Some(r) = doc.get("documentFailureReason").and_then(Value::as_str) { ": " (r) } }
                dt { "Email" } dd { (text(&doc, "deliveryStatus"))
                    @if let Some(r) = doc.get("deliveryReason").and_then(Value::as_str) { ": " (r) } }
            }
            (DOCUMENT.section(visitor, id, &doc))
            (crate::rebill::offer(visitor, id, &doc))
            section aria-labelledby="lines-h" {
                h2 id="lines-h" { "Lines" }
                div class="scroll" role="region" aria-label="Lines" tabindex="0" {
                    table {
                        caption { "Lines of " (number) }
                        thead { tr { th scope="col" { "Description" } th scope="col" { "Type" } th scope="col" { "Period" } th scope="col" class="num" { "Quantity" } th scope="col" class="num" { "Amount" } } }
                        tbody { @for l in &lines { tr {
                            th scope="row" { (text(l, "description")) }
                            td { (text(l, "type")) }
                            td { (text(l, "periodStart")) @if !text(l, "periodEnd").is_empty() { " – " (text(l, "periodEnd")) } }
                            td class="num" { (text(l, "quantity")) }
                            td class="num" { (money(l, "amount")) }
                        } } }
                    }
                }
                table {
                    caption { "Totals (" (currency) ")" }
                    tbody { @for (k, label) in TOTALS { tr { th scope="row" { (label) } td class="num" { (money(&doc["totals"], k)) } } } }
                }
            }
            @if let Some(p) = &payments {
                section aria-labelledby="pay-h" {
                    h2 id="pay-h" { "Payments and balance" }
                    p { "Paid " (money(p, "amountPaid")) "; balance " strong { (money(p, "balance")) } " (" (text(p, "paymentStatus")) ")." }
                    @let items = p.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
                    @if items.is_empty() { p { "No payments recorded." } } @else {
                        table {
                            caption { "Payments, oldest first" }
                            thead { tr { th scope="col" { "Date" } th scope="col" class="num" { "Amount" } th scope="col" { "Reference" } th scope="col" { "Recorded" } } }
                            tbody { @for i in &items { tr {
                                td { (text(i, "date")) } td class="num" { (money(i, "amount")) }
                                td { (text(i, "reference")) } td { (instant(text(i, "createdAt"))) }
                            } } }
                        }
                    }
                }
            }
            section aria-labelledby="pdf-h" {
                h2 id="pdf-h" { "PDF" }
                @if text(&doc, "documentStatus") == "Generated" {
                    p { a href={ "/console/invoices/" (id) "/document" } { "Open the PDF of " (number) } }
                    iframe class="pdf" title={ "PDF of " (number) } src={ "/console/invoices/" (id) "/document" } {}
                } @else {
                    p { "No PDF yet: request the run's PDFs from its page." }
                }
            }
            (resource_trail("Audit trail", &audit, id))
        },
    ))
}

pub async fn page(State(console): State<Console>, visitor: Visitor, Id(id): Id) -> Response {
    match page_of(&console, &visitor, &id).await {
        Ok(r) | Err(r) => r,
    }
}

/// The PDF's bytes, as `GET /v1/invoices/{id}/document` answers them.
pub async fn pdf(State(console): State<Console>, visitor: Visitor, Id(id): Id) -> Response {
    pdf_answer(&console, &visitor, &format!("/v1/invoices/{id}/document")).await
}

/// A PDF the API answers at `uri`, shown inline (the API's refusal as the error page).
pub(crate) async fn pdf_answer(console: &Console, visitor: &Visitor, uri: &str) -> Response {
    match console
        .call(visitor.principal(), Method::GET, uri, None)
        .await
    {
        Ok((status, _, bytes)) if status.is_success() => (
            [
                (header::CONTENT_TYPE, "application/pdf"),
                (header::CONTENT_DISPOSITION, "inline"),
            ],
            bytes,
        )
            .into_response(),
        Ok((status, _, bytes)) => {
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            problem(visitor, &crate::Answer { status, body }.error())
        }
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn void(doc: &Value) -> Result<(), String> {
        let a = ACTIONS.iter().find(|a| a.slug == "void");
        a.map_or(Err("no void".into()), |a| (a.allowed)(doc))
    }

    #[test]
    fn only_a_posted_invoice_without_payments_is_offered_its_void() {
        let doc = |status: &str, kind: &str, paid: &str| {
            json!({"status": status, "kind": kind, "amountPaid": paid, "currency": "USD",
                "number": "INV-000000001", "preview": false, "totals": {"total": "1403.13"}})
        };
        assert_eq!(void(&doc("Posted", "Invoice", "0.00")), Ok(()));
        let paid = void(&doc("Posted", "Invoice", "10.00")).unwrap_err();
        assert!(
            paid.contains("$10.00") && paid.contains("reverse them first"),
            "{paid}"
        );
        assert!(void(&doc("Approved", "Invoice", "0.00"))
            .unwrap_err()
            .contains("cancel it"));
        assert!(void(&doc("Posted", "CreditMemo", "0.00")).is_err());
        let consequence = (ACTIONS[2].consequence)(&doc("Posted", "Invoice", "0.00"));
        assert_eq!(
            consequence.split(" and ").next(),
            Some("Voiding issues a credit memo for $1,403.13")
        );
    }
}
