//! Exactly-once effect on the real wire protocol (moto server on loopback): duplicate
//! and concurrent deliveries, overlapping runs, a crash between the commit and the queue
//! delete, and a planner killed mid-way.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use billrun_app::model::Message;
use billrun_app::sweeper::SweepConfig;
use billrun_aws::sqs::Pump;
use billrun_domain::book::Book;
use billrun_domain::run::RunStatus;
use billrun_testkit::fixtures::{aid, manual, monthly_book};
use common::Backend;
use std::collections::HashMap;
use std::time::Duration;

fn book(n: usize) -> Book {
    monthly_book(n, |_| "31.00".to_string(), |_| serde_json::json!({}))
}

/// Starts a Manual run and plans it by hand, leaving its account messages queued.
async fn planned_run(b: &Backend, target: &str) -> billrun_domain::ids::RunId {
    let id = b
        .app
        .pipeline()
        .create_run(manual(target), None)
        .await
        .unwrap()
        .run()
        .id;
    b.app.pipeline().start_run(id).await.unwrap();
    b.app
        .handle(&Message::Plan {
            run_id: id,
            page: 0,
        })
        .await
        .unwrap();
    id
}

/// `accounts` accounts imported, a planned run for 2024-02-01 over them, and `A-00`'s
/// commit made outside any queue delivery (its message still queued).
async fn planned_run_with_a00_committed(
    b: &Backend,
    accounts: usize,
) -> billrun_domain::ids::RunId {
    b.app.book.import_book(&book(accounts)).await.unwrap();
    let run = planned_run(b, "2024-02-01").await;
    b.app
        .pipeline()
        .process_account(run, &aid("A-00"), 0)
        .await
        .unwrap();
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_account_message_processed_twice_concurrently_writes_one_set_of_documents() {
    let b = Backend::aws().await;
    b.app.book.import_book(&book(3)).await.unwrap();
    let run = planned_run(&b, "2024-02-01").await;
    let a = aid("A-01");
    let pipeline = b.app.pipeline();
    let (x, y) = tokio::join!(
        pipeline.process_account(run, &a, 0),
        pipeline.process_account(run, &a, 0)
    );
    x.unwrap();
    y.unwrap();
    b.finish(run).await;
    let docs = b.app.queries().all_documents(run).await.unwrap();
    assert_eq!(docs.iter().filter(|d| d.account_id == a).count(), 1);
    let c = b.app.runs.counters(run).await.unwrap();
    assert_eq!((c.accounts_selected, c.billed, c.invoices), (3, 3, 3));
    assert!(c.reconciles());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_overlapping_runs_over_the_same_accounts_bill_every_period_once() {
    let b = Backend::aws().await;
    b.app.book.import_book(&book(6)).await.unwrap();
    let r1 = planned_run(&b, "2024-03-01").await;
    let r2 = planned_run(&b, "2024-03-01").await;
    // Both runs' messages are queued; the pollers interleave them.
    let (f1, f2) = tokio::join!(b.finish(r1), b.finish(r2));
    let _ = (f1, f2);
    let mut periods: HashMap<(String, String), usize> = HashMap::new();
    for run in [r1, r2] {
        assert!(b
            .app
            .queries()
            .get_run(run)
            .await
            .unwrap()
            .status
            .is_completed());
        for d in b.app.queries().all_documents(run).await.unwrap() {
            for l in d.lines {
                let key = (d.account_id.to_string(), format!("{:?}", l.period_start));
                *periods.entry(key).or_default() += 1;
            }
        }
    }
    // Each account: the stub from Jan 15, February and March, each billed exactly once.
    assert_eq!(periods.len(), 6 * 3);
    assert!(periods.values().all(|n| *n == 1), "{periods:?}");
    for run in [r1, r2] {
        assert!(b.app.runs.counters(run).await.unwrap().reconciles());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_redelivered_after_its_commit_changes_nothing() {
    let b = Backend::aws().await;
    // The worker commits, then dies before deleting the message: SQS delivers it again.
    let run = planned_run_with_a00_committed(&b, 2).await;
    let before = b.metrics.snapshot().dynamodb_transactions;
    b.app
        .pipeline()
        .process_account(run, &aid("A-00"), 0)
        .await
        .unwrap();
    assert_eq!(
        b.metrics.snapshot().dynamodb_transactions,
        before + 1,
        "one transaction, canceled"
    );
    b.finish(run).await;
    let docs = b.app.queries().all_documents(run).await.unwrap();
    assert_eq!(docs.len(), 2);
    let c = b.app.runs.counters(run).await.unwrap();
    assert_eq!((c.billed, c.invoices), (2, 2));
    assert_eq!(
        b.app.queries().get_run(run).await.unwrap().status,
        RunStatus::Completed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planner_killed_mid_way_resumes_from_its_cursor() {
    let mut b = Backend::aws().await;
    b.app.plan_page_size = 3;
    b.app.book.import_book(&book(10)).await.unwrap();
    let id = b
        .app
        .pipeline()
        .create_run(manual("2024-02-01"), None)
        .await
        .unwrap()
        .run()
        .id;
    b.app.pipeline().start_run(id).await.unwrap();
    // Page 0 is planned; the planner dies; page 0 is delivered again, then page 2 arrives
    // before page 1 (it must wait), then the queues are drained normally.
    b.app
        .handle(&Message::Plan {
            run_id: id,
            page: 0,
        })
        .await
        .unwrap();
    let after_first = b.app.queries().get_run(id).await.unwrap().plan;
    assert_eq!((after_first.pages, after_first.selected), (1, 3));
    b.app
        .handle(&Message::Plan {
            run_id: id,
            page: 0,
        })
        .await
        .unwrap();
    assert_eq!(
        b.app.queries().get_run(id).await.unwrap().plan,
        after_first,
        "a repeated page changes nothing"
    );
    assert!(b
        .app
        .handle(&Message::Plan {
            run_id: id,
            page: 2
        })
        .await
        .unwrap_err()
        .is_retryable());
    b.finish(id).await;
    let run = b.app.queries().get_run(id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.plan.selected, 10);
    let c = b.app.runs.counters(id).await.unwrap();
    assert_eq!((c.accounts_selected, c.billed, c.invoices), (10, 10, 10));
    assert_eq!(b.app.queries().all_documents(id).await.unwrap().len(), 10);
}

/// The local pump stands in for the scheduled sweeper as well as for the event source
/// mappings: a run whose account messages were lost, one account committed but its
/// progress never reported and the run never finalized, does not complete through the
/// queues alone, and completes once the pump sweeps it while the queues are idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeping_pump_completes_a_run_whose_messages_were_lost() {
    let b = Backend::aws().await;
    let run = planned_run_with_a00_committed(&b, 3).await;
    assert_eq!(b.lose_account_messages().await, 3);
    let without = Pump::new(2, Duration::from_secs(8));
    assert!(!b.pump(run, without).await, "nothing left to deliver");
    let sweeping = Pump {
        sweep: Some(SweepConfig {
            stale_after: chrono::TimeDelta::seconds(1),
            resend_budget: 3,
        }),
        ..Pump::new(2, Duration::from_secs(120))
    };
    assert!(
        b.pump(run, sweeping).await,
        "the sweep re-sends the lost messages"
    );
    let c = b.app.runs.counters(run).await.unwrap();
    assert_eq!((c.accounts_selected, c.billed, c.invoices), (3, 3, 3));
    assert!(c.reconciles());
    assert_eq!(b.app.queries().all_documents(run).await.unwrap().len(), 3);
}

/// An account whose commit takes three transactions (250 billed usage marks): a crash
/// after the first leaves marks no rating counts; an overlapping run cannot bill the
/// held items meanwhile; the redelivery completes the commit once and the other run then
/// finds everything billed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_split_over_transactions_survives_a_crash_between_them_exactly_once() {
    const USAGE: usize = 250;
    let b = Backend::aws().await;
    let store = b.dynamo.clone().unwrap();
    b.app
        .book
        .import_book(&common::usage_book(USAGE))
        .await
        .unwrap();
    let a = aid("A-00");
    let first = planned_run(&b, "2024-02-01").await;
    let second = planned_run(&b, "2024-02-01").await;
    let splits = b
        .metrics
        .split_commits
        .load(std::sync::atomic::Ordering::SeqCst);
    store.inject_crash_before_chunk(1);
    assert!(b
        .app
        .pipeline()
        .process_account(first, &a, 0)
        .await
        .unwrap_err()
        .is_retryable());
    assert!(b.app.runs.outcome(first, &a).await.unwrap().is_none());
    let book = b.app.book.account_book(&a).await.unwrap().unwrap();
    assert!(
        book.state.usage_billed.is_empty(),
        "uncommitted marks do not count"
    );
    assert_eq!(b.app.runs.counters(first).await.unwrap().billed, 0);
    // The overlapping run rates the same usage but cannot mark what the first holds.
    let err = b
        .app
        .pipeline()
        .process_account(second, &a, 0)
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(b.app.runs.outcome(second, &a).await.unwrap().is_none());
    // The redelivery redoes the first chunk, writes the rest and the outcome once.
    b.app
        .pipeline()
        .process_account(first, &a, 0)
        .await
        .unwrap();
    b.app
        .pipeline()
        .process_account(first, &a, 0)
        .await
        .unwrap();
    assert_eq!(
        b.metrics
            .split_commits
            .load(std::sync::atomic::Ordering::SeqCst),
        splits + 1,
        "one split commit completed; the duplicate found the outcome"
    );
    let book = b.app.book.account_book(&a).await.unwrap().unwrap();
    assert_eq!(book.state.usage_billed.len(), USAGE);
    b.app
        .pipeline()
        .process_account(second, &a, 0)
        .await
        .unwrap();
    b.finish(first).await;
    b.finish(second).await;
    let units = |docs: Vec<billrun_domain::document::Document>| -> rust_decimal::Decimal {
        docs.iter()
            .filter(|d| d.account_id == a)
            .flat_map(|d| d.lines.iter())
            .filter(|l| l.charge_id.as_ref().is_some_and(|c| c.as_str() == "C-U"))
            .map(|l| l.quantity)
            .sum()
    };
    let first_docs = b.app.queries().all_documents(first).await.unwrap();
    assert_eq!(first_docs.iter().filter(|d| d.account_id == a).count(), 1);
    assert_eq!(
        units(first_docs),
        rust_decimal::Decimal::from(2 * USAGE as i64)
    );
    assert_eq!(
        units(b.app.queries().all_documents(second).await.unwrap()),
        rust_decimal::Decimal::ZERO
    );
    let c = b.app.runs.counters(first).await.unwrap();
    assert_eq!((c.billed, c.invoices), (2, 2));
    assert!(c.reconciles());
    let outcome = b.app.runs.outcome(second, &a).await.unwrap().unwrap();
    assert!(outcome.document_ids.is_empty(), "{outcome:?}");
}

/// The billed marks of the table, by (account, sort key).
async fn mark_items(b: &Backend) -> Vec<String> {
    let (config, clients) = b.aws.as_ref().unwrap();
    let footprint = billrun_aws::footprint::scan(&clients.dynamodb, &config.table)
        .await
        .unwrap();
    footprint
        .kinds
        .iter()
        .filter(|(k, s)| k.starts_with("ACCT/MARK") && s.items > 0)
        .map(|(k, s)| format!("{k}:{}", s.items))
        .collect()
}

/// A few billed marks ride inline in the billing state (no item, no extra write unit); a
/// canceled run takes them out again, and the next run bills the same usage once more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn few_billed_marks_go_inline_in_the_state_and_a_cancel_takes_them_out() {
    let b = Backend::aws().await;
    b.app
        .book
        .import_book(&common::usage_book(3))
        .await
        .unwrap();
    let a = aid("A-00");
    let first = planned_run(&b, "2024-02-01").await;
    b.finish(first).await;
    let book = b.app.book.account_book(&a).await.unwrap().unwrap();
    assert_eq!(book.state.usage_billed.len(), 3);
    assert_eq!(
        mark_items(&b).await,
        Vec::<String>::new(),
        "marks are inline"
    );
    b.app.pipeline().cancel_run(first).await.unwrap();
    let book = b.app.book.account_book(&a).await.unwrap().unwrap();
    assert!(
        book.state.usage_billed.is_empty(),
        "the cancel took the marks out"
    );
    let second = planned_run(&b, "2024-02-01").await;
    b.finish(second).await;
    let docs = b.app.queries().all_documents(second).await.unwrap();
    let units: rust_decimal::Decimal = docs
        .iter()
        .filter(|d| d.account_id == a)
        .flat_map(|d| d.lines.iter())
        .filter(|l| l.charge_id.as_ref().is_some_and(|c| c.as_str() == "C-U"))
        .map(|l| l.quantity)
        .sum();
    assert_eq!(
        units,
        rust_decimal::Decimal::from(6),
        "the usage is billed again after the cancel"
    );
    let book = b.app.book.account_book(&a).await.unwrap().unwrap();
    assert_eq!(book.state.usage_billed.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signed_adapter_writes_a_pack_once_and_reads_one_pdf_out_of_it_with_a_ranged_get() {
    use billrun_app::ports::BlobStore;
    use billrun_aws::s3_signed::S3SignedBlobs;
    use billrun_aws::signed::Signer;
    let b = Backend::aws().await;
    let (config, clients) = b.aws.as_ref().unwrap();
    let metrics = std::sync::Arc::new(billrun_aws::Metrics::default());
    let blobs = S3SignedBlobs::new(
        Signer::new(&clients.sdk_config),
        &config.bucket,
        metrics.clone(),
    );
    let pdfs: [&[u8]; 3] = [
        b"%PDF-1.7 one\n%%EOF\n",
        b"%PDF-1.7 two!\n%%EOF\n",
        b"%PDF-3",
    ];
    let pack = pdfs.concat();
    let key = "documents/run/pack-INV 1+A-0123abcd.bin";
    assert!(blobs
        .put_blob(key, pack.clone(), "application/octet-stream")
        .await
        .unwrap());
    // A redelivery writes nothing new: 412 on the conditional put.
    assert!(!blobs
        .put_blob(key, b"other".to_vec(), "application/octet-stream")
        .await
        .unwrap());
    let mut offset = 0;
    for pdf in pdfs {
        let got = blobs
            .get_blob_range(key, offset, pdf.len() as u64)
            .await
            .unwrap();
        assert_eq!(got.as_deref(), Some(pdf));
        offset += pdf.len() as u64;
    }
    assert_eq!(blobs.get_blob(key).await.unwrap(), Some(pack.clone()));
    // The S3 client adapter reads the same range.
    assert_eq!(
        b.blobs
            .get_blob_range(key, 19, 20)
            .await
            .unwrap()
            .as_deref(),
        Some(pdfs[1])
    );
    assert_eq!(
        blobs.get_blob_range("documents/none.bin", 0, 5).await,
        Ok(None)
    );
    // A range past the end is an error, never fewer bytes.
    let e = blobs.get_blob_range(key, offset - 2, 5).await;
    assert!(e.is_err(), "{e:?}");
    let e = blobs.get_blob_range(key, offset + 10, 5).await;
    assert!(e.is_err(), "{e:?}");
    assert!(metrics.actions().contains("s3:GetObject"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signed_document_queue_sends_an_export_continuation_and_refuses_other_messages() {
    use billrun_app::model::Message;
    use billrun_app::ports::WorkQueue;
    use billrun_aws::signed::Signer;
    use billrun_aws::sqs_signed::SignedDocumentQueue;
    let b = Backend::aws().await;
    let (config, clients) = b.aws.as_ref().unwrap();
    let metrics = std::sync::Arc::new(billrun_aws::Metrics::default());
    let queue = SignedDocumentQueue::new(
        Signer::new(&clients.sdk_config),
        config.document_queue_url.clone(),
        metrics.clone(),
    );
    let export = Message::Export {
        export_id: billrun_domain::ids::ExportId(uuid::Uuid::new_v4()),
    };
    queue.send(vec![export.clone()]).await.unwrap();
    let refused = queue
        .send(vec![Message::AutoEmail {
            run_id: billrun_domain::ids::RunId(uuid::Uuid::new_v4()),
        }])
        .await;
    assert!(
        matches!(refused, Err(billrun_app::StoreError::Fatal(_))),
        "{refused:?}"
    );
    let url = config.document_queue_url.clone().unwrap();
    let out = clients
        .sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    let bodies: Vec<Message> = out
        .messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    assert_eq!(bodies, vec![export], "the one message sent, as sent");
    assert_eq!(
        metrics.actions().into_iter().collect::<Vec<_>>(),
        vec!["sqs:SendMessage".to_string()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_state_reads_work_after_a_multipart_upload() {
    // The tests read SES's sent mail from moto's /moto-api/data.json, which failed (500)
    // once any multipart upload had run (infra/local/moto_server.py's note).
    let b = Backend::aws().await;
    let files = &b.app.export_files;
    let key = format!("exports/{}/parts.csv", uuid::Uuid::new_v4());
    let upload = files.begin_upload(&key, "text/csv").await.unwrap();
    let part = files
        .upload_part(&key, &upload, 1, b"a,b\r\n".to_vec())
        .await
        .unwrap();
    files.complete_upload(&key, &upload, &[part]).await.unwrap();
    // Before the workaround every read failed. A read can also fail when another test
    // changes a model while moto serializes it (the e2e tests read again), so one
    // success in ten reads is the check.
    let url = format!("{}/moto-api/data.json", crate::common::endpoint());
    let mut last = String::new();
    for _ in 0..10 {
        let out = std::process::Command::new("python3")
            .args([
                "-c",
                "import sys, urllib.request; urllib.request.urlopen(sys.argv[1]).read()",
                &url,
            ])
            .output()
            .expect("python3 runs (the test script installs it)");
        if out.status.success() {
            return;
        }
        last = String::from_utf8_lossy(&out.stderr).into_owned();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("moto's state was not readable in ten reads: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consoles_session_secret_is_read_with_a_signed_get_secret_value() {
    use billrun_aws::secret::secret_string;
    use billrun_aws::signed::{Service, Signer};
    let b = Backend::aws().await;
    let (_, clients) = b.aws.as_ref().unwrap();
    let signer = Signer::new(&clients.sdk_config);
    let endpoint = format!("{}/", signer.endpoint_url().unwrap());
    let value = "generated-by-the-template-0123456789abcdefghijklmnopqrstuvwxyz";
    let created = signer
        .send(
            Service::SecretsManager,
            "POST",
            &endpoint,
            &[
                ("content-type", "application/x-amz-json-1.1".to_string()),
                ("x-amz-target", "secretsmanager.CreateSecret".to_string()),
            ],
            serde_json::json!({"Name": format!("console-{}", uuid::Uuid::new_v4()), "SecretString": value})
                .to_string()
                .as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 200, "{}", created.text());
    let arn: serde_json::Value = serde_json::from_slice(&created.body).unwrap();
    let arn = arn["ARN"].as_str().unwrap();
    assert_eq!(secret_string(&signer, arn).await.unwrap(), value);
    let missing = secret_string(&signer, &format!("{arn}-absent"))
        .await
        .unwrap_err()
        .to_string();
    assert!(missing.contains("ResourceNotFoundException"), "{missing}");
}
