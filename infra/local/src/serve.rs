//! `billrun-local serve`: the HTTP API ([`billrun_api::router`]) on 127.0.0.1 (by
//! default) over the SQLite adapters in a data directory ([`ServeOptions::data`]; the
//! CLI's `--data`, `./billrun-data` by default) or, `--ephemeral`, the in-memory ones,
//! with in-process queue workers processing runs in the background, behind an optional
//! bearer token ([`guard`]). The queue is in memory either way: on a data directory,
//! the runs a previous process left Processing are re-driven at start
//! ([`billrun_app::sweeper::Sweeper::resume_after_restart`]). With `--out DIR`,
//! every run that completes is written to `DIR/<run number>/run.json` and
//! `documents.json`, as `billrun-local run` writes them, and every PDF generated
//! (`POST /v1/invoice-runs/{id}/documents`) to `DIR/documents/{number}.pdf`.

use crate::pipeline::{Local, RunFile};
use billrun_app::catalog::RunFilter;
use billrun_app::memory::MemoryQueue;
use billrun_app::worker::{drain, WorkerConfig};
use billrun_app::App;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The address to listen on: 127.0.0.1 unless told otherwise. Any other address
    /// needs a [`token`](Self::token).
    pub host: IpAddr,
    /// 0 picks a free port.
    pub port: u16,
    /// When set, every request must carry `Authorization: Bearer <token>`; any other is
    /// refused with 401 before it reaches a route.
    pub token: Option<String>,
    /// Named tokens with scopes (`--tokens FILE`); with them, every request needs one
    /// of them (or [`token`](Self::token)).
    pub tokens: Option<Arc<crate::tokens::Tokens>>,
    pub book: Option<PathBuf>,
    /// The SQLite database's directory: runs, invoices, accounts, idempotency keys,
    /// numbers and PDFs survive a restart. `None`: everything in memory (`--ephemeral`).
    pub data: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub workers: usize,
    /// How often the scheduler ticks ([`App::tick`]: due Scheduled runs, run-schedule
    /// occurrences, invoice-schedule items); `None` runs no scheduler.
    pub tick_every: Option<Duration>,
    /// Where emails go (`--smtp` / `--mail-dir`, `--mail-from`); `None`: documents
    /// cannot be emailed (409 `delivery_not_configured`).
    pub mail: Option<crate::mail::MailOptions>,
    /// Lets webhooks go to this machine (`--allow-loopback-webhooks`, over `http` too):
    /// for testing a receiver locally only; private and metadata addresses stay refused.
    pub allow_loopback_webhooks: bool,
    /// The waits before each retry of a failed webhook delivery (the Standard Webhooks
    /// schedule by default; tests shorten it).
    pub webhook_retry: Vec<Duration>,
    /// A run's poster must differ from its creator (`--maker-checker`; needs
    /// [`tokens`](Self::tokens), the names that tell people apart).
    pub maker_checker: bool,
    /// The console signs visitors in at this OpenID Connect issuer (`--oidc-issuer`,
    /// [`crate::oidc`]) instead of with a token; the API keeps its tokens.
    pub oidc: Option<billrun_console::oidc::IssuerConfig>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            token: None,
            tokens: None,
            book: None,
            data: None,
            out: None,
            workers: 4,
            tick_every: None,
            mail: None,
            allow_loopback_webhooks: false,
            webhook_retry: billrun_app::model::webhooks::DEFAULT_RETRY_SCHEDULE.to_vec(),
            maker_checker: false,
            oidc: None,
        }
    }
}

impl ServeOptions {
    /// Refuses an empty token, and a non-loopback address without a token: the local
    /// API has no users, so on a network the token is all that guards the books.
    fn check(&self) -> Result<(), ServeError> {
        if self.token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(ServeError::Input("--token must not be empty".into()));
        }
        if self.maker_checker && self.tokens.is_none() {
            return Err(ServeError::Input(
                "--maker-checker needs --tokens: the poster is told from the creator by the \
                 name of their token"
                    .into(),
            ));
        }
        if !self.host.is_loopback() && self.token.is_none() && self.tokens.is_none() {
            return Err(ServeError::Input(format!(
                "refusing to serve on {} without --token (or BILLRUN_TOKEN): only a loopback address may be unauthenticated",
                self.host
            )));
        }
        Ok(())
    }

    async fn listen(&self) -> Result<(tokio::net::TcpListener, SocketAddr), ServeError> {
        self.check()?;
        let at = SocketAddr::new(self.host, self.port);
        let listener = tokio::net::TcpListener::bind(at)
            .await
            .map_err(|e| ServeError::Other(format!("cannot listen on {at}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| ServeError::Other(e.to_string()))?;
        Ok((listener, addr))
    }
}

/// `router` behind a bearer token, when one is set: a request without
/// `Authorization: Bearer <token>` is answered 401 with the canonical error body
/// (`field` names the header) and a `WWW-Authenticate` challenge.
pub fn guard(router: axum::Router, token: Option<String>) -> axum::Router {
    guard_with(router, token, None)
}

/// [`guard`] with named tokens (`--tokens FILE`): the caller is the holder of the token
/// given, with its scopes ([`billrun_api::access`] refuses a route beyond them with
/// 403). A single `--token` is a caller named `token` with every scope.
pub fn guard_with(
    router: axum::Router,
    token: Option<String>,
    tokens: Option<Arc<crate::tokens::Tokens>>,
) -> axum::Router {
    if token.is_none() && tokens.is_none() {
        return router;
    }
    let expected: Option<Arc<[u8]>> = token.map(|t| Arc::from(t.into_bytes().into_boxed_slice()));
    router.layer(axum::middleware::from_fn(
        move |mut req: axum::extract::Request, next: axum::middleware::Next| {
            let (expected, tokens) = (expected.clone(), tokens.clone());
            async move {
                let given = req
                    .headers()
                    .get(axum::http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .map(str::trim);
                let principal = principal_of(given, expected.as_deref(), tokens.as_deref());
                match principal {
                    Some(p) => {
                        req.extensions_mut().insert(p);
                        next.run(req).await
                    }
                    None => unauthorized(),
                }
            }
        },
    ))
}

/// What serve answers: the API behind its token check, and the console beside it.
fn routes(app: &Arc<App>, options: &ServeOptions) -> Result<axum::Router, ServeError> {
    let api = guard_with(
        billrun_api::router(app.clone()),
        options.token.clone(),
        options.tokens.clone(),
    );
    let console = console(app, options)?;
    Ok(billrun_console::fork(
        |req| {
            let path = req.uri().path();
            path == "/console" || path.starts_with("/console/")
        },
        console,
        api,
    ))
}

/// The operator console at `/console/`, its pages over the API's read routes and its
/// forms over the write routes, as the two API functions serve it on AWS
/// ([`billrun_console::split_router`]), unguarded: the console attaches the signed-in
/// caller itself. With an OpenID Connect issuer, a visitor signs in there, as on AWS;
/// else with a token or named tokens, a visitor signs in with one of them; without any,
/// the console is as open as the API (loopback only, [`ServeOptions::check`]). `serve`
/// speaks plain HTTP, so its cookie is not `Secure`.
fn console(app: &Arc<App>, options: &ServeOptions) -> Result<axum::Router, ServeError> {
    let sign_in = match (&options.oidc, &options.token, &options.tokens) {
        (Some(config), _, _) => billrun_console::SignIn::Issuer(Arc::new(
            billrun_console::oidc::Issuer::new(config.clone()).map_err(ServeError::Other)?,
        )),
        (None, None, None) => billrun_console::SignIn::Open,
        (None, token, tokens) => {
            let expected: Option<Arc<[u8]>> = token
                .clone()
                .map(|t| Arc::from(t.into_bytes().into_boxed_slice()));
            let tokens = tokens.clone();
            billrun_console::SignIn::Tokens(Arc::new(move |given: &str| {
                principal_of(Some(given), expected.as_deref(), tokens.as_deref())
            }))
        }
    };
    billrun_console::split_router(
        billrun_api::query_router(app.clone()),
        billrun_api::command_router(app.clone()),
        sign_in,
        false,
    )
    .map_err(ServeError::Other)
}

/// The holder of the bearer token `given`: the single `--token` (a caller named
/// `token` with every scope) or a named token with its scopes.
fn principal_of(
    given: Option<&str>,
    expected: Option<&[u8]>,
    tokens: Option<&crate::tokens::Tokens>,
) -> Option<billrun_api::access::Principal> {
    match (given, expected, tokens) {
        (Some(t), Some(e), _) if same(t.as_bytes(), e) => {
            Some(billrun_api::access::Principal::with_all_scopes("token"))
        }
        (Some(t), _, Some(named)) => named.principal(t).cloned(),
        _ => None,
    }
}

/// Compares in time independent of where the inputs differ.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unauthorized() -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut e = billrun_api::error::ApiError::new(
        axum::http::StatusCode::UNAUTHORIZED,
        "unauthorized",
        "this server needs Authorization: Bearer <token> (the token given to serve)",
    );
    e.field = Some("Authorization".into());
    let mut res = e.into_response();
    res.headers_mut().insert(
        axum::http::header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer"),
    );
    res
}

/// Why serving stopped or could not start.
#[derive(Debug)]
pub enum ServeError {
    /// A bad book or option (exit 2).
    Input(String),
    Other(String),
}

/// A running server: its address, the system it serves, and the task serving it.
pub struct Server {
    pub addr: std::net::SocketAddr,
    pub app: Arc<App>,
    pub queue: Arc<MemoryQueue>,
    pub handle: tokio::task::JoinHandle<Result<(), String>>,
}

/// The system serve runs: the SQLite store in `data` (the file port too) or the
/// in-memory one, with the in-memory queue, and email delivery when `mail` is given
/// (its results in the same store). Export files go to `out/exports/`, else to
/// `data/exports/`, else stay in memory.
fn system(options: &ServeOptions) -> Result<(Arc<App>, Arc<MemoryQueue>), ServeError> {
    let (data, out, mail) = (
        options.data.as_deref(),
        options.out.as_deref(),
        options.mail.as_ref(),
    );
    let (app, queue, deliveries): (App, _, Arc<dyn billrun_app::ports::DeliveryStore>) = match data
    {
        None => {
            let local = Local::new(None);
            ((*local.app).clone(), local.queue, local.store)
        }
        Some(dir) => {
            let store = billrun_sqlite::SqliteStore::open(dir)
                .map_err(|e| ServeError::Input(format!("--data {}: {e}", dir.display())))?;
            let store = Arc::new(store);
            let queue = Arc::new(MemoryQueue::new());
            let app = App::over(
                store.clone(),
                queue.clone(),
                store.clone(),
                Arc::new(billrun_documents::PdfRenderer),
            );
            (app, queue, store)
        }
    };
    let app = match mail {
        Some(m) => app.with_delivery(m.ports(deliveries).map_err(ServeError::Input)?),
        None => app,
    };
    let app = match out.or(data) {
        Some(root) => {
            app.with_export_files(Arc::new(crate::export_dir::DirectoryExportFiles::new(root)))
        }
        None => app,
    };
    // Webhooks from the in-process workers, by the code AWS runs; with no change stream
    // here, each run write that records events queues their dispatch.
    let sender = billrun_webhooks::HttpWebhookSender::new(
        billrun_webhooks::UrlPolicy {
            allow_loopback: options.allow_loopback_webhooks,
        },
        billrun_webhooks::client::DEFAULT_TIMEOUT,
    )
    .map_err(|e| ServeError::Other(format!("the webhook client: {e}")))?;
    let mut app = app
        .with_webhooks(Arc::new(sender))
        .dispatching_after_writes();
    app.dispatch.retry = options.webhook_retry.clone();
    app.controls.maker_checker = options.maker_checker;
    Ok((Arc::new(app), queue))
}

/// Imports the book (when given), re-drives the runs a previous process on the same
/// data directory left unfinished, binds `host:port` (127.0.0.1 by default), starts the
/// workers and serves until the returned handle is aborted.
pub async fn start(options: &ServeOptions) -> Result<Server, ServeError> {
    options.check()?;
    let (app, queue) = system(options)?;
    if let Some(path) = &options.book {
        let bytes = std::fs::read(path)
            .map_err(|e| ServeError::Input(format!("{}: {e}", path.display())))?;
        app.reference()
            .import_book(&bytes)
            .await
            .map_err(|e| ServeError::Input(format!("{}: {e}", path.display())))?;
    }
    if options.data.is_some() {
        // The queue died with the previous process: what it held is queued again
        // before any worker starts.
        let report = app
            .sweeper()
            .resume_after_restart()
            .await
            .map_err(|e| ServeError::Other(format!("cannot resume unfinished runs: {e}")))?;
        for f in &report.failures {
            tracing::warn!(failure = %f, "resuming unfinished runs");
        }
        // A dispatch queued by the previous process died with its queue: every run's
        // events are dispatched again (what was made is found, not made twice).
        redispatch_all(&app).await;
    }
    let (listener, addr) = options.listen().await?;
    tokio::spawn(work_forever(
        app.clone(),
        queue.clone(),
        options.workers,
        options.out.clone(),
    ));
    if let Some(every) = options.tick_every {
        tokio::spawn(tick_forever(app.clone(), every));
    }
    let router = routes(&app, options)?;
    let handle = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| e.to_string())
    });
    Ok(Server {
        addr,
        app,
        queue,
        handle,
    })
}

/// Queues the dispatch of every stored run's events.
async fn redispatch_all(app: &App) {
    let filter = RunFilter::default();
    let mut after = None;
    loop {
        let page = match app
            .run_listing
            .list_runs(&filter, after.as_ref(), 100)
            .await
        {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list runs to dispatch their events");
                return;
            }
        };
        let messages: Vec<_> = page
            .iter()
            .filter(|r| !r.events.is_empty())
            .map(|r| billrun_app::Message::Dispatch {
                run_id: r.id,
                from_version: 0,
                through_version: None,
            })
            .collect();
        if let Err(e) = app.queue.send(messages).await {
            tracing::warn!(error = %e, "cannot queue the dispatch of runs' events");
            return;
        }
        match page.last() {
            Some(last) if page.len() == 100 => {
                after = Some(billrun_app::catalog::RunPosition::of(last))
            }
            _ => return,
        }
    }
}

/// Serves until Ctrl-C.
pub async fn serve(options: ServeOptions) -> Result<(), ServeError> {
    let server = start(&options).await?;
    let kept = match &options.data {
        Some(dir) => format!("data in {}", dir.display()),
        None => "ephemeral: everything in memory".to_string(),
    };
    let mail = match &options.mail {
        Some(m) => format!("emails to {}", m.describe()),
        None => "no emails (--smtp or --mail-dir)".to_string(),
    };
    println!(
        "billrun API on http://{addr} ({kept}; {mail}; OpenAPI at /v1/openapi.json; console at http://{addr}/console/); Ctrl-C stops it",
        addr = server.addr
    );
    server
        .handle
        .await
        .map_err(|e| ServeError::Other(e.to_string()))?
        .map_err(ServeError::Other)
}

/// Keeps draining the queue: the workers stop when it is empty, and start again on the
/// next tick.
async fn work_forever(
    app: Arc<App>,
    queue: Arc<billrun_app::memory::MemoryQueue>,
    workers: usize,
    out: Option<PathBuf>,
) {
    let config = WorkerConfig {
        workers,
        ..WorkerConfig::default()
    };
    let mut written: HashMap<billrun_domain::ids::RunId, chrono::DateTime<chrono::Utc>> =
        HashMap::new();
    let mut pdfs = PdfsWritten::default();
    loop {
        if !queue.is_drained() {
            drain(app.clone(), queue.clone(), config).await;
        }
        if let Some(dir) = &out {
            if let Err(e) = write_completed(&app, dir, &mut written, &mut pdfs).await {
                tracing::warn!(error = %e, "cannot write completed runs");
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The scheduler: [`App::tick`] at the wall clock's time, every `every`.
async fn tick_forever(app: Arc<App>, every: Duration) {
    let mut interval = tokio::time::interval(every.max(Duration::from_millis(10)));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        match app.tick(app.clock.now()).await {
            Ok(report) => {
                for f in &report.failures {
                    tracing::warn!(failure = %f, "scheduler");
                }
            }
            Err(e) => tracing::warn!(error = %e, "scheduler tick failed"),
        }
    }
}

/// What `--out` holds of the generated PDFs: per run, the results of its latest
/// document request when last written; per document, the object key written.
#[derive(Default)]
pub struct PdfsWritten {
    results: HashMap<billrun_domain::ids::RunId, (u64, u64, u64)>,
    keys: HashMap<billrun_domain::ids::DocumentId, String>,
}

/// Writes the run's PDFs generated since the last call to `dir/{number}.pdf` (nothing
/// is read unless its latest document request has new results).
pub async fn write_new_pdfs(
    app: &App,
    run: billrun_domain::ids::RunId,
    dir: &Path,
    pdfs: &mut PdfsWritten,
) -> Result<(), String> {
    let Some(c) = app
        .queries()
        .run_document_counters(run)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(());
    };
    let results = (c.requested, c.generated, c.failed);
    if pdfs.results.get(&run) == Some(&results) {
        return Ok(());
    }
    crate::pipeline::write_pdfs(app, run, dir, &mut pdfs.keys)
        .await
        .map_err(|e| e.to_string())?;
    pdfs.results.insert(run, results);
    Ok(())
}

/// Writes each completed run that changed since it was last written, and the PDFs
/// generated for it to `dir/documents/{number}.pdf`.
async fn write_completed(
    app: &App,
    dir: &Path,
    written: &mut HashMap<billrun_domain::ids::RunId, chrono::DateTime<chrono::Utc>>,
    pdfs: &mut PdfsWritten,
) -> Result<(), String> {
    let mut after = None;
    loop {
        let runs = app
            .run_listing
            .list_runs(&RunFilter::default(), after.as_ref(), 1000)
            .await
            .map_err(|e| e.to_string())?;
        let Some(last) = runs.last() else {
            return Ok(());
        };
        after = Some(billrun_app::catalog::RunPosition::of(last));
        for r in &runs {
            let done = r.status.is_completed()
                || r.status == billrun_domain::run::RunStatus::Posted
                || r.status == billrun_domain::run::RunStatus::Canceled;
            if !done {
                continue;
            }
            write_new_pdfs(app, r.id, &dir.join("documents"), pdfs).await?;
            if written.get(&r.id) == Some(&r.updated_at) {
                continue;
            }
            if let Err(refused) = write_run(app, dir, r).await? {
                tracing::warn!(run_id = %r.id, error = %refused, "--out: run not written");
            }
            written.insert(r.id, r.updated_at);
        }
        if runs.len() < 1000 {
            return Ok(());
        }
    }
}

/// Writes the run's `run.json` and `documents.json` to `dir/<run number>/`, unless
/// that directory holds another run's `run.json` (an ephemeral serve restarted its
/// numbering): then nothing is written and the refusal is returned.
pub async fn write_run(
    app: &App,
    dir: &Path,
    r: &billrun_app::RunRecord,
) -> Result<Result<(), crate::pipeline::OverwriteRefused>, String> {
    let d = dir.join(&r.number);
    let run_json = d.join("run.json");
    // run.json names its run.
    if let Err(refused) = crate::pipeline::check_owner(&run_json, &run_json, r.id) {
        return Ok(Err(refused));
    }
    let file = RunFile {
        run: app
            .queries()
            .run_view(r.id)
            .await
            .map_err(|e| e.to_string())?,
        accounts: app
            .queries()
            .account_outcomes(r.id)
            .await
            .map_err(|e| e.to_string())?,
    };
    let docs = app
        .queries()
        .all_documents(r.id)
        .await
        .map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
    let json = |v: serde_json::Result<Vec<u8>>| v.map_err(|e| e.to_string());
    std::fs::write(&run_json, json(serde_json::to_vec_pretty(&file))?)
        .map_err(|e| e.to_string())?;
    std::fs::write(
        d.join("documents.json"),
        json(serde_json::to_vec_pretty(&docs))?,
    )
    .map_err(|e| e.to_string())?;
    Ok(Ok(()))
}

/// A running server on the AWS adapters.
pub struct AwsServer {
    pub addr: std::net::SocketAddr,
    pub aws: crate::aws_backend::AwsLocal,
    pub handle: tokio::task::JoinHandle<Result<(), String>>,
}

/// Like [`start`], on DynamoDB / SQS / S3 at `AWS_ENDPOINT_URL` (or the resources the
/// environment names), with in-process SQS pollers standing in for the Lambda event
/// source mappings (plan, account and document queues). `--out` is not supported here
/// (documents stay in the table, PDFs in the bucket).
pub async fn start_aws(options: &ServeOptions) -> Result<AwsServer, ServeError> {
    options.check()?;
    let aws = crate::aws_backend::connect()
        .await
        .map_err(ServeError::Input)?;
    if aws.app.controls.maker_checker != options.maker_checker {
        return Err(ServeError::Input(
            "with --backend aws, maker-checker is the deployment's MAKER_CHECKER (true or \
             false): set it to match --maker-checker"
                .into(),
        ));
    }
    if let Some(path) = &options.book {
        let bytes = std::fs::read(path)
            .map_err(|e| ServeError::Input(format!("{}: {e}", path.display())))?;
        aws.app
            .reference()
            .import_book(&bytes)
            .await
            .map_err(|e| ServeError::Input(format!("{}: {e}", path.display())))?;
    }
    let (listener, addr) = options.listen().await?;
    for i in 0..options.workers.max(1) {
        let (app, queue) = (aws.app.clone(), aws.queue.clone());
        tokio::spawn(async move {
            loop {
                let plan = if i == 0 {
                    let url = queue.plan_url().to_string();
                    queue.poll_once(&app, &url, 0, 5).await.unwrap_or(0)
                } else {
                    0
                };
                let url = queue.account_url().to_string();
                let got = queue.poll_once(&app, &url, 1, 5).await.unwrap_or(0);
                // The generate-documents Lambda's queue, through the same consumer.
                let documents = match queue.document_url().map(str::to_string) {
                    Some(url) => queue.poll_once(&app, &url, 0, 5).await.unwrap_or(0),
                    None => 0,
                };
                if plan + got + documents == 0 {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        });
    }
    if let Some(every) = options.tick_every {
        tokio::spawn(tick_forever(aws.app.clone(), every));
    }
    let router = routes(&aws.app, options)?;
    let handle = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| e.to_string())
    });
    Ok(AwsServer { addr, aws, handle })
}

/// Serves on the AWS adapters until Ctrl-C.
pub async fn serve_aws(options: ServeOptions) -> Result<(), ServeError> {
    if options.out.is_some() {
        return Err(ServeError::Input(
            "--out is only supported with --backend memory".into(),
        ));
    }
    if options.mail.is_some() {
        return Err(ServeError::Input(
            "--smtp and --mail-dir are only supported with --backend memory (a deployment \
             emails through Amazon SES)"
                .into(),
        ));
    }
    let server = start_aws(&options).await?;
    println!(
        "billrun API on http://{} over DynamoDB table {} (OpenAPI at /v1/openapi.json; console at /console/); Ctrl-C stops it",
        server.addr, server.aws.config.table
    );
    server
        .handle
        .await
        .map_err(|e| ServeError::Other(e.to_string()))?
        .map_err(ServeError::Other)
}
