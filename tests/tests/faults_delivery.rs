//! Email delivery under random fault schedules on the in-memory adapters: a run with
//! `autoPost` and `autoEmail` over a book whose accounts mostly have addresses, while
//! every port (the delivery store and the mail transport included) fails calls, times
//! out, fails writes after they landed, duplicates and reorders messages, and kills
//! workers, between a send and its record among other places (`billrun_testkit::faults`).
//! Every addressed document must end Sent and every other Skipped (0 lost), and a
//! document may reach its customer twice only where a fault left a sent message without
//! its record: the window docs/decisions.md "Exactly-once email" documents
//! (`FaultPlan::send_window`). A failing schedule prints `BILLRUN_FAULT_SEED=<seed>`.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fault_support;

use async_trait::async_trait;
use billrun_app::app::DeliveryPorts;
use billrun_app::memory::{MemoryQueue, MemoryStore};
use billrun_app::model::deliveries::{DeliveryRequestStatus, OutgoingMail};
use billrun_app::ports::{Accepted, Mailer, SendFailed};
use billrun_app::worker::WorkerConfig;
use billrun_app::App;
use billrun_domain::ids::RunId;
use billrun_domain::run::RunStatus;
use billrun_testkit::faults::{drain_with_faults, FaultKind, FaultPlan};
use fault_support::*;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Schedules per test run (`BILLRUN_FAULT_SCHEDULES` overrides).
const SCHEDULES: u64 = 12;
const ACCOUNTS: usize = 40;
const MAX_RECEIVES: u32 = 40;
/// Fault rates span 5 to 20 per mille of port calls (faults.rs's schedules reach 40;
/// queue sends are faulted as there):
/// a document message renders its chunk's PDFs into one pack, all or nothing, so above
/// about 2% a chunk of 25 documents is killed at nearly every receive and the schedule
/// measures the queue's back-off (5 s a receive at its cap) rather than the sends.
const MAX_EXTRA_RATE: u64 = 16;

/// Counts each Message-ID it accepts.
#[derive(Default)]
struct Counting {
    sends: Mutex<HashMap<String, u32>>,
}

#[async_trait]
impl Mailer for Counting {
    async fn send(&self, mail: &OutgoingMail) -> Result<Accepted, SendFailed> {
        if !mail
            .attachment
            .as_ref()
            .is_some_and(|a| a.bytes.starts_with(b"%PDF"))
        {
            return Err(SendFailed::Permanent("no PDF attached".into()));
        }
        *self
            .sends
            .lock()
            .entry(mail.message_id.clone())
            .or_default() += 1;
        Ok(Accepted::default())
    }
}

/// The account-grouped book with every fifth account without an address.
fn book() -> billrun_domain::book::Book {
    billrun_testkit::fixtures::monthly_book(
        ACCOUNTS,
        |i| format!("{}.00", 10 + i),
        |i| match i % 5 {
            0 => serde_json::json!({"billTo": {"name": "No address"}}),
            _ => serde_json::json!({"billTo": {"email": format!("ap{i}@example.com")}}),
        },
    )
}

/// Renders a document as a few bytes instead of a PDF: the schedules are about the
/// exactly-once sends, and real rendering (hundreds of milliseconds a document in a
/// debug build) would take most of their time.
struct TinyRenderer;

struct TinyTemplate;

impl billrun_app::ports::DocumentRenderer for TinyRenderer {
    fn template(
        &self,
        _content: &str,
    ) -> Result<Box<dyn billrun_app::ports::RenderTemplate>, billrun_app::ports::TemplateRejected>
    {
        Ok(Box::new(TinyTemplate))
    }

    fn renders(&self) -> bool {
        true
    }
}

impl billrun_app::ports::RenderTemplate for TinyTemplate {
    fn render(
        &self,
        document: &billrun_domain::document::Document,
        _account: &billrun_domain::book::Account,
        _context: &billrun_app::ports::RenderContext,
    ) -> Result<Vec<u8>, billrun_app::ports::RenderFailed> {
        Ok(format!("%PDF {:?}", document.number).into_bytes())
    }

    fn email(
        &self,
        document: &billrun_domain::document::Document,
        _account: &billrun_domain::book::Account,
    ) -> Result<billrun_app::ports::EmailContent, billrun_app::ports::RenderFailed> {
        Ok(billrun_app::ports::EmailContent {
            subject: format!("Invoice {:?}", document.number),
            ..Default::default()
        })
    }

    fn sample(&self) -> Result<Vec<u8>, billrun_app::ports::RenderFailed> {
        Ok(b"%PDF sample".to_vec())
    }
}

struct System {
    app: App,
    queue: Arc<MemoryQueue>,
    mailer: Arc<Counting>,
}

async fn system() -> System {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    let mailer = Arc::new(Counting::default());
    let mut app = App::in_memory(store.clone(), queue.clone(), Arc::new(TinyRenderer))
        .with_delivery(DeliveryPorts {
            store,
            mailer: mailer.clone(),
            from: "billing@example.com".into(),
        });
    app.clock = Arc::new(FastClock::new());
    let bytes = serde_json::to_vec(&book()).unwrap();
    app.reference().import_book(&bytes).await.unwrap();
    let template =
        br#"{"name": "Default", "content": {"companyName": "Northwind", "locale": "en-US"}}"#;
    app.templates().put_template("T-1", template).await.unwrap();
    app.templates().activate_template("T-1").await.unwrap();
    System { app, queue, mailer }
}

/// Drives one schedule to the end: the run posted and its emails delivered.
async fn run_once(plan: &Arc<FaultPlan>, summary: &mut Summary) -> Result<(System, RunId), String> {
    let sys = system().await;
    let (faulty, _) = plan.wrap(&sys.app);
    let faulty = Arc::new(faulty);
    plan.set_active(true);
    let mut request = billrun_testkit::fixtures::request("2024-02-01");
    request.auto_post = true;
    request.auto_email = true;
    let run = create_with_retries(&faulty, &request, &format!("d-{}", plan.seed()), 50).await?;
    let config = WorkerConfig {
        workers: 2,
        max_receives: MAX_RECEIVES,
    };
    let mut now = sys.app.clock.now();
    for _ in 0..60 {
        let drained = tokio::time::timeout(
            Duration::from_secs(120),
            drain_with_faults(faulty.clone(), sys.queue.clone(), config),
        )
        .await
        .map_err(|_| "the queue did not drain within 120 s".to_string())?;
        summary.killed += drained.killed;
        if plan.holds_messages() {
            let _ = plan.flush(sys.app.queue.as_ref()).await;
            continue;
        }
        let status = sys
            .app
            .queries()
            .get_run(run)
            .await
            .map_err(|e| e.to_string())?
            .status;
        if status == RunStatus::Posted {
            let deliveries = sys.app.deliveries().map_err(|e| e.to_string())?;
            if let Some(id) = deliveries
                .store
                .latest_delivery_request(run)
                .await
                .map_err(|e| e.to_string())?
            {
                let view = deliveries
                    .delivery_request(id)
                    .await
                    .map_err(|e| e.to_string())?;
                if view.status != DeliveryRequestStatus::Pending
                    && view.status != DeliveryRequestStatus::InProgress
                {
                    plan.set_active(false);
                    return Ok((sys, run));
                }
            }
        }
        // The scheduler's tick: the stuck-run sweep and the autoEmail catch-up.
        summary.sweeps += 1;
        now += sys.app.sweep.stale_after + chrono::TimeDelta::minutes(1);
        let _ = faulty.tick(now).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    plan.set_active(false);
    Err("the run or its emails did not finish after 60 drains".into())
}

/// What one schedule must show: every addressed document Sent once (a second copy only
/// in the window), every other Skipped, no failure.
async fn check(sys: &System, run: RunId, plan: &FaultPlan) -> Result<(), String> {
    let deliveries = sys.app.deliveries().map_err(|e| e.to_string())?;
    let id = deliveries
        .store
        .latest_delivery_request(run)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no delivery request")?;
    let view = deliveries
        .delivery_request(id)
        .await
        .map_err(|e| e.to_string())?;
    let c = &view.counters;
    let addressed = (ACCOUNTS - ACCOUNTS.div_ceil(5)) as u64;
    if (c.requested, c.sent, c.skipped, c.failed)
        != (ACCOUNTS as u64, addressed, ACCOUNTS as u64 - addressed, 0)
    {
        return Err(format!("counters {c:?}"));
    }
    let sends = sys.mailer.sends.lock().clone();
    if sends.len() as u64 != addressed {
        return Err(format!(
            "{} documents emailed, {addressed} addressed",
            sends.len()
        ));
    }
    let window = plan.send_window();
    for (message_id, n) in sends {
        let allowed = 1 + window.iter().filter(|w| **w == message_id).count() as u32;
        if n > allowed {
            return Err(format!(
                "{message_id} sent {n} times, {} in the window",
                allowed - 1
            ));
        }
    }
    Ok(())
}

#[test]
fn emails_under_random_fault_schedules_are_sent_once_outside_the_documented_window() {
    let seeds = seeds(SCHEDULES);
    let mut summary = Summary::default();
    let mut window = 0usize;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            for seed in seeds {
                // The queue's faults (duplicates, reorders) as faults.rs's schedules have
                // them.
                let plan =
                    FaultPlan::with_send_rate(seed, 5 + seed % MAX_EXTRA_RATE, (5 + seed % 36) * 8);
                let started = std::time::Instant::now();
                let result = match run_once(&plan, &mut summary).await {
                    Ok((sys, run)) => check(&sys, run, &plan).await,
                    Err(e) => Err(e),
                };
                window += plan.send_window().len();
                eprintln!(
                    "   seed {seed}: {:?}, {} sweeps so far",
                    started.elapsed(),
                    summary.sweeps
                );
                summary.schedules += 1;
                summary.add(&plan);
                if let Err(e) = result {
                    summary.failed.push((seed, e));
                }
            }
        });
    summary.print("the in-memory adapters with email delivery");
    eprintln!("   sends left without their record (the window): {window}");
    summary.assert_ok();
    assert!(
        summary.fired.get(&FaultKind::Kill).copied().unwrap_or(0) > 0,
        "no worker was killed"
    );
}
