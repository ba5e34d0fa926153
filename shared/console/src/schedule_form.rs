//! Create or edit a run schedule: the schedule as a form, saved with `PUT
//! /v1/run-schedules/{id}`. Validation is the API's: its error names the field by its
//! path in the request (`recurrence.dayOfMonth`), which is the form field's name, and
//! the form shows the message there. An edit keeps what the form does not show of the
//! run template (filters, approvals...) as the API last answered it.

use crate::fields::{field, text, Field};
use crate::layout::{page, problem};
use crate::session::{check_change, Visitor};
use crate::{enc, segment, ApiProblem, Console, Id};
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// The API route, as its scope table spells it.
const ROUTE: &str = "/v1/run-schedules/{id}";

const WEEKDAYS: [&str; 8] = [
    "",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

const FIELDS: [Field<'static>; 11] = [
    text("runTemplate.name", "Run name", "Optional: how its runs are listed."),
    Field {
        name: "recurrence.kind",
        label: "Recurrence",
        hint: "Monthly on a day, weekly on a weekday, or every N days from a first date.",
        choices: &["Monthly", "Weekly", "EveryNDays"],
        suggestions: None,
    },
    text(
        "recurrence.dayOfMonth",
        "Day of month",
        "Monthly: 1 to 31 (past a month's end, its last day).",
    ),
    Field {
        name: "recurrence.weekday",
        label: "Weekday",
        hint: "Weekly: the day it occurs.",
        choices: &WEEKDAYS,
        suggestions: None,
    },
    text(
        "recurrence.intervalDays",
        "Interval in days",
        "Every N days: N.",
    ),
    text(
        "recurrence.anchorDate",
        "First date",
        "Every N days: YYYY-MM-DD, the first occurrence.",
    ),
    text(
        "recurrence.localTime",
        "Local time",
        "HH:MM, 24-hour, in the schedule's time zone.",
    ),
    text(
        "recurrence.timeZone",
        "Time zone",
        "An IANA name: Europe/Berlin, America/New_York, UTC.",
    ),
    Field {
        name: "targetDate.rule",
        label: "Target date",
        hint: "Each run's target date: the occurrence's date (plus the offset), or the last day of the month before it.",
        choices: &["OccurrenceDate", "LastDayOfPreviousMonth"],
        suggestions: None,
    },
    text(
        "targetDate.offsetDays",
        "Target date offset in days",
        "With the occurrence's date: -366 to 366, default 0.",
    ),
    Field {
        name: "missed",
        label: "Missed occurrences",
        hint: "After a pause or an outage: a run for every missed occurrence, or for the latest only.",
        choices: &["CatchUpAll", "LatestOnly"],
        suggestions: None,
    },
];

/// The fields a recurrence kind takes (the API refuses the others').
fn takes(kind: &str, name: &str) -> bool {
    match name {
        "recurrence.dayOfMonth" => kind == "Monthly",
        "recurrence.weekday" => kind == "Weekly",
        "recurrence.intervalDays" | "recurrence.anchorDate" => kind == "EveryNDays",
        _ => true,
    }
}

/// A number as JSON when it is one; else the text, for the API to name the field.
fn number_or_text(v: &str) -> Value {
    v.parse::<i64>().map_or_else(|_| json!(v), |n| json!(n))
}

/// The request of the form, over the run template the schedule had (`base`).
fn request_of(values: &HashMap<String, String>, base: &Value) -> Value {
    let get = |k: &str| values.get(k).map_or("", |v| v.trim());
    let kind = get("recurrence.kind");
    let mut template = base.as_object().cloned().unwrap_or_default();
    match get("runTemplate.name") {
        "" => template.remove("name"),
        name => template.insert("name".into(), json!(name)),
    };
    let mut recurrence = Map::new();
    let mut target = Map::new();
    for f in FIELDS.iter().filter(|f| takes(kind, f.name)) {
        let v = get(f.name);
        if v.is_empty() {
            continue;
        }
        let value = match f.name {
            "recurrence.dayOfMonth" | "recurrence.intervalDays" | "targetDate.offsetDays" => {
                number_or_text(v)
            }
            _ => json!(v),
        };
        match f.name.split_once('.') {
            Some(("recurrence", k)) => recurrence.insert(k.into(), value),
            Some(("targetDate", k)) => target.insert(k.into(), value),
            _ => None,
        };
    }
    let mut req = json!({
        "runTemplate": template,
        "recurrence": recurrence,
        "enabled": values.get("enabled").map(String::as_str) == Some("true"),
    });
    if !target.is_empty() {
        req["targetDate"] = Value::Object(target);
    }
    if !get("missed").is_empty() {
        req["missed"] = json!(get("missed"));
    }
    req
}

/// The form's values of a stored schedule.
fn values_of(s: &Value) -> HashMap<String, String> {
    let mut values = HashMap::new();
    for f in &FIELDS {
        let v = match f.name.split_once('.') {
            Some((obj, k)) => s[obj][k].clone(),
            None => s[f.name].clone(),
        };
        let v = match v {
            Value::String(t) => t,
            Value::Number(n) => n.to_string(),
            _ => continue,
        };
        values.insert(f.name.to_string(), v);
    }
    if s["enabled"] == json!(true) {
        values.insert("enabled".into(), "true".into());
    }
    values.insert(RUN_TEMPLATE.into(), s["runTemplate"].to_string());
    values
}

/// The hidden field with the stored run template (as JSON): an edit keeps what the form
/// does not show (filters, approvals) without reading the schedule again, since on AWS
/// a form's POST reaches only the API's writes.
const RUN_TEMPLATE: &str = "runTemplate";

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
    let shown = |f: &str| f == "id" || FIELDS.iter().any(|x| x.name == f);
    let elsewhere = error.filter(|e| !e.field.as_deref().is_some_and(shown));
    let (title, action) = match id {
        None => (
            "New run schedule".to_string(),
            "/console/schedules".to_string(),
        ),
        Some(id) => (
            format!("Edit run schedule {id}"),
            format!("/console/schedules/{id}/edit"),
        ),
    };
    let id_field = text(
        "id",
        "Schedule id",
        "Letters, digits, - and _: how the API and the audit trail name it.",
    );
    let mut res = page(
        visitor,
        &title,
        html! {
            h1 { (title) }
            @if let Some(e) = elsewhere {
                p class="error" role="alert" { @if let Some(f) = &e.field { (f) ": " } (e.message) }
            }
            @if error.is_some() && elsewhere.is_none() {
                p class="error" role="alert" { "The schedule was not saved: see the field marked below." }
            }
            form method="post" action=(action) novalidate {
                input type="hidden" name="csrf" value=(visitor.csrf);
                @if id.is_some() { input type="hidden" name=(RUN_TEMPLATE) value=(value(RUN_TEMPLATE)); }
                @if id.is_none() { (field(&id_field, value("id"), at("id"))) }
                @for f in &FIELDS { (field(f, value(f.name), at(f.name))) }
                div class="field" {
                    input type="checkbox" id="enabled" name="enabled" value="true" checked[value("enabled") == "true"];
                    " " label for="enabled" style="display:inline" { "Enabled (creates runs from its next occurrence)" }
                }
                button type="submit" { "Save schedule" }
                " " a class="button secondary" href="/console/schedules" { "Back" }
            }
        },
    );
    if let Some(e) = error {
        *res.status_mut() = e.status;
    }
    res
}

fn forbidden(visitor: &Visitor) -> Option<Response> {
    if visitor.may(&Method::PUT, ROUTE) {
        return None;
    }
    let scope = billrun_api::access::scope_of(&Method::PUT, ROUTE);
    Some(problem(
        visitor,
        &ApiProblem {
            status: StatusCode::FORBIDDEN,
            message: format!("Saving a run schedule needs the scope {}.", scope.as_str()),
            field: None,
        },
    ))
}

/// Whether the visitor may create or edit schedules (the list offers it then).
pub fn offered(visitor: &Visitor) -> bool {
    visitor.may(&Method::PUT, ROUTE)
}

pub async fn new(visitor: Visitor) -> Response {
    if let Some(r) = forbidden(&visitor) {
        return r;
    }
    let values = HashMap::from([
        ("recurrence.kind".to_string(), "Monthly".to_string()),
        ("recurrence.dayOfMonth".to_string(), "1".to_string()),
        ("recurrence.localTime".to_string(), "02:00".to_string()),
        (
            "recurrence.timeZone".to_string(),
            crate::zone::name().to_string(),
        ),
        ("enabled".to_string(), "true".to_string()),
    ]);
    form(&visitor, None, &values, None)
}

pub async fn edit(State(console): State<Console>, visitor: Visitor, Id(id): Id) -> Response {
    if let Some(r) = forbidden(&visitor) {
        return r;
    }
    match console
        .get(&visitor, &format!("/v1/run-schedules/{id}"))
        .await
    {
        Ok(s) => form(&visitor, Some(&id), &values_of(&s), None),
        Err(r) => r,
    }
}

/// Saves through the API; the list follows.
async fn save(
    console: &Console,
    visitor: &Visitor,
    id: &str,
    new: bool,
    values: &HashMap<String, String>,
    base: &Value,
) -> Response {
    // A new schedule must not replace one whose id was typed: the API's create-only PUT
    // refuses a taken id (409 `run_schedule_exists`, at the id field) in its write.
    let create_only: &[(header::HeaderName, &str)] = if new {
        &[(header::IF_NONE_MATCH, "*")]
    } else {
        &[]
    };
    let answer = match console
        .json_with(
            visitor.principal(),
            Method::PUT,
            &format!("/v1/run-schedules/{}", enc(id)),
            Some(request_of(values, base)),
            create_only,
        )
        .await
    {
        Ok(a) => a,
        Err(r) => return r,
    };
    if answer.ok() {
        return Redirect::to("/console/schedules").into_response();
    }
    let e = answer.error();
    if e.status == StatusCode::BAD_REQUEST || e.field.is_some() {
        return form(visitor, (!new).then_some(id), values, Some(&e));
    }
    problem(visitor, &e)
}

fn id_problem(message: &str) -> ApiProblem {
    ApiProblem {
        status: StatusCode::BAD_REQUEST,
        message: message.into(),
        field: Some("id".into()),
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
    let raw = values.get("id").map_or("", |v| v.trim());
    let Some(id) = segment(raw) else {
        let e = id_problem("must be 1 to 128 letters, digits, - or _");
        return form(&visitor, None, &values, Some(&e));
    };
    save(&console, &visitor, id, true, &values, &json!({})).await
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
    let base = match values
        .get(RUN_TEMPLATE)
        .map(|t| serde_json::from_str::<Value>(t))
    {
        Some(Ok(t @ Value::Object(_))) => t,
        _ => return StatusCode::BAD_REQUEST.into_response(),
    };
    save(&console, &visitor, &id, false, &values, &base).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_request_takes_the_kinds_fields_and_keeps_the_template_the_form_does_not_show() {
        let v = values(&[
            ("runTemplate.name", "Month end"),
            ("recurrence.kind", "Monthly"),
            ("recurrence.dayOfMonth", "31"),
            ("recurrence.weekday", "Monday"),
            ("recurrence.localTime", "02:30"),
            ("recurrence.timeZone", "Europe/Berlin"),
            ("targetDate.rule", "OccurrenceDate"),
            ("targetDate.offsetDays", "x"),
            ("missed", "LatestOnly"),
            ("enabled", "true"),
            ("csrf", "t"),
        ]);
        let base = json!({"name": "Old", "filters": {"batches": ["Batch1"]}});
        assert_eq!(
            request_of(&v, &base),
            json!({
                "runTemplate": {"name": "Month end", "filters": {"batches": ["Batch1"]}},
                "recurrence": {"kind": "Monthly", "dayOfMonth": 31, "localTime": "02:30", "timeZone": "Europe/Berlin"},
                "targetDate": {"rule": "OccurrenceDate", "offsetDays": "x"},
                "missed": "LatestOnly",
                "enabled": true,
            })
        );
    }

    #[test]
    fn a_stored_schedule_fills_the_form() {
        let s = json!({"runTemplate": {"name": "Weekly"}, "recurrence": {"kind": "Weekly", "weekday": "Monday",
            "localTime": "06:00", "timeZone": "UTC"}, "targetDate": {"rule": "OccurrenceDate", "offsetDays": -1},
            "missed": "CatchUpAll", "enabled": false});
        let v = values_of(&s);
        assert_eq!(v["recurrence.weekday"], "Monday");
        assert_eq!(v["targetDate.offsetDays"], "-1");
        assert_eq!(v["missed"], "CatchUpAll");
        assert!(!v.contains_key("enabled"));
    }
}
