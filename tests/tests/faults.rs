//! Whole runs over the mixed sample book under random fault schedules on the in-memory
//! adapters and on the SQLite ones (docs/reliability.md), the same scenarios on each. Every port fails or times out calls, fails writes after they
//! landed, delivers batches twice, reorders them, and kills workers between steps
//! (`billrun_testkit::faults`). Each run must complete with the same outcomes, documents
//! (numbers included), counters and billing state as the fault-free run, with gapless
//! numbers. A failing schedule prints `BILLRUN_FAULT_SEED=<seed>` to replay it.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fault_support;

use billrun_app::memory::{MemoryQueue, MemoryStore};
use billrun_app::model::events::RunEventType;
use billrun_app::worker::WorkerConfig;
use billrun_app::App;
use billrun_domain::document::DocumentKind;
use billrun_domain::request::Grouping;
use billrun_domain::run::RunStatus;
use billrun_testkit::faults::{drain_with_faults, FaultPlan};
use fault_support::*;
use std::sync::Arc;
use std::time::Duration;

/// Schedules per test run (`BILLRUN_FAULT_SCHEDULES` overrides).
const SCHEDULES: u64 = 200;
/// Schedules per test run on SQLite: every commit is an fsync there, so a schedule
/// costs seconds, not milliseconds; the same scenarios, fewer of them.
const SQLITE_SCHEDULES: u64 = 10;
/// Accounts per planning page: several pages per run, so that planning messages are
/// reordered and duplicated too.
const PLAN_PAGE: usize = 64;
/// High enough that no account is given up because of injected faults alone.
const MAX_RECEIVES: u32 = 40;

/// Every schedule runs a 500-account book: every fourth seed the account-grouped sample
/// book, the others one with subscription or location grouping, usage cutoffs and zero
/// suppression.
fn variant(seed: u64) -> Variant {
    if seed.is_multiple_of(4) {
        return Variant {
            accounts: 500,
            book_seed: 500,
            grouping: Grouping::Account,
            usage_cutoff: false,
            suppress_zero: false,
        };
    }
    let small = [
        (Grouping::Subscription, true, false),
        (Grouping::Location, false, true),
        (Grouping::Account, true, true),
    ];
    let (grouping, usage_cutoff, suppress_zero) = small[(seed / 4 % 3) as usize];
    Variant {
        accounts: 500,
        book_seed: 501 + seed / 4 % 3,
        grouping,
        usage_cutoff,
        suppress_zero,
    }
}

/// Which adapters a schedule runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Adapters {
    Memory,
    Sqlite,
}

/// The store of a system, for the numbers it has taken.
enum Store {
    Memory(Arc<MemoryStore>),
    /// With its directory, removed when the system is dropped.
    Sqlite(
        Arc<billrun_sqlite::SqliteStore>,
        #[allow(dead_code)] tempfile::TempDir,
    ),
}

impl Store {
    async fn sequence(&self, kind: DocumentKind) -> u64 {
        match self {
            Store::Memory(s) => s.sequence(kind),
            Store::Sqlite(s, _) => s.sequence(kind).await.expect("the sequence reads"),
        }
    }
}

struct System {
    store: Store,
    queue: Arc<MemoryQueue>,
    app: App,
}

async fn system(adapters: Adapters, book: &billrun_domain::book::Book) -> System {
    let queue = Arc::new(MemoryQueue::new());
    let renderer = std::sync::Arc::new(billrun_documents::PdfRenderer);
    let (mut app, store) = match adapters {
        Adapters::Memory => {
            let store = Arc::new(MemoryStore::new());
            let app = App::in_memory(store.clone(), queue.clone(), renderer);
            (app, Store::Memory(store))
        }
        Adapters::Sqlite => {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let store = Arc::new(billrun_sqlite::SqliteStore::open(dir.path()).expect("opening"));
            let app = App::over(store.clone(), queue.clone(), store.clone(), renderer);
            (app, Store::Sqlite(store, dir))
        }
    };
    app.clock = Arc::new(FastClock::new());
    app.plan_page_size = PLAN_PAGE;
    let bytes = serde_json::to_vec(book).expect("a book serializes");
    app.reference()
        .import_book(&bytes)
        .await
        .expect("the sample book imports");
    System { store, queue, app }
}

/// Runs the variant's request over a fresh store under `plan` (inactive: fault-free)
/// to completion: the client retries its POST, workers drain the queue with kills, the
/// held-back messages are released, and the stuck-run sweeper re-sends what was lost.
async fn run_once(
    adapters: Adapters,
    v: &Variant,
    book: &billrun_domain::book::Book,
    plan: &Arc<FaultPlan>,
    active: bool,
    summary: &mut Summary,
) -> Result<(System, billrun_domain::ids::RunId), String> {
    let sys = system(adapters, book).await;
    let (faulty, _) = plan.wrap(&sys.app);
    let faulty = Arc::new(faulty);
    plan.set_active(active);
    let key = format!("faults-{}", plan.seed());
    let run = create_with_retries(&faulty, &v.request(), &key, 50).await?;
    let config = WorkerConfig {
        workers: 2,
        max_receives: MAX_RECEIVES,
    };
    let mut now = sys.app.clock.now();
    for _ in 0..40 {
        let drained = tokio::time::timeout(
            Duration::from_secs(120),
            drain_with_faults(faulty.clone(), sys.queue.clone(), config),
        )
        .await
        .map_err(|_| "the queue did not drain within 120 s".to_string())?;
        summary.killed += drained.killed;
        if drained.stats.given_up > 0 {
            return Err(format!(
                "{} messages given up under injected faults",
                drained.stats.given_up
            ));
        }
        if plan.holds_messages() {
            // Released past the faults: the reorder held them, nothing lost them.
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
        if status != RunStatus::Processing && status != RunStatus::Pending {
            plan.set_active(false);
            return Ok((sys, run));
        }
        // Stuck: the sweeper (every 5 minutes in production) notices, re-sends.
        summary.sweeps += 1;
        now += sys.app.sweep.stale_after + chrono::TimeDelta::minutes(1);
        let _ = faulty.sweeper().sweep(now).await;
    }
    plan.set_active(false);
    let status = sys
        .app
        .queries()
        .get_run(run)
        .await
        .map_err(|e| e.to_string())?
        .status;
    Err(format!(
        "the run is still {status:?} after 40 drains and sweeps"
    ))
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(f)
}

#[test]
fn runs_under_random_fault_schedules_bill_exactly_what_the_fault_free_run_bills() {
    schedules(Adapters::Memory, SCHEDULES, "the in-memory adapters");
}

#[test]
fn runs_on_sqlite_under_random_fault_schedules_bill_exactly_what_the_fault_free_run_bills() {
    schedules(Adapters::Sqlite, SQLITE_SCHEDULES, "the SQLite adapters");
}

/// Runs `count` random fault schedules on `adapters`, each checked against the
/// fault-free run of its variant on the same adapters.
#[allow(clippy::map_entry)] // the reference is computed with an await in between
/// The run's event types, after checking that its events are one chain: ids unique,
/// versions rising, each event's previous status the status of the one before, the last
/// the run's status (no event without its change, no change without its event).
async fn event_types(
    app: &billrun_app::App,
    run: billrun_domain::ids::RunId,
) -> Result<Vec<RunEventType>, String> {
    let record = app
        .queries()
        .get_run(run)
        .await
        .map_err(|e| e.to_string())?;
    let events = &record.events;
    let ids: std::collections::HashSet<_> = events.iter().map(|e| e.id).collect();
    if ids.len() != events.len() {
        return Err(format!("an event id twice: {events:?}"));
    }
    for pair in events.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if b.version < a.version || b.previous_status.is_some_and(|p| p != a.status) {
            return Err(format!("events out of chain: {a:?} then {b:?}"));
        }
    }
    if events.last().map(|e| e.status) != Some(record.status) {
        return Err(format!(
            "the last event is not the run's status {:?}",
            record.status
        ));
    }
    Ok(events.iter().map(|e| e.event_type).collect())
}

fn schedules(adapters: Adapters, count: u64, name: &str) {
    let seeds = seeds(count);
    let mut summary = Summary::default();
    block_on(async {
        let mut references: std::collections::HashMap<
            String,
            (billrun_domain::book::Book, Outcome, Vec<RunEventType>),
        > = Default::default();
        for seed in seeds {
            let v = variant(seed);
            if let std::collections::hash_map::Entry::Vacant(slot) = references.entry(v.name()) {
                let book = v.book();
                let off = FaultPlan::new(0, 0);
                let (sys, run) =
                    run_once(adapters, &v, &book, &off, false, &mut Summary::default())
                        .await
                        .expect("the fault-free run completes");
                let reference = outcome_of(&sys.app, run, &book)
                    .await
                    .expect("the fault-free run reads back");
                assert!(
                    reference.counters.reconciles() && !reference.documents.is_empty(),
                    "{reference:?}"
                );
                let events = event_types(&sys.app, run)
                    .await
                    .expect("the fault-free run's events");
                slot.insert((book, reference, events));
            }
            let Some((book, reference, events)) = references.get(&v.name()) else {
                continue;
            };
            // 5 to 40 faults per 1,000 port calls.
            let plan = FaultPlan::new(seed, 5 + seed % 36);
            summary.schedules += 1;
            let result = match run_once(adapters, &v, book, &plan, true, &mut summary).await {
                Err(e) => Err(e),
                Ok((sys, run)) => match outcome_of(&sys.app, run, book).await {
                    Err(e) => Err(e.to_string()),
                    Ok(got) => {
                        let taken = (
                            sys.store.sequence(DocumentKind::Invoice).await,
                            sys.store.sequence(DocumentKind::CreditMemo).await,
                        );
                        check(&got, reference, Some(taken), &mut summary.findings).and(
                            match event_types(&sys.app, run).await {
                                Ok(got) if &got == events => Ok(()),
                                Ok(got) => Err(format!(
                                    "events {got:?}, not those of the fault-free run {events:?}"
                                )),
                                Err(e) => Err(e),
                            },
                        )
                    }
                },
            };
            summary.add(&plan);
            if let Err(e) = result {
                eprintln!("BILLRUN_FAULT_SEED={seed} ({}) failed: {e}", v.name());
                summary.failed.push((seed, format!("{}: {e}", v.name())));
            }
        }
    });
    summary.print(name);
    summary.assert_ok();
    // No message is lost for good here (a failed send is retried by its sender, a held
    // batch is flushed): every run completes through redeliveries alone, kills between
    // a commit and its progress and kills of finalizers included.
    assert_eq!(summary.sweeps, 0, "a run needed the stuck-run sweeper");
}
