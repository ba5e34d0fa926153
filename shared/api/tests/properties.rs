//! Properties of the HTTP API over the in-memory adapters: random and mutated JSON
//! posted to every POST / PUT / PATCH route never gets a 5xx, and a rejected request
//! writes nothing; 10,000 runs list completely, once each, with every filter and cursor.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use billrun_app::ports::Clock;
use common::{TestApi, BOOK};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

const RUN: &str = "{RUN}";

/// Every route that takes a body, with a valid body to mutate.
fn routes() -> Vec<(Method, &'static str, Value)> {
    let book: Value = serde_json::from_str(BOOK).unwrap();
    vec![
        (Method::POST, "/v1/import", book.clone()),
        (
            Method::PUT,
            "/v1/accounts/A-1001",
            book["accounts"][0].clone(),
        ),
        (
            Method::PUT,
            "/v1/subscriptions/S-1",
            book["subscriptions"][0].clone(),
        ),
        (
            Method::POST,
            "/v1/usage",
            json!({"usage": [{"id": "U-9", "accountId": "A-1001", "chargeId": "C-3", "date": "2024-01-21", "quantity": "3"}]}),
        ),
        (
            Method::POST,
            "/v1/adjustments",
            json!({"adjustments": [{"id": "J-9", "accountId": "A-1001", "date": "2024-01-21", "amount": "5.00"}]}),
        ),
        (
            Method::PUT,
            "/v1/invoice-schedules/IS-1",
            json!({"id": "IS-1", "accountId": "A-1001", "subscriptionIds": ["S-1"], "items": [{"id": "I-1", "invoiceDate": "2024-03-01", "amount": "10.00"}]}),
        ),
        (
            Method::POST,
            "/v1/invoice-schedules/IS-0/execute",
            json!({"scheduleItemId": "I-0"}),
        ),
        (
            Method::PUT,
            "/v1/document-templates/T-1",
            json!({"name": "Standard", "content": {"companyName": "Northwind", "locale": "en-US"}}),
        ),
        (
            Method::POST,
            "/v1/document-templates/T-1/activate",
            json!({}),
        ),
        (Method::POST, "/v1/document-templates/T-1/sample", json!({})),
        (
            Method::POST,
            "/v1/invoice-runs",
            json!({"targetDate": "2024-02-01", "runType": "Manual", "filters": {"batches": ["Batch1"]}}),
        ),
        (
            Method::PATCH,
            "/v1/invoice-runs/{RUN}",
            json!({"dueDate": "2024-03-31", "name": "x"}),
        ),
        (Method::POST, "/v1/invoice-runs/{RUN}/start", json!({})),
        (Method::POST, "/v1/invoice-runs/{RUN}/cancel", json!({})),
        (Method::POST, "/v1/invoice-runs/{RUN}/post", json!({})),
        (Method::POST, "/v1/invoice-runs/{RUN}/approve", json!({})),
        (
            Method::POST,
            "/v1/invoice-runs/{RUN}/retry-failed",
            json!({}),
        ),
        (Method::POST, "/v1/invoice-runs/{RUN}/preview", json!({})),
        (
            Method::POST,
            "/v1/accounts/A-1001/rebill",
            json!({"targetDate": "2024-02-01"}),
        ),
        (
            Method::POST,
            "/v1/invoice-runs/{RUN}/exports",
            json!({"content": "lines", "format": "jsonl"}),
        ),
        (
            Method::PUT,
            "/v1/webhook-endpoints/W-1",
            json!({"url": "https://hooks.example.com/billrun", "events": ["run.posted"], "description": "ledger"}),
        ),
        (
            Method::POST,
            "/v2/bill_runs",
            json!({"invoice_date": "2024-02-01", "target_date": "2024-02-01", "batches": "Batch1", "charges_excluded": "Usage"}),
        ),
        (
            Method::POST,
            "/backend/api/v1/billingRuns/",
            json!({"name": "n", "invoiceDate": "2024-02-01", "cutoffDate": "2024-01-31", "dueDate": "2024-03-01"}),
        ),
        (
            Method::PUT,
            "/backend/api/v1/billingRuns/1",
            json!({"dueDate": "2024-03-15", "status": "Requested"}),
        ),
        (
            Method::POST,
            "/api/billing/v1/configure-requests",
            json!({"Name": "n", "RunType": "Immediate", "AutoApproveInvoices": true, "InvoiceDateType": "Ready for Invoice Date", "ProcessFrom": "2024-01-01T00:00:00Z", "ProcessTo": "2024-02-01T00:00:00Z"}),
        ),
    ]
}

/// A store with the book, an executable schedule and a Pending run numbered 1.
async fn seeded() -> (TestApi, String) {
    let api = TestApi::with_book(BOOK).await;
    let schedule = json!({"id": "IS-0", "accountId": "A-1001", "subscriptionIds": ["S-1"],
        "items": [{"id": "I-0", "invoiceDate": "2024-02-01", "amount": "100.00"}]});
    assert_eq!(
        api.put("/v1/invoice-schedules/IS-0", &schedule.to_string())
            .await
            .status,
        StatusCode::CREATED
    );
    let r = api
        .post(
            "/v1/invoice-runs",
            r#"{"targetDate": "2024-02-01", "runType": "Manual"}"#,
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_string();
    (api, id)
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "[ -~]{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("2024-02-30"),
            Just("2024-02-01"),
            Just("1899-12-31"),
            Just("-1.00"),
            Just("1e5"),
            Just("USD"),
            Just("A-1001"),
            Just("#"),
            Just("Manual"),
            Just(""),
            Just("99999999999999999999.99"),
            Just("2024-02-01T00:00:00Z")
        ]
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z_]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every node of a JSON value, as a path of keys and indexes.
fn paths(v: &Value, at: Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let mut p = at.clone();
                p.push(json!(k));
                paths(x, p, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let mut p = at.clone();
                p.push(json!(i));
                paths(x, p, out);
            }
        }
        _ => {}
    }
}

fn node<'a>(v: &'a mut Value, path: &[Value]) -> Option<&'a mut Value> {
    let mut cur = v;
    for p in path {
        cur = match p {
            Value::String(k) => cur.get_mut(k.as_str())?,
            Value::Number(i) => cur.get_mut(i.as_u64()? as usize)?,
            _ => return None,
        };
    }
    Some(cur)
}

#[derive(Debug, Clone)]
enum Mutation {
    Replace(usize, Value),
    Remove(usize),
    AddKey(usize, String, Value),
}

fn mutate(mut v: Value, ms: &[Mutation]) -> Value {
    for m in ms {
        let mut all = vec![];
        paths(&v, vec![], &mut all);
        match m {
            Mutation::Replace(i, x) => {
                if let Some(n) = node(&mut v, &all[i % all.len()]) {
                    *n = x.clone();
                }
            }
            Mutation::Remove(i) => {
                let p = &all[i % all.len()];
                if let Some((last, parent)) = p.split_last() {
                    if let (Some(Value::Object(m)), Value::String(k)) = (node(&mut v, parent), last)
                    {
                        m.remove(k.as_str());
                    }
                }
            }
            Mutation::AddKey(i, k, x) => {
                if let Some(Value::Object(m)) = node(&mut v, &all[i % all.len()]) {
                    m.insert(k.clone(), x.clone());
                }
            }
        }
    }
    v
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any_json()).prop_map(|(i, x)| Mutation::Replace(i, x)),
        any::<usize>().prop_map(Mutation::Remove),
        (any::<usize>(), "[a-zA-Z]{1,8}", any_json())
            .prop_map(|(i, k, x)| Mutation::AddKey(i, k, x)),
    ]
}

#[derive(Debug, Clone)]
enum Body_ {
    Mutated(Vec<Mutation>),
    Random(Value),
    Bytes(Vec<u8>),
}

fn body() -> impl Strategy<Value = Body_> {
    prop_oneof![
        6 => prop::collection::vec(mutation(), 1..4).prop_map(Body_::Mutated),
        2 => any_json().prop_map(Body_::Random),
        1 => prop::collection::vec(any::<u8>(), 0..40).prop_map(Body_::Bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn no_body_gets_a_5xx_and_a_rejected_request_writes_nothing(
        route in 0usize..23,
        body in body(),
        json_type in prop::bool::weighted(0.9),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (api, run) = seeded().await;
            let (method, uri, valid) = routes().swap_remove(route);
            let uri = uri.replace(RUN, &run);
            let bytes = match &body {
                Body_::Mutated(ms) => mutate(valid, ms).to_string().into_bytes(),
                Body_::Random(v) => v.to_string().into_bytes(),
                Body_::Bytes(b) => b.clone(),
            };
            let before = (api.store.digest(), api.queue.sent());
            let req = Request::builder()
                .method(method.clone())
                .uri(&uri)
                .header("content-type", if json_type { "application/json" } else { "text/plain" })
                .body(Body::from(bytes.clone()))
                .unwrap();
            let r = api.send(req).await;
            prop_assert!(r.status.as_u16() < 500, "{method} {uri} {}: {} {}", String::from_utf8_lossy(&bytes), r.status, r.text);
            if r.status.is_client_error() {
                prop_assert!((api.store.digest(), api.queue.sent()) == before,
                    "{method} {uri} was rejected ({}) but wrote: {}", r.status, String::from_utf8_lossy(&bytes));
                prop_assert!(r.text.contains("code") || r.text.contains("Code"), "an error body: {}", r.text);
            }
            Ok(())
        })?;
    }
}

/// Creation times in groups of three equal instants, one millisecond apart: cursors
/// must break ties by id.
struct TiedClock(AtomicI64);

impl Clock for TiedClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        chrono::DateTime::from_timestamp_millis(1_706_745_600_000 + n / 3).unwrap()
    }
}

async fn all_pages(api: &TestApi, query: &str, limit: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut uri = format!("/v1/invoice-runs?limit={limit}");
        if !query.is_empty() {
            uri.push('&');
            uri.push_str(query);
        }
        if let Some(c) = &cursor {
            uri.push_str(&format!("&cursor={c}"));
        }
        let r = api.get(&uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text);
        let items = r.body["items"].as_array().unwrap();
        assert!(items.len() <= limit);
        ids.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_string()));
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return ids,
        }
    }
}

/// The listed ids as a set, checking that none was listed twice.
fn no_duplicates(ids: &[String]) -> Listed {
    let set: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(set.len(), ids.len(), "a run was listed twice");
    Listed(set)
}

/// A set of listed ids that compares by size and difference (10,000 ids would drown a
/// failure message).
#[derive(PartialEq)]
struct Listed(BTreeSet<String>);

impl std::fmt::Debug for Listed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} runs", self.0.len())
    }
}

impl PartialEq<BTreeSet<String>> for Listed {
    fn eq(&self, other: &BTreeSet<String>) -> bool {
        let missing = other.difference(&self.0).count();
        let extra = self.0.difference(other).count();
        if missing + extra > 0 {
            eprintln!("{missing} missing, {extra} not expected");
        }
        missing + extra == 0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_runs_list_once_each_with_every_filter_and_cursor() {
    let mut api = TestApi::new();
    let mut app = (*api.app).clone();
    app.clock = Arc::new(TiedClock(AtomicI64::new(0)));
    let app = Arc::new(app);
    api.router = billrun_api::router(app.clone());
    api.app = app;
    let mut runs = Vec::new();
    for _ in 0..10_000 {
        let r = api
            .post(
                "/v1/invoice-runs",
                r#"{"targetDate": "2024-02-01", "runType": "Manual"}"#,
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        runs.push(r.body);
    }
    // Every seventh run is canceled: its updatedAt moves past the creations.
    for r in runs.iter().step_by(7) {
        let id = r["id"].as_str().unwrap();
        let c = api.post(&format!("/v1/invoice-runs/{id}/cancel"), "").await;
        assert_eq!(c.status, StatusCode::OK);
    }
    let views: Vec<Value> = {
        let mut v = Vec::new();
        for r in &runs {
            v.push(
                api.get(&format!("/v1/invoice-runs/{}", r["id"].as_str().unwrap()))
                    .await
                    .body,
            );
        }
        v
    };
    let expect = |keep: &dyn Fn(&Value) -> bool| -> BTreeSet<String> {
        views
            .iter()
            .filter(|v| keep(v))
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect()
    };
    let instant = |v: &Value, k: &str| -> chrono::DateTime<chrono::Utc> {
        v[k].as_str().unwrap().parse().unwrap()
    };
    let number = |v: &Value| -> u64 { v["number"].as_str().unwrap()[3..].parse().unwrap() };
    let fmt =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);

    // Everything, in pages of the maximum and of an odd size.
    let all = expect(&|_| true);
    assert_eq!(all.len(), 10_000);
    for limit in [1000, 137] {
        let listed = all_pages(&api, "", limit).await;
        assert_eq!(no_duplicates(&listed), all, "limit {limit}");
    }
    // idAfter, in both spellings.
    let idafter = expect(&|v| number(v) > 4321);
    assert_eq!(idafter.len(), 10_000 - 4321);
    assert_eq!(
        no_duplicates(&all_pages(&api, "idAfter=4321", 500).await),
        idafter
    );
    assert_eq!(
        no_duplicates(&all_pages(&api, "idAfter=BR-00004321", 1000).await),
        idafter
    );
    // createdSince: inclusive, at an instant three runs share.
    let t = instant(&views[5001], "createdAt");
    let since = expect(&|v| instant(v, "createdAt") >= t);
    assert!(since.len() > 4990 && since.len() < 5000 + 3);
    let q = format!("createdSince={}", fmt(t));
    assert_eq!(no_duplicates(&all_pages(&api, &q, 333).await), since);
    // updatedSince: from the first cancel on (inclusive; the last creations share
    // its millisecond), which every canceled run passes.
    let t = instant(&views[0], "updatedAt");
    assert!(t >= instant(&views[9999], "createdAt"));
    let updated = expect(&|v| instant(v, "updatedAt") >= t);
    let canceled = expect(&|v| v["status"] == "Canceled");
    assert_eq!(canceled.len(), 10_000_usize.div_ceil(7));
    assert!(updated.is_superset(&canceled) && updated.len() < canceled.len() + 3);
    let q = format!("updatedSince={}", fmt(t));
    assert_eq!(no_duplicates(&all_pages(&api, &q, 250).await), updated);
    // Filters combine.
    let q = format!("updatedSince={}&idAfter=5000&status=Canceled", fmt(t));
    let both =
        expect(&|v| instant(v, "updatedAt") >= t && number(v) > 5000 && v["status"] == "Canceled");
    assert!(!both.is_empty());
    assert_eq!(no_duplicates(&all_pages(&api, &q, 100).await), both);
}
