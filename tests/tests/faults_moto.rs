//! Fault injection on the wire protocol: the AWS adapters (DynamoDB, SQS, S3 on a moto server
//! on loopback, started by `infra/local/with-moto.sh`) wrapped by the same fault
//! injection as `faults.rs`, 10 schedules over a 250-account sample book (about 50 s a
//! schedule: moto serves ~200 requests/s). Pollers
//! stand in for the Lambda event source mappings, with kills: a killed delivery is
//! neither deleted nor made visible again; SQS returns it after its visibility timeout.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fault_support;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use billrun_app::model::Message;
use billrun_app::worker::{deliver, Disposition};
use billrun_app::App;
use billrun_aws::provision::{provision, Names};
use billrun_aws::{Clients, Metrics};
use billrun_domain::ids::RunId;
use billrun_domain::request::Grouping;
use billrun_domain::run::RunStatus;
use billrun_testkit::faults::{killable, FaultPlan};
use fault_support::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SCHEDULES: u64 = 10;
const ACCOUNTS: usize = 250;
const MAX_RECEIVES: u32 = 40;

fn variant(seed: u64) -> Variant {
    let kinds = [
        (Grouping::Account, false, false),
        (Grouping::Subscription, true, false),
        (Grouping::Location, false, true),
    ];
    let (grouping, usage_cutoff, suppress_zero) = kinds[(seed % 3) as usize];
    Variant {
        accounts: ACCOUNTS,
        book_seed: 500,
        grouping,
        usage_cutoff,
        suppress_zero,
    }
}

/// One poller: receives from the plan and account queues and handles each message
/// under [`killable`]; deletes what is done, makes retries visible again at once, and
/// leaves killed deliveries to their visibility timeout.
async fn poll(
    app: Arc<App>,
    sqs: aws_sdk_sqs::Client,
    urls: Vec<String>,
    stop: Arc<AtomicBool>,
    killed: Arc<AtomicU64>,
) {
    while !stop.load(Ordering::Relaxed) {
        let mut got = 0;
        for url in &urls {
            let Ok(out) = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send()
                .await
            else {
                continue;
            };
            for m in out.messages() {
                got += 1;
                let (Some(handle), Some(body)) = (m.receipt_handle(), m.body()) else {
                    continue;
                };
                let receives: u32 = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                let Ok(message) = serde_json::from_str::<Message>(body) else {
                    continue;
                };
                match killable(deliver(&app, &message, receives, MAX_RECEIVES)).await {
                    None => {
                        killed.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(Disposition::Done) | Some(Disposition::GivenUp) => {
                        let _ = sqs
                            .delete_message()
                            .queue_url(url)
                            .receipt_handle(handle)
                            .send()
                            .await;
                    }
                    Some(Disposition::Retry) => {
                        let _ = sqs
                            .change_message_visibility()
                            .queue_url(url)
                            .receipt_handle(handle)
                            .visibility_timeout(0)
                            .send()
                            .await;
                    }
                }
            }
        }
        if got == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn run_schedule(
    clients: &Clients,
    v: &Variant,
    book: &billrun_domain::book::Book,
    plan: &Arc<FaultPlan>,
    summary: &mut Summary,
) -> Result<(App, RunId), String> {
    let prefix = format!("f{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut names = Names::new(prefix);
    names.visibility_timeout_seconds = 1;
    names.max_receive_count = MAX_RECEIVES + 10;
    let mut config = provision(clients, &names).await?;
    config.shards = 4;
    let (mut base, _store, queue) = billrun_aws::app_on_sqs(
        &config,
        clients,
        Arc::new(Metrics::default()),
        std::sync::Arc::new(billrun_documents::PdfRenderer),
    );
    base.plan_page_size = 16;
    let bytes = serde_json::to_vec(book).map_err(|e| e.to_string())?;
    base.reference()
        .import_book(&bytes)
        .await
        .map_err(|e| e.to_string())?;
    let (faulty, _) = plan.wrap(&base);
    let faulty = Arc::new(faulty);
    plan.set_active(true);
    let run =
        create_with_retries(&faulty, &v.request(), &format!("moto-{}", plan.seed()), 50).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let killed = Arc::new(AtomicU64::new(0));
    let urls = vec![
        queue.plan_url().to_string(),
        queue.account_url().to_string(),
    ];
    let mut pollers = Vec::new();
    for _ in 0..3 {
        pollers.push(tokio::spawn(poll(
            faulty.clone(),
            clients.sqs.clone(),
            urls.clone(),
            stop.clone(),
            killed.clone(),
        )));
    }
    let started = Instant::now();
    let mut now = chrono::Utc::now();
    let mut last = None;
    let mut still = 0;
    let mut result = Err("the run did not complete within 300 s".to_string());
    while started.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if plan.holds_messages() {
            let _ = plan.flush(base.queue.as_ref()).await;
        }
        // The progress, not the exact count: reading 500 outcomes twice a second would
        // take a good part of moto's time from the run under test.
        let (Ok(r), Ok(c)) = (
            base.queries().get_run(run).await,
            base.runs.progress(run).await,
        ) else {
            continue;
        };
        if r.status != RunStatus::Processing && r.status != RunStatus::Pending {
            result = Ok(());
            break;
        }
        // No progress for a while: the stuck-run sweeper's turn.
        let seen = Some((r.plan.pages, c.accounted_for()));
        if seen == last {
            still += 1;
        } else {
            (last, still) = (seen, 0);
        }
        if still >= 8 {
            summary.sweeps += 1;
            now += base.sweep.stale_after + chrono::TimeDelta::minutes(1);
            let _ = faulty.sweeper().sweep(now).await;
            still = 0;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for p in pollers {
        let _ = p.await;
    }
    plan.set_active(false);
    summary.killed += killed.load(Ordering::Relaxed);
    result.map(|()| (base, run))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_on_the_aws_adapters_under_random_fault_schedules_bill_what_the_fault_free_run_bills()
{
    let url = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!("AWS_ENDPOINT_URL is not set: run with infra/local/with-moto.sh")
    });
    assert!(
        url.starts_with("http://127.0.0.1:") || url.starts_with("http://localhost:"),
        "tests only talk to loopback, not {url}"
    );
    let clients = Clients::load().await;
    let mut summary = Summary::default();
    for seed in seeds(SCHEDULES) {
        let v = variant(seed);
        let book = v.book();
        // The fault-free reference, in memory (the conformance suite shows both
        // backends produce the same documents).
        let reference = {
            let store = Arc::new(billrun_app::memory::MemoryStore::new());
            let queue = Arc::new(billrun_app::memory::MemoryQueue::new());
            let app = Arc::new(App::in_memory(
                store,
                queue.clone(),
                std::sync::Arc::new(billrun_documents::PdfRenderer),
            ));
            let bytes = serde_json::to_vec(&book).expect("a book serializes");
            app.reference()
                .import_book(&bytes)
                .await
                .expect("the book imports");
            let run = app
                .pipeline()
                .create_run(v.request(), None)
                .await
                .expect("a run")
                .run()
                .id;
            billrun_app::worker::drain(app.clone(), queue, Default::default()).await;
            outcome_of(&app, run, &book).await.expect("the reference")
        };
        let plan = FaultPlan::new(seed, 40);
        summary.schedules += 1;
        let started = Instant::now();
        let ran = run_schedule(&clients, &v, &book, &plan, &mut summary).await;
        eprintln!(
            "BILLRUN_FAULT_SEED={seed}: the run ended after {} s",
            started.elapsed().as_secs()
        );
        let result = match ran {
            Err(e) => Err(e),
            Ok((app, run)) => match outcome_of(&app, run, &book).await {
                Err(e) => Err(e.to_string()),
                Ok(got) => check(&got, &reference, None, &mut summary.findings),
            },
        };
        summary.add(&plan);
        if let Err(e) = result {
            eprintln!("BILLRUN_FAULT_SEED={seed} ({}) failed: {e}", v.name());
            summary.failed.push((seed, format!("{}: {e}", v.name())));
        }
    }
    summary.print("the AWS adapters on moto");
    summary.assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_body_reaches_the_dlq_without_blocking_the_messages_of_its_batch() {
    let clients = Clients::load().await;
    let prefix = format!("p{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut names = Names::new(prefix.clone());
    names.visibility_timeout_seconds = 1;
    names.max_receive_count = 2;
    let config = provision(&clients, &names).await.expect("provisioning");
    let (mut app, _store, queue) = billrun_aws::app_on_sqs(
        &config,
        &clients,
        Arc::new(Metrics::default()),
        std::sync::Arc::new(billrun_documents::PdfRenderer),
    );
    app.plan_page_size = 100;
    let book = variant(0).book();
    app.reference()
        .import_book(&serde_json::to_vec(&book).unwrap())
        .await
        .unwrap();
    let mut request = variant(0).request();
    request.run_type = billrun_domain::request::RunType::Manual;
    let run = app
        .pipeline()
        .create_run(request, None)
        .await
        .unwrap()
        .run()
        .id;
    // The poison goes first, in the same receive batch as the run's messages.
    clients
        .sqs
        .send_message()
        .queue_url(queue.account_url())
        .message_body("{not a message")
        .send()
        .await
        .unwrap();
    app.pipeline().start_run(run).await.unwrap();
    let app = Arc::new(app);
    let done = billrun_aws::sqs::pump_until_done(
        app.clone(),
        queue.clone(),
        run,
        billrun_aws::sqs::Pump {
            max_receives: names.max_receive_count,
            ..billrun_aws::sqs::Pump::new(2, Duration::from_secs(120))
        },
    )
    .await
    .unwrap();
    assert!(done, "the run completes around the poison message");
    let view = app.queries().run_view(run).await.unwrap();
    assert!(view.counters.reconciles(), "{:?}", view.counters);
    assert_eq!(view.counters.accounts_selected, ACCOUNTS as u64);
    // Redrive moves it to the DLQ once its receives are used up.
    let dlq = clients
        .sqs
        .get_queue_url()
        .queue_name(format!("{prefix}-account-dlq"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap_or_default()
        .to_string();
    let mut bodies = Vec::new();
    let started = Instant::now();
    while bodies.is_empty() && started.elapsed() < Duration::from_secs(30) {
        // Receives on the source queue drive the redrive.
        let _ = queue
            .poll_once(&app, queue.account_url(), 1, names.max_receive_count)
            .await;
        let out = clients
            .sqs
            .receive_message()
            .queue_url(&dlq)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        bodies.extend(
            out.messages()
                .iter()
                .filter_map(|m| m.body().map(str::to_string)),
        );
    }
    assert_eq!(bodies, ["{not a message"]);
}
