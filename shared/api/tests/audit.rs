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
        ("resource=nope", "resource"),
        ("since=yesterday", "since"),
        ("cursor=%21%21", "cursor"),
        ("limit=0", "limit"),
        ("who=bob", "who"),
    ] {
        let r = api.get(&format!("/v1/audit-events?{query}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.text);
        assert_eq!(r.body["field"], field, "{query}: {}", r.text);
    }
}
