//! File exports under random fault schedules on the in-memory adapters: while every
//! port fails calls, times out (landing or not), fails writes after they landed,
//! duplicates and reorders messages and kills workers (an upload's begin, parts and
//! completion included), an export of a run's lines, written in many small parts over
//! several messages, must end Completed with exactly the bytes of the same export
//! written without faults: no row lost, none twice, the record moved on by one writer.
//! A failing schedule prints `BILLRUN_FAULT_SEED=<seed>`.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fault_support;

use billrun_app::exports::{ExportRequested, ExportStatus};
use billrun_app::memory::{MemoryExportFiles, MemoryQueue, MemoryStore};
use billrun_app::worker::{drain, WorkerConfig};
use billrun_app::App;
use billrun_domain::export::{ExportContent, ExportFormat};
use billrun_domain::ids::{ExportId, RunId};
use billrun_testkit::faults::{drain_with_faults, FaultPlan};
use fault_support::seeds;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Schedules per test run (`BILLRUN_FAULT_SCHEDULES` overrides).
const SCHEDULES: u64 = 16;
/// Over two pages of documents.
const ACCOUNTS: usize = 1100;
/// Parts of 4 KiB: a hundred parts, over twenty messages.
const PART_BYTES: usize = 4 * 1024;
const MAX_RECEIVES: u32 = 40;

struct System {
    app: App,
    queue: Arc<MemoryQueue>,
    files: Arc<MemoryExportFiles>,
    run: RunId,
}

/// A completed run of [`ACCOUNTS`] accounts, without faults.
async fn system() -> System {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    let files = Arc::new(MemoryExportFiles::default());
    let mut app = App::in_memory(
        store,
        queue.clone(),
        Arc::new(billrun_documents::PdfRenderer),
    )
    .with_export_files(files.clone());
    app.export_part_bytes = PART_BYTES;
    let book = billrun_testkit::fixtures::monthly_book(
        ACCOUNTS,
        |i| format!("{}.25", 10 + i % 7),
        |_| serde_json::json!({}),
    );
    app.reference()
        .import_book(&serde_json::to_vec(&book).unwrap())
        .await
        .unwrap();
    let run = app
        .pipeline()
        .create_run(billrun_testkit::fixtures::request("2024-02-01"), None)
        .await
        .unwrap()
        .run()
        .id;
    drain(
        Arc::new(app.clone()),
        queue.clone(),
        WorkerConfig::default(),
    )
    .await;
    System {
        app,
        queue,
        files,
        run,
    }
}

/// The export's file as written by `app`, once it is no longer Pending.
async fn export_with(
    sys: &System,
    app: &Arc<App>,
    plan: Option<&Arc<FaultPlan>>,
    key: &str,
) -> Result<(ExportId, Vec<u8>), String> {
    let mut tries = 0;
    let id = loop {
        tries += 1;
        if tries > 100 {
            return Err("the export request got no answer in 100 tries".into());
        }
        match app
            .exports()
            .request(sys.run, ExportContent::Lines, ExportFormat::Csv, Some(key))
            .await
        {
            Ok((e, ExportRequested::New | ExportRequested::Replayed)) => break e.id,
            Ok((_, ExportRequested::QueueFailed(_))) | Err(_) => continue,
        }
    };
    let config = WorkerConfig {
        workers: 2,
        max_receives: MAX_RECEIVES,
    };
    for _ in 0..40 {
        let drained = tokio::time::timeout(
            Duration::from_secs(120),
            drain_with_faults(app.clone(), sys.queue.clone(), config),
        )
        .await
        .map_err(|_| "the queue did not drain within 120 s".to_string())?;
        KILLED.fetch_add(drained.killed, Ordering::Relaxed);
        RETRIED.fetch_add(drained.stats.retried, Ordering::Relaxed);
        let export = sys
            .app
            .exports()
            .export(id)
            .await
            .map_err(|e| e.to_string())?;
        match export.status {
            ExportStatus::Completed => {
                let file = sys
                    .files
                    .file(&export.key)
                    .ok_or("Completed without a file")?;
                if (export.rows, export.bytes) != (rows(&file), file.len() as u64) {
                    return Err(format!(
                        "the record says {} rows and {} bytes; the file has {} and {}",
                        export.rows,
                        export.bytes,
                        rows(&file),
                        file.len()
                    ));
                }
                return Ok((id, file));
            }
            ExportStatus::Failed => return Err(format!("Failed: {:?}", export.error)),
            ExportStatus::Pending => {
                // Messages a reorder held back go out; a request whose message a fault
                // lost is replayed under its key (which sends it again).
                if let Some(plan) = plan.filter(|p| p.holds_messages()) {
                    let _ = plan.flush(sys.app.queue.as_ref()).await;
                    continue;
                }
                let _ = app
                    .exports()
                    .request(sys.run, ExportContent::Lines, ExportFormat::Csv, Some(key))
                    .await;
            }
        }
    }
    Err("the export did not finish after 40 drains".into())
}

/// Deliveries killed and retried over every schedule.
static KILLED: AtomicU64 = AtomicU64::new(0);
static RETRIED: AtomicU64 = AtomicU64::new(0);
static CALLS: AtomicU64 = AtomicU64::new(0);

/// CSV records but the header (the test's rows hold no line breaks).
fn rows(file: &[u8]) -> u64 {
    file.windows(2).filter(|w| w == b"\r\n").count() as u64 - 1
}

#[test]
fn exports_under_random_fault_schedules_complete_with_every_row_once() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut failed = Vec::new();
    for seed in seeds(SCHEDULES) {
        let result: Result<(), String> = runtime.block_on(async {
            let sys = system().await;
            let (_, expected) =
                export_with(&sys, &Arc::new(sys.app.clone()), None, "clean").await?;
            let plan = FaultPlan::new(seed, 5 + seed % 36);
            let (faulty, _) = plan.wrap(&sys.app);
            plan.set_active(true);
            let written = export_with(&sys, &Arc::new(faulty), Some(&plan), "faulty").await;
            plan.set_active(false);
            CALLS.fetch_add(plan.calls(), Ordering::Relaxed);
            let (_, file) = written?;
            if file.len() < 20 * PART_BYTES {
                return Err(format!("only {} bytes: too few parts to test", file.len()));
            }
            if file != expected {
                return Err(format!(
                    "the file differs from the export without faults ({} bytes, not {})",
                    file.len(),
                    expected.len()
                ));
            }
            Ok(())
        });
        if let Err(e) = result {
            eprintln!("   FAILED: BILLRUN_FAULT_SEED={seed}: {e}");
            failed.push((seed, e));
        }
    }
    let (killed, retried) = (
        KILLED.load(Ordering::Relaxed),
        RETRIED.load(Ordering::Relaxed),
    );
    let calls = CALLS.load(Ordering::Relaxed);
    eprintln!("== exports under faults: {calls} port calls, {killed} deliveries killed, {retried} retried");
    assert!(killed + retried > 0, "no fault reached an export's worker");
    assert!(failed.is_empty(), "{failed:?}");
}
