//! The same pipeline on DynamoDB, SQS and S3 at `AWS_ENDPOINT_URL` (or real AWS), with
//! in-process SQS pollers standing in for the Lambda event source mappings.

use crate::pipeline::LocalRun;
use billrun_app::worker::WorkerStats;
use billrun_app::{App, AppError};
use billrun_aws::metrics::MetricsSnapshot;
use billrun_aws::provision::{provision, Names};
use billrun_aws::sqs::{pump_until_done, Pump, SqsQueue};
use billrun_aws::{AwsConfig, Clients, Metrics};
use billrun_domain::book::Book;
use billrun_domain::request::{RunRequest, RunType};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct AwsLocal {
    pub config: AwsConfig,
    pub clients: Clients,
    pub app: Arc<App>,
    pub queue: Arc<SqsQueue>,
    pub metrics: Arc<Metrics>,
}

/// Uses the resources the environment names (`TABLE_NAME`, ...); without them, creates
/// a fresh set with a random prefix, but only on a local endpoint (`AWS_ENDPOINT_URL`),
/// never by surprise in a real account.
pub async fn connect() -> Result<AwsLocal, String> {
    let clients = Clients::load().await;
    let config = match AwsConfig::from_env() {
        Ok(c) => c,
        Err(missing) => {
            if std::env::var("AWS_ENDPOINT_URL").map_or(true, |v| v.is_empty()) {
                return Err(format!(
                    "{missing}; set the resource names (see `billrun-local aws-setup`) or AWS_ENDPOINT_URL for a local endpoint"
                ));
            }
            let prefix = format!(
                "billrun-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            );
            provision(&clients, &Names::new(prefix)).await?
        }
    };
    let metrics = Arc::new(Metrics::default());
    let (mut app, _store, queue) = billrun_aws::app_on_sqs(
        &config,
        &clients,
        metrics.clone(),
        std::sync::Arc::new(billrun_documents::PdfRenderer),
    );
    // The sweeper's settings, as the execute-schedules function reads them.
    app.sweep = billrun_app::sweeper::SweepConfig::from_lookup(|k| {
        std::env::var(k).ok().filter(|v| !v.is_empty())
    })
    .unwrap_or_else(|e| {
        tracing::warn!("{e}; using the default sweeper configuration");
        billrun_app::sweeper::SweepConfig::default()
    });
    Ok(AwsLocal {
        config,
        clients,
        app: Arc::new(app),
        queue,
        metrics,
    })
}

/// Creates the resources with `prefix` and returns their configuration.
pub async fn setup(prefix: &str) -> Result<AwsConfig, String> {
    let clients = Clients::load().await;
    provision(&clients, &Names::new(prefix)).await
}

pub struct AwsRun {
    pub run: LocalRun,
    /// Requests of the run alone (the import excluded).
    pub requests: MetricsSnapshot,
    pub import_requests: MetricsSnapshot,
}

fn minus(a: MetricsSnapshot, b: MetricsSnapshot) -> MetricsSnapshot {
    MetricsSnapshot {
        dynamodb_reads: a.dynamodb_reads - b.dynamodb_reads,
        dynamodb_queries: a.dynamodb_queries - b.dynamodb_queries,
        dynamodb_writes: a.dynamodb_writes - b.dynamodb_writes,
        dynamodb_batch_writes: a.dynamodb_batch_writes - b.dynamodb_batch_writes,
        dynamodb_transactions: a.dynamodb_transactions - b.dynamodb_transactions,
        sqs_sends: a.sqs_sends - b.sqs_sends,
        sqs_receives: a.sqs_receives - b.sqs_receives,
        sqs_deletes: a.sqs_deletes - b.sqs_deletes,
        s3_puts: a.s3_puts - b.s3_puts,
        s3_gets: a.s3_gets - b.s3_gets,
    }
}

impl AwsLocal {
    /// Imports `book`, runs `request` to completion with `pollers` consumers, collects
    /// the results and the requests it took.
    pub async fn run(
        &self,
        book: &Book,
        request: RunRequest,
        pollers: usize,
    ) -> Result<AwsRun, AppError> {
        let before_import = self.metrics.snapshot();
        self.app.book.import_book(book).await?;
        let before = self.metrics.snapshot();
        let started = Instant::now();
        let created = self.app.pipeline().create_run(request, None).await?;
        let id = created.run().id;
        if created.run().request.run_type != RunType::Immediate {
            self.app.pipeline().start_run(id).await?;
        }
        let done = pump_until_done(
            self.app.clone(),
            self.queue.clone(),
            id,
            Pump::new(pollers, Duration::from_secs(3600)).sweeping(),
        )
        .await?;
        if !done {
            // What the run waits for, so that a stall can be told from slowness.
            let record = self.app.runs.get_run(id).await?;
            let progress = self.app.runs.progress(id).await?;
            let counted = self.app.runs.counters(id).await?;
            return Err(AppError::transient(format!(
                "run {id} did not complete: {:?}, progress {progress:?}, counted {counted:?}",
                record.map(|r| (r.status, r.plan, r.transition))
            )));
        }
        let wall = started.elapsed();
        let requests = minus(self.metrics.snapshot(), before);
        let run = self.app.queries().run_view(id).await?;
        let accounts = self.app.queries().account_outcomes(id).await?;
        let documents = self.app.queries().all_documents(id).await?;
        Ok(AwsRun {
            run: LocalRun {
                run,
                accounts,
                documents,
                wall,
                workers: WorkerStats::default(),
            },
            requests,
            import_requests: minus(before, before_import),
        })
    }
}

impl AwsLocal {
    /// Requests the run's PDFs and has `pollers` in-process consumers of the document
    /// queue deliver the messages (through [`billrun_app::worker::deliver`], as the
    /// generate-documents Lambda does) until the request is complete, then writes them
    /// to `dir/{number}.pdf`.
    pub async fn generate_documents(
        &self,
        run: billrun_domain::ids::RunId,
        dir: &std::path::Path,
        pollers: usize,
        progress: Option<&(dyn Fn(&billrun_app::docgen::DocumentCounters) + Sync)>,
    ) -> Result<crate::pipeline::GeneratedDocuments, AppError> {
        let url = self
            .queue
            .document_url()
            .ok_or_else(|| AppError::internal("DOCUMENT_QUEUE_URL is not set"))?
            .to_string();
        let (app, queue) = (self.app.clone(), self.queue.clone());
        crate::pipeline::generate_documents_with(&self.app, run, dir, progress, move |id| {
            tokio::spawn(pump_documents(app, queue, url, id, pollers))
        })
        .await
    }
}

/// Polls the document queue with `pollers` consumers until the request has a result
/// for every document (or an hour passed).
async fn pump_documents(
    app: Arc<App>,
    queue: Arc<SqsQueue>,
    url: String,
    request: billrun_domain::ids::DocumentRequestId,
    pollers: usize,
) -> Result<(), AppError> {
    use billrun_app::docgen::DocumentRequestStatus;
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..pollers.max(1) {
        let (app, queue, url, stop) = (app.clone(), queue.clone(), url.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if queue.poll_once(&app, &url, 1, 5).await.unwrap_or(0) == 0 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }
    let started = Instant::now();
    let mut outcome = Err(AppError::transient(format!(
        "document request {request} did not complete"
    )));
    while started.elapsed() < Duration::from_secs(3600) {
        match app.docgen().document_request(request).await {
            Ok(v)
                if matches!(
                    v.status,
                    DocumentRequestStatus::Pending | DocumentRequestStatus::InProgress
                ) => {}
            Ok(_) => {
                outcome = Ok(());
                break;
            }
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    outcome
}
