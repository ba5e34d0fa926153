//! Preview runs through the API: `runType: Preview` and `POST .../preview` of a Pending
//! run; unnumbered documents marked as preview, downloadable like a run's; every change
//! a preview never takes refused with `run_is_preview`; the diff against the run before
//! (new, changed, disappeared, totals per currency); an expired preview is not found.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use common::TestApi;
use serde_json::{json, Value};

/// A-1 billed 10.00 a month throughout; A-2 only in January (its subscription ends);
/// A-3 20.00 a month; A-4 from February on.
async fn api() -> TestApi {
    let accounts: Vec<Value> = (1..=4)
        .map(|i| json!({"id": format!("A-{i}"), "name": format!("C{i}"), "currency": "USD", "billCycleDay": 1}))
        .collect();
    let sub = |i: u32, price: &str, start: &str, end: Option<&str>| {
        json!({"id": format!("S-{i}"), "accountId": format!("A-{i}"), "productId": "P",
            "startDate": start, "endDate": end, "charges": [{"id": format!("C-{i}"), "type": "Recurring",
            "price": price, "billingPeriod": "Month", "timing": "InAdvance"}]})
    };
    let subscriptions = vec![
        sub(1, "10.00", "2024-01-01", None),
        sub(2, "15.00", "2024-01-01", Some("2024-02-01")),
        sub(3, "20.00", "2024-01-01", None),
        sub(4, "40.00", "2024-02-01", None),
    ];
    let book = json!({"accounts": accounts, "subscriptions": subscriptions});
    TestApi::with_book(&book.to_string()).await
}

async fn create(api: &TestApi, body: Value) -> Value {
    let r = api.post("/v1/invoice-runs", &body.to_string()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body
}

async fn documents(api: &TestApi, run: &str) -> Vec<Value> {
    let r = api
        .get(&format!("/v1/invoice-runs/{run}/invoices?limit=1000"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_preview_of_a_pending_run_rates_it_unnumbered_and_leaves_it_pending() {
    let api = api().await;
    let pending = create(
        &api,
        json!({"targetDate": "2024-01-01", "runType": "Manual"}),
    )
    .await;
    let id = pending["id"].as_str().unwrap();
    let r = api
        .post(&format!("/v1/invoice-runs/{id}/preview"), "")
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["request"]["runType"], "Preview");
    assert!(r.body["number"].as_str().unwrap().starts_with("PREVIEW-"));
    assert!(r.body["expiresAt"].is_string());
    let preview = r.body["id"].as_str().unwrap().to_string();
    api.work().await;
    let view = api.get(&format!("/v1/invoice-runs/{preview}")).await;
    assert_eq!(view.body["status"], "Completed", "{}", view.text);
    // Listed with the runs, but not by the compatibility listings (their clients know no
    // preview).
    assert!(api.get("/v1/invoice-runs").await.text.contains(&preview));
    let seed_003 = api.get("/backend/api/v1/billingRuns/").await;
    assert_eq!(
        seed_003.body.as_array().unwrap().len(),
        1,
        "{}",
        seed_003.text
    );
    let bill_runs = api.get("/v2/bill_runs").await;
    assert!(bill_runs.text.contains(id), "{}", bill_runs.text);
    assert!(!bill_runs.text.contains(&preview), "{}", bill_runs.text);
    let docs = documents(&api, &preview).await;
    assert_eq!(docs.len(), 3);
    for d in &docs {
        assert_eq!(d["preview"], true);
        assert!(d["number"].is_null());
        assert_eq!(d["status"], "Draft");
    }
    // The Pending run is as it was, and still starts; its documents match, numbered.
    let again = api.get(&format!("/v1/invoice-runs/{id}")).await;
    assert_eq!(again.body["status"], "Pending");
    assert_eq!(again.body["number"], pending["number"]);
    let started = api.post(&format!("/v1/invoice-runs/{id}/start"), "").await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.text);
    api.work().await;
    let real = documents(&api, id).await;
    assert_eq!(real.len(), docs.len());
    for (p, d) in docs.iter().zip(&real) {
        assert_eq!(p["totals"], d["totals"]);
        assert_eq!(p["lines"], d["lines"]);
        assert_eq!(d["preview"], false);
        assert!(d["number"].is_string());
    }
    // The real run took the first numbers: the preview took none.
    assert_eq!(real[0]["number"], "INV-000000001");
    // Only a Pending run is previewed, and a preview is not previewed again.
    let r = api
        .post(&format!("/v1/invoice-runs/{id}/preview"), "")
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["code"], "run_not_pending");
    let r = api
        .post(&format!("/v1/invoice-runs/{preview}/preview"), "")
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["code"], "run_is_preview");
}

#[tokio::test]
async fn a_preview_is_never_posted_approved_canceled_rendered_or_exported() {
    let api = api().await;
    let preview = create(
        &api,
        json!({"targetDate": "2024-01-01", "runType": "Preview"}),
    )
    .await;
    let id = preview["id"].as_str().unwrap();
    api.work().await;
    let doc = documents(&api, id).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for uri in [
        format!("/v1/invoice-runs/{id}/post"),
        format!("/v1/invoice-runs/{id}/approve"),
        format!("/v1/invoice-runs/{id}/cancel"),
        format!("/v1/invoice-runs/{id}/retry-failed"),
        format!("/v1/invoice-runs/{id}/exports"),
        format!("/v1/invoice-runs/{id}/documents"),
        format!("/v1/invoices/{doc}/approve"),
        format!("/v1/invoices/{doc}/post"),
    ] {
        let r = api.post(&uri, "").await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{uri}: {}", r.text);
        assert_eq!(r.body["code"], "run_is_preview", "{uri}: {}", r.text);
    }
    // Its documents read out like a run's, unnumbered.
    let r = api
        .get(&format!("/v1/invoice-runs/{id}/export?format=jsonl"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text.lines().count(), 3, "{}", r.text);
    let r = api.get(&format!("/v1/invoice-runs/{id}/export")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.text.lines().count(),
        4,
        "a header and three rows: {}",
        r.text
    );
    // A preview asks for no post nor email.
    for field in ["autoPost", "autoEmail"] {
        let r = api
            .post(
                "/v1/invoice-runs",
                &json!({"targetDate": "2024-01-01", "runType": "Preview", field: true}).to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        assert_eq!(r.body["field"], field);
    }
}

#[tokio::test]
async fn the_diff_names_new_changed_and_disappeared_accounts_and_totals_per_currency() {
    let api = api().await;
    // Nothing before it: every account is new.
    let january = create(&api, json!({"targetDate": "2024-01-01"})).await;
    let january = january["id"].as_str().unwrap().to_string();
    api.work().await;
    let r = api.get(&format!("/v1/invoice-runs/{january}/diff")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.body["baseRunId"].is_null());
    let changes: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["change"].as_str().unwrap())
        .collect();
    assert_eq!(changes, ["new", "new", "new"]);
    // A-3 gets an adjustment: its February total changes.
    let r = api
        .post(
            "/v1/adjustments",
            r#"{"adjustments": [{"id": "J-1", "accountId": "A-3", "date": "2024-01-20", "amount": "5.00"}]}"#,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let preview = create(
        &api,
        json!({"targetDate": "2024-02-01", "runType": "Preview"}),
    )
    .await;
    let preview = preview["id"].as_str().unwrap().to_string();
    api.work().await;
    let r = api.get(&format!("/v1/invoice-runs/{preview}/diff")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["baseRunId"], january.as_str());
    let usd = |v: &str| json!([{"currency": "USD", "amount": v}]);
    assert_eq!(
        r.body["items"],
        json!([
            {"accountId": "A-2", "change": "disappeared", "oldTotals": usd("15.00"), "newTotals": []},
            {"accountId": "A-3", "change": "changed", "oldTotals": usd("20.00"), "newTotals": usd("25.00")},
            {"accountId": "A-4", "change": "new", "oldTotals": [], "newTotals": usd("40.00")},
        ])
    );
    assert_eq!(
        r.body["totals"],
        json!([{"currency": "USD", "oldTotal": "45.00", "newTotal": "75.00", "difference": "30.00"}])
    );
    assert!(r.body["nextCursor"].is_null());
    // Paged by account, the totals on every page.
    let first = api
        .get(&format!("/v1/invoice-runs/{preview}/diff?limit=2"))
        .await;
    assert_eq!(first.body["items"].as_array().unwrap().len(), 2);
    let cursor = first.body["nextCursor"].as_str().unwrap();
    let second = api
        .get(&format!(
            "/v1/invoice-runs/{preview}/diff?limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(second.body["items"], json!([r.body["items"][2]]));
    assert_eq!(second.body["totals"], r.body["totals"]);
    // Bad parameters are the client's.
    for q in ["limit=0", "cursor=x", "other=1"] {
        let r = api
            .get(&format!("/v1/invoice-runs/{preview}/diff?{q}"))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}: {}", r.text);
    }
    // A run still processing has no diff yet.
    let pending = create(
        &api,
        json!({"targetDate": "2024-02-01", "runType": "Manual"}),
    )
    .await;
    let r = api
        .get(&format!(
            "/v1/invoice-runs/{}/diff",
            pending["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["code"], "run_not_completed");
}

/// A clock stopped at an instant.
struct At(chrono::DateTime<chrono::Utc>);

impl billrun_app::ports::Clock for At {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.0
    }
}

#[tokio::test]
async fn an_expired_preview_is_neither_found_nor_listed() {
    let mut api = api().await;
    let preview = create(
        &api,
        json!({"targetDate": "2024-01-01", "runType": "Preview"}),
    )
    .await;
    let id = preview["id"].as_str().unwrap().to_string();
    api.work().await;
    assert_eq!(
        api.get(&format!("/v1/invoice-runs/{id}")).await.status,
        StatusCode::OK
    );
    let doc = documents(&api, &id).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        api.get(&format!("/v1/invoices/{doc}")).await.status,
        StatusCode::OK
    );
    // Seven days on: expired.
    let mut app = (*api.app).clone();
    let later = chrono::Utc::now() + billrun_app::pipeline::PREVIEW_RETENTION;
    app.clock = std::sync::Arc::new(At(later));
    let app = std::sync::Arc::new(app);
    api.router = billrun_api::router(app.clone());
    api.app = app;
    for uri in [
        format!("/v1/invoice-runs/{id}"),
        format!("/v1/invoice-runs/{id}/invoices"),
        format!("/v1/invoice-runs/{id}/diff"),
        format!("/v1/invoices/{doc}"),
    ] {
        assert_eq!(api.get(&uri).await.status, StatusCode::NOT_FOUND, "{uri}");
    }
    let listed = api.get("/v1/invoice-runs").await;
    assert!(listed.body["items"].as_array().unwrap().is_empty());
}
