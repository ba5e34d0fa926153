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

/// The in-memory API under maker–checker with every scope, the caller named by the
/// request's `x-caller` header (none: an unidentified caller).
async fn two_people() -> TestApi {
    let store = std::sync::Arc::new(billrun_app::memory::MemoryStore::new());
    let queue = std::sync::Arc::new(billrun_app::memory::MemoryQueue::new());
    let mut app = billrun_app::App::in_memory(
        store.clone(),
        queue.clone(),
        std::sync::Arc::new(billrun_documents::PdfRenderer),
    );
    app.controls.maker_checker = true;
    let api = TestApi::with_callers(app, store, queue);
    let book = r#"{"accounts": [{"id": "A-1", "name": "C", "currency": "USD", "billCycleDay": 1}],
        "subscriptions": [{"id": "S-1", "accountId": "A-1", "productId": "P", "startDate": "2024-01-01",
          "charges": [{"id": "C-1", "type": "Recurring", "price": "10.00", "billingPeriod": "Month"}]}]}"#;
    api.import_as(book, "admin").await;
    api
}

#[tokio::test]
async fn under_maker_checker_a_run_is_posted_by_someone_other_than_its_creator() {
    let api = two_people().await;
    let as_ = |who: &'static str| [("x-caller", who)];
    let create = |body: serde_json::Value| {
        let api = &api;
        async move {
            api.call(
                Method::POST,
                "/v1/invoice-runs",
                Some(&body.to_string()),
                &as_("alice"),
            )
            .await
        }
    };
    // autoPost would post for its creator: refused at its field, nothing stored.
    let before = api.store.digest();
    let r = create(json!({"targetDate": "2024-02-01", "autoPost": true})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.body["code"], "maker_checker");
    assert_eq!(r.body["field"], "autoPost");
    assert_eq!(api.store.digest(), before, "nothing written");

    let r = create(json!({"targetDate": "2024-02-01"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let run = r.body["id"].as_str().unwrap().to_string();
    api.work().await;
    let post = |who: Option<&'static str>| {
        let api = &api;
        let run = run.clone();
        async move {
            let headers: Vec<(&str, &str)> = who.map(|w| ("x-caller", w)).into_iter().collect();
            api.call(
                Method::POST,
                &format!("/v1/invoice-runs/{run}/post"),
                Some("{}"),
                &headers,
            )
            .await
        }
    };
    // The creator may not post it, nor may a caller with no name; nothing changes.
    let before = api.store.digest();
    for who in [Some("alice"), None] {
        let r = post(who).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{who:?}: {}", r.text);
        assert_eq!(r.body["code"], "maker_checker");
    }
    assert_eq!(api.store.digest(), before, "nothing written");
    // Carol approves its invoice, Bob posts the run: the invoice names all three.
    let invoices = api
        .call(
            Method::GET,
            &format!("/v1/invoice-runs/{run}/invoices"),
            None,
            &as_("bob"),
        )
        .await;
    let invoice = invoices.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = api
        .call(
            Method::POST,
            &format!("/v1/invoices/{invoice}/approve"),
            None,
            &as_("carol"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = post(Some("bob")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"], "Posted");
    let shown = api
        .call(
            Method::GET,
            &format!("/v1/invoices/{invoice}"),
            None,
            &as_("bob"),
        )
        .await;
    assert_eq!(
        (
            &shown.body["createdBy"],
            &shown.body["approvedBy"],
            &shown.body["postedBy"]
        ),
        (&json!("alice"), &json!("carol"), &json!("bob")),
        "{}",
        shown.text
    );
    let shown = api
        .call(
            Method::GET,
            &format!("/v1/invoice-runs/{run}"),
            None,
            &as_("bob"),
        )
        .await;
    assert_eq!(
        (&shown.body["createdBy"], &shown.body["postedBy"]),
        (&json!("alice"), &json!("bob")),
        "{}",
        shown.text
    );
}

#[tokio::test]
async fn under_maker_checker_a_run_requested_with_auto_post_stops_at_completed() {
    // A run whose request says autoPost (a schedule's, or one stored before the control
    // was turned on) completes for a second person to post.
    let api = two_people().await;
    let mut request = billrun_domain::request::RunRequest::for_target(
        chrono::NaiveDate::from_ymd_opt(2024, 2, 1).unwrap(),
    );
    request.auto_post = true;
    let run = api
        .app
        .pipeline()
        .create_run(request.validated().unwrap(), None)
        .await
        .unwrap()
        .run()
        .id;
    api.work().await;
    let stored = api.app.queries().get_run(run).await.unwrap();
    assert_eq!(
        stored.status,
        billrun_domain::run::RunStatus::Completed,
        "not posted by the system"
    );
    // Posted alone, by name: the invoice names its poster; the run's creator is the
    // system's (none).
    let docs = api.app.queries().all_documents(run).await.unwrap();
    let r = api
        .call(
            Method::POST,
            &format!("/v1/invoices/{}/post", docs[0].id),
            None,
            &[("x-caller", "carol")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (&r.body["status"], &r.body["postedBy"], &r.body["createdBy"]),
        (&json!("Posted"), &json!("carol"), &json!(null)),
        "{}",
        r.text
    );
    let shown = api.app.queries().get_run(run).await.unwrap();
    assert_eq!(shown.status, billrun_domain::run::RunStatus::Posted);
}
