//! One invoice run, end to end, over the in-memory adapters: import the book, create
//! and start the run, drain the queue with concurrent workers, collect the results.

use billrun_app::docgen::{DocumentCounters, DocumentRequestView};
use billrun_app::memory::{MemoryQueue, MemoryStore};
use billrun_app::worker::{drain, WorkerConfig, WorkerStats};
use billrun_app::{AccountOutcomeView, App, AppError, RunView};
use billrun_domain::book::Book;
use billrun_domain::document::Document;
use billrun_domain::ids::{DocumentId, DocumentRequestId, RunId};
use billrun_domain::request::RunRequest;
use billrun_domain::run::Counters;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
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
        let app = Arc::new(App::in_memory(
            store.clone(),
            queue.clone(),
            std::sync::Arc::new(billrun_documents::PdfRenderer),
        ));
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
        let created = self.app.pipeline().create_run(request, None).await?;
        let id = created.run().id;
        if !created.run().request.run_type.starts_at_once() {
            self.app.pipeline().start_run(id).await?;
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
            .map_err(|e| AppError::internal(format!("worker pool failed: {e}")))?;
        let wall = started.elapsed();
        let run = self.app.queries().run_view(id).await?;
        if let Some(report) = progress {
            report(&run.counters);
        }
        let (accounts, documents) = if options.collect {
            (
                self.app.queries().account_outcomes(id).await?,
                self.app.queries().all_documents(id).await?,
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

/// The id of the template [`Local::generate_documents`] installs when none is active.
pub const DEMO_TEMPLATE_ID: &str = "default";

/// What [`Local::generate_documents`] did.
#[derive(Debug, Clone)]
pub struct GeneratedDocuments {
    pub request: DocumentRequestView,
    /// The PDFs written, in numbering order.
    pub files: Vec<PathBuf>,
}

/// Installs and activates the default template (the demo seller, en-US) unless a
/// template is active.
pub async fn ensure_template(app: &App) -> Result<(), AppError> {
    if app.templates.active_template().await?.is_none() {
        let content = serde_json::to_string(&billrun_documents::sample::demo_template("en-US"))
            .map_err(|e| AppError::internal(format!("cannot encode the template: {e}")))?;
        let body = serde_json::json!({"name": "Default", "content": content}).to_string();
        app.templates()
            .put_template(DEMO_TEMPLATE_ID, body.as_bytes())
            .await?;
        app.templates().activate_template(DEMO_TEMPLATE_ID).await?;
    }
    Ok(())
}

/// Writes the generated PDF of each of the run's documents to `dir/{number}.pdf`,
/// skipping those whose place (pack key and range) is in `written` already (the same
/// bytes); returns the files written, in numbering order.
pub async fn write_pdfs(
    app: &App,
    run: RunId,
    dir: &Path,
    written: &mut HashMap<DocumentId, String>,
) -> Result<Vec<PathBuf>, AppError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| AppError::internal(format!("{}: {e}", dir.display())))?;
    let mut files = Vec::new();
    for d in app.queries().all_documents(run).await? {
        let file = app.document_requests.document_file(d.id).await?;
        let (Some(number), Some(key)) = (
            d.number.as_ref(),
            file.as_ref().and_then(|f| f.key.as_ref()),
        ) else {
            continue;
        };
        let place = match file.as_ref().and_then(|f| f.range) {
            Some(r) => format!("{key}#{}+{}", r.offset, r.length),
            None => key.clone(),
        };
        if written.get(&d.id) == Some(&place) {
            continue;
        }
        let Some(bytes) = app.docgen().document_pdf(d.id).await? else {
            continue;
        };
        // Whole or not at all: a reader never sees half a file.
        let path = dir.join(format!("{number}.pdf"));
        let owner = pdf_owner(&path);
        if let Err(refused) = check_owner(&path, &owner, run) {
            tracing::warn!(run_id = %run, error = %refused, "PDF not written");
            written.insert(d.id, place);
            continue;
        }
        let partial = dir.join(format!(".{number}.pdf.partial"));
        std::fs::write(&owner, run.to_string())
            .and_then(|()| std::fs::write(&partial, bytes))
            .and_then(|()| std::fs::rename(&partial, &path))
            .map_err(|e| AppError::internal(format!("{}: {e}", path.display())))?;
        written.insert(d.id, place);
        files.push(path);
    }
    Ok(files)
}

/// A file of an output directory that belongs to another run (or to a run this
/// process cannot tell): never overwritten. Numbers restart in an ephemeral serve, so
/// `DIR/BR-00000001/` of a previous process is another run's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverwriteRefused {
    pub path: PathBuf,
    /// The run the file belongs to; `None` when unknown.
    pub owner: Option<String>,
    pub run: RunId,
}

impl std::fmt::Display for OverwriteRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "refusing to overwrite {} (run {}) with run {}'s",
            self.path.display(),
            self.owner.as_deref().unwrap_or("unknown"),
            self.run
        )
    }
}

impl std::error::Error for OverwriteRefused {}

/// The file beside a PDF naming the run it belongs to (a PDF does not say).
fn pdf_owner(pdf: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(pdf.file_name().unwrap_or_default());
    name.push(".run");
    pdf.with_file_name(name)
}

/// Whether `path` may be (over)written for `run`: it does not exist, or `owner` (a file
/// holding the owning run's id, or a JSON object with its `id`) names `run`.
pub fn check_owner(path: &Path, owner: &Path, run: RunId) -> Result<(), OverwriteRefused> {
    if !path.exists() {
        return Ok(());
    }
    let text = std::fs::read_to_string(owner).ok();
    let id = text.as_deref().and_then(|t| {
        let t = t.trim();
        if t.starts_with('{') {
            serde_json::from_str::<serde_json::Value>(t)
                .ok()
                .and_then(|v| v.get("id")?.as_str().map(str::to_string))
        } else {
            Some(t.to_string())
        }
    });
    if id.as_deref() == Some(run.to_string().as_str()) {
        return Ok(());
    }
    Err(OverwriteRefused {
        path: path.to_path_buf(),
        owner: id,
        run,
    })
}

/// Requests the PDFs of the run's documents with the active (or default) template, has
/// `pump` deliver the document messages until it returns, reporting progress every 50
/// ms, and writes the PDFs to `dir/{number}.pdf`.
pub async fn generate_documents_with<P>(
    app: &Arc<App>,
    run: RunId,
    dir: &Path,
    progress: Option<&(dyn Fn(&DocumentCounters) + Sync)>,
    pump: P,
) -> Result<GeneratedDocuments, AppError>
where
    P: FnOnce(DocumentRequestId) -> tokio::task::JoinHandle<Result<(), AppError>>,
{
    ensure_template(app).await?;
    let request = app.docgen().request_documents(run).await?;
    let handle = pump(request.id);
    if let Some(report) = progress {
        while !handle.is_finished() {
            report(&app.docgen().document_request(request.id).await?.counters);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    handle
        .await
        .map_err(|e| AppError::internal(format!("worker pool failed: {e}")))??;
    let request = app.docgen().document_request(request.id).await?;
    if let Some(report) = progress {
        report(&request.counters);
    }
    let files = write_pdfs(app, run, dir, &mut HashMap::new()).await?;
    Ok(GeneratedDocuments { request, files })
}

impl Local {
    /// [`generate_documents_with`] the in-process workers (`workers` of them) draining
    /// the memory queue.
    pub async fn generate_documents(
        &self,
        run: RunId,
        dir: &Path,
        workers: usize,
        progress: Option<&(dyn Fn(&DocumentCounters) + Sync)>,
    ) -> Result<GeneratedDocuments, AppError> {
        let config = WorkerConfig {
            workers,
            ..WorkerConfig::default()
        };
        let (app, queue) = (self.app.clone(), self.queue.clone());
        generate_documents_with(&self.app, run, dir, progress, move |_| {
            tokio::spawn(async move {
                drain(app, queue, config).await;
                Ok(())
            })
        })
        .await
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
