//! Run schedules (`GET /v1/run-schedules`, a page at a time by its cursor): each with
//! its recurrence, time zone, state and next occurrence, and its Pause or Resume.

use crate::actions::{Action, Subject};
use crate::fmt::{instant, text};
use crate::layout::{page, status};
use crate::session::Visitor;
use crate::{cursor_arg, enc, segment, Console};
use axum::extract::{Query, State};
use axum::response::Response;
use maud::{html, Markup};
use serde_json::Value;
use std::collections::HashMap;

/// Schedules a page shows.
const PAGE: usize = 25;

fn enabled(s: &Value) -> bool {
    s.get("enabled").and_then(Value::as_bool).unwrap_or(false)
}

/// When the schedule occurs next, as the API gives it: the local date and time in the
/// schedule's own time zone (a time in a DST gap runs at the next valid instant, which
/// the UTC instant beside it shows exactly).
fn next_local(s: &Value) -> Option<String> {
    let next = s.get("nextOccurrence").filter(|n| !n.is_null())?;
    let r = &s["recurrence"];
    Some(format!(
        "{} {} {}",
        text(next, "localDate"),
        text(r, "localTime"),
        text(r, "timeZone")
    ))
}

/// The recurrence in words: "Monthly on day 31", "Weekly on Monday", "Every 14 days
/// from 2024-01-05", at its local time.
fn recurrence(r: &Value) -> String {
    let when = match text(r, "kind") {
        "Monthly" => format!("Monthly on day {}", r["dayOfMonth"]),
        "Weekly" => format!("Weekly on {}", text(r, "weekday")),
        "EveryNDays" => format!(
            "Every {} days from {}",
            r["intervalDays"],
            text(r, "anchorDate")
        ),
        other => other.to_string(),
    };
    format!("{when} at {}", text(r, "localTime"))
}

pub const ACTIONS: [Action; 2] = [
    Action {
        slug: "pause",
        label: "Pause",
        route: "/v1/run-schedules/{id}/pause",
        allowed: |s| {
            if enabled(s) {
                Ok(())
            } else {
                Err("This schedule is paused already.".into())
            }
        },
        consequence: |s| {
            let next = next_local(s).map_or(String::new(), |n| format!(" (next: {n})"));
            format!(
                "Pausing stops the schedule from creating runs: its next occurrence{next} and every one until it is resumed are skipped. A run it already started goes on."
            )
        },
        follow: None,
    },
    Action {
        slug: "resume",
        label: "Resume",
        route: "/v1/run-schedules/{id}/resume",
        allowed: |s| {
            if enabled(s) {
                Err("This schedule is not paused.".into())
            } else {
                Ok(())
            }
        },
        consequence: |_| {
            "Resuming creates runs again from the next occurrence after now; the occurrences while it was paused are skipped.".into()
        },
        follow: None,
    },
];

/// Run schedules, as the console acts on them.
pub static SCHEDULE: Subject = Subject {
    read: "/v1/run-schedules/{id}",
    page: "/console/schedules",
    name: |s| format!("run schedule {}", text(s, "id")),
    actions: &ACTIONS,
};

/// A row's actions: only those its state allows (a list names no reasons; the
/// confirmation page does).
fn row_actions(visitor: &Visitor, s: &Value) -> Markup {
    let id = text(s, "id");
    html! {
        // An id the console cannot put in a path is listed without actions.
        @if let Some(id) = segment(id) {
            @if crate::schedule_form::offered(visitor) {
                a class="button secondary" href={ "/console/schedules/" (id) "/edit" } aria-label={ "Edit " (id) } { "Edit" } " "
            }
            @for (a, allowed) in SCHEDULE.offered(visitor, s) {
                @if allowed.is_ok() {
                    a class="button" href=(SCHEDULE.confirm_url(id, a)) { (a.label) }
                }
            }
        }
    }
}

pub async fn list(
    State(console): State<Console>,
    visitor: Visitor,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let uri = format!(
        "/v1/run-schedules?limit={PAGE}{}",
        cursor_arg(q.get("cursor"))
    );
    let answer = match console.get(&visitor, &uri).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let items = crate::lists::items(&answer);
    page(
        &visitor,
        "Run schedules",
        html! {
            h1 { "Run schedules" }
            @if crate::schedule_form::offered(&visitor) {
                p { a class="button" href="/console/schedules/new" { "New schedule" } }
            }
            @if items.is_empty() { p { "No run schedules." } } @else {
                div class="scroll" role="region" aria-label="Run schedules" tabindex="0" {
                    table data-testid="schedules" {
                        caption { "Run schedules in id order" }
                        thead { tr {
                            th scope="col" { "Schedule" } th scope="col" { "Recurrence" } th scope="col" { "Time zone" }
                            th scope="col" { "State" } th scope="col" { "Next occurrence (local)" } th scope="col" { "Next occurrence (your time)" }
                            th scope="col" { "Target date" } th scope="col" { "Actions" }
                        } }
                        tbody { @for s in &items { tr {
                            th scope="row" { (text(s, "id"))
                                @if !text(&s["runTemplate"], "name").is_empty() { br; (text(&s["runTemplate"], "name")) } }
                            td { (recurrence(&s["recurrence"])) }
                            td { (text(&s["recurrence"], "timeZone")) }
                            td data-testid="schedule-state" { (status(if enabled(s) { "Enabled" } else { "Paused" })) }
                            td data-testid="next-occurrence" { (next_local(s).unwrap_or_else(|| "none while paused".into())) }
                            td { (instant(text(&s["nextOccurrence"], "at"))) }
                            td { (text(&s["nextOccurrence"], "targetDate")) }
                            td { (row_actions(&visitor, s)) }
                        } } }
                    }
                }
            }
            @if let Some(c) = answer.get("nextCursor").and_then(Value::as_str) {
                p { a href={ "/console/schedules?cursor=" (enc(c)) } rel="next" { "Next schedules" } }
            }
        },
    )
}
