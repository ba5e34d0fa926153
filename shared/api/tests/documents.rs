//! Invoice documents through the API: generation requests on `/v1` and seed 001's
//! `generateInvoiceDocuments` action, on the in-memory backend (which serves the PDF
//! bytes itself).

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use common::{json_after, keys, seed_document, seed_fixture, TestApi, BOOK};
use serde_json::{json, Value};

const SEED_001: &str = "001_78f61d73d4e97995.txt";
const ACTION: &str = "/services/data/v64.0/actions/standard/generateInvoiceDocuments";
/// Documents per queue message and S3 object.
const PACK: u64 = billrun_app::docgen::DOCUMENTS_PER_PACK as u64;

/// Seed 001's example request and response (from the seed when it is beside the
/// repository, checked against the copies).
fn seed_001() -> (Value, Value) {
    let request: Value = serde_json::from_str(&seed_fixture("seed-001-request.json")).unwrap();
    let response: Value = serde_json::from_str(&seed_fixture("seed-001-response.json")).unwrap();
    if let Some(text) = seed_document(SEED_001) {
        assert_eq!(
            json_after(
                &text,
                "sample request for the Generate Invoice Documents action."
            ),
            request
        );
        assert_eq!(
            json_after(
                &text,
                "sample response for the Generate Invoice Documents action."
            ),
            response
        );
    }
    (request, response)
}

fn template() -> String {
    json!({"name": "Default", "content": {
        "companyName": "Northwind Analytics, Inc.",
        "address": {"line1": "500 Market Street", "city": "San Francisco, CA",
                    "postalCode": "94105", "country": "United States"},
        "taxId": "EIN 94-3187452", "accentColor": "#1F4E79",
        "footer": "Thank you for your business.", "locale": "en-US"}})
    .to_string()
}

async fn completed_run(api: &TestApi) -> String {
    let r = api
        .post("/v1/invoice-runs", r#"{"targetDate": "2024-02-01"}"#)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    api.work().await;
    r.body["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn seed_001s_example_is_refused_in_its_error_shape_without_an_active_template_and_accepted_with_one(
) {
    let api = TestApi::with_book(BOOK).await;
    let run = completed_run(&api).await;
    let (mut request, example) = seed_001();
    request["inputs"][0]["invoiceBatchRunId"] = json!(run);
    let (digest, sent) = (api.store.digest(), api.queue.sent());
    let r = api.post(ACTION, &request.to_string()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"actionName": "generateInvoiceDocuments", "isSuccess": false, "outputValues": null,
               "errors": [{"statusCode": "NO_ACTIVE_TEMPLATE", "message": "no active invoice document template"}]})
    );
    assert_eq!(api.store.digest(), digest, "nothing is stored");
    assert_eq!(api.queue.sent(), sent, "nothing is queued");

    let r = api.put("/v1/document-templates/T-1", &template()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    api.post("/v1/document-templates/T-1/activate", "").await;
    let r = api.post(ACTION, &request.to_string()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(keys(&r.body), keys(&example));
    assert_eq!(
        keys(&r.body["outputValues"]),
        keys(&example["outputValues"])
    );
    assert_eq!(r.body["isSuccess"], true);
    assert_eq!(r.body["errors"], Value::Null);
    assert_eq!(r.body["outputValues"]["requestStatus"], true);
    let id = r.body["outputValues"]["requestId"].as_str().unwrap();
    api.work().await;
    let progress = api.get(&format!("/v1/document-requests/{id}")).await;
    assert_eq!(progress.body["status"], "Completed", "{}", progress.text);

    // The seed's own run id is no run here: refused in the same shape.
    let r = api.post(ACTION, &seed_001().0.to_string()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["isSuccess"], false);
    assert_eq!(r.body["errors"][0]["statusCode"], "VALIDATION_FAILED");
}

#[tokio::test]
async fn a_document_request_completes_and_every_invoice_serves_its_pdf() {
    let api = TestApi::with_book(BOOK).await;
    let run = completed_run(&api).await;
    let r = api
        .post(&format!("/v1/invoice-runs/{run}/documents"), "")
        .await;
    assert_eq!(
        (r.status, r.body["code"].clone(), r.body["message"].clone()),
        (
            StatusCode::CONFLICT,
            json!("no_active_template"),
            json!("no active invoice document template")
        )
    );
    api.put("/v1/document-templates/T-1", &template()).await;
    api.post("/v1/document-templates/T-1/activate", "").await;
    let r = api
        .post(&format!("/v1/invoice-runs/{run}/documents"), "")
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.body["status"], "Pending");
    let requested = r.body["counters"]["requested"].as_u64().unwrap();
    assert!(requested > 0);
    api.work().await;
    let id = r.body["id"].as_str().unwrap();
    let progress = api.get(&format!("/v1/document-requests/{id}")).await;
    assert_eq!(progress.body["status"], "Completed");
    assert_eq!(
        progress.body["counters"],
        json!({"requested": requested, "generated": requested, "failed": 0})
    );
    let view = api.get(&format!("/v1/invoice-runs/{run}")).await;
    assert_eq!(view.body["documents"], progress.body["counters"]);

    let docs = api.get(&format!("/v1/invoice-runs/{run}/invoices")).await;
    for d in docs.body["items"].as_array().unwrap() {
        let id = d["id"].as_str().unwrap();
        let one = api.get(&format!("/v1/invoices/{id}")).await;
        assert_eq!(one.body["documentStatus"], "Generated");
        assert_eq!(one.body["status"], "Draft");
        let pdf = api.get(&format!("/v1/invoices/{id}/document")).await;
        assert_eq!(pdf.status, StatusCode::OK);
        assert_eq!(pdf.headers["content-type"], "application/pdf");
        assert!(pdf.text.starts_with("%PDF-"));
    }
    let r = api
        .get("/v1/invoices/00000000-0000-4000-8000-000000000000/document")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

fn statuses(list: &Value) -> Vec<(String, String)> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["status"].as_str().unwrap().to_string(),
                d["documentStatus"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn listings_carry_document_status_beside_status_from_not_requested_to_pending_to_generated() {
    let api = TestApi::with_book(BOOK).await;
    let run = completed_run(&api).await;
    let list = format!("/v1/invoice-runs/{run}/invoices");
    let before = statuses(&api.get(&list).await.body);
    assert!(!before.is_empty());
    assert!(before
        .iter()
        .all(|(s, d)| s == "Draft" && d == "NotRequested"));
    api.put("/v1/document-templates/T-1", &template()).await;
    api.post("/v1/document-templates/T-1/activate", "").await;
    let r = api
        .post(&format!("/v1/invoice-runs/{run}/documents"), "")
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let pending = api.get(&list).await;
    assert!(statuses(&pending.body).iter().all(|(_, d)| d == "Pending"));
    let first = pending.body["items"][0]["id"].as_str().unwrap().to_string();
    let one = api.get(&format!("/v1/invoices/{first}")).await;
    assert_eq!(
        (
            &one.body["documentStatus"],
            &one.body["documentFailureReason"]
        ),
        (&json!("Pending"), &Value::Null)
    );
    api.work().await;
    let after = statuses(&api.get(&list).await.body);
    assert_eq!(after.len(), before.len());
    assert!(after.iter().all(|(s, d)| s == "Draft" && d == "Generated"));
}

/// A request whose queue send fails at the `k`-th message: stored, left with the
/// messages before it; `complete` must get the rest sent.
/// The fixture book with its account (and its subscription, charges, usage and
/// adjustment) repeated `n` times under new ids: `n` invoices.
fn book_of(n: usize) -> String {
    let one: Value = serde_json::from_str(BOOK).unwrap();
    let mut book = one.clone();
    for list in ["accounts", "subscriptions", "usage", "adjustments"] {
        book[list] = json!([]);
    }
    for i in 0..n {
        let text = one
            .to_string()
            .replace("\"A-1001\"", &format!("\"A-{i}\""))
            .replace("\"S-1\"", &format!("\"S-{i}\""))
            .replace("\"U-1\"", &format!("\"U-{i}\""))
            .replace("\"J-1\"", &format!("\"J-{i}\""))
            .replace("\"C-", &format!("\"C{i}-"));
        let copy: Value = serde_json::from_str(&text).unwrap();
        for list in ["accounts", "subscriptions", "usage", "adjustments"] {
            let items = copy[list].as_array().unwrap().clone();
            book[list].as_array_mut().unwrap().extend(items);
        }
    }
    book.to_string()
}

/// A document request whose `k`th queue message (a pack of up to
/// `DOCUMENTS_PER_PACK` documents) fails to send, over `copies` copies of the book.
async fn request_with_a_failed_send(
    copies: usize,
    k: u64,
    key: Option<&str>,
) -> (TestApi, String, u64, common::Reply, u64) {
    let api = TestApi::with_book(&book_of(copies)).await;
    let run = completed_run(&api).await;
    api.put("/v1/document-templates/T-1", &template()).await;
    api.post("/v1/document-templates/T-1/activate", "").await;
    let docs = api.get(&format!("/v1/invoice-runs/{run}/invoices")).await;
    let n = docs.body["items"].as_array().unwrap().len() as u64;
    assert!(
        n > (k - 1) * PACK,
        "the fixture has {n} documents, {k} messages need more"
    );
    api.queue.fail_kth_message(k);
    let sent_before = api.queue.sent();
    let headers: Vec<(&str, &str)> = key.map(|k| ("Idempotency-Key", k)).into_iter().collect();
    let r = api
        .call(
            axum::http::Method::POST,
            &format!("/v1/invoice-runs/{run}/documents"),
            Some(""),
            &headers,
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert_eq!(r.body["code"], "documents_not_queued");
    (api, run, n, r, sent_before)
}

async fn post_documents(api: &TestApi, run: &str, key: &str) -> common::Reply {
    api.call(
        axum::http::Method::POST,
        &format!("/v1/invoice-runs/{run}/documents"),
        Some(""),
        &[("Idempotency-Key", key)],
    )
    .await
}

#[tokio::test]
async fn a_replay_with_the_same_idempotency_key_sends_the_messages_a_failed_send_left_out() {
    let k = 2;
    let (api, run, n, _, sent_before) = request_with_a_failed_send(30, k, Some("pdfs-feb")).await;
    assert_eq!(api.queue.sent() - sent_before, k - 1);
    api.work().await;
    let view = api.get(&format!("/v1/invoice-runs/{run}")).await;
    let generated = (k - 1) * PACK;
    assert_eq!(
        view.body["documents"],
        json!({"requested": n, "generated": generated, "failed": 0}),
        "stuck without a replay"
    );
    let list = format!("/v1/invoice-runs/{run}/invoices");
    let pending = statuses(&api.get(&list).await.body)
        .iter()
        .filter(|(_, d)| d == "Pending")
        .count() as u64;
    assert_eq!(pending, n - generated);

    let r = post_documents(&api, &run, "pdfs-feb").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["counters"]["requested"], json!(n));
    // Only the missing ones, in packs.
    let messages = (k - 1) + (n - generated).div_ceil(PACK);
    assert_eq!(api.queue.sent() - sent_before, messages);
    api.work().await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let progress = api.get(&format!("/v1/document-requests/{id}")).await;
    assert_eq!(progress.body["status"], "Completed", "{}", progress.text);
    assert!(statuses(&api.get(&list).await.body)
        .iter()
        .all(|(_, d)| d == "Generated"));
    // A replay of a completed request sends nothing; another key is another request.
    let again = post_documents(&api, &run, "pdfs-feb").await;
    assert_eq!(
        (again.status, &again.body["id"]),
        (StatusCode::OK, &json!(id))
    );
    assert_eq!(api.queue.sent() - sent_before, messages);
    let other = post_documents(&api, &run, "pdfs-feb-2").await;
    assert_eq!(other.status, StatusCode::ACCEPTED);
    assert_ne!(other.body["id"], json!(id));
}

#[tokio::test]
async fn an_explicit_resend_completes_a_request_whose_send_failed() {
    let (api, run, n, failed, _) = request_with_a_failed_send(4, 1, None).await;
    api.work().await;
    let view = api.get(&format!("/v1/invoice-runs/{run}")).await;
    assert_eq!(
        view.body["documents"],
        json!({"requested": n, "generated": 0, "failed": 0})
    );
    let r = api.get(&format!("/v1/invoice-runs/{run}/invoices")).await;
    assert!(statuses(&r.body).iter().all(|(_, d)| d == "Pending"));
    // The 503 names the stored request.
    let message = failed.body["message"].as_str().unwrap();
    let id = message
        .strip_prefix("document request ")
        .and_then(|m| m.split_whitespace().next())
        .unwrap_or_else(|| panic!("no request id in {message}"))
        .to_string();
    let resend = |id: String| {
        let api = &api;
        async move {
            api.post(&format!("/v1/document-requests/{id}/resend"), "")
                .await
        }
    };
    let r = resend(id.clone()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.headers["resent"], n.to_string().as_str());
    api.work().await;
    let progress = api.get(&format!("/v1/document-requests/{id}")).await;
    assert_eq!(progress.body["status"], "Completed", "{}", progress.text);
    let r = resend(id).await;
    assert_eq!(r.headers["resent"], "0", "a complete request sends nothing");
    let missing = resend("00000000-0000-4000-8000-000000000000".into()).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn templates_are_listed_read_and_rendered_on_the_sample_invoice() {
    let api = TestApi::new();
    for id in ["T-2", "T-1"] {
        let r = api
            .put(&format!("/v1/document-templates/{id}"), &template())
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    api.post("/v1/document-templates/T-2/activate", "").await;
    let first = api.get("/v1/document-templates?limit=1").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["items"][0]["id"], "T-1");
    assert_eq!(first.body["items"][0]["active"], false);
    let cursor = first.body["nextCursor"].as_str().unwrap();
    let second = api
        .get(&format!("/v1/document-templates?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(second.body["items"][0]["id"], "T-2");
    assert_eq!(second.body["items"][0]["active"], true);
    let last = api
        .get(&format!(
            "/v1/document-templates?limit=1&cursor={}",
            second.body["nextCursor"].as_str().unwrap()
        ))
        .await;
    assert_eq!(last.body["items"], json!([]));
    assert!(last.body["nextCursor"].is_null());

    let one = api.get("/v1/document-templates/T-2").await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text);
    assert_eq!(
        (one.body["name"].as_str(), one.body["active"].as_bool()),
        (Some("Default"), Some(true))
    );
    let content: Value = serde_json::from_str(one.body["content"].as_str().unwrap()).unwrap();
    assert_eq!(content["taxId"], "EIN 94-3187452");

    // The sample is rendered by the documents worker: pending until it has run.
    let pending = api.get("/v1/document-templates/T-1/sample").await;
    assert_eq!(
        (pending.status, pending.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("sample_pending")),
        "{}",
        pending.text
    );
    api.work().await;
    let pdf = api.get("/v1/document-templates/T-1/sample").await;
    assert_eq!(pdf.status, StatusCode::OK, "{}", pdf.text);
    assert_eq!(pdf.headers["content-type"], "application/pdf");
    assert!(pdf.text.starts_with("%PDF-"));
    // Asked for again (a template put before samples were rendered when put): queued,
    // and rendered again into the same object.
    let again = api.post("/v1/document-templates/T-1/sample", "").await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.text);
    assert_eq!(again.body["templateId"], "T-1");
    api.work().await;
    assert_eq!(
        api.get("/v1/document-templates/T-1/sample").await.text,
        pdf.text
    );
    assert_eq!(
        api.post("/v1/document-templates/T-9/sample", "")
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    assert_eq!(
        api.get("/v1/document-templates/T-9").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get("/v1/document-templates/T-9/sample").await.status,
        StatusCode::NOT_FOUND
    );
    let bad = api.get("/v1/document-templates?limit=0").await;
    assert_eq!(
        (bad.status, bad.body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("limit"))
    );
}
