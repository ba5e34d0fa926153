//! The deployed shape, end to end, on a local wire-protocol endpoint (moto): the Lambda
//! handlers themselves, fed the events API Gateway and the SQS event source mappings
//! would send. A run created through `api-commands`, planned by `plan-run`, processed by
//! `process-account` and read through `api-queries` gives the documents the in-memory
//! pipeline gives for the same book; `generate-documents` stores the PDFs of its
//! documents in S3, one pack per chunk of documents (and nothing new for a second
//! request), each downloadable through `api-queries` (a ranged GetObject of its pack,
//! answered base64-encoded as API Gateway needs a binary body); each function's SDK
//! calls stay inside its policy. A run posted with `autoEmail` is emailed by
//! `deliver-documents` through SES (moto's), once per document with an address, each
//! message with its PDF, read back from moto's state.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
#[path = "template.rs"]
#[allow(dead_code)]
mod template;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use billrun_aws::provision::{provision, Names};
use billrun_aws::Clients;
use billrun_domain::request::RunRequest;
use billrun_lambda::Runtime;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tower::ServiceExt;

const HTTP_EVENT: &str = include_str!("../../events/http-create-run.json");
const SQS_EVENT: &str = include_str!("../../events/sqs-account.json");

/// An API Gateway HTTP API (payload 2.0) event for `method path?query` with `body`.
fn http_event(method: &str, path: &str, query: &str, body: Option<String>) -> lambda_http::Request {
    lambda_http::request::from_str(&http_event_value(method, path, query, body).to_string())
        .unwrap()
}

/// The JSON of [`http_event`].
fn http_event_value(method: &str, path: &str, query: &str, body: Option<String>) -> Value {
    let mut v: Value = serde_json::from_str(HTTP_EVENT).unwrap();
    v["routeKey"] = format!("{method} /{{proxy+}}").into();
    v["rawPath"] = path.into();
    v["rawQueryString"] = query.into();
    v["requestContext"]["http"]["method"] = method.into();
    v["requestContext"]["http"]["path"] = path.into();
    v["requestContext"]["routeKey"] = v["routeKey"].clone();
    v["headers"]
        .as_object_mut()
        .unwrap()
        .remove("idempotency-key");
    match body {
        Some(b) => v["body"] = b.into(),
        None => {
            v.as_object_mut().unwrap().remove("body");
        }
    }
    v
}

async fn call(router: axum::Router, req: lambda_http::Request) -> (u16, Value) {
    let response = router.oneshot(req).await.unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Receives up to 10 messages as the event source mapping would, hands them to the
/// handler as one SQS event, and deletes the records it did not report as failures.
async fn deliver<F, Fut>(sqs: &aws_sdk_sqs::Client, url: &str, handler: F) -> usize
where
    F: FnOnce(SqsEvent) -> Fut,
    Fut: std::future::Future<Output = SqsBatchResponse>,
{
    let out = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .message_system_attribute_names(
            aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
        )
        .send()
        .await
        .unwrap();
    let messages = out.messages();
    if messages.is_empty() {
        return 0;
    }
    let template: Value = serde_json::from_str::<Value>(SQS_EVENT).unwrap()["Records"][0].clone();
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let mut r = template.clone();
            r["messageId"] = m.message_id().unwrap().into();
            r["receiptHandle"] = m.receipt_handle().unwrap().into();
            r["body"] = m.body().unwrap().into();
            let receives = m
                .attributes()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
                })
                .cloned()
                .unwrap_or_else(|| "1".into());
            r["attributes"]["ApproximateReceiveCount"] = receives.into();
            r
        })
        .collect();
    let event: SqsEvent = serde_json::from_value(json!({ "Records": records })).unwrap();
    let response = handler(event).await;
    let failed: BTreeSet<String> = response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    for m in messages {
        if !failed.contains(m.message_id().unwrap()) {
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    messages.len()
}

/// Every object under `prefix` with its LastModified.
async fn objects(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<(String, String)> {
    let out = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    out.contents()
        .iter()
        .map(|o| {
            (
                o.key().unwrap().to_string(),
                o.last_modified().unwrap().to_string(),
            )
        })
        .collect()
}

/// The id of the run's first invoice.
async fn invoices_of_run(qry: &axum::Router, run: &str) -> String {
    let (_, page) = call(
        qry.clone(),
        http_event(
            "GET",
            &format!("/v1/invoice-runs/{run}/invoices"),
            "kind=Invoice&limit=1",
            None,
        ),
    )
    .await;
    page["items"][0]["id"].as_str().unwrap().to_string()
}

/// Feeds the plan and account queues to plan-run and process-account until the run
/// leaves Processing (within `within`); returns the run as api-queries shows it.
async fn run_to_completion(
    qry: &axum::Router,
    planner: &billrun_app::App,
    processor: &billrun_app::App,
    sqs: &aws_sdk_sqs::Client,
    config: &billrun_aws::AwsConfig,
    id: &str,
    within: Duration,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (_, run) = call(
            qry.clone(),
            http_event("GET", &format!("/v1/invoice-runs/{id}"), "", None),
        )
        .await;
        if run["status"] != "Processing" {
            return run;
        }
        assert!(Instant::now() < deadline, "the run did not complete: {run}");
        let p = deliver(sqs, &config.plan_queue_url, |e| async {
            plan_run::handler::handle(planner, e, 5).await
        })
        .await;
        let a = deliver(sqs, &config.account_queue_url, |e| async {
            process_account::handler::handle(processor, e, 5).await
        })
        .await;
        if p + a == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Stores `content` as template T-1 through api-commands and activates it.
async fn activate_template(cmd: &axum::Router, content: Value) {
    let template = json!({"name": "Default", "content": content});
    let (status, _) = call(
        cmd.clone(),
        http_event(
            "PUT",
            "/v1/document-templates/T-1",
            "",
            Some(template.to_string()),
        ),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        cmd.clone(),
        http_event("POST", "/v1/document-templates/T-1/activate", "", None),
    )
    .await;
    assert_eq!(status, 200);
}

/// A fresh table, bucket and queues on the local endpoint, named with `letter` and a
/// random suffix, with the clients of the test itself.
struct Provisioned {
    endpoint: String,
    admin: Clients,
    config: billrun_aws::AwsConfig,
    prefix: String,
}

async fn provisioned(letter: char) -> Provisioned {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL is not set: run the tests with ./infra/test.sh, which starts a moto server");
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "tests only talk to loopback"
    );
    let admin = Clients::load().await;
    let prefix = format!(
        "{letter}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let mut names = Names::new(prefix.clone());
    names.visibility_timeout_seconds = 2;
    let config = provision(&admin, &names).await.unwrap();
    Provisioned {
        endpoint,
        admin,
        config,
        prefix,
    }
}

fn strip(mut docs: Vec<Value>) -> Vec<Value> {
    for d in docs.iter_mut() {
        let o = d.as_object_mut().unwrap();
        o.remove("id");
        o.remove("runId");
    }
    docs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_through_the_handlers_on_moto_equals_the_in_memory_run_and_stays_inside_each_policy()
{
    let Provisioned { admin, config, .. } = provisioned('e').await;
    // One runtime per function, as each Lambda has its own: own clients, own recorder,
    // the adapters its `main` chooses.
    let commands = Runtime::new(config.clone(), 5, api_commands::adapters).await;
    let queries = Runtime::new(config.clone(), 5, api_queries::adapters).await;
    let planner = Runtime::new(config.clone(), 5, plan_run::adapters).await;
    let processor = Runtime::new(config.clone(), 5, process_account::adapters).await;
    let cmd = api_commands::handler::service(commands.app.clone(), Default::default());
    let qry = api_queries::handler::service(queries.app.clone(), Default::default());

    let target = "2026-12-01".parse().unwrap();
    // 60 sample accounts, seed 3: every kind of outcome, one account failing (currency).
    let book = billrun_local::sample::generate(60, target, 3);
    let (status, _) = call(
        cmd.clone(),
        http_event(
            "POST",
            "/v1/import",
            "",
            Some(serde_json::to_string(&book).unwrap()),
        ),
    )
    .await;
    assert!(status == 200 || status == 201, "import: {status}");
    let body = json!({"name": "E2E", "targetDate": "2026-12-01", "suppressZeroInvoices": true})
        .to_string();
    let (status, run) = call(
        cmd.clone(),
        http_event("POST", "/v1/invoice-runs", "", Some(body)),
    )
    .await;
    assert_eq!(status, 201, "{run}");
    let id = run["id"].as_str().unwrap().to_string();

    let drain = |within| {
        run_to_completion(
            &qry,
            &planner.app,
            &processor.app,
            &admin.sqs,
            &config,
            &id,
            within,
        )
    };
    let run = drain(Duration::from_secs(120)).await;
    assert_eq!(
        run["status"], "CompletedWithErrors",
        "the sample book has failing accounts: {run}"
    );

    let mut invoices = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("limit=7&cursor={c}"),
            None => "limit=7".into(),
        };
        let (status, page) = call(
            qry.clone(),
            http_event(
                "GET",
                &format!("/v1/invoice-runs/{id}/invoices"),
                &query,
                None,
            ),
        )
        .await;
        assert_eq!(status, 200, "{page}");
        invoices.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let mut request = RunRequest::for_target(target);
    request.name = Some("E2E".into());
    request.suppress_zero_invoices = true;
    let memory =
        billrun_local::pipeline::run_book(&book, request.validated().unwrap(), Default::default())
            .await
            .unwrap();
    let expected: Vec<Value> = memory
        .documents
        .iter()
        .map(|d| serde_json::to_value(d).unwrap())
        .collect();
    assert!(!invoices.is_empty());
    // The listing adds each document's PDF and email states: none was requested in this
    // run.
    for invoice in invoices.iter_mut() {
        let o = invoice.as_object_mut().unwrap();
        assert_eq!(
            o.remove("documentStatus"),
            Some(json!("NotRequested")),
            "{o:?}"
        );
        assert_eq!(
            o.remove("documentFailureReason"),
            Some(Value::Null),
            "{o:?}"
        );
        // And its email delivery: none was requested.
        assert_eq!(
            o.remove("deliveryStatus"),
            Some(json!("NotRequested")),
            "{o:?}"
        );
        assert_eq!(o.remove("deliveryReason"), Some(Value::Null), "{o:?}");
        assert_eq!(o.remove("lastSentAt"), Some(Value::Null), "{o:?}");
        // Who acted on it (no identified caller here; nothing voided or canceled it
        // alone), and not a preview's.
        for field in [
            "createdBy",
            "approvedBy",
            "postedBy",
            "voidedBy",
            "voidedAt",
            "canceledBy",
            "canceledAt",
        ] {
            assert_eq!(o.remove(field), Some(Value::Null), "{field}: {o:?}");
        }
        assert_eq!(o.remove("preview"), Some(json!(false)), "{o:?}");
        // And its settlement: nothing paid or applied yet.
        let kind = o["kind"].as_str().unwrap().to_string();
        let (paid, applied) = (
            ["amountPaid", "balance", "paymentStatus"],
            ["amountApplied", "unappliedAmount"],
        );
        let (shown, absent): (&[&str], &[&str]) = if kind == "Invoice" {
            (&paid, &applied)
        } else {
            (&applied, &paid)
        };
        for field in shown {
            assert!(
                o.remove(*field).is_some_and(|v| !v.is_null()),
                "{field}: {o:?}"
            );
        }
        for field in absent {
            assert_eq!(o.remove(*field), Some(Value::Null), "{field}: {o:?}");
        }
    }
    assert_eq!(
        strip(invoices),
        strip(expected),
        "documents through the handlers equal the in-memory run"
    );

    // More of the commands side: retry the failed accounts, then post.
    let (status, _) = call(
        cmd.clone(),
        http_event(
            "POST",
            &format!("/v1/invoice-runs/{id}/retry-failed"),
            "",
            None,
        ),
    )
    .await;
    assert_eq!(status, 200);
    let run = drain(Duration::from_secs(60)).await;
    assert_eq!(
        run["status"], "CompletedWithErrors",
        "the same accounts fail again: {run}"
    );
    let (status, posted) = call(
        cmd.clone(),
        http_event("POST", &format!("/v1/invoice-runs/{id}/post"), "", None),
    )
    .await;
    assert_eq!(
        (status, posted["status"].as_str()),
        (200, Some("Posted")),
        "{posted}"
    );

    // Documents: the template, a request through api-commands, generate-documents fed
    // from the document queue, progress through api-queries.
    let generator = Runtime::new(config.clone(), 5, generate_documents::adapters).await;
    activate_template(
        &cmd,
        json!({"companyName": "Northwind Analytics, Inc.",
            "address": {"line1": "500 Market Street", "city": "San Francisco, CA",
                        "postalCode": "94105", "country": "United States"},
            "accentColor": "#1F4E79", "locale": "en-US"}),
    )
    .await;
    let document_queue = config.document_queue_url.clone().unwrap();
    let generate = || {
        let (cmd, qry, generator, sqs, url, id) = (
            cmd.clone(),
            qry.clone(),
            generator.app.clone(),
            admin.sqs.clone(),
            document_queue.clone(),
            id.clone(),
        );
        async move {
            let (status, request) = call(
                cmd,
                http_event(
                    "POST",
                    &format!("/v1/invoice-runs/{id}/documents"),
                    "",
                    None,
                ),
            )
            .await;
            assert_eq!(status, 202, "{request}");
            let rid = request["id"].as_str().unwrap().to_string();
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let (_, progress) = call(
                    qry.clone(),
                    http_event("GET", &format!("/v1/document-requests/{rid}"), "", None),
                )
                .await;
                if progress["status"] == "Completed" {
                    return progress;
                }
                assert!(Instant::now() < deadline, "not completed: {progress}");
                let n = deliver(&sqs, &url, |e| async {
                    generate_documents::handler::handle(&generator, e, 5).await
                })
                .await;
                if n == 0 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    };
    let first = generate().await;
    let requested = first["counters"]["requested"].as_u64().unwrap();
    assert!(requested > 0, "{first}");
    let prefix = format!("documents/{id}/");
    let before = objects(&admin.s3, &config.bucket, &prefix).await;
    let per_pack = billrun_app::docgen::DOCUMENTS_PER_PACK as u64;
    let packs = requested.div_ceil(per_pack);
    assert_eq!(
        before.len() as u64,
        packs,
        "one object per chunk of documents"
    );
    // Each pack holds exactly its chunk's PDFs back to back, as the records say.
    let run_id: billrun_domain::ids::RunId = id.parse().unwrap();
    let mut ends: std::collections::BTreeMap<String, u64> = Default::default();
    for d in queries.app.queries().all_documents(run_id).await.unwrap() {
        let Some(file) = queries
            .app
            .document_requests
            .document_file(d.id)
            .await
            .unwrap()
        else {
            continue;
        };
        let (key, range) = (file.key.unwrap(), file.range.unwrap());
        let end = ends.entry(key.clone()).or_default();
        assert_eq!(range.offset, *end, "{key}: back to back");
        *end += range.length;
    }
    assert_eq!(ends.len() as u64, packs);
    for (key, _) in &before {
        let o = admin
            .s3
            .get_object()
            .bucket(&config.bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        let bytes = o.body.collect().await.unwrap().into_bytes();
        assert!(bytes.starts_with(b"%PDF-"), "{key}");
        assert_eq!(
            Some(&(bytes.len() as u64)),
            ends.get(key),
            "{key}: its PDFs only"
        );
    }
    let puts = generator.metrics.snapshot().s3_puts;
    tokio::time::sleep(Duration::from_millis(1100)).await; // LastModified has 1 s resolution
    let second = generate().await;
    assert_eq!(second["counters"], first["counters"]);
    assert_eq!(
        objects(&admin.s3, &config.bucket, &prefix).await,
        before,
        "a second request leaves every object as it was"
    );
    // One conditional PutObject per pack, each answered 412 (the key exists).
    assert_eq!(
        generator.metrics.snapshot().s3_puts,
        puts + packs,
        "and only asks to put each pack once"
    );

    // The download is the PDF itself, read with a ranged GetObject of its pack, and
    // leaves the function as API Gateway needs a binary body: base64, flagged.
    let doc_id = invoices_of_run(&qry, &id).await;
    let path = format!("/v1/invoices/{doc_id}/document");
    let event: lambda_http::request::LambdaRequest =
        serde_json::from_value(http_event_value("GET", &path, "", None)).unwrap();
    let mut adapter = lambda_http::Adapter::from(qry.clone());
    use tower::Service as _;
    let answer = tower::ServiceExt::ready(&mut adapter)
        .await
        .unwrap()
        .call(lambda_http::LambdaEvent::new(event, Default::default()))
        .await
        .unwrap();
    let answer = serde_json::to_value(&answer).unwrap();
    assert_eq!(answer["statusCode"], 200);
    assert_eq!(answer["headers"]["content-type"], "application/pdf");
    assert_eq!(answer["isBase64Encoded"], true);
    use base64::Engine as _;
    let downloaded = base64::engine::general_purpose::STANDARD
        .decode(answer["body"].as_str().unwrap())
        .unwrap();
    assert!(downloaded.starts_with(b"%PDF-"));
    assert!(downloaded.trim_ascii_end().ends_with(b"%%EOF"));
    let (_, doc) = call(
        qry.clone(),
        http_event("GET", &format!("/v1/invoices/{doc_id}"), "", None),
    )
    .await;
    assert_eq!(doc["documentStatus"], "Generated");
    let file = queries
        .app
        .document_requests
        .document_file(doc_id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let (key, range) = (file.key.unwrap(), file.range.unwrap());
    let stored = admin
        .s3
        .get_object()
        .bucket(&config.bucket)
        .key(&key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    let (from, to) = (
        range.offset as usize,
        (range.offset + range.length) as usize,
    );
    assert_eq!(downloaded, stored[from..to].to_vec());

    // A file export: requested through api-commands, written by generate-documents (an
    // S3 multipart upload, from the document queue), downloaded through api-queries'
    // redirect to a presigned URL, without credentials; the same bytes as the streamed
    // export.
    let (status, export) = call(
        cmd.clone(),
        http_event(
            "POST",
            &format!("/v1/invoice-runs/{id}/exports"),
            "",
            Some(json!({"content": "lines", "format": "jsonl"}).to_string()),
        ),
    )
    .await;
    assert_eq!(status, 202, "{export}");
    let export_id = export["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let export = loop {
        let (_, export) = call(
            qry.clone(),
            http_event("GET", &format!("/v1/exports/{export_id}"), "", None),
        )
        .await;
        if export["status"] != "Pending" {
            break export;
        }
        assert!(Instant::now() < deadline, "not completed: {export}");
        let n = deliver(&admin.sqs, &document_queue, |e| async {
            generate_documents::handler::handle(&generator.app, e, 5).await
        })
        .await;
        if n == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    assert_eq!(export["status"], "Completed", "{export}");
    let (status, redirect) = {
        let response = qry
            .clone()
            .oneshot(http_event(
                "GET",
                &format!("/v1/exports/{export_id}/file"),
                "",
                None,
            ))
            .await
            .unwrap();
        let location = response.headers()["location"].to_str().unwrap().to_string();
        (response.status().as_u16(), location)
    };
    assert_eq!(status, 303);
    assert!(redirect.contains("X-Amz-Signature="), "{redirect}");
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let file = moto_get(&endpoint, redirect.trim_start_matches(endpoint.as_str())).await;
    let streamed = qry
        .clone()
        .oneshot(http_event(
            "GET",
            &format!("/v1/invoice-runs/{id}/export"),
            "content=lines&format=jsonl",
            None,
        ))
        .await
        .unwrap();
    let streamed = axum::body::to_bytes(streamed.into_body(), 64 << 20)
        .await
        .unwrap();
    assert!(!file.is_empty());
    assert_eq!(file, streamed.to_vec(), "the file is the streamed export");
    assert_eq!(export["bytes"], file.len() as u64);

    // Each function called only what its policy grants; what it grants but the run did
    // not need is listed with its reason.
    let consumer: BTreeSet<String> = [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let cases: [(&str, &Runtime, &[&str]); 5] = [
        // Cancel reverts state (PutItem on state, outcome), clear_failed deletes outcomes:
        // DeleteItem is exercised by retry-failed above. Both read the console's session
        // secret at start only when the stack has a console (this run's functions have
        // none): `tests/console.rs` reads it, on moto.
        (
            "ApiCommandsFunction",
            &commands,
            &["secretsmanager:GetSecretValue"],
        ),
        (
            "ApiQueriesFunction",
            &queries,
            &["secretsmanager:GetSecretValue"],
        ),
        // A run with no selected account is finalized by the planner itself: it then
        // reserves numbers (UpdateItem) and numbers nothing.
        ("PlanRunFunction", &planner, &["dynamodb:UpdateItem"]),
        // Only an account whose commit exceeds one transaction checks its outcome in
        // each early chunk (ConditionCheckItem) and deletes its pending records
        // (DeleteItem); the e2e book has none (shared/aws/tests cover it).
        // It queues only the autoEmail message of a run its last batch posts (the
        // delivery test below).
        (
            "ProcessAccountFunction",
            &processor,
            &[
                "dynamodb:DeleteItem",
                "dynamodb:ConditionCheckItem",
                "sqs:SendMessage",
            ],
        ),
        // An export of over four parts (32 MiB) hands on to a new message; an upload
        // is aborted only when a duplicate message's worker began one first (the
        // moto and fault tests cover both).
        (
            "GenerateDocumentsFunction",
            &generator,
            &["sqs:SendMessage", "s3:AbortMultipartUpload"],
        ),
    ];
    for (function, runtime, unexercised) in cases {
        let (recorded, granted) = within_policy(function, runtime);
        let unused: BTreeSet<String> = granted
            .difference(&recorded)
            .filter(|a| !consumer.contains(*a) && !unexercised.contains(&a.as_str()))
            .cloned()
            .collect();
        assert!(
            unused.is_empty(),
            "{function} is granted {unused:?} that it was not seen to need"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_scheduler_ticks_on_moto_start_a_due_scheduled_run_once_inside_the_policy() {
    let Provisioned { config, .. } = provisioned('s').await;
    let commands = Runtime::new(config.clone(), 5, api_commands::adapters).await;
    let scheduler = Runtime::new(config.clone(), 5, execute_schedules::adapters).await;
    let cmd = api_commands::handler::service(commands.app.clone(), Default::default());
    let at = chrono::Utc::now() + chrono::Duration::seconds(2);
    let body =
        json!({"targetDate": "2024-02-01", "runType": "Scheduled", "scheduledAt": at.to_rfc3339()})
            .to_string();
    let (status, run) = call(
        cmd.clone(),
        http_event("POST", "/v1/invoice-runs", "", Some(body)),
    )
    .await;
    assert_eq!(
        (status, run["status"].as_str()),
        (201, Some("Pending")),
        "{run}"
    );
    let event: aws_lambda_events::event::eventbridge::EventBridgeEvent<Value> =
        serde_json::from_str(include_str!("../../events/schedule-tick.json")).unwrap();
    let early = execute_schedules::handler::handle(&scheduler.app, event.clone())
        .await
        .unwrap();
    assert_eq!(early.started, 0, "not due yet");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (a, b) = tokio::join!(
        execute_schedules::handler::handle(&scheduler.app, event.clone()),
        execute_schedules::handler::handle(&scheduler.app, event.clone())
    );
    assert_eq!(
        a.unwrap().started + b.unwrap().started,
        1,
        "started exactly once"
    );
    let id: billrun_domain::ids::RunId = run["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        scheduler.app.queries().get_run(id).await.unwrap().status,
        billrun_domain::run::RunStatus::Processing
    );
    let recorded = scheduler.metrics.actions();
    let granted = template::granted("ExecuteSchedulesFunction");
    let beyond: Vec<_> = recorded.difference(&granted).collect();
    assert!(
        beyond.is_empty(),
        "execute-schedules called {beyond:?} outside its policy"
    );
    // Creating the runs of run-schedule occurrences and executing invoice-schedule items
    // (covered by the conformance suite on moto) also write with UpdateItem and
    // DeleteItem (dropping stale due entries); this test only starts a Scheduled run.
    let unused: BTreeSet<&String> = granted
        .difference(&recorded)
        .filter(|a| {
            ![
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:BatchGetItem",
            ]
            .contains(&a.as_str())
        })
        .collect();
    assert!(
        unused.is_empty(),
        "execute-schedules is granted {unused:?} that it was not seen to need"
    );
}

/// `GET path` of the moto server's own API (its state as JSON), over a plain HTTP/1.1
/// connection on loopback.
async fn moto_get(endpoint: &str, path: &str) -> Vec<u8> {
    match moto_try_get(endpoint, path).await {
        Ok(body) => body,
        Err(head) => panic!("{head}"),
    }
}

/// moto's state as JSON: `/moto-api/data.json` serializes every model while the other
/// tests keep writing to the same server, and a value that changes between its check and
/// the final dump fails the read (500); read again.
async fn moto_state(endpoint: &str) -> Value {
    let mut last = String::new();
    for _ in 0..10 {
        match moto_try_get(endpoint, "/moto-api/data.json").await {
            Ok(body) => return serde_json::from_slice(&body).unwrap(),
            Err(head) => last = head,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("moto's state is not readable: {last}");
}

/// The body of `GET path` on moto, or the answer's head when it is not a 200.
async fn moto_try_get(endpoint: &str, path: &str) -> Result<Vec<u8>, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..split]).to_ascii_lowercase();
    if !head.contains(" 200 ") {
        return Err(head);
    }
    let mut body = &buf[split + 4..];
    if !head.contains("transfer-encoding: chunked") {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    loop {
        let line = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&body[..line])
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap();
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&body[line + 2..line + 2 + size]);
        body = &body[line + 4 + size..];
    }
}

/// The raw MIME of every email moto's SES accepted from `sender`.
async fn sent_from(endpoint: &str, sender: &str) -> Vec<Vec<u8>> {
    let data = moto_state(endpoint).await;
    data["ses"]["RawMessage"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|m| m["source"] == sender)
        .map(|m| m["raw_data"].as_str().unwrap().as_bytes().to_vec())
        .collect()
}

/// 30 accounts with one monthly charge each; every fourth has no email address, A-01 a
/// copy to a second address.
fn email_book() -> String {
    let accounts: Vec<Value> = (1..=30)
        .map(|i| {
            let mut bill_to = json!({"name": format!("Customer {i} AP")});
            if i % 4 != 0 {
                bill_to["email"] = format!("ap{i}@customer{i}.example.com").into();
            }
            if i == 1 {
                bill_to["ccEmails"] = json!(["cfo@customer1.example.com"]);
            }
            json!({"id": format!("A-{i:02}"), "name": format!("Customer {i}"),
                   "currency": "USD", "billCycleDay": 1, "billTo": bill_to})
        })
        .collect();
    let subscriptions: Vec<Value> = (1..=30)
        .map(|i| {
            json!({"id": format!("S-{i:02}"), "accountId": format!("A-{i:02}"),
                   "productId": "P", "startDate": "2024-01-15",
                   "charges": [{"id": format!("C-{i:02}"), "type": "Recurring",
                                "price": format!("{}.00", 30 + i), "billingPeriod": "Month"}]})
        })
        .collect();
    json!({"accounts": accounts, "subscriptions": subscriptions}).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_posted_with_auto_email_through_the_handlers_on_moto_emails_each_posted_document_once_with_its_pdf_through_ses(
) {
    let Provisioned {
        endpoint,
        admin,
        mut config,
        prefix,
    } = provisioned('d').await;
    // The sender is an identity verified in SES (moto refuses to send from any other),
    // and every email names a configuration set.
    let sender = format!("billing@{prefix}.example.com");
    admin
        .ses
        .create_email_identity()
        .email_identity(&sender)
        .send()
        .await
        .unwrap();
    let configuration_set = format!("{prefix}-events");
    admin
        .ses
        .create_configuration_set()
        .configuration_set_name(&configuration_set)
        .send()
        .await
        .unwrap();
    config.sender = Some(sender.clone());
    config.ses_configuration_set = Some(configuration_set.clone());
    config.ses_send_interval = Some(Duration::from_millis(5));
    let commands = Runtime::new(config.clone(), 5, api_commands::adapters).await;
    let queries = Runtime::new(config.clone(), 5, api_queries::adapters).await;
    let planner = Runtime::new(config.clone(), 5, plan_run::adapters).await;
    let processor = Runtime::new(config.clone(), 5, process_account::adapters).await;
    let deliverer = Runtime::new(config.clone(), 5, deliver_documents::adapters).await;
    let cmd = api_commands::handler::service(commands.app.clone(), Default::default());
    let qry = api_queries::handler::service(queries.app.clone(), Default::default());

    let (status, _) = call(
        cmd.clone(),
        http_event("POST", "/v1/import", "", Some(email_book())),
    )
    .await;
    assert!(status == 200 || status == 201, "import: {status}");
    activate_template(
        &cmd,
        json!({"companyName": "Northwind Analytics, Inc.", "locale": "en-US"}),
    )
    .await;
    let body = json!({"targetDate": "2024-02-01", "autoPost": true, "autoEmail": true});
    let (status, run) = call(
        cmd.clone(),
        http_event("POST", "/v1/invoice-runs", "", Some(body.to_string())),
    )
    .await;
    assert_eq!(status, 201, "{run}");
    let id = run["id"].as_str().unwrap().to_string();

    // Planned and processed by their handlers; the last batch posts the run and queues
    // its autoEmail request.
    let run = run_to_completion(
        &qry,
        &planner.app,
        &processor.app,
        &admin.sqs,
        &config,
        &id,
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(run["status"], "Posted", "{run}");

    // deliver-documents consumes the delivery queue: the autoEmail message makes the
    // request, its Deliver messages render the PDFs the documents lack and send.
    let delivery_queue = config.delivery_queue_url.clone().unwrap();
    let run_id: billrun_domain::ids::RunId = id.parse().unwrap();
    let store = &queries.app.delivery.as_ref().unwrap().store;
    let deadline = Instant::now() + Duration::from_secs(180);
    let request = loop {
        assert!(Instant::now() < deadline, "the emails were not all sent");
        let n = deliver(&admin.sqs, &delivery_queue, |e| async {
            deliver_documents::handler::handle(&deliverer.app, e, 5).await
        })
        .await;
        if let Some(request) = store.latest_delivery_request(run_id).await.unwrap() {
            let (_, view) = call(
                qry.clone(),
                http_event("GET", &format!("/v1/delivery-requests/{request}"), "", None),
            )
            .await;
            if view["status"] == "Completed" {
                break view;
            }
        }
        if n == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let (_, page) = call(
        qry.clone(),
        http_event(
            "GET",
            &format!("/v1/invoice-runs/{id}/invoices"),
            "limit=100",
            None,
        ),
    )
    .await;
    let docs = page["items"].as_array().unwrap().clone();
    assert_eq!(docs.len(), 30, "{page}");
    let with_address: BTreeSet<String> = docs
        .iter()
        .filter(|d| {
            d["accountId"].as_str().unwrap()[2..]
                .parse::<u32>()
                .unwrap()
                % 4
                != 0
        })
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(with_address.len(), 23);
    assert_eq!(request["counters"]["sent"], 23, "{request}");
    assert_eq!(request["counters"]["skipped"], 7, "{request}");
    for d in &docs {
        let expected = if with_address.contains(d["id"].as_str().unwrap()) {
            "Sent"
        } else {
            "Skipped"
        };
        assert_eq!(d["deliveryStatus"], expected, "{d}");
    }

    // What SES accepted: one message per Posted document with an address, to that
    // address, its PDF attached, tagged by its Message-ID with its document.
    let check = |raw: &[Vec<u8>]| -> BTreeSet<String> {
        let mut documents = BTreeSet::new();
        for bytes in raw {
            let m = mail_parser::MessageParser::default().parse(bytes).unwrap();
            let message_id = format!("<{}>", m.message_id().unwrap());
            let (_, document) =
                billrun_app::model::deliveries::OutgoingMail::ids_in(&message_id).unwrap();
            let doc = docs.iter().find(|d| d["id"] == document).unwrap();
            let n: u32 = doc["accountId"].as_str().unwrap()[2..].parse().unwrap();
            let to: Vec<&str> = m.to().unwrap().iter().filter_map(|a| a.address()).collect();
            assert_eq!(to, [format!("ap{n}@customer{n}.example.com").as_str()]);
            assert_eq!(
                m.from().unwrap().first().unwrap().address(),
                Some(sender.as_str())
            );
            if n == 1 {
                let cc = m.cc().unwrap().first().unwrap().address();
                assert_eq!(cc, Some("cfo@customer1.example.com"));
            }
            assert_eq!(m.attachment_count(), 1);
            let pdf = m.attachment(0).unwrap();
            use mail_parser::MimeHeaders as _;
            assert!(pdf.is_content_type("application", "pdf"));
            assert!(pdf.contents().starts_with(b"%PDF-"));
            let number = doc["number"].as_str().unwrap();
            assert_eq!(
                pdf.attachment_name(),
                Some(format!("{number}.pdf").as_str())
            );
            assert!(
                documents.insert(document.to_string()),
                "{document} was emailed twice"
            );
        }
        documents
    };
    let sent = sent_from(&endpoint, &sender).await;
    assert_eq!(sent.len(), 23);
    assert_eq!(check(&sent), with_address);
    // The provider's id of each send is recorded with its result.
    let request_id: billrun_domain::ids::DeliveryRequestId =
        request["id"].as_str().unwrap().parse().unwrap();
    let first: billrun_domain::ids::DocumentId =
        with_address.iter().next().unwrap().parse().unwrap();
    let result = store
        .delivery_result(request_id, first)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(&result.state,
            billrun_app::model::deliveries::DeliveryState::Sent { provider_id: Some(p), .. } if !p.is_empty()),
        "{result:?}"
    );

    // A Deliver message that comes again (SQS delivers at least once) sends nothing.
    let chunk: Vec<billrun_domain::ids::DocumentId> = docs
        .iter()
        .map(|d| d["id"].as_str().unwrap().parse().unwrap())
        .collect();
    let again = billrun_app::model::Message::Deliver {
        request_id,
        document_ids: chunk[..billrun_app::deliveries::DOCUMENTS_PER_DELIVERY_MESSAGE].to_vec(),
    };
    admin
        .sqs
        .send_message()
        .queue_url(&delivery_queue)
        .message_body(serde_json::to_string(&again).unwrap())
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while deliver(&admin.sqs, &delivery_queue, |e| async {
        deliver_documents::handler::handle(&deliverer.app, e, 5).await
    })
    .await
        == 0
    {
        assert!(
            Instant::now() < deadline,
            "the repeated message did not come"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sent_from(&endpoint, &sender).await.len(), 23, "sent once");

    // A bounce: SES publishes it to the default bus; the template's rule (put on moto's
    // bus as the template writes it) routes it to the delivery queue, and
    // deliver-documents records it on the document its tags name. Another event type
    // and another configuration set's bounce stay off the queue.
    let events = aws_sdk_eventbridge::Client::new(&admin.sdk_config);
    support::rule_to_queue(
        &admin,
        None,
        &format!("{prefix}-ses-feedback"),
        &template::ses_feedback_pattern(&configuration_set),
        &delivery_queue,
    )
    .await;
    let bounced = with_address.iter().nth(1).unwrap().clone();
    let ses_event = |detail_type: &str, set: &str, document: &str| {
        let tags = json!({"ses:configuration-set": [set], "request": [request_id.to_string()],
                          "document": [document]});
        let mail = json!({"timestamp": "2026-02-01T10:00:00.000Z", "source": sender,
                          "messageId": "0100018d-e2e", "destination": ["ap@example.com"],
                          "tags": tags});
        let detail = match detail_type {
            billrun_aws::ses_events::BOUNCED => json!({"eventType": "Bounce", "mail": mail,
                "bounce": {"bounceType": "Permanent", "bounceSubType": "NoEmail",
                    "bouncedRecipients": [{"emailAddress": "ap@example.com",
                        "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
                    "timestamp": "2026-02-01T10:01:00.000Z", "feedbackId": "f-1"}}),
            _ => json!({"eventType": "Delivery", "mail": mail,
                "delivery": {"timestamp": "2026-02-01T10:00:30.000Z"}}),
        };
        aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .source(billrun_aws::ses_events::SOURCE)
            .detail_type(detail_type)
            .detail(detail.to_string())
            .build()
    };
    let first_doc = with_address.iter().next().unwrap().clone();
    let put = events
        .put_events()
        .entries(ses_event("Email Delivered", &configuration_set, &first_doc))
        .entries(ses_event(
            billrun_aws::ses_events::BOUNCED,
            "another-set",
            &first_doc,
        ))
        .entries(ses_event(
            billrun_aws::ses_events::BOUNCED,
            &configuration_set,
            &bounced,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(put.failed_entry_count, 0, "{put:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut handled = 0;
    let shown = loop {
        handled += deliver(&admin.sqs, &delivery_queue, |e| async {
            deliver_documents::handler::handle(&deliverer.app, e, 5).await
        })
        .await;
        let (_, doc) = call(
            qry.clone(),
            http_event("GET", &format!("/v1/invoices/{bounced}"), "", None),
        )
        .await;
        if doc["deliveryStatus"] != "Sent" {
            break doc;
        }
        assert!(Instant::now() < deadline, "the bounce was not recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(shown["deliveryStatus"], "Bounced", "{shown}");
    assert_eq!(
        shown["deliveryReason"],
        "Permanent bounce (NoEmail): smtp; 550 5.1.1 user unknown"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    handled += deliver(&admin.sqs, &delivery_queue, |e| async {
        deliver_documents::handler::handle(&deliverer.app, e, 5).await
    })
    .await;
    assert_eq!(
        handled, 1,
        "only the bounce of billrun's configuration set was routed"
    );
    let (_, view) = call(
        qry.clone(),
        http_event(
            "GET",
            &format!("/v1/delivery-requests/{request_id}"),
            "",
            None,
        ),
    )
    .await;
    assert_eq!(
        (&view["counters"]["sent"], &view["counters"]["bounced"]),
        (&json!(23), &json!(1)),
        "{view}"
    );
    let (_, other) = call(
        qry.clone(),
        http_event("GET", &format!("/v1/invoices/{first_doc}"), "", None),
    )
    .await;
    assert_eq!(other["deliveryStatus"], "Sent", "{other}");

    // The bounce's `documents.bounced` event went to the webhook queue, where
    // dispatch-events puts it on the bus of a deployment that asks for per-document
    // events there; a rule on the bus routes it to a queue.
    let bus = format!("{prefix}-bus");
    events.create_event_bus().name(&bus).send().await.unwrap();
    let target = support::new_queue(&admin, &format!("{prefix}-bounces")).await;
    support::rule_to_queue(
        &admin,
        Some(&bus),
        &format!("{prefix}-bounces"),
        &json!({"source": ["billrun"], "detail-type": ["documents.bounced"]}),
        &target,
    )
    .await;
    let mut on_bus = config.clone();
    on_bus.event_bus_name = Some(bus);
    on_bus.bus_document_events = true;
    let dispatcher = Runtime::new(on_bus, 5, dispatch_events::adapters).await;
    let dispatch_app = dispatch_events::compose(&dispatcher).unwrap();
    let webhook_queue = config.webhook_queue_url.clone().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut dispatched = 0;
    let entries = loop {
        dispatched += deliver(&admin.sqs, &webhook_queue, |e| async {
            let answer =
                dispatch_events::handle(&dispatch_app, serde_json::to_value(e).unwrap(), 5)
                    .await
                    .unwrap();
            serde_json::from_value(answer).unwrap()
        })
        .await;
        let got = support::receive(&admin, &target).await;
        if !got.is_empty() {
            break got;
        }
        assert!(Instant::now() < deadline, "no documents.bounced on the bus");
    };
    assert_eq!(
        (dispatched, entries.len()),
        (1, 1),
        "one event of one bounce"
    );
    let entry: Value = serde_json::from_str(&entries[0]).unwrap();
    assert_eq!(entry["detail-type"], "documents.bounced");
    let reported = &entry["detail"]["data"]["documents"][0];
    assert_eq!(reported["id"], bounced.as_str());
    assert_eq!(reported["delivery"]["state"], "bounced");
    let granted = template::granted("DispatchEventsFunction");
    let beyond: Vec<_> = dispatcher
        .metrics
        .actions()
        .difference(&granted)
        .cloned()
        .collect();
    assert!(beyond.is_empty(), "dispatch-events called {beyond:?}");

    // deliver-documents called what its policy grants and nothing else; process-account
    // queued the autoEmail message.
    let recorded = deliverer.metrics.actions();
    let granted = template::granted("DeliverDocumentsFunction");
    let beyond: Vec<_> = recorded.difference(&granted).collect();
    assert!(
        beyond.is_empty(),
        "deliver-documents called {beyond:?} outside its policy {granted:?}"
    );
    let unused: Vec<_> = granted
        .difference(&recorded)
        .filter(|a| !a.starts_with("sqs:") || a.as_str() == "sqs:SendMessage")
        .collect();
    assert!(
        unused.is_empty(),
        "deliver-documents is granted {unused:?} that it was not seen to need"
    );
    let processor_actions = processor.metrics.actions();
    assert!(processor_actions.contains("sqs:SendMessage"));
    let granted = template::granted("ProcessAccountFunction");
    let beyond: Vec<_> = processor_actions.difference(&granted).collect();
    assert!(beyond.is_empty(), "process-account called {beyond:?}");
    for (function, runtime) in [
        ("ApiCommandsFunction", &commands),
        ("ApiQueriesFunction", &queries),
        ("PlanRunFunction", &planner),
    ] {
        let granted = template::granted(function);
        let beyond: Vec<_> = runtime
            .metrics
            .actions()
            .difference(&granted)
            .cloned()
            .collect();
        assert!(beyond.is_empty(), "{function} called {beyond:?}");
    }
}

/// What `runtime` called and what `function`'s policy grants, after asserting that it
/// called nothing outside it.
fn within_policy(function: &str, runtime: &Runtime) -> (BTreeSet<String>, BTreeSet<String>) {
    let recorded = runtime.metrics.actions();
    let granted = template::granted(function);
    let beyond: Vec<_> = recorded.difference(&granted).collect();
    assert!(
        beyond.is_empty(),
        "{function} called {beyond:?} outside its policy {granted:?}"
    );
    (recorded, granted)
}

/// The status and raw body of an answer.
async fn call_raw(router: axum::Router, req: lambda_http::Request) -> (u16, Vec<u8>) {
    let response = router.oneshot(req).await.unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .unwrap();
    (status, bytes.to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_sample_on_moto_is_rendered_once_by_generate_documents_and_served_by_api_queries_for_the_current_content_only(
) {
    use billrun_app::ports::DocumentRenderer;
    let Provisioned { admin, config, .. } = provisioned('t').await;
    let commands = Runtime::new(config.clone(), 5, api_commands::adapters).await;
    let queries = Runtime::new(config.clone(), 5, api_queries::adapters).await;
    let generator = Runtime::new(config.clone(), 5, generate_documents::adapters).await;
    let cmd = api_commands::handler::service(commands.app.clone(), Default::default());
    let qry = api_queries::handler::service(queries.app.clone(), Default::default());
    let document_queue = config.document_queue_url.clone().unwrap();
    let content = |company: &str| json!({"companyName": company, "locale": "en-US"});
    // What the sample of `content` is, rendered here as the worker renders it.
    let rendered = |content: &Value| {
        billrun_documents::PdfRenderer
            .template(&content.to_string())
            .unwrap()
            .sample()
            .unwrap()
    };
    let put = |content: Value| {
        let cmd = cmd.clone();
        async move {
            let body = json!({"name": "Sample test", "content": content}).to_string();
            let (status, answer) = call(
                cmd,
                http_event("PUT", "/v1/document-templates/T-S", "", Some(body)),
            )
            .await;
            assert_eq!(status, 200, "{answer}");
        }
    };
    let get_sample = || {
        call_raw(
            qry.clone(),
            http_event("GET", "/v1/document-templates/T-S/sample", "", None),
        )
    };
    // Each message handed to generate-documents twice before it is deleted: a
    // redelivery after a worker stored the sample and stopped before acknowledging.
    let work_twice = || async {
        let mut delivered = 0;
        for _ in 0..20 {
            let n = deliver(&admin.sqs, &document_queue, |e| async {
                let again = e.clone();
                let first = generate_documents::handler::handle(&generator.app, e, 5).await;
                assert!(first.batch_item_failures.is_empty());
                generate_documents::handler::handle(&generator.app, again, 5).await
            })
            .await;
            delivered += n;
            if n == 0 && delivered > 0 {
                return delivered;
            }
            if n == 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        delivered
    };
    let samples = || objects(&admin.s3, &config.bucket, "documents/templates/T-S/");

    let old = content("Northwind Old Letterhead");
    put(old.clone()).await;
    let (status, body) = get_sample().await;
    let refusal: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (status, refusal["code"].as_str()),
        (409, Some("sample_pending")),
        "{refusal}"
    );
    assert_eq!(work_twice().await, 1, "one message queued by the put");
    assert_eq!(
        samples().await.len(),
        1,
        "one object, however often rendered"
    );
    let (status, pdf) = get_sample().await;
    assert_eq!(status, 200);
    assert!(pdf.starts_with(b"%PDF-"));
    assert_eq!(pdf, rendered(&old), "the sample of the template's content");

    // New content: the old sample is not served for it.
    let new = content("Fabrikam New Letterhead");
    put(new.clone()).await;
    let (status, _) = get_sample().await;
    assert_eq!(status, 409, "the old content's sample is not the new one's");
    assert_eq!(work_twice().await, 1);
    let (status, pdf) = get_sample().await;
    assert_eq!(status, 200);
    assert_eq!(pdf, rendered(&new));
    assert_ne!(pdf, rendered(&old));
    let stored = samples().await;
    assert_eq!(stored.len(), 2, "one object per content: {stored:?}");

    // Asked for again: queued through api-commands, rendered into the same object.
    let (status, queued) = call(
        cmd.clone(),
        http_event("POST", "/v1/document-templates/T-S/sample", "", None),
    )
    .await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(work_twice().await, 1);
    assert_eq!(samples().await, stored, "nothing new written");
    assert_eq!(get_sample().await, (200, rendered(&new)));

    within_policy("ApiCommandsFunction", &commands);
    within_policy("ApiQueriesFunction", &queries);
    within_policy("GenerateDocumentsFunction", &generator);
}
