//! The audit trail through the API: a run's whole lifecycle, each change with its
//! actor, in order; filters, pages and bad parameters.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::{Method, StatusCode};
use common::TestApi;
use serde_json::{json, Value};
use std::sync::Arc;

/// The in-memory API dispatching run events after each write (which projects them
/// into the audit trail), callers named by `x-caller`, with a one-account book.
async fn audited() -> TestApi {
    let store = Arc::new(billrun_app::memory::MemoryStore::new());
    let queue = Arc::new(billrun_app::memory::MemoryQueue::new());
    let app = billrun_app::App::in_memory(
        store.clone(),
        queue.clone(),
        Arc::new(billrun_documents::PdfRenderer),
    )
    .dispatching_after_writes();
    let api = TestApi::with_callers(app, store, queue);
    let book = r#"{"accounts": [{"id": "A-1", "name": "C", "currency": "USD", "billCycleDay": 1},
                                {"id": "A-2", "name": "D", "currency": "EUR", "billCycleDay": 1}],
        "subscriptions": [{"id": "S-1", "accountId": "A-1", "productId": "P", "startDate": "2024-01-01",
          "charges": [{"id": "C-1", "type": "Recurring", "price": "10.00", "billingPeriod": "Month"}]},
          {"id": "S-2", "accountId": "A-2", "productId": "P", "startDate": "2024-01-01",
          "charges": [{"id": "C-2", "type": "Recurring", "price": "20.00", "billingPeriod": "Month"}]}]}"#;
    api.import_as(book, "admin").await;
    api
}

async fn call(api: &TestApi, method: Method, uri: &str, who: &str) -> common::Reply {
    let r = api
        .call(method, uri, Some("{}"), &[("x-caller", who)])
        .await;
    assert!(r.status.is_success(), "{uri}: {} {}", r.status, r.text);
    r
}

/// (action, actor, resource type) of each entry of a listing.
fn rows(items: &Value) -> Vec<(String, Value, String)> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["actor"].clone(),
                e["resource"]["type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_runs_lifecycle_is_listed_change_by_change_with_its_actors_in_order() {
    let api = audited().await;
    let r = api
        .call(
            Method::POST,
            "/v1/invoice-runs",
            Some(r#"{"targetDate": "2024-02-01", "runType": "Manual"}"#),
            &[("x-caller", "alice")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let run = r.body["id"].as_str().unwrap().to_string();
    api.work_until_settled().await;
    call(
        &api,
        Method::POST,
        &format!("/v1/invoice-runs/{run}/start"),
        "bob",
    )
    .await;
    api.work_until_settled().await;
    let invoices = call(
        &api,
        Method::GET,
        &format!("/v1/invoice-runs/{run}/invoices"),
        "bob",
    )
    .await;
    let invoice = invoices.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    call(
        &api,
        Method::POST,
        &format!("/v1/invoices/{invoice}/approve"),
        "carol",
    )
    .await;
    call(
        &api,
        Method::POST,
        &format!("/v1/invoice-runs/{run}/post"),
        "bob",
    )
    .await;
    api.work_until_settled().await;

    let trail = call(
        &api,
        Method::GET,
        &format!("/v1/audit-events?resource={run}"),
        "dave",
    )
    .await;
    let s = |x: &str| x.to_string();
    assert_eq!(
        rows(&trail.body["items"]),
        vec![
            (s("run.created"), json!("alice"), s("run")),
            (s("run.started"), json!("bob"), s("run")),
            (s("run.completed"), Value::Null, s("run")),
            (s("document.approved"), json!("carol"), s("document")),
            (s("run.posted"), json!("bob"), s("run")),
        ],
        "{}",
        trail.text
    );
    let items = trail.body["items"].as_array().unwrap();
    let times: Vec<&str> = items.iter().map(|e| e["time"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert_eq!(
        items[4]["changes"],
        json!([{"field": "status", "before": "Completed", "after": "Posted"}])
    );
    assert_eq!(
        items[3]["changes"],
        json!([{"field": "status", "before": "Draft", "after": "Approved"}])
    );
    assert_eq!(items[3]["resource"]["id"], json!(invoice));
    assert!(items.iter().all(|e| e["runId"] == json!(run)));

    // Each filter alone and together; a document's own entries.
    let by_bob = call(
        &api,
        Method::GET,
        &format!("/v1/audit-events?resource={run}&actor=bob"),
        "dave",
    )
    .await;
    assert_eq!(
        rows(&by_bob.body["items"])
            .into_iter()
            .map(|r| r.0)
            .collect::<Vec<_>>(),
        ["run.started", "run.posted"]
    );
    let of_invoice = call(
        &api,
        Method::GET,
        &format!("/v1/audit-events?resource={invoice}"),
        "dave",
    )
    .await;
    assert_eq!(rows(&of_invoice.body["items"]).len(), 1);
    let everything = call(&api, Method::GET, "/v1/audit-events?actor=carol", "dave").await;
    assert_eq!(rows(&everything.body["items"]).len(), 1);
    let later = call(
        &api,
        Method::GET,
        "/v1/audit-events?since=2999-01-01T00:00:00Z",
        "dave",
    )
    .await;
    assert_eq!(later.body["items"], json!([]));

    // Pages of two, resumed by the cursor: the same entries in the same order.
    let mut paged = Vec::new();
    let mut uri = format!("/v1/audit-events?resource={run}&limit=2");
    loop {
        let page = call(&api, Method::GET, &uri, "dave").await;
        paged.extend(rows(&page.body["items"]));
        match page.body["nextCursor"].as_str() {
            Some(c) => uri = format!("/v1/audit-events?resource={run}&limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(paged, rows(&trail.body["items"]));

    // Dispatching the run's events again (a repeated stream batch) adds no entry.
    let id = billrun_domain::ids::RunId(uuid::Uuid::parse_str(&run).unwrap());
    api.app
        .dispatcher()
        .dispatch(id, 0..=u64::MAX)
        .await
        .unwrap();
    let again = call(
        &api,
        Method::GET,
        &format!("/v1/audit-events?resource={run}"),
        "dave",
    )
    .await;
    assert_eq!(again.body["items"], trail.body["items"]);
}

#[tokio::test]
async fn bad_parameters_are_refused_at_their_name() {
    let api = audited().await;
    for (query, field) in [
        ("resource=".to_string() + &"x".repeat(257), "resource"),
        ("since=yesterday".to_string(), "since"),
        ("cursor=%21%21".to_string(), "cursor"),
        ("limit=0".to_string(), "limit"),
        ("who=bob".to_string(), "who"),
    ] {
        let r = api.get(&format!("/v1/audit-events?{query}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.text);
        assert_eq!(r.body["field"], field, "{query}: {}", r.text);
    }
}

/// The entries about `resource`, as (action, actor, changes).
async fn entries_of(api: &TestApi, resource: &str) -> Vec<(String, Value, Value)> {
    let r = call(
        api,
        Method::GET,
        &format!("/v1/audit-events?resource={resource}"),
        "dave",
    )
    .await;
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["runId"], Value::Null, "configuration belongs to no run");
            (
                e["action"].as_str().unwrap().to_string(),
                e["actor"].clone(),
                e["changes"].clone(),
            )
        })
        .collect()
}

async fn change(api: &TestApi, method: Method, uri: &str, body: &str, who: &str) -> Value {
    let r = api
        .call(method, uri, Some(body), &[("x-caller", who)])
        .await;
    assert!(r.status.is_success(), "{uri}: {} {}", r.status, r.text);
    r.body
}

#[tokio::test]
async fn configuration_changes_are_listed_with_their_actors_and_never_their_secrets() {
    let api = audited().await;
    let s = |x: &str| x.to_string();

    // Templates: created, changed, activated.
    let template =
        r#"{"name": "Standard", "content": {"companyName": "Northwind", "locale": "en-US"}}"#;
    change(
        &api,
        Method::PUT,
        "/v1/document-templates/T-1",
        template,
        "erin",
    )
    .await;
    let renamed = template.replace("Standard", "Plain");
    change(
        &api,
        Method::PUT,
        "/v1/document-templates/T-1",
        &renamed,
        "frank",
    )
    .await;
    change(
        &api,
        Method::POST,
        "/v1/document-templates/T-1/activate",
        "{}",
        "erin",
    )
    .await;
    let t = entries_of(&api, "T-1").await;
    assert_eq!(
        t.iter()
            .map(|e| (e.0.clone(), e.1.clone()))
            .collect::<Vec<_>>(),
        [
            (s("template.created"), json!("erin")),
            (s("template.updated"), json!("frank")),
            (s("template.activated"), json!("erin")),
        ]
    );
    assert_eq!(
        t[1].2,
        json!([{"field": "name", "before": "Standard", "after": "Plain"}]),
        "only what changed"
    );
    assert_eq!(t[2].2, json!([{"field": "activeTemplate", "after": "T-1"}]));

    // A webhook endpoint: created, its secret rotated, deleted. The secrets never
    // appear, the rotation shows as a change of the signing secrets' dates.
    let created = change(
        &api,
        Method::PUT,
        "/v1/webhook-endpoints/ledger",
        r#"{"url": "https://hooks.example.com/ledger", "events": ["run.posted"]}"#,
        "erin",
    )
    .await;
    let first_secret = created["secret"].as_str().unwrap().to_string();
    let rotated = change(
        &api,
        Method::POST,
        "/v1/webhook-endpoints/ledger/rotate-secret",
        "{}",
        "frank",
    )
    .await;
    let second_secret = rotated["secret"].as_str().unwrap().to_string();
    let r = api
        .call(
            Method::DELETE,
            "/v1/webhook-endpoints/ledger",
            None,
            &[("x-caller", "erin")],
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let w = entries_of(&api, "ledger").await;
    assert_eq!(
        w.iter()
            .map(|e| (e.0.clone(), e.1.clone()))
            .collect::<Vec<_>>(),
        [
            (s("webhookEndpoint.created"), json!("erin")),
            (s("webhookEndpoint.updated"), json!("frank")),
            (s("webhookEndpoint.deleted"), json!("erin")),
        ]
    );
    assert!(w[0]
        .2
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["field"] == "url" && c["after"] == "https://hooks.example.com/ledger"));
    assert_eq!(
        w[1].2
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["field"].clone())
            .collect::<Vec<_>>(),
        [json!("signingSecrets")]
    );
    let everything = api.get("/v1/audit-events?limit=1000").await;
    for secret in [&first_secret, &second_secret] {
        assert!(
            !everything.text.contains(secret.as_str()),
            "a secret in the trail"
        );
    }

    // A run schedule and an invoice schedule.
    let rs = r#"{"runTemplate": {"name": "Month end"}, "recurrence": {"kind": "Monthly", "dayOfMonth": 1, "localTime": "02:30", "timeZone": "UTC"}}"#;
    change(&api, Method::PUT, "/v1/run-schedules/RS-1", rs, "erin").await;
    change(
        &api,
        Method::POST,
        "/v1/run-schedules/RS-1/pause",
        "{}",
        "frank",
    )
    .await;
    let r = entries_of(&api, "RS-1").await;
    assert_eq!(
        r.iter()
            .map(|e| (e.0.clone(), e.1.clone()))
            .collect::<Vec<_>>(),
        [
            (s("runSchedule.created"), json!("erin")),
            (s("runSchedule.updated"), json!("frank")),
        ]
    );
    let is = json!({"id": "IS-1", "accountId": "A-1", "subscriptionIds": ["S-1"],
        "items": [{"id": "I-1", "invoiceDate": "2024-02-01", "amount": "100.00"}]});
    change(
        &api,
        Method::PUT,
        "/v1/invoice-schedules/IS-1",
        &is.to_string(),
        "erin",
    )
    .await;
    assert_eq!(
        entries_of(&api, "IS-1").await[0].0,
        "invoiceSchedule.created"
    );

    // The book: the import (counts), an account (field names only: personal data stays
    // out), usage.
    let b = entries_of(&api, "book").await;
    assert_eq!(b[0].0, "book.imported");
    assert_eq!(b[0].1, json!("admin"));
    assert_eq!(
        b[0].2,
        json!([{"field": "accounts", "after": "2"}, {"field": "subscriptions", "after": "2"}])
    );
    change(
        &api,
        Method::PUT,
        "/v1/accounts/A-1",
        r#"{"id": "A-1", "name": "Casey Jones", "currency": "USD", "billCycleDay": 1}"#,
        "frank",
    )
    .await;
    let a = entries_of(&api, "A-1").await;
    assert_eq!(
        (a[0].0.as_str(), &a[0].1),
        ("account.updated", &json!("frank"))
    );
    assert_eq!(a[0].2, json!([{"field": "name"}]));
    assert!(!api
        .get("/v1/audit-events?limit=1000")
        .await
        .text
        .contains("Casey"));
}

#[tokio::test]
async fn a_pending_runs_patch_is_listed_with_the_fields_it_changed() {
    let api = audited().await;
    let r = api
        .call(
            Method::POST,
            "/v1/invoice-runs",
            Some(r#"{"targetDate": "2024-02-01", "runType": "Manual", "name": "Feb"}"#),
            &[("x-caller", "alice")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let run = r.body["id"].as_str().unwrap().to_string();
    let r = api
        .call(
            Method::PATCH,
            &format!("/v1/invoice-runs/{run}"),
            Some(r#"{"targetDate": "2024-02-15", "name": "February"}"#),
            &[("x-caller", "bob")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // The same patch again changes nothing, and records nothing.
    let r = api
        .call(
            Method::PATCH,
            &format!("/v1/invoice-runs/{run}"),
            Some(r#"{"targetDate": "2024-02-15", "name": "February"}"#),
            &[("x-caller", "bob")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    api.work_until_settled().await;
    let trail = call(
        &api,
        Method::GET,
        &format!("/v1/audit-events?resource={run}"),
        "dave",
    )
    .await;
    let s = |x: &str| x.to_string();
    assert_eq!(
        rows(&trail.body["items"]),
        vec![
            (s("run.created"), json!("alice"), s("run")),
            (s("run.updated"), json!("bob"), s("run")),
        ],
        "{}",
        trail.text
    );
    assert_eq!(
        trail.body["items"][1]["changes"],
        json!([
            {"field": "name", "before": "Feb", "after": "February"},
            {"field": "targetDate", "before": "2024-02-01", "after": "2024-02-15"}
        ])
    );
    // The run's own events list the change too.
    let events = call(
        &api,
        Method::GET,
        &format!("/v1/invoice-runs/{run}/events"),
        "dave",
    )
    .await;
    let types: Vec<&str> = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["run.created", "run.updated"], "{}", events.text);
}
