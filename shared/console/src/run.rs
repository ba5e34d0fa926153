//! A run's page (its counters, reconciliation, amounts, accounts by outcome, documents,
//! events and audit trail) and its actions, each confirmed on a page that states its
//! consequence before the API is called.

use crate::actions::{Action, Subject};
use crate::audit::resource_trail;
use crate::fmt::{amount, count, instant, text, thousands};
use crate::layout::{page as render, status};
use crate::runs::progress;
use crate::session::Visitor;
use crate::{enc, Console, Id};
use axum::extract::{Query, State};
use axum::response::Response;
use maud::{html, Markup};
use serde_json::Value;
use std::collections::HashMap;

fn status_of(run: &Value) -> &str {
    text(run, "status")
}

fn documents(run: &Value) -> u64 {
    let c = run.get("counters").cloned().unwrap_or(Value::Null);
    count(&c, "invoices") + count(&c, "creditMemos")
}

fn failed(run: &Value) -> u64 {
    run.get("counters").map_or(0, |c| count(c, "failed"))
}

fn preview(run: &Value) -> bool {
    text(&run["request"], "runType") == "Preview"
}

/// A run under a transition refuses every other lifecycle command until it finishes.
fn settled(run: &Value) -> Result<(), String> {
    match run.get("transition").and_then(Value::as_str) {
        Some(t) => Err(format!("A {t} of this run is under way.")),
        None => Ok(()),
    }
}

fn completed(run: &Value, verb: &str) -> Result<(), String> {
    settled(run)?;
    if preview(run) {
        return Err(format!("A preview run cannot be {verb}."));
    }
    match status_of(run) {
        "Completed" | "CompletedWithErrors" => Ok(()),
        s => Err(format!(
            "Only a completed run can be {verb}; this run is {s}."
        )),
    }
}

fn documents_phrase(n: u64) -> String {
    match n {
        1 => "1 document".into(),
        n => format!("{} documents", thousands(n)),
    }
}

pub const ACTIONS: [Action; 8] = [
    Action {
        slug: "start",
        label: "Start",
        route: "/v1/invoice-runs/{id}/start",
        allowed: |r| {
            settled(r)?;
            match status_of(r) {
                "Pending" => Ok(()),
                s => Err(format!(
                    "Only a Pending run can be started; this run is {s}."
                )),
            }
        },
        consequence: |_| "Starting bills every account the run selects, now.".into(),
        follow: None,
    },
    Action {
        slug: "preview",
        label: "Preview",
        route: "/v1/invoice-runs/{id}/preview",
        allowed: |r| {
            if preview(r) {
                return Err("This run is a preview itself.".into());
            }
            match status_of(r) {
                "Pending" => Ok(()),
                s => Err(format!("Only a Pending run is previewed; this run is {s}.")),
            }
        },
        consequence: |_| {
            "Previewing rates the run's accounts as starting it would, without numbering a document or moving any billing state; the preview shows its diff against the previous run and expires.".into()
        },
        follow: Some("/id"),
    },
    Action {
        slug: "approve",
        label: "Approve",
        route: "/v1/invoice-runs/{id}/approve",
        allowed: |r| completed(r, "approved"),
        consequence: |r| {
            format!(
                "Approving marks the Draft ones of the run's {} Approved.",
                documents_phrase(documents(r))
            )
        },
        follow: None,
    },
    Action {
        slug: "post",
        label: "Post",
        route: "/v1/invoice-runs/{id}/post",
        allowed: |r| completed(r, "posted"),
        consequence: |r| {
            let n = documents(r);
            let (they, their) = if n == 1 {
                ("it", "its")
            } else {
                ("they", "their")
            };
            format!(
                "Posting locks {}: {they} can no longer be changed or canceled, and {their} amounts become receivables.",
                documents_phrase(n)
            )
        },
        follow: None,
    },
    Action {
        slug: "cancel",
        label: "Cancel run",
        route: "/v1/invoice-runs/{id}/cancel",
        allowed: |r| {
            settled(r)?;
            match status_of(r) {
                "Pending" | "Completed" | "CompletedWithErrors" => Ok(()),
                s => Err(format!(
                    "Only a Pending or completed run that posted nothing can be canceled; this run is {s}."
                )),
            }
        },
        consequence: |r| {
            format!(
                "Canceling reverts what the run billed: its {} are canceled (their numbers are kept).",
                documents_phrase(documents(r))
            )
        },
        follow: None,
    },
    Action {
        slug: "retry-failed",
        label: "Retry failed accounts",
        route: "/v1/invoice-runs/{id}/retry-failed",
        allowed: |r| {
            settled(r)?;
            if failed(r) == 0 {
                return Err("No account of this run failed.".into());
            }
            match status_of(r) {
                "CompletedWithErrors" => Ok(()),
                s => Err(format!(
                    "Only a run completed with errors can retry them; this run is {s}."
                )),
            }
        },
        consequence: |r| {
            format!(
                "Retrying bills the {} failed accounts again; their documents take further numbers.",
                thousands(failed(r))
            )
        },
        follow: None,
    },
    Action {
        slug: "documents",
        label: "Request PDFs",
        route: "/v1/invoice-runs/{id}/documents",
        allowed: |r| match status_of(r) {
            "Completed" | "CompletedWithErrors" | "Posted" => Ok(()),
            s => Err(format!(
                "PDFs are made for a completed or posted run; this run is {s}."
            )),
        },
        consequence: |r| {
            format!(
                "Generates the PDFs of the run's {} with the active template.",
                documents_phrase(documents(r))
            )
        },
        follow: None,
    },
    Action {
        slug: "emails",
        label: "Send emails",
        route: "/v1/invoice-runs/{id}/emails",
        allowed: |r| match status_of(r) {
            "Posted" => Ok(()),
            s => Err(format!("Only a posted run is emailed; this run is {s}.")),
        },
        consequence: |r| {
            format!(
                "Emails each of the run's {} to its customer, once, with its PDF attached.",
                documents_phrase(documents(r))
            )
        },
        follow: None,
    },
];

/// Runs, as the console acts on them.
pub static RUN: Subject = Subject {
    read: "/v1/invoice-runs/{id}",
    page: "/console/runs/{id}",
    name: |r| format!("run {}", text(r, "number")),
    actions: &ACTIONS,
};

fn counters(run: &Value) -> Markup {
    let c = run.get("counters").cloned().unwrap_or(Value::Null);
    let (sel, billed, supp, nothing, failed) = (
        count(&c, "accountsSelected"),
        count(&c, "billed"),
        count(&c, "suppressed"),
        count(&c, "nothingToBill"),
        count(&c, "failed"),
    );
    let sum = billed + supp + nothing + failed;
    let list = c
        .get("amounts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    html! {
        section aria-labelledby="counters-h" {
            h2 id="counters-h" { "Counters" }
            table {
                caption { "Accounts and documents" }
                tbody {
                    tr { th scope="row" { "Accounts selected" } td class="num" { (thousands(sel)) } }
                    tr { th scope="row" { "Billed" } td class="num" { (thousands(billed)) } }
                    tr { th scope="row" { "Suppressed" } td class="num" { (thousands(supp)) } }
                    tr { th scope="row" { "Nothing to bill" } td class="num" { (thousands(nothing)) } }
                    tr { th scope="row" { "Failed" } td class="num" { (thousands(failed)) } }
                    tr { th scope="row" { "Invoices" } td class="num" { (thousands(count(&c, "invoices"))) } }
                    tr { th scope="row" { "Credit memos" } td class="num" { (thousands(count(&c, "creditMemos"))) } }
                }
            }
            p data-testid="reconciliation" {
                strong { "Reconciliation: " }
                (thousands(sel)) " selected = " (thousands(billed)) " billed + " (thousands(supp))
                " suppressed + " (thousands(nothing)) " nothing to bill + " (thousands(failed)) " failed"
                @if sum == sel { " — reconciles." } @else { " — does not reconcile yet (" (thousands(sum)) " processed)." }
            }
            @if !list.is_empty() {
                table {
                    caption { "Amounts per currency" }
                    thead { tr { th scope="col" { "Currency" } th scope="col" class="num" { "Invoiced" } th scope="col" class="num" { "Credited" } } }
                    tbody {
                        @for a in &list {
                            tr {
                                th scope="row" { (text(a, "currency")) }
                                td class="num" { (amount(text(a, "invoiced"), text(a, "currency"))) }
                                td class="num" { (amount(text(a, "credited"), text(a, "currency"))) }
                            }
                        }
                    }
                }
            }
        }
    }
}

const OUTCOMES: [&str; 4] = ["Failed", "Billed", "Suppressed", "NothingToBill"];

/// Whether the run's own counters say no account has `outcome`, once they are final
/// (not while it is processing). The page then does not ask for those accounts: the
/// stores find the accounts of an outcome by reading the run's outcomes until a page is
/// full, which for an outcome no account has is all of them (100 ms for 100,000
/// accounts in memory, docs/console.md "Speed").
fn none_with(run: &Value, outcome: &str) -> bool {
    let key = match outcome {
        "Failed" => "failed",
        "Billed" => "billed",
        "Suppressed" => "suppressed",
        "NothingToBill" => "nothingToBill",
        _ => return false,
    };
    let settled = !matches!(status_of(run), "Pending" | "Processing")
        && run.get("transition").is_none_or(Value::is_null);
    settled
        && run
            .get("counters")
            .and_then(|c| c.get(key))
            .and_then(Value::as_u64)
            == Some(0)
}
const ROWS: usize = 25;

pub async fn page_of(
    console: &Console,
    visitor: &Visitor,
    id: &str,
    q: &HashMap<String, String>,
) -> Result<Response, Response> {
    let run = console
        .get(visitor, &format!("/v1/invoice-runs/{id}"))
        .await?;
    let get = |k: &str| q.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let outcome = get("outcome")
        .filter(|o| OUTCOMES.contains(o))
        .unwrap_or("Failed");
    let accounts = if none_with(&run, outcome) && get("acursor").is_none() {
        serde_json::json!({ "items": [] })
    } else {
        let mut uri = format!("/v1/invoice-runs/{id}/accounts?limit={ROWS}&outcome={outcome}");
        if let Some(c) = get("acursor") {
            uri.push_str(&format!("&cursor={}", enc(c)));
        }
        console.get(visitor, &uri).await?
    };
    let mut uri = format!("/v1/invoice-runs/{id}/invoices?limit={ROWS}");
    if let Some(c) = get("dcursor") {
        uri.push_str(&format!("&cursor={}", enc(c)));
    }
    let docs = console.get(visitor, &uri).await?;
    let audit = console
        .get(
            visitor,
            &format!(
                "/v1/audit-events?resource={id}&limit={}",
                crate::audit::FIRST
            ),
        )
        .await?;
    let events = console
        .get(visitor, &format!("/v1/invoice-runs/{id}/events"))
        .await?;
    // A preview's diff against the run before it, once its documents are final.
    let diff = if preview(&run) && status_of(&run).starts_with("Completed") {
        let mut uri = format!("/v1/invoice-runs/{id}/diff?limit={ROWS}");
        if let Some(c) = get("xcursor") {
            uri.push_str(&format!("&cursor={}", enc(c)));
        }
        Some(console.get(visitor, &uri).await?)
    } else {
        None
    };
    let items = |v: &Value| {
        v.get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let next = |v: &Value| v.get("nextCursor").and_then(Value::as_str).map(enc);
    let here = format!("/console/runs/{id}");
    let number = text(&run, "number");
    Ok(render(
        visitor,
        &format!("Run {number}"),
        html! {
            h1 { "Run " (number) @if !text(&run, "name").is_empty() { " — " (text(&run, "name")) } }
            dl class="summary" {
                dt { "Status" } dd data-testid="run-status" { (status(text(&run, "status")))
                    @if let Some(t) = run.get("transition").and_then(Value::as_str) { " (" (t) " under way)" } }
                dt { "Type" } dd { (text(&run["request"], "runType")) }
                dt { "Target date" } dd { (text(&run, "targetDate")) }
                dt { "Created" } dd { (instant(text(&run, "createdAt"))) " by " (text(&run, "createdBy")) }
                @if !text(&run, "postedBy").is_empty() { dt { "Posted by" } dd { (text(&run, "postedBy")) } }
                dt { "Progress" } dd { (progress(&run)) }
            }
            (RUN.section(visitor, id, &run))
            (counters(&run))
            @if let Some(d) = &diff { (diff_section(d, &here)) }
            section aria-labelledby="accounts-h" {
                h2 id="accounts-h" { "Accounts by outcome" }
                form method="get" action=(here) {
                    label for="outcome" { "Outcome " }
                    select id="outcome" name="outcome" {
                        @for o in OUTCOMES { option value=(o) selected[o == outcome] { (o) } }
                    }
                    " " button type="submit" class="secondary" { "Show" }
                }
                @let list = items(&accounts);
                @if list.is_empty() { p { "No account with the outcome " (outcome) "." } } @else {
                    div class="scroll" role="region" aria-label="Accounts" tabindex="0" {
                        table data-testid="accounts" {
                            caption { "Accounts " (outcome) }
                            thead { tr { th scope="col" { "Account" } th scope="col" { "Outcome" } th scope="col" { "Reason" } th scope="col" { "Documents" } } }
                            tbody { @for a in &list { tr {
                                th scope="row" { (text(a, "accountId")) }
                                td { (text(a, "outcome")) }
                                td { (text(a, "reason")) }
                                td { @for n in a.get("documentNumbers").and_then(Value::as_array).cloned().unwrap_or_default() { (n.as_str().unwrap_or("")) " " } }
                            } } }
                        }
                    }
                }
                @if let Some(c) = next(&accounts) { p { a href={ (here) "?outcome=" (outcome) "&acursor=" (c) } { "Next accounts" } } }
            }
            section aria-labelledby="docs-h" {
                h2 id="docs-h" { "Invoices and credit memos" }
                @let list = items(&docs);
                @if list.is_empty() { p { "No documents." } } @else {
                    div class="scroll" role="region" aria-label="Documents" tabindex="0" {
                        table {
                            caption { "Documents in numbering order" }
                            thead { tr {
                                th scope="col" { "Number" } th scope="col" { "Kind" } th scope="col" { "Account" }
                                th scope="col" { "Status" } th scope="col" class="num" { "Total" }
                                th scope="col" { "PDF" } th scope="col" { "Email" }
                            } }
                            tbody { @for d in &list { tr {
                                th scope="row" { a href={ "/console/invoices/" (text(d, "id")) } { (d.get("number").and_then(Value::as_str).unwrap_or("(draft)")) } }
                                td { (text(d, "kind")) }
                                td { (text(d, "accountId")) }
                                td { (status(text(d, "status"))) }
                                td class="num" { (amount(text(&d["totals"], "total"), text(d, "currency"))) }
                                td { (text(d, "documentStatus")) }
                                td { (text(d, "deliveryStatus")) }
                            } } }
                        }
                    }
                }
                @if let Some(c) = next(&docs) { p { a href={ (here) "?dcursor=" (c) } { "Next documents" } } }
            }
            section aria-labelledby="events-h" {
                h2 id="events-h" { "Events" }
                ol { @for e in items(&events) {
                    li { (instant(text(&e, "time"))) " " (text(&e, "type")) }
                } }
            }
            (resource_trail("Audit trail", &audit, id))
        },
    ))
}

fn totals_text(list: Option<&Value>) -> String {
    list.and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .map(|a| amount(text(a, "amount"), text(a, "currency")))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// What the preview would change against the previous run: totals per currency, and
/// the accounts that differ.
fn diff_section(diff: &Value, here: &str) -> Markup {
    let list = |k: &str| {
        diff.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let (totals, accounts) = (list("totals"), list("items"));
    html! {
        section aria-labelledby="diff-h" {
            h2 id="diff-h" { "Diff against the previous run" }
            @if diff.get("baseRunId").is_none_or(Value::is_null) { p { "No previous run: every account is new." } }
            table data-testid="diff-totals" {
                caption { "Totals per currency" }
                thead { tr { th scope="col" { "Currency" } th scope="col" class="num" { "Previous" } th scope="col" class="num" { "This run" } th scope="col" class="num" { "Difference" } } }
                tbody { @for t in &totals { tr {
                    th scope="row" { (text(t, "currency")) }
                    td class="num" { (amount(text(t, "oldTotal"), text(t, "currency"))) }
                    td class="num" { (amount(text(t, "newTotal"), text(t, "currency"))) }
                    td class="num" { (amount(text(t, "difference"), text(t, "currency"))) }
                } } }
            }
            @if !accounts.is_empty() {
                div class="scroll" role="region" aria-label="Accounts that differ" tabindex="0" {
                    table {
                        caption { "Accounts that differ" }
                        thead { tr { th scope="col" { "Account" } th scope="col" { "Change" } th scope="col" { "Previous" } th scope="col" { "This run" } } }
                        tbody { @for a in &accounts { tr {
                            th scope="row" { (text(a, "accountId")) }
                            td { (text(a, "change")) }
                            td { (totals_text(a.get("oldTotals"))) }
                            td { (totals_text(a.get("newTotals"))) }
                        } } }
                    }
                }
            }
            @if let Some(c) = diff.get("nextCursor").and_then(Value::as_str) {
                p { a href={ (here) "?xcursor=" (enc(c)) } { "Next accounts of the diff" } }
            }
        }
    }
}

pub async fn page(
    State(console): State<Console>,
    visitor: Visitor,
    Id(id): Id,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match page_of(&console, &visitor, &id, &q).await {
        Ok(r) | Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_outcome_the_settled_counters_rule_out_is_not_asked_for() {
        let run = |status: &str, failed: u64| json!({"status": status, "counters": {"failed": failed, "billed": 3, "suppressed": 0, "nothingToBill": 0}});
        assert!(none_with(&run("Completed", 0), "Failed"));
        assert!(!none_with(&run("Completed", 0), "Billed"));
        assert!(!none_with(&run("CompletedWithErrors", 2), "Failed"));
        assert!(
            !none_with(&run("Processing", 0), "Failed"),
            "counters still moving"
        );
        let mut retrying = run("Completed", 0);
        retrying["transition"] = json!("RetryFailed");
        assert!(!none_with(&retrying, "Failed"), "a transition under way");
        assert!(
            !none_with(&json!({"status": "Completed"}), "Failed"),
            "no counters"
        );
    }
}
