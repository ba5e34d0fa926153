//! Scopes: every route declares one (`billrun_api::access::WRITES`, reads need
//! `billing:read`), the OpenAPI document says the same for every operation, and a caller
//! without a route's scope is refused with 403 before anything happens.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::{Method, StatusCode};
use billrun_api::access::{scope_of, Principal, Scope, WRITES};
use common::TestApi;
use serde_json::json;

#[test]
fn every_operation_of_the_openapi_document_carries_the_scope_of_the_route_table() {
    let doc = serde_json::to_value(billrun_api::openapi()).unwrap();
    let mut writes = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Ok(m) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let scope = scope_of(&m, path);
            assert_eq!(
                op["security"],
                json!([{"bearer": [scope.as_str()]}]),
                "{method} {path}"
            );
            if m != Method::GET {
                writes += 1;
                assert!(
                    WRITES
                        .iter()
                        .any(|(wm, wr, _)| *wm == m.as_str() && wr == path),
                    "{method} {path} has no entry of its own in the route table"
                );
            }
        }
    }
    assert_eq!(
        writes,
        WRITES.len(),
        "no table entry for a route that does not exist"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"],
        json!({"type": "http", "scheme": "bearer"})
    );
}

/// The in-memory API seen by a caller with `scopes`.
async fn as_caller(scopes: &[Scope]) -> TestApi {
    let mut api = TestApi::with_book(
        r#"{"accounts": [{"id": "A-1", "name": "C", "currency": "USD", "billCycleDay": 1}],
            "subscriptions": [{"id": "S-1", "accountId": "A-1", "productId": "P", "startDate": "2024-01-01",
              "charges": [{"id": "C-1", "type": "Recurring", "price": "10.00", "billingPeriod": "Month"}]}]}"#,
    )
    .await;
    let principal = Principal {
        name: "clerk".into(),
        scopes: scopes.iter().copied().collect(),
    };
    api.router = api.router.layer(axum::middleware::from_fn(
        move |mut req: axum::extract::Request, next: axum::middleware::Next| {
            req.extensions_mut().insert(principal.clone());
            next.run(req)
        },
    ));
    api
}

#[tokio::test]
async fn a_caller_without_the_routes_scope_is_refused_and_nothing_is_written() {
    let reader = as_caller(&[Scope::Read]).await;
    let before = reader.store.digest();
    let r = reader
        .post(
            "/v1/invoice-runs",
            &json!({"targetDate": "2024-02-01"}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.body["code"], "forbidden");
    assert_eq!(r.body["field"], "billing:run");
    assert_eq!(reader.store.digest(), before, "nothing written");
    assert_eq!(reader.get("/v1/invoice-runs").await.status, StatusCode::OK);

    let runner = as_caller(&[Scope::Read, Scope::Run]).await;
    let r = runner
        .post(
            "/v1/invoice-runs",
            &json!({"targetDate": "2024-02-01"}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let run = r.body["id"].as_str().unwrap().to_string();
    runner.work().await;
    let post = runner
        .post(&format!("/v1/invoice-runs/{run}/post"), "{}")
        .await;
    assert_eq!(post.status, StatusCode::FORBIDDEN);
    assert_eq!(post.body["field"], "billing:post");
    let import = runner.post("/v1/import", "{}").await;
    assert_eq!(import.body["field"], "billing:admin");
    // A route that does not exist is still a 404 for anyone.
    assert_eq!(
        runner.post("/v1/nowhere", "{}").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_caller_with_the_scope_is_served() {
    let poster = as_caller(&[Scope::Run, Scope::Post]).await;
    let r = poster
        .post(
            "/v1/invoice-runs",
            &json!({"targetDate": "2024-02-01"}).to_string(),
        )
        .await;
    let run = r.body["id"].as_str().unwrap().to_string();
    poster.work().await;
    let post = poster
        .post(&format!("/v1/invoice-runs/{run}/post"), "{}")
        .await;
    assert_eq!(post.status, StatusCode::OK, "{}", post.text);
    // Reading needs billing:read, which this caller lacks.
    let read = poster.get(&format!("/v1/invoice-runs/{run}")).await;
    assert_eq!(read.status, StatusCode::FORBIDDEN);
    assert_eq!(read.body["field"], "billing:read");
}

#[tokio::test]
async fn the_source_apis_show_the_caller_as_the_creator() {
    let runner = as_caller(&[Scope::Read, Scope::Run]).await;
    let r = runner
        .post(
            "/v2/bill_runs",
            &json!({"invoice_date": "2024-02-01", "target_date": "2024-02-01"}).to_string(),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    let read = runner.get(&format!("/v2/bill_runs/{id}")).await;
    let clerk = billrun_api::compat::user_id(Some("clerk"));
    assert_eq!(read.body["created_by_id"], clerk.as_str(), "{}", read.text);
    assert_eq!(clerk.len(), 32);
    assert_ne!(clerk, billrun_api::compat::SYSTEM_USER_ID);
}
