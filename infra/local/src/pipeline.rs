//! One invoice run, end to end, over the in-memory adapters: import the book, create
//! and start the run, drain the queue with concurrent workers, collect the results.

use billrun_app::memory::{MemoryQueue, MemoryStore};
use billrun_app::worker::{drain, WorkerConfig, WorkerStats};
use billrun_app::{AccountOutcomeView, App, AppError, RunView};
use billrun_domain::book::Book;
use billrun_domain::document::Document;
use billrun_domain::request::{RunRequest, RunType};
use billrun_domain::run::Counters;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `run.json`: the run record with its counters and per-account outcomes.
#[derive(Debug, Clone, Serialize)]
pub struct RunFile {
    #[serde(flatten)]
    pub run: RunView,
    pub accounts: Vec<AccountOutcomeView>,
}

#[derive(Debug)]
pub struct LocalRun {
    pub run: RunView,
    pub accounts: Vec<AccountOutcomeView>,
    pub documents: Vec<Document>,
    /// From the run's creation to its completion.
    pub wall: Duration,
    pub workers: WorkerStats,
}

impl LocalRun {
    pub fn run_file(&self) -> RunFile {
        RunFile {
            run: self.run.clone(),
            accounts: self.accounts.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub workers: usize,
    /// Collect per-account outcomes and documents (off for benchmarks).
    pub collect: bool,
    /// Deliver every message twice in a shuffled order (tests of idempotency).
    pub chaos_seed: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            workers: 2,
            collect: true,
            chaos_seed: None,
        }
    }
}

/// The local system: the store, the queue and the use cases over them.
pub struct Local {
    pub store: Arc<MemoryStore>,
    pub queue: Arc<MemoryQueue>,
    pub app: Arc<App>,
}

impl Local {
    pub fn new(chaos_seed: Option<u64>) -> Local {
        let store = Arc::new(MemoryStore::new());
        let queue = Arc::new(match chaos_seed {
            Some(seed) => MemoryQueue::chaotic(seed),
            None => MemoryQueue::new(),
        });
        let app = Arc::new(App::in_memory(store.clone(), queue.clone()));
        Local { store, queue, app }
    }

    /// Creates the run from `request`, starts it (a Manual or Scheduled run starts at
    /// once in the local mode) and processes it to completion.
    pub async fn run(
        &self,
        request: RunRequest,
        options: Options,
        progress: Option<&(dyn Fn(&Counters) + Sync)>,
    ) -> Result<LocalRun, AppError> {
        let started = Instant::now();
        let created = self.app.create_run(request, None).await?;
        let id = created.run().id;
        if created.run().request.run_type != RunType::Immediate {
            self.app.start_run(id).await?;
        }
        let workers = WorkerConfig {
            workers: options.workers,
            ..WorkerConfig::default()
        };
        let handle = tokio::spawn(drain(self.app.clone(), self.queue.clone(), workers));
        if let Some(report) = progress {
            while !handle.is_finished() {
                report(&self.app.runs.counters(id).await?);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let stats = handle
            .await
            .map_err(|e| AppError::Internal(format!("worker pool failed: {e}")))?;
        let wall = started.elapsed();
        let run = self.app.run_view(id).await?;
        if let Some(report) = progress {
            report(&run.counters);
        }
        let (accounts, documents) = if options.collect {
            (
                self.app.account_outcomes(id).await?,
                self.app.all_documents(id).await?,
            )
        } else {
            (vec![], vec![])
        };
        Ok(LocalRun {
            run,
            accounts,
            documents,
            wall,
            workers: stats,
        })
    }
}

/// Imports `book` and runs `request` on a fresh local system.
pub async fn run_book(
    book: &Book,
    request: RunRequest,
    options: Options,
) -> Result<LocalRun, AppError> {
    let local = Local::new(options.chaos_seed);
    local.app.book.import_book(book).await?;
    local.run(request, options, None).await
}
