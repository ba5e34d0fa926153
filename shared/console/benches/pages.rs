//! Rendering the console's runs page and a run's page when the run has 100,000
//! accounts: each page reads one page of each list through the API's cursors, so its
//! time is not to grow with the run (docs/console.md "Speed").

// Bench code: a panic fails the bench (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use billrun_app::worker::{drain, WorkerConfig};
use billrun_console::{Console, SignIn};
use criterion::{criterion_group, criterion_main, Criterion};
use std::sync::Arc;
use tower::ServiceExt;

const ACCOUNTS: usize = 100_000;

/// A book of `n` accounts, each with one monthly plan.
fn book(n: usize) -> billrun_domain::book::Book {
    let mut accounts = Vec::with_capacity(n);
    let mut subscriptions = Vec::with_capacity(n);
    for i in 0..n {
        accounts.push(
            serde_json::json!({"id": format!("A-{i:06}"), "name": format!("Customer {i}"),
            "currency": "USD", "billCycleDay": 1}),
        );
        subscriptions.push(serde_json::json!({"id": format!("S-{i:06}"), "accountId": format!("A-{i:06}"),
            "productId": "P", "startDate": "2024-01-01",
            "charges": [{"id": format!("C-{i:06}"), "type": "Recurring", "price": "10.00", "billingPeriod": "Month"}]}));
    }
    let json = serde_json::json!({"accounts": accounts, "subscriptions": subscriptions});
    billrun_domain::book::Book::parse(json.to_string().as_bytes()).unwrap()
}

async fn get(router: &Router, uri: &str) -> usize {
    let res = router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{uri}");
    axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap()
        .len()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (console, api, run) = rt.block_on(async {
        let store = Arc::new(billrun_app::memory::MemoryStore::new());
        let queue = Arc::new(billrun_app::memory::MemoryQueue::new());
        let app = Arc::new(billrun_app::App::in_memory(
            store,
            queue.clone(),
            Arc::new(billrun_documents::PdfRenderer),
        ));
        app.book.import_book(&book(ACCOUNTS)).await.unwrap();
        let api = billrun_api::router(app.clone());
        let res = api
            .clone()
            .oneshot(
                Request::post("/v1/invoice-runs")
                    .header("content-type", "application/json")
                    .body(Body::from(r#"{"targetDate": "2024-02-01"}"#))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        let run: serde_json::Value = serde_json::from_slice(&body).unwrap();
        drain(app.clone(), queue, WorkerConfig::default()).await;
        let res = api
            .clone()
            .oneshot(
                Request::get(format!("/v1/invoice-runs/{}", run["id"].as_str().unwrap()))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        let view: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            view["counters"]["billed"], ACCOUNTS,
            "the run billed every account: {view}"
        );
        let console = Console::new(api.clone(), SignIn::Open, false).unwrap();
        (
            billrun_console::router(console),
            api,
            run["id"].as_str().unwrap().to_string(),
        )
    });
    let mut group = c.benchmark_group("console");
    group.sample_size(20);
    group.bench_function("runs page", |b| {
        b.iter(|| rt.block_on(get(&console, "/console/runs")))
    });
    let page = format!("/console/runs/{run}");
    group.bench_function("a run's page, 100,000 accounts", |b| {
        b.iter(|| rt.block_on(get(&console, &page)))
    });
    // The API routes the run's page reads, one at a time.
    let api_routes = [
        ("run", format!("/v1/invoice-runs/{run}")),
        (
            "failed accounts",
            format!("/v1/invoice-runs/{run}/accounts?limit=25&outcome=Failed"),
        ),
        (
            "documents",
            format!("/v1/invoice-runs/{run}/invoices?limit=25"),
        ),
        (
            "audit",
            format!("/v1/audit-events?resource={run}&limit=100"),
        ),
        ("events", format!("/v1/invoice-runs/{run}/events")),
    ];
    for (name, uri) in &api_routes {
        group.bench_function(format!("its API route: {name}"), |b| {
            b.iter(|| rt.block_on(get(&api, uri)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
