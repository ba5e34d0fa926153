//! Invoice documents through the API: generation requests on `/v1` and seed 001's
//! `generateInvoiceDocuments` action, on the in-memory backend (which serves the PDF
//! bytes itself).

mod common;

use axum::http::StatusCode;
use common::{json_after, keys, seed_document, seed_fixture, TestApi, BOOK};
use serde_json::{json, Value};

const SEED_001: &str = "001_78f61d73d4e97995.txt";
const ACTION: &str = "/services/data/v64.0/actions/standard/generateInvoiceDocuments";

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
