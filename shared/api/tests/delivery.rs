//! Email delivery through the API on the in-memory backend: `autoEmail`, delivery
//! requests with their counters and idempotency, each document's `deliveryStatus`,
//! transient and permanent send failures, concurrent senders, seed 002's fields. The
//! transport here is a recording one (the port's contract); the real SMTP server is
//! driven by `infra/local/tests/delivery.rs`.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use billrun_app::model::deliveries::OutgoingMail;
use billrun_app::ports::{Accepted, Mailer, SendFailed};
use common::TestApi;
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// Records every message it accepts; fails the first `transient` sends (a retry is
/// worth it) and every send to an address in `refused` (permanently).
#[derive(Default)]
struct Recorder {
    sent: Mutex<Vec<OutgoingMail>>,
    transient: AtomicU32,
    refused: Vec<String>,
}

#[async_trait]
impl Mailer for Recorder {
    async fn send(&self, mail: &OutgoingMail) -> Result<Accepted, SendFailed> {
        if self
            .transient
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(SendFailed::Transient("421 try again later".into()));
        }
        if mail.to.iter().any(|t| self.refused.contains(t)) {
            return Err(SendFailed::Permanent("550 mailbox unavailable".into()));
        }
        self.sent.lock().push(mail.clone());
        Ok(Accepted {
            provider_id: Some(format!("m-{}", self.sent.lock().len())),
        })
    }
}

impl Recorder {
    fn to(&self) -> Vec<String> {
        let mut v: Vec<String> = self.sent.lock().iter().map(|m| m.to[0].clone()).collect();
        v.sort();
        v
    }
}

/// Three accounts: A-1 with an address and a copy, B-2 without one, C-3 whose invoice
/// totals zero.
fn book() -> String {
    let account = |id: &str, bill_to: Value| {
        json!({"id": id, "name": format!("Customer {id}"), "currency": "USD",
               "billCycleDay": 1, "billTo": bill_to})
    };
    let sub = |id: &str, account: &str, price: &str| {
        json!({"id": id, "accountId": account, "productId": "P", "startDate": "2024-01-01",
               "charges": [{"id": format!("C-{id}"), "type": "Recurring", "price": price,
                            "quantity": "1", "billingPeriod": "Month", "timing": "InAdvance"}]})
    };
    json!({
        "accounts": [
            account("A-1", json!({"name": "A AP", "email": "ap@a.example.com",
                                  "ccEmails": ["cfo@a.example.com"]})),
            account("B-2", json!({"name": "B AP"})),
            account("C-3", json!({"email": "ap@c.example.com"})),
        ],
        "subscriptions": [sub("S-1", "A-1", "100.00"), sub("S-2", "B-2", "20.00"),
                          sub("S-3", "C-3", "0.00")]
    })
    .to_string()
}

fn template() -> String {
    json!({"name": "Default", "content": {"companyName": "Northwind Analytics, Inc.",
        "locale": "en-US"}})
    .to_string()
}

async fn api_with(mailer: Arc<Recorder>) -> TestApi {
    let api = TestApi::with_mailer(mailer);
    let r = api.post("/v1/import", &book()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = api.put("/v1/document-templates/T-1", &template()).await;
    assert!(r.status.is_success(), "{}", r.text);
    api.post("/v1/document-templates/T-1/activate", "").await;
    api
}

async fn run(api: &TestApi, extra: Value) -> String {
    let mut body = json!({"targetDate": "2024-02-01"});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = api.post("/v1/invoice-runs", &body.to_string()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    api.work().await;
    r.body["id"].as_str().unwrap().to_string()
}

async fn invoices(api: &TestApi, run: &str) -> Vec<Value> {
    let r = api.get(&format!("/v1/invoice-runs/{run}/invoices")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["items"].as_array().unwrap().clone()
}

fn by_account<'a>(docs: &'a [Value], account: &str) -> &'a Value {
    docs.iter().find(|d| d["accountId"] == account).unwrap()
}

#[tokio::test]
async fn an_auto_email_run_emails_each_posted_document_once_with_its_pdf() {
    let mailer = Arc::new(Recorder::default());
    let api = api_with(mailer.clone()).await;
    let run = run(&api, json!({"autoPost": true, "autoEmail": true})).await;
    assert_eq!(
        api.get(&format!("/v1/invoice-runs/{run}")).await.body["status"],
        "Posted"
    );

    // A-1 and C-3 (zero amounts are emailed by default); B-2 has no address.
    assert_eq!(mailer.to(), ["ap@a.example.com", "ap@c.example.com"]);
    let sent = mailer.sent.lock().clone();
    let a = sent.iter().find(|m| m.to[0] == "ap@a.example.com").unwrap();
    assert_eq!(a.cc, ["cfo@a.example.com"]);
    assert_eq!(a.from, "billing@northwind.example.com");
    let pdf = a.attachment.as_ref().unwrap();
    assert!(pdf.bytes.starts_with(b"%PDF"), "a PDF is attached");
    assert_eq!(pdf.content_type, "application/pdf");
    let docs = invoices(&api, &run).await;
    let number = by_account(&docs, "A-1")["number"].as_str().unwrap();
    assert_eq!(pdf.filename, format!("{number}.pdf"));
    assert!(a.subject.contains(number), "subject: {}", a.subject);
    // The attached PDF is the document's stored one (generated once).
    let id = by_account(&docs, "A-1")["id"].as_str().unwrap();
    let stored = api.get(&format!("/v1/invoices/{id}/document")).await;
    assert_eq!(stored.status, StatusCode::OK);
    assert_eq!(stored.text.len(), String::from_utf8_lossy(&pdf.bytes).len());

    let a = by_account(&docs, "A-1");
    assert_eq!(a["deliveryStatus"], "Sent");
    assert!(a["lastSentAt"].is_string());
    let b = by_account(&docs, "B-2");
    assert_eq!(b["deliveryStatus"], "Skipped");
    assert!(b["deliveryReason"]
        .as_str()
        .unwrap()
        .contains("no email address"));
    assert!(b["lastSentAt"].is_null());
    let one = api.get(&format!("/v1/invoices/{id}")).await;
    assert_eq!(one.body["deliveryStatus"], "Sent");

    // Posting again or the tick makes no second request and sends nothing.
    let r = api.post(&format!("/v1/invoice-runs/{run}/post"), "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    api.app.tick(chrono::Utc::now()).await.unwrap();
    api.work().await;
    assert_eq!(mailer.sent.lock().len(), 2);
    // The request's completion is one event on the run, with the request's id, after
    // the PDFs' request's.
    let events = api.get(&format!("/v1/invoice-runs/{run}/events")).await;
    let types: Vec<&str> = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .filter(|t| t.ends_with("_request.completed"))
        .collect();
    assert_eq!(
        types,
        ["document_request.completed", "delivery_request.completed"],
        "{}",
        events.text
    );
}

#[tokio::test]
async fn a_delivery_request_is_idempotent_counts_by_reason_and_honours_zero_amounts() {
    let mailer = Arc::new(Recorder::default());
    let api = api_with(mailer.clone()).await;
    let run = run(&api, json!({"autoPost": true})).await;
    assert!(mailer.sent.lock().is_empty(), "no autoEmail: nothing sent");
    let docs = invoices(&api, &run).await;
    assert_eq!(by_account(&docs, "A-1")["deliveryStatus"], "NotRequested");

    let uri = format!("/v1/invoice-runs/{run}/emails");
    let body = r#"{"emailZeroAmountInvoices": false}"#;
    let key = [("idempotency-key", "mail-1")];
    let r = api.call(Method::POST, &uri, Some(body), &key).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let request = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["counters"]["requested"], 3);
    assert_eq!(r.body["status"], "Pending");
    assert_eq!(
        by_account(&invoices(&api, &run).await, "A-1")["deliveryStatus"],
        "Queued"
    );
    api.work().await;
    assert_eq!(mailer.to(), ["ap@a.example.com"]);

    let r = api.get(&format!("/v1/delivery-requests/{request}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let c = &r.body["counters"];
    assert_eq!(r.body["status"], "Completed");
    assert_eq!(
        (
            c["sent"].as_u64(),
            c["skipped"].as_u64(),
            c["failed"].as_u64()
        ),
        (Some(1), Some(2), Some(0))
    );
    assert_eq!(
        c["skippedReasons"],
        json!({"noAddress": 1, "zeroAmount": 1})
    );
    assert!(c["lastSentAt"].is_string());

    // The same key: the same request, nothing sent again.
    let r = api.call(Method::POST, &uri, Some(body), &key).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["id"], request.as_str());
    api.work().await;
    let r = api
        .post(&format!("/v1/delivery-requests/{request}/resend"), "")
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.headers["resent"], "0");
    api.work().await;
    assert_eq!(mailer.sent.lock().len(), 1);

    // Another request (no key) sends again; one for the unsent only sends nothing.
    let r = api.post(&uri, "").await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    api.work().await;
    assert_eq!(
        mailer.to(),
        ["ap@a.example.com", "ap@a.example.com", "ap@c.example.com"]
    );
    let r = api.post(&uri, r#"{"onlyUnsent": true}"#).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let unsent = r.body["id"].as_str().unwrap().to_string();
    api.work().await;
    assert_eq!(mailer.sent.lock().len(), 3);
    let r = api.get(&format!("/v1/delivery-requests/{unsent}")).await;
    assert_eq!(
        r.body["counters"]["skippedReasons"],
        json!({"noAddress": 1, "alreadySent": 2})
    );
}

#[tokio::test]
async fn transient_failures_are_retried_and_permanent_ones_recorded_failed_then_resent() {
    let mailer = Arc::new(Recorder {
        transient: AtomicU32::new(2),
        refused: vec!["ap@c.example.com".into()],
        ..Recorder::default()
    });
    let api = api_with(mailer.clone()).await;
    let run = run(&api, json!({"autoPost": true, "autoEmail": true})).await;
    // A-1 went out after the transient failures, once.
    assert_eq!(mailer.to(), ["ap@a.example.com"]);
    let docs = invoices(&api, &run).await;
    let c = by_account(&docs, "C-3");
    assert_eq!(c["deliveryStatus"], "Failed");
    assert!(c["deliveryReason"].as_str().unwrap().contains("550"));
    assert_eq!(by_account(&docs, "A-1")["deliveryStatus"], "Sent");

    let r = api.get(&format!("/v1/invoice-runs/{run}")).await;
    assert_eq!(r.status, StatusCode::OK);
    let request = {
        let r = api
            .call(
                Method::POST,
                &format!("/v1/invoice-runs/{run}/emails"),
                None,
                &[("idempotency-key", "k")],
            )
            .await;
        r.body["id"].as_str().unwrap().to_string()
    };
    api.work().await;
    let view = api.get(&format!("/v1/delivery-requests/{request}")).await;
    assert_eq!(view.body["status"], "CompletedWithErrors");
    assert_eq!(view.body["counters"]["failed"], 1);
    // A resend tries the failed document again (still refused), and only it.
    let r = api
        .post(&format!("/v1/delivery-requests/{request}/resend"), "")
        .await;
    assert_eq!(r.headers["resent"], "1");
    api.work().await;
    let view = api.get(&format!("/v1/delivery-requests/{request}")).await;
    assert_eq!(view.body["counters"]["failed"], 1);
    assert_eq!(view.body["counters"]["sent"], 1);
    assert_eq!(mailer.to(), ["ap@a.example.com", "ap@a.example.com"]);
}

#[tokio::test]
async fn concurrent_deliveries_of_one_chunk_send_each_document_once() {
    let mailer = Arc::new(Recorder::default());
    let api = api_with(mailer.clone()).await;
    let run = run(&api, json!({"autoPost": true})).await;
    let r = api
        .post(&format!("/v1/invoice-runs/{run}/emails"), "")
        .await;
    let request: billrun_domain::ids::DeliveryRequestId =
        r.body["id"].as_str().unwrap().parse().unwrap();
    let docs: Vec<billrun_domain::ids::DocumentId> = invoices(&api, &run)
        .await
        .iter()
        .map(|d| d["id"].as_str().unwrap().parse().unwrap())
        .collect();
    let d = api.app.deliveries().unwrap();
    let (x, y, z) = tokio::join!(
        d.deliver(request, &docs),
        d.deliver(request, &docs),
        d.deliver(request, &docs)
    );
    // A sender that found another's claim asks to come again; nobody sent twice.
    let _ = (x, y, z);
    api.work().await;
    assert_eq!(mailer.to(), ["ap@a.example.com", "ap@c.example.com"]);
}

#[tokio::test]
async fn emails_are_refused_before_posting_without_a_template_or_a_transport() {
    let mailer = Arc::new(Recorder::default());
    let api = api_with(mailer.clone()).await;
    let run = run(&api, json!({})).await;
    let r = api
        .post(&format!("/v1/invoice-runs/{run}/emails"), "")
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.body["code"], "run_not_posted");
    let r = api
        .post(
            &format!("/v1/invoice-runs/{run}/emails"),
            r#"{"emailZero": false}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);

    let plain = TestApi::with_book(&book()).await;
    let r = plain
        .post(
            "/v1/invoice-runs",
            r#"{"targetDate": "2024-02-01", "autoEmail": true}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.body["code"], "delivery_not_configured");
    assert_eq!(r.body["field"], "autoEmail");
    let r = plain
        .post(
            "/v1/invoice-runs",
            r#"{"targetDate": "2024-02-01", "autoPost": true}"#,
        )
        .await;
    plain.work().await;
    let id = r.body["id"].as_str().unwrap();
    let r = plain
        .post(&format!("/v1/invoice-runs/{id}/emails"), "")
        .await;
    assert_eq!(r.body["code"], "delivery_not_configured");
    let docs = invoices(&plain, id).await;
    assert_eq!(by_account(&docs, "A-1")["deliveryStatus"], "NotRequested");
}

#[tokio::test]
async fn bad_addresses_in_the_book_are_refused_at_their_field() {
    let api = TestApi::new();
    for (bill_to, field) in [
        (
            json!({"email": "not-an-address"}),
            "accounts[0].billTo.email",
        ),
        (
            json!({"email": "a@example.com\r\nBcc: x@evil.example.com"}),
            "accounts[0].billTo.email",
        ),
        (
            json!({"email": "a@example.com", "ccEmails": ["ok@example.com", "bad"]}),
            "accounts[0].billTo.ccEmails[1]",
        ),
        (
            json!({"ccEmails": ["ok@example.com"]}),
            "accounts[0].billTo.ccEmails",
        ),
    ] {
        let book = json!({"accounts": [{"id": "A-1", "name": "A", "currency": "USD",
            "billCycleDay": 1, "billTo": bill_to}]});
        let r = api.post("/v1/import", &book.to_string()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        assert_eq!(r.body["field"], field, "{}", r.text);
    }
    let book = json!({"accounts": [{"id": "A-1", "name": "A", "currency": "USD",
        "billCycleDay": 1, "shipTo": {"email": "a@example.com"}}]});
    let r = api.post("/v1/import", &book.to_string()).await;
    assert_eq!(r.body["field"], "accounts[0].shipTo.email", "{}", r.text);
}

#[tokio::test]
async fn seed_002_email_maps_to_auto_email_and_reports_invoices_sent() {
    let mailer = Arc::new(Recorder::default());
    let api = api_with(mailer.clone()).await;
    let r = api
        .post(
            "/v2/bill_runs",
            r#"{"invoice_date": "2024-02-01", "target_date": "2024-02-01", "post": true, "email": true,
                "email_zero_amount_invoices": false}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["invoices_sent"], false);
    assert_eq!(r.body["last_invoice_sent_time"], "");
    let id = r.body["id"].as_str().unwrap().to_string();
    api.work().await;
    // Zero-amount invoices are generated (Zuora's meaning) but not emailed.
    let docs = invoices(&api, &id).await;
    assert_eq!(docs.len(), 3);
    assert_eq!(by_account(&docs, "C-3")["deliveryStatus"], "Skipped");
    assert_eq!(mailer.to(), ["ap@a.example.com"]);
    let r = api.get(&format!("/v2/bill_runs/{id}")).await;
    assert_eq!(r.body["email"], true);
    assert_eq!(r.body["email_zero_amount_invoices"], false);
    assert_eq!(r.body["invoices_sent"], true);
    assert!(!r.body["last_invoice_sent_time"]
        .as_str()
        .unwrap()
        .is_empty());

    // Zuora's email route, by the run's number: with resend false only the unsent (C-3's
    // zero invoice, still not emailed under the run's setting: nothing); by default all.
    let number = r.body["bill_run_number"].as_str().unwrap().to_string();
    let r = api
        .post(
            &format!("/v1/bill-runs/{number}/emails"),
            r#"{"resend": false}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body, json!({"success": true}));
    api.work().await;
    assert_eq!(mailer.to(), ["ap@a.example.com"]);
    let r = api.post(&format!("/v1/bill-runs/{id}/emails"), "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    api.work().await;
    assert_eq!(mailer.to(), ["ap@a.example.com", "ap@a.example.com"]);
    let r = api.post("/v1/bill-runs/BR-99999999/emails", "").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
}

/// Seed 004: an invoice schedule with `autoPost`, `autoEmail` and
/// `emailZeroAmountInvoices: false` gives its executions those options; the record
/// reports them (`noEmailForZeroAmountInvoice` its negation) and the posted installment
/// is emailed once.
#[tokio::test]
async fn seed_004_a_schedule_with_auto_email_emails_the_documents_of_its_executions() {
    let mailer = Arc::new(Recorder::default());
    let api = TestApi::with_mailer(mailer.clone());
    let book = json!({
        "accounts": [{"id": "A-1", "name": "Schedule customer", "currency": "USD",
            "billCycleDay": 3, "billTo": {"email": "ap@a.example.com"}}],
        "subscriptions": [{"id": "SUB-IS", "accountId": "A-1", "productId": "PROJECT",
            "startDate": "2022-11-01", "endDate": "2023-11-01",
            "charges": [{"id": "C-IS", "type": "Recurring", "price": "500.00",
                         "billingPeriod": "Month"}]}],
        "invoiceSchedules": [{"id": "IS-1", "accountId": "A-1", "subscriptionIds": ["SUB-IS"],
            "autoPost": true, "autoEmail": true, "emailZeroAmountInvoices": false,
            "items": [{"id": "IS-1-1", "invoiceDate": "2022-12-03", "amount": "1000.00"}]}]
    });
    let r = api.post("/v1/import", &book.to_string()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    api.put("/v1/document-templates/T-1", &template()).await;
    api.post("/v1/document-templates/T-1/activate", "").await;
    let schedule = api.get("/v1/invoice-schedules/IS-1").await.body;
    assert_eq!(
        (
            schedule["autoEmail"].clone(),
            schedule["emailZeroAmountInvoices"].clone()
        ),
        (json!(true), json!(false))
    );
    let r = api.post("/v1/invoice-schedules/IS-1/execute", "{}").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (
            r.body["autoEmail"].clone(),
            r.body["noEmailForZeroAmountInvoice"].clone(),
            r.body["status"].clone()
        ),
        (json!(true), json!(true), json!("Posted"))
    );
    api.work().await;
    assert_eq!(mailer.to(), ["ap@a.example.com"]);
    let id = r.body["id"].as_str().unwrap();
    let docs = invoices(&api, id).await;
    assert_eq!(docs[0]["deliveryStatus"], "Sent");
    assert!(mailer.sent.lock()[0]
        .subject
        .contains(docs[0]["number"].as_str().unwrap()));
}

#[tokio::test]
async fn bounces_and_complaints_show_on_the_document_and_the_request_once() {
    use billrun_app::model::deliveries::Feedback;
    use billrun_app::Message;
    let mailer = Arc::new(Recorder::default());
    let api = api_with(mailer.clone()).await;
    let run = run(&api, json!({"autoPost": true, "autoEmail": true})).await;
    let docs = invoices(&api, &run).await;
    let a = by_account(&docs, "A-1")["id"].as_str().unwrap().to_string();
    let c = by_account(&docs, "C-3")["id"].as_str().unwrap().to_string();
    let deliveries = api.app.deliveries().unwrap();
    let run_id = run.parse().unwrap();
    let request = deliveries
        .store
        .latest_delivery_request(run_id)
        .await
        .unwrap()
        .unwrap();
    let at = chrono::Utc::now();
    let bounce = Message::Feedback {
        request_id: request,
        document_id: a.parse().unwrap(),
        feedback: Feedback::Bounce {
            at,
            permanent: true,
            reason: "Permanent bounce (NoEmail)".into(),
        },
    };
    // The event arrives twice (EventBridge and SQS deliver at least once).
    api.app.handle(&bounce).await.unwrap();
    api.app.handle(&bounce).await.unwrap();
    let complaint = Message::Feedback {
        request_id: request,
        document_id: c.parse().unwrap(),
        feedback: Feedback::Complaint {
            at,
            reason: "abuse".into(),
        },
    };
    api.app.handle(&complaint).await.unwrap();

    let one = api.get(&format!("/v1/invoices/{a}")).await;
    assert_eq!(one.body["deliveryStatus"], "Bounced", "{}", one.text);
    assert_eq!(one.body["deliveryReason"], "Permanent bounce (NoEmail)");
    assert!(
        one.body["lastSentAt"].is_string(),
        "the send stays on record"
    );
    let docs = invoices(&api, &run).await;
    assert_eq!(by_account(&docs, "C-3")["deliveryStatus"], "Complained");
    let r = api.get(&format!("/v1/delivery-requests/{request}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let counters = &r.body["counters"];
    assert_eq!(
        (
            &counters["sent"],
            &counters["bounced"],
            &counters["complained"]
        ),
        (&json!(2), &json!(1), &json!(1)),
        "{counters}"
    );
    assert_eq!(r.body["status"], "Completed");

    // A report about a document the request skipped changes nothing; one about a
    // document the request does not know is dropped too.
    let b = by_account(&docs, "B-2")["id"].as_str().unwrap().to_string();
    for document in [b.clone(), uuid::Uuid::new_v4().to_string()] {
        let stray = Message::Feedback {
            request_id: request,
            document_id: document.parse().unwrap(),
            feedback: Feedback::Complaint {
                at,
                reason: "abuse".into(),
            },
        };
        api.app.handle(&stray).await.unwrap();
    }
    let shown = api.get(&format!("/v1/invoices/{b}")).await;
    assert_eq!(shown.body["deliveryStatus"], "Skipped");
    // A resend of the request sends nothing again to the bounced address.
    let r = api
        .post(&format!("/v1/delivery-requests/{request}/resend"), "")
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    api.work().await;
    assert_eq!(mailer.sent.lock().len(), 2);
}

/// The per-document events a receiver got, by type: each event's body.
fn document_events(sent: &[billrun_app::ports::OutgoingWebhook], url: &str) -> Vec<Value> {
    let mut out: Vec<Value> = sent
        .iter()
        .filter(|w| w.url == url)
        .map(|w| serde_json::from_str(&w.body).unwrap())
        .collect();
    out.sort_by_key(|e| {
        (
            e["type"].as_str().unwrap().to_string(),
            e["data"]["page"].as_u64(),
        )
    });
    out
}

#[tokio::test]
async fn per_document_events_come_in_pages_once_and_only_to_endpoints_that_name_them() {
    use billrun_app::model::deliveries::Feedback;
    use billrun_app::Message;
    let mailer = Arc::new(Recorder::default());
    let hooks = billrun_app::memory::RecordingWebhookSender::new();
    let api = TestApi::with_webhooks_and_mailer(Arc::new(hooks.clone()), mailer.clone());
    let r = api.post("/v1/import", &book()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    api.put("/v1/document-templates/T-1", &template()).await;
    api.post("/v1/document-templates/T-1/activate", "").await;
    for (id, events) in [
        ("all", json!(["*"])),
        (
            "docs",
            json!([
                "documents.posted",
                "documents.delivered",
                "documents.bounced"
            ]),
        ),
    ] {
        api.webhook_endpoint(id, events).await;
    }
    let run = run(&api, json!({"autoPost": true, "autoEmail": true})).await;
    api.work_until_settled().await;
    let docs = invoices(&api, &run).await;
    assert_eq!(docs.len(), 3);
    let sent = hooks.received();
    // `*` is every event but the per-document ones.
    assert!(document_events(&sent, "https://hooks.example.com/all")
        .iter()
        .all(|e| !e["type"].as_str().unwrap().starts_with("documents.")));
    let got = document_events(&sent, "https://hooks.example.com/docs");
    let of_type = |t: &str| -> Vec<&Value> { got.iter().filter(|e| e["type"] == t).collect() };

    // Posted: every posted document once, two to a page, the last page marked.
    let posted = of_type("documents.posted");
    assert_eq!(posted.len(), 2, "{posted:?}");
    let pages: Vec<(u64, bool)> = posted
        .iter()
        .map(|e| {
            (
                e["data"]["page"].as_u64().unwrap(),
                e["data"]["lastPage"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(pages, [(0, false), (1, true)]);
    let numbers: Vec<&str> = posted
        .iter()
        .flat_map(|e| e["data"]["documents"].as_array().unwrap())
        .map(|d| {
            assert_eq!(d["status"], "Posted");
            assert!(d.get("lines").is_none(), "summaries, not whole documents");
            d["number"].as_str().unwrap()
        })
        .collect();
    let expected: Vec<&str> = docs.iter().map(|d| d["number"].as_str().unwrap()).collect();
    assert_eq!(numbers, expected);
    assert_eq!(posted[0]["data"]["runId"], run.as_str());
    // Only what docs/events/event.v1.schema.json describes, and all it requires.
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/events/event.v1.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    for (value, def) in [
        (&posted[1]["data"], "documentsData"),
        (&posted[1]["data"]["documents"][0], "documentSummary"),
    ] {
        let def = &schema["$defs"][def];
        let allowed: Vec<&String> = def["properties"].as_object().unwrap().keys().collect();
        for key in value.as_object().unwrap().keys() {
            assert!(allowed.contains(&key), "{key} is not in the schema");
        }
        for required in def["required"].as_array().unwrap() {
            assert!(
                value.get(required.as_str().unwrap()).is_some(),
                "{required}"
            );
        }
    }

    // Delivered: each document of the request with its result.
    let delivered = of_type("documents.delivered");
    let states: Vec<(String, String)> = delivered
        .iter()
        .flat_map(|e| e["data"]["documents"].as_array().unwrap())
        .map(|d| {
            (
                d["accountId"].as_str().unwrap().to_string(),
                d["delivery"]["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("A-1".to_string(), "sent".to_string()),
            ("B-2".into(), "skipped".into()),
            ("C-3".into(), "sent".into())
        ]
    );
    assert!(of_type("documents.bounced").is_empty());

    // A bounce reported twice is one event.
    let a = by_account(&docs, "A-1")["id"].as_str().unwrap().to_string();
    let request = api
        .app
        .deliveries()
        .unwrap()
        .store
        .latest_delivery_request(run.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let bounce = Message::Feedback {
        request_id: request,
        document_id: a.parse().unwrap(),
        feedback: Feedback::Bounce {
            at: chrono::Utc::now(),
            permanent: true,
            reason: "Permanent bounce (NoEmail)".into(),
        },
    };
    api.app.handle(&bounce).await.unwrap();
    api.work_until_settled().await;
    api.app.handle(&bounce).await.unwrap();
    api.work_until_settled().await;
    let sent = hooks.received();
    let got = document_events(&sent, "https://hooks.example.com/docs");
    let bounced: Vec<&Value> = got
        .iter()
        .filter(|e| e["type"] == "documents.bounced")
        .collect();
    assert_eq!(bounced.len(), 1, "{bounced:?}");
    let d = &bounced[0]["data"]["documents"][0];
    assert_eq!(d["id"], a.as_str());
    assert_eq!(d["delivery"]["state"], "bounced");
    assert_eq!(d["delivery"]["permanent"], true);
    assert_eq!(
        bounced[0]["data"]["requestId"],
        request.to_string().as_str()
    );
    // Every delivery went once: the deliveries are one per (event, endpoint).
    let ids: std::collections::HashSet<&str> = sent.iter().map(|w| w.message_id.as_str()).collect();
    let pairs: std::collections::HashSet<(&str, &str)> = sent
        .iter()
        .map(|w| (w.url.as_str(), w.message_id.as_str()))
        .collect();
    assert_eq!(
        pairs.len(),
        sent.len(),
        "no event reached an endpoint twice"
    );
    assert!(ids.len() >= 5);
}
