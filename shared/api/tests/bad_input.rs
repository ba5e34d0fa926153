//! Bad input through the shared router (tower `oneshot`, in-memory adapters): nasty
//! bodies (huge numbers, deep nesting, invalid dates, unicode, invalid UTF-8, arbitrary
//! bytes, 10 MB), nasty path ids and query strings on every canonical route. Never a
//! 5xx; every rejection of the input is a 4xx whose body names the field at fault; and
//! the store and the queue are exactly as before a rejected request.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{Reply, TestApi, BOOK};
use proptest::prelude::*;
use serde_json::{json, Value};

const RUN: &str = "{RUN}";

/// Every canonical route that takes a body, with a valid body to spoil.
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
            Method::PUT,
            "/v1/document-templates/T-1",
            json!({"name": "Standard", "content": {"companyName": "Northwind", "locale": "en-US"}}),
        ),
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
        (
            Method::PUT,
            "/v1/run-schedules/RS-1",
            json!({
                "runTemplate": {"name": "Month end", "autoPost": true},
                "recurrence": {"kind": "Monthly", "dayOfMonth": 31, "localTime": "02:30", "timeZone": "Europe/Berlin"},
                "targetDate": {"rule": "OccurrenceDate", "offsetDays": 0},
                "missed": "CatchUpAll",
                "enabled": true
            }),
        ),
    ]
}

/// A store with the book and a Pending run.
async fn seeded() -> (TestApi, String) {
    let api = TestApi::with_book(BOOK).await;
    let r = api
        .post(
            "/v1/invoice-runs",
            r#"{"targetDate": "2024-02-01", "runType": "Manual"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    (api, id)
}

/// The store and the queue, compared whole.
fn snapshot(api: &TestApi) -> (String, u64) {
    (api.store.digest(), api.queue.sent())
}

/// Codes of a rejected input, which must name the field at fault.
const INPUT_CODES: &[&str] = &[
    "validation_failed",
    "payload_too_large",
    "unsupported_media_type",
];

/// What every answer to bad input must be: below 500; a 4xx is a canonical error body,
/// naming a field when the input is at fault, and changed nothing.
fn judge(
    what: &str,
    r: &Reply,
    before: &(String, u64),
    after: &(String, u64),
) -> Result<(), TestCaseError> {
    prop_assert!(r.status.as_u16() < 500, "{what}: {} {}", r.status, r.text);
    if r.status.is_client_error() {
        let code = r.body["code"].as_str().unwrap_or_default();
        prop_assert!(
            !code.is_empty(),
            "{what}: no error code: {} {}",
            r.status,
            r.text
        );
        prop_assert!(r.body["message"].is_string(), "{what}: {}", r.text);
        if INPUT_CODES.contains(&code) || r.status == StatusCode::BAD_REQUEST {
            let field = r.body["field"].as_str().unwrap_or_default();
            prop_assert!(
                !field.is_empty(),
                "{what}: no field path: {} {}",
                r.status,
                r.text
            );
        }
        prop_assert!(
            before == after,
            "{what}: rejected ({}) but the store changed: {}",
            r.status,
            r.text
        );
    }
    Ok(())
}

const MARK: &str = "\u{1}NASTY\u{1}";

fn nasty() -> impl Strategy<Value = Vec<u8>> {
    let raw = prop_oneof![
        Just("1e999999".to_string()),
        Just("123456789012345678901234567890123456789012345678901234567890".to_string()),
        Just("18446744073709551616".to_string()),
        Just("-9223372036854775809".to_string()),
        Just("-1".to_string()),
        Just("0.1e-400".to_string()),
        Just(r#""79228162514264337593543950336""#.to_string()),
        Just(r#""1000000000000.01""#.to_string()),
        Just(r#""0.00000000000000000000000000001""#.to_string()),
        Just(r#""2024-02-30""#.to_string()),
        Just(r#""2023-02-29""#.to_string()),
        Just(r#""+262143-12-31""#.to_string()),
        Just(r#""0000-01-01""#.to_string()),
        Just(r#""2024-02-01T25:00:00Z""#.to_string()),
        Just(r#""\ud800""#.to_string()),
        Just(r#""\u0000""#.to_string()),
        Just(r#""\u202eevil""#.to_string()),
        Just(format!("\"{}\"", "😀".repeat(300))),
        Just(format!("{}{}", "[".repeat(5000), "]".repeat(5000))),
        Just(format!("{}null{}", r#"{"a":"#.repeat(300), "}".repeat(300))),
        Just("null".to_string()),
        Just("{}".to_string()),
        Just("[]".to_string()),
        Just("true".to_string()),
        "\\PC{0,20}".prop_map(|s| serde_json::to_string(&s).unwrap()),
    ];
    (
        any::<usize>(),
        raw,
        prop::option::weighted(0.2, "[a-zA-Z]{1,10}"),
    )
        .prop_map(|(at, raw, add)| {
            // The placeholder's index among the document's nodes is chosen at use.
            let mut v = json!({});
            v["at"] = json!(at);
            v["raw"] = json!(raw);
            v["add"] = json!(add);
            v.to_string().into_bytes()
        })
}

/// Every node of `v` as a JSON pointer.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                pointers(
                    x,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// `valid` with one node replaced by (or, on an object, given a key holding) raw JSON.
fn spoil(mut valid: Value, spec: &[u8]) -> Vec<u8> {
    let spec: Value = serde_json::from_slice(spec).unwrap();
    let mut all = vec![];
    pointers(&valid, String::new(), &mut all);
    let at = &all[spec["at"].as_u64().unwrap() as usize % all.len()];
    let raw = spec["raw"].as_str().unwrap();
    if let Some(n) = valid.pointer_mut(at) {
        match (spec["add"].as_str(), n) {
            (Some(k), Value::Object(m)) => {
                m.insert(k.to_string(), json!(MARK));
            }
            (_, n) => *n = json!(MARK),
        }
    }
    valid
        .to_string()
        .replace(&serde_json::to_string(MARK).unwrap(), raw)
        .into_bytes()
}

#[derive(Debug, Clone)]
enum BadBody {
    Nasty(Vec<u8>),
    Bytes(Vec<u8>),
    Truncated(usize),
}

fn bad_body() -> impl Strategy<Value = BadBody> {
    prop_oneof![
        6 => nasty().prop_map(BadBody::Nasty),
        2 => prop::collection::vec(any::<u8>(), 0..64).prop_map(BadBody::Bytes),
        1 => any::<usize>().prop_map(BadBody::Truncated),
    ]
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

async fn send_bytes(api: &TestApi, method: Method, uri: &str, body: Vec<u8>) -> Reply {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    api.send(req).await
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn a_bad_body_on_any_route_is_a_4xx_naming_the_field_and_writes_nothing(
        route in 0usize..10,
        body in bad_body(),
    ) {
        block_on(async {
            let (api, run) = seeded().await;
            let (method, uri, valid) = routes().swap_remove(route);
            let uri = uri.replace(RUN, &run);
            let bytes = match &body {
                BadBody::Nasty(spec) => spoil(valid, spec),
                BadBody::Bytes(b) => b.clone(),
                BadBody::Truncated(n) => {
                    let b = valid.to_string().into_bytes();
                    b[..n % b.len()].to_vec()
                }
            };
            let before = snapshot(&api);
            let r = send_bytes(&api, method.clone(), &uri, bytes.clone()).await;
            let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(400)]).to_string();
            judge(&format!("{method} {uri} {shown}"), &r, &before, &snapshot(&api))
        })?;
    }

    #[test]
    fn a_nasty_path_id_or_query_is_a_4xx_naming_the_field_and_writes_nothing(
        id in prop_oneof![
            "\\PC{1,30}",
            Just("%FF%FE".to_string()),
            Just("%C0%AF".to_string()),
            Just("%00".to_string()),
            Just("..%2F..%2Fetc%2Fpasswd".to_string()),
            Just("a".repeat(5000)),
        ],
        query in prop_oneof![
            Just("limit=0".to_string()),
            Just("limit=18446744073709551616".to_string()),
            Just("limit=-1".to_string()),
            Just("cursor=%FF".to_string()),
            Just("cursor=eyJ4IjoxfQ".to_string()),
            Just("createdSince=2024-02-30".to_string()),
            Just("updatedSince=+262143-12-31T00:00:00Z".to_string()),
            Just("idAfter=BR-99999999999999999999999".to_string()),
            Just("status=Nope".to_string()),
            Just("outcome=%00".to_string()),
            Just("limit=1&limit=2".to_string()),
            Just("%=%".to_string()),
            "[a-zA-Z%0-9=&]{0,30}",
        ],
        route in 0usize..18,
    ) {
        block_on(async {
            let (api, _run) = seeded().await;
            let id: String = id
                .bytes()
                .map(|b| if b.is_ascii_alphanumeric() || b == b'%' || b == b'-' || b == b'.' {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                })
                .collect();
            let (method, uri, body) = [
                (Method::GET, format!("/v1/accounts/{id}"), None),
                (Method::GET, format!("/v1/invoice-runs/{id}/accounts?{query}"), None),
                (Method::GET, format!("/v1/invoice-runs?{query}"), None),
                (Method::GET, format!("/v1/accounts?{query}"), None),
                (Method::POST, format!("/v1/invoice-runs/{id}/start"), Some(Vec::new())),
                (Method::PUT, format!("/v1/accounts/{id}"), Some(routes()[1].2.to_string().into_bytes())),
                (Method::GET, format!("/v1/invoices/{id}/document"), None),
                (Method::GET, format!("/v1/invoice-runs/{id}/diff?{query}"), None),
                (Method::POST, format!("/v1/invoice-runs/{id}/preview"), Some(Vec::new())),
                (Method::POST, format!("/v1/invoices/{id}/void"), Some(Vec::new())),
                (Method::POST, format!("/v1/invoices/{id}/cancel"), Some(Vec::new())),
                (Method::POST, format!("/v1/accounts/{id}/rebill"), Some(Vec::new())),
                (Method::GET, format!("/v1/run-schedules?{query}"), None),
                (Method::GET, format!("/v1/document-templates?{query}"), None),
                (Method::GET, format!("/v1/document-templates/{id}"), None),
                (Method::GET, format!("/v1/document-templates/{id}/sample"), None),
                (Method::POST, format!("/v1/document-templates/{id}/sample"), Some(Vec::new())),
                (Method::GET, format!("/v1/invoice-schedules?{query}"), None),
            ][route].clone();
            let before = snapshot(&api);
            let r = match body {
                Some(b) => send_bytes(&api, method.clone(), &uri, b).await,
                None => api.get(&uri).await,
            };
            judge(&format!("{method} {uri}"), &r, &before, &snapshot(&api))
        })?;
    }
}

#[tokio::test]
async fn a_ten_megabyte_body_is_413_naming_the_body_on_every_route_and_writes_nothing() {
    let (api, run) = seeded().await;
    let ten_mb = format!(r#"{{"accounts": [], "x": "{}"}}"#, "a".repeat(10 << 20));
    for (method, uri, _) in routes() {
        let uri = uri.replace(RUN, &run);
        let before = snapshot(&api);
        let r = send_bytes(&api, method.clone(), &uri, ten_mb.clone().into_bytes()).await;
        assert_eq!(
            r.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{method} {uri}: {}",
            r.text
        );
        assert_eq!(
            (r.body["code"].as_str(), r.body["field"].as_str()),
            (Some("payload_too_large"), Some("$")),
            "{method} {uri}"
        );
        assert_eq!(before, snapshot(&api), "{method} {uri}");
    }
}

#[tokio::test]
async fn a_book_with_one_bad_account_among_many_is_refused_whole_at_its_path() {
    let (api, _run) = seeded().await;
    let book: Value = serde_json::from_str(BOOK).unwrap();
    let mut accounts: Vec<Value> = (0..5000)
        .map(|i| {
            let mut a = book["accounts"][0].clone();
            a["id"] = json!(format!("A-{i}"));
            a
        })
        .collect();
    accounts[4321]["billTo"]["name"] = json!("x".repeat(2000));
    let before = snapshot(&api);
    let r = api
        .post("/v1/import", &json!({ "accounts": accounts }).to_string())
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.body["field"], "accounts[4321].billTo.name");
    assert_eq!(before, snapshot(&api));
}

#[tokio::test]
async fn an_invalid_date_is_a_400_naming_it_on_every_route_that_takes_one() {
    let (api, run) = seeded().await;
    let cases = [
        (
            Method::PUT,
            "/v1/subscriptions/S-1",
            "/startDate",
            "startDate",
        ),
        (Method::POST, "/v1/usage", "/usage/0/date", "usage[0].date"),
        (
            Method::POST,
            "/v1/adjustments",
            "/adjustments/0/date",
            "adjustments[0].date",
        ),
        (
            Method::PUT,
            "/v1/invoice-schedules/IS-1",
            "/items/0/invoiceDate",
            "items[0].invoiceDate",
        ),
        (
            Method::POST,
            "/v1/invoice-runs",
            "/targetDate",
            "targetDate",
        ),
        (
            Method::PATCH,
            "/v1/invoice-runs/{RUN}",
            "/dueDate",
            "dueDate",
        ),
    ];
    for (method, uri, pointer, field) in cases {
        let uri = uri.replace(RUN, &run);
        let (_, _, mut valid) = routes()
            .into_iter()
            .find(|(m, u, _)| *m == method && u.replace(RUN, &run) == uri)
            .unwrap();
        *valid.pointer_mut(pointer).unwrap() = json!("2023-02-29");
        let before = snapshot(&api);
        let r = send_bytes(&api, method.clone(), &uri, valid.to_string().into_bytes()).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{method} {uri}: {}",
            r.text
        );
        let got = r.body["field"].as_str().unwrap_or_default();
        assert!(got.ends_with(field), "{method} {uri}: {got} is not {field}");
        assert_eq!(before, snapshot(&api), "{method} {uri}");
    }
}

/// What schemathesis (infra/schemathesis.sh) found accepted against the schema.
#[tokio::test]
async fn schema_violating_queries_and_bodies_found_by_schemathesis_are_400s_naming_the_field() {
    let (api, run) = seeded().await;
    for (uri, field) in [
        ("/backend/api/v1/billingRuns/?limit=-1", "limit"),
        ("/backend/api/v1/billingRuns/?limit=0", "limit"),
        (
            "/backend/api/v1/billingRuns/?idAfter=9223372036854775808",
            "idAfter",
        ),
        (&*format!("/v1/invoice-runs/{run}/invoices?limit="), "limit"),
        (&*format!("/v1/invoice-runs/{run}/diff?limit="), "limit"),
        (
            &*format!("/v1/invoice-runs/{run}/diff?cursor=%FF"),
            "cursor",
        ),
        ("/v1/invoice-runs?limit=", "limit"),
        ("/v1/invoice-runs?idAfter=", "idAfter"),
        ("/v1/invoice-runs?createdSince=", "createdSince"),
        ("/v1/invoice-runs?status=", "status"),
        (
            &*format!("/api/billing/v1/request-results/{run}/invoices?limit="),
            "limit",
        ),
        (
            &*format!("/api/billing/v1/request-results/{run}/credit-memos?limit=0"),
            "limit",
        ),
    ] {
        let r = api.get(uri).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}: {}", r.text);
        assert_eq!(r.body["field"], field, "{uri}");
    }
    // A body that is an array, which serde would take as the fields in order.
    for (method, uri, _) in routes() {
        let uri = uri.replace(RUN, &run);
        let before = snapshot(&api);
        let r = send_bytes(&api, method.clone(), &uri, b"[]".to_vec()).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{method} {uri}: {}",
            r.text
        );
        assert_eq!(r.body["field"], "$", "{method} {uri}");
        assert_eq!(before, snapshot(&api), "{method} {uri}");
    }
    // An empty cursor is still the first page.
    let r = api.get("/v1/invoice-runs?cursor=").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // The read-only id of a billing run is an int64 as the schema says.
    let before = snapshot(&api);
    let r = api
        .post(
            "/backend/api/v1/billingRuns/",
            r#"{"id": 9223372036854775808, "invoiceDate": "2024-02-01"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.body["field"], "id");
    assert_eq!(before, snapshot(&api));
}

#[test]
fn the_openapi_document_says_what_the_routes_accept_for_custom_fields() {
    let doc: Value = serde_json::from_str(&billrun_api::openapi_json()).unwrap();
    let t = &doc["components"]["schemas"]["BillRunRequest"]["properties"]["custom_fields"];
    assert_eq!(t["type"], json!(["object", "null"]), "{t}");
}
