//! Webhooks under random fault schedules on the in-memory adapters: every port fails
//! calls, times out (landing or not), fails writes after they landed, duplicates and
//! reorders messages and kills workers (between a run's write and the queuing of its
//! dispatch too: the dispatch is queued by the composition after the write, outside
//! it), dispatchers run twice, and receivers answer 500 or time out after they got the
//! request. After the run's lifecycle and a restart's re-dispatch (what `serve` does
//! at start), every event each endpoint subscribed to must have reached it and be
//! Delivered, with one delivery record per (event, endpoint); no receiver may have got
//! an event the run did not record; a repeat carries the same id and body; the audit
//! trail holds each of the run's events once.
//! A failing schedule prints `BILLRUN_FAULT_SEED=<seed>`.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fault_support;

use billrun_app::memory::{MemoryQueue, MemoryStore, RecordingWebhookSender};
use billrun_app::model::events::RunEventType;
use billrun_app::model::webhooks::{EventPattern, WebhookDeliveryStatus};
use billrun_app::ports::{WebhookResponse, WebhookSendError, WebhookStore};
use billrun_app::webhooks::EndpointSpec;
use billrun_app::worker::WorkerConfig;
use billrun_app::App;
use billrun_domain::ids::{RunId, WebhookEndpointId};
use billrun_domain::run::RunStatus;
use billrun_testkit::faults::{drain_with_faults, FaultPlan};
use fault_support::seeds;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

const SCHEDULES: u64 = 24;
const ACCOUNTS: usize = 30;

/// The wall clock, moved forward by the test past a killed holder's transition lease.
#[derive(Default)]
struct MovableClock {
    ahead_minutes: std::sync::atomic::AtomicI64,
}

impl billrun_app::ports::Clock for MovableClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
            + chrono::TimeDelta::minutes(
                self.ahead_minutes
                    .load(std::sync::atomic::Ordering::Relaxed),
            )
    }
}

struct System {
    /// Without faults, for reading what happened.
    app: App,
    clock: Arc<MovableClock>,
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    sender: RecordingWebhookSender,
}

fn endpoint(id: &str) -> WebhookEndpointId {
    WebhookEndpointId::parse(id).unwrap()
}

/// The app over `store` and `queue` sending webhooks through `sender`, with short
/// retries (and a lease short enough for a dead attempt to be made again soon).
fn compose(
    store: &Arc<MemoryStore>,
    queue: &Arc<MemoryQueue>,
    sender: &RecordingWebhookSender,
    clock: &Arc<MovableClock>,
) -> App {
    let mut app = App::in_memory(
        store.clone(),
        queue.clone(),
        Arc::new(billrun_documents::PdfRenderer),
    )
    .with_webhooks(Arc::new(sender.clone()));
    app.clock = clock.clone();
    app.dispatch = billrun_app::dispatch::DispatchConfig {
        retry: vec![Duration::from_millis(2); 12],
        lease: Duration::from_millis(40),
        disable_after: chrono::TimeDelta::days(365),
        // Small pages, chained across messages: a batch of document events spans
        // several messages that faults can lose, repeat or reorder.
        documents_per_event: 7,
        pages_per_message: 2,
        ..Default::default()
    };
    app
}

async fn system(seed: u64) -> System {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    // Receivers: each event's first 0 to 2 requests are answered 500 or time out after
    // the receiver got them.
    let mut seen: HashMap<String, u64> = HashMap::new();
    let sender = RecordingWebhookSender::answering(move |w| {
        let n = seen.entry(w.message_id.clone()).or_default();
        *n += 1;
        let failures = (seed ^ w.message_id.len() as u64 ^ w.url.len() as u64) % 3;
        if *n <= failures {
            if *n % 2 == 1 {
                return Err(WebhookSendError::Timeout);
            }
            return Ok(WebhookResponse {
                status: 500,
                excerpt: String::new(),
            });
        }
        Ok(WebhookResponse {
            status: 200,
            excerpt: String::new(),
        })
    });
    let clock = Arc::new(MovableClock::default());
    let app = compose(&store, &queue, &sender, &clock);
    let book = billrun_testkit::fixtures::monthly_book(
        ACCOUNTS,
        |i| format!("{}.00", 10 + i % 5),
        |_| serde_json::json!({}),
    );
    app.reference()
        .import_book(&serde_json::to_vec(&book).unwrap())
        .await
        .unwrap();
    let hooks = app.webhooks();
    for (id, events) in [
        ("all", vec![EventPattern::All]),
        (
            "finance",
            vec![
                EventPattern::Type(RunEventType::Completed),
                EventPattern::Type(RunEventType::Posted),
            ],
        ),
        (
            "documents",
            vec![EventPattern::Type(RunEventType::DocumentsPosted)],
        ),
    ] {
        hooks
            .put_endpoint(
                &endpoint(id),
                EndpointSpec {
                    url: format!("https://hooks.example.com/{id}"),
                    events,
                    enabled: true,
                    description: None,
                },
            )
            .await
            .unwrap();
    }
    System {
        app,
        clock,
        store,
        queue,
        sender,
    }
}

/// Drains the queue with `app` until nothing is left, delayed messages included.
async fn settle(sys: &System, app: &Arc<App>, plan: Option<&Arc<FaultPlan>>) -> Result<(), String> {
    let config = WorkerConfig {
        workers: 2,
        max_receives: 40,
    };
    for _ in 0..2000 {
        if let Some(plan) = plan.filter(|p| p.holds_messages()) {
            let _ = plan.flush(sys.app.queue.as_ref()).await;
        }
        tokio::time::timeout(
            Duration::from_secs(60),
            drain_with_faults(app.clone(), sys.queue.clone(), config),
        )
        .await
        .map_err(|_| "the queue did not drain within 60 s".to_string())?;
        if sys.queue.waiting() == 0 && sys.queue.is_drained() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    Err("messages kept coming back".into())
}

/// Retries `step` until it answers Ok (faults make single calls fail).
async fn until_ok<T, F, Fut>(what: &str, mut step: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, billrun_app::AppError>>,
{
    let mut last = String::new();
    for _ in 0..200 {
        match billrun_testkit::faults::killable(step()).await {
            Some(Ok(v)) => return Ok(v),
            Some(Err(e)) => last = e.to_string(),
            None => last = "killed".into(),
        }
    }
    Err(format!("{what} never succeeded; the last error: {last}"))
}

/// The lifecycle under faults: create (Immediate), complete, post; the dispatcher is
/// also run twice by hand after each step (duplicate invocations).
async fn lifecycle(sys: &System, app: &Arc<App>, plan: &Arc<FaultPlan>) -> Result<RunId, String> {
    let run = until_ok("create", || {
        let app = app.clone();
        async move {
            app.pipeline()
                .create_run(
                    billrun_testkit::fixtures::request("2024-02-01"),
                    Some("webhook-faults".into()),
                )
                .await
        }
    })
    .await?
    .run()
    .id;
    for _ in 0..50 {
        settle(sys, app, Some(plan)).await?;
        let status = sys
            .app
            .queries()
            .get_run(run)
            .await
            .map_err(|e| e.to_string())?
            .status;
        if matches!(
            status,
            RunStatus::Completed | RunStatus::CompletedWithErrors
        ) {
            break;
        }
        let _ = app.sweeper().sweep(sys.app.clock.now()).await;
    }
    let _ = billrun_testkit::faults::killable(app.dispatcher().dispatch(run, 0..=u64::MAX)).await;
    until_ok("post", || {
        let app = app.clone();
        let clock = sys.clock.clone();
        async move {
            let posted = app.post_run(run).await;
            if let Err(billrun_app::AppError::Conflict {
                code: billrun_app::ConflictCode::RunTransitionInProgress,
                ..
            }) = &posted
            {
                {
                    // A killed post holds its claim for its lease: time moves past it.
                    clock
                        .ahead_minutes
                        .fetch_add(3, std::sync::atomic::Ordering::Relaxed);
                }
            }
            posted
        }
    })
    .await?;
    let _ = billrun_testkit::faults::killable(app.dispatcher().dispatch(run, 0..=u64::MAX)).await;
    settle(sys, app, Some(plan)).await?;
    Ok(run)
}

#[test]
fn webhooks_under_random_fault_schedules_lose_nothing_and_invent_nothing() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut failed = Vec::new();
    for seed in seeds(SCHEDULES) {
        let result: Result<(), String> = runtime.block_on(async {
            let sys = system(seed).await;
            let plan = FaultPlan::new(seed, 5 + seed % 36);
            // The dispatch after a write goes through the faulty queue, outside the
            // write: a kill between them loses the message.
            let (faulty, _) = plan.wrap(&sys.app);
            let faulty = Arc::new(faulty.dispatching_after_writes());
            plan.set_active(true);
            let run = lifecycle(&sys, &faulty, &plan).await;
            plan.set_active(false);
            FAULTED_CALLS.fetch_add(plan.calls(), std::sync::atomic::Ordering::Relaxed);
            let run = run?;
            // A restart: every run's events dispatched again, then everything sent.
            let clean = Arc::new(sys.app.clone());
            clean
                .dispatcher()
                .dispatch(run, 0..=u64::MAX)
                .await
                .map_err(|e| e.to_string())?;
            settle(&sys, &clean, None).await?;
            check(&sys, run).await
        });
        if let Err(e) = result {
            eprintln!("BILLRUN_FAULT_SEED={seed}: {e}");
            failed.push(seed);
        }
    }
    assert!(failed.is_empty(), "failing schedules: {failed:?}");
    assert!(
        FAULTED_CALLS.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "no call went through a fault plan"
    );
}

/// Port calls made under the schedules' plans.
static FAULTED_CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

async fn check(sys: &System, run: RunId) -> Result<(), String> {
    let record = sys
        .app
        .queries()
        .get_run(run)
        .await
        .map_err(|e| e.to_string())?;
    if record.status != RunStatus::Posted {
        return Err(format!("the run ended {:?}", record.status));
    }
    let mut events: HashMap<String, RunEventType> = record
        .events
        .iter()
        .map(|e| (e.id.to_string(), e.event_type))
        .collect();
    // The posted documents' events: one per page of 7 of the run's documents, with an
    // id of (run.posted, page).
    let documents = sys
        .app
        .queries()
        .all_documents(run)
        .await
        .map_err(|e| e.to_string())?;
    let posted = record
        .events
        .iter()
        .find(|e| e.event_type == RunEventType::Posted)
        .ok_or("no run.posted event")?;
    let batch = billrun_app::model::document_events::DocumentBatch::implied_by(posted)
        .ok_or("run.posted implies no batch")?;
    let pages = documents.len().div_ceil(7).max(1) as u32;
    for page in 0..pages {
        events.insert(
            batch.event_id(page).to_string(),
            RunEventType::DocumentsPosted,
        );
    }
    let received = sys.sender.received();
    let mut bodies: HashMap<(String, String), String> = HashMap::new();
    for w in &received {
        if !events.contains_key(&w.message_id) {
            return Err(format!("{} got an event the run never recorded", w.url));
        }
        let body: serde_json::Value = serde_json::from_str(&w.body).map_err(|e| e.to_string())?;
        if body["id"] != w.message_id.as_str() {
            return Err("a webhook-id differs from its event's id".into());
        }
        let key = (w.url.clone(), w.message_id.clone());
        if let Some(previous) = bodies.insert(key, w.body.clone()) {
            if previous != w.body {
                return Err("a repeat carried another body".into());
            }
        }
    }
    for (id, wants) in [
        ("all", None),
        (
            "finance",
            Some(&[RunEventType::Completed, RunEventType::Posted][..]),
        ),
        ("documents", Some(&[RunEventType::DocumentsPosted][..])),
    ] {
        let expected: BTreeSet<&String> = events
            .iter()
            .filter(|(_, t)| match wants {
                None => !t.is_per_document(),
                Some(w) => w.contains(t),
            })
            .map(|(i, _)| i)
            .collect();
        let url = format!("https://hooks.example.com/{id}");
        let got: BTreeSet<&String> = received
            .iter()
            .filter(|w| w.url == url)
            .map(|w| &w.message_id)
            .collect();
        if got != expected {
            return Err(format!(
                "{id}: received {} of {} events",
                got.len(),
                expected.len()
            ));
        }
        let deliveries = sys
            .store
            .list_deliveries(&endpoint(id), None, 1000)
            .await
            .map_err(|e| e.to_string())?;
        if deliveries.len() != expected.len() {
            return Err(format!(
                "{id}: {} delivery records for {} events",
                deliveries.len(),
                expected.len()
            ));
        }
        if let Some(d) = deliveries
            .iter()
            .find(|d| d.status != WebhookDeliveryStatus::Delivered)
        {
            return Err(format!(
                "{id}: a delivery ended {:?}: {:?}",
                d.status, d.error
            ));
        }
    }
    // Each posted document in exactly one event.
    let mut numbers: Vec<String> = bodies
        .iter()
        .filter(|((url, _), _)| url.ends_with("/documents"))
        .flat_map(|(_, body)| {
            let body: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
            body["data"]["documents"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|d| d["number"].as_str().unwrap_or_default().to_string())
        .collect();
    numbers.sort();
    let mut expected: Vec<String> = documents.iter().filter_map(|d| d.number.clone()).collect();
    expected.sort();
    if numbers != expected {
        return Err(format!(
            "documents.posted carried {} documents, not the run's {}",
            numbers.len(),
            expected.len()
        ));
    }
    // The audit trail: exactly one entry per event the run recorded, none invented.
    let trail = sys
        .app
        .audit
        .audit_events(
            &billrun_app::model::audit::AuditFilter {
                resource: Some(run.0.to_string()),
                actor: None,
                since: chrono::DateTime::UNIX_EPOCH,
            },
            None,
            1000,
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut entries: Vec<uuid::Uuid> = trail.iter().map(|e| e.id).collect();
    let mut recorded: Vec<uuid::Uuid> = record.events.iter().map(|e| e.id).collect();
    entries.sort();
    recorded.sort();
    if entries != recorded {
        return Err(format!(
            "the audit trail has {} entries for the run's {} events",
            entries.len(),
            recorded.len()
        ));
    }
    Ok(())
}
