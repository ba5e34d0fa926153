//! `billrun-local`: a whole invoice run on one machine, no cloud, no Docker.

use billrun_domain::book::Book;
use billrun_domain::document::DocumentKind;
use billrun_domain::request::RunRequest;
use billrun_domain::run::Counters;
use billrun_local::aws_backend;
use billrun_local::pipeline::{Local, LocalRun, Options};
use billrun_local::sample;
use billrun_local::suite;
use chrono::{Datelike, NaiveDate, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "billrun-local",
    version,
    about = "billrun's embedded local mode"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the pipeline runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Backend {
    /// The embedded adapters with in-process queue workers: in memory (demo, run, serve
    /// --ephemeral) or SQLite (serve --data).
    Memory,
    /// DynamoDB, SQS and S3 at AWS_ENDPOINT_URL (or real AWS), in-process SQS pollers.
    Aws,
}

// Parsed once per process and matched at once: the size of its largest variant (serve's
// flags) costs nothing, and boxing clap's fields would only obscure them.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Generate a sample book and run one invoice run over it. One-shot and in memory
    /// (with the default backend): nothing is kept but the files written to --out.
    Demo {
        #[arg(long, default_value_t = 2000)]
        accounts: usize,
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Target date (default: the first day of the current month, UTC).
        #[arg(long)]
        target_date: Option<NaiveDate>,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long, default_value_t = 4)]
        workers: usize,
        #[arg(long, value_enum, default_value_t = Backend::Memory)]
        backend: Backend,
        /// Skip generating the run's PDFs.
        #[arg(long)]
        no_pdfs: bool,
        /// Email the documents through this SMTP server (see serve --smtp); without it,
        /// each email is written to OUT/mail/<message id>.eml. The memory backend posts
        /// the run and emails it after writing its files.
        #[arg(long, value_name = "URL", env = "BILLRUN_SMTP", hide_env_values = true)]
        smtp: Option<String>,
        /// The From address of the demo's emails.
        #[arg(
            long,
            value_name = "ADDRESS",
            default_value = "billing@demo.billrun.example.com"
        )]
        mail_from: String,
        /// Skip posting and emailing the run.
        #[arg(long)]
        no_emails: bool,
        /// Print the run's lifecycle events at the end, one JSON object a line (as
        /// `GET /v1/invoice-runs/{id}/events` lists them; docs/events/).
        #[arg(long)]
        events: bool,
    },
    /// Run a canonical run request over a book. One-shot and in memory (with the default
    /// backend): nothing is kept but the files written to --out.
    Run {
        #[arg(long)]
        book: PathBuf,
        #[arg(long)]
        run_request: PathBuf,
        #[arg(long, default_value = "out")]
        out: PathBuf,
        #[arg(long, default_value_t = 4)]
        workers: usize,
        #[arg(long, value_enum, default_value_t = Backend::Memory)]
        backend: Backend,
    },
    /// Create the DynamoDB table, S3 bucket and SQS queues (with DLQs) on the endpoint the
    /// environment names, and print their names as shell exports. Idempotent.
    AwsSetup {
        #[arg(long, default_value = "billrun")]
        prefix: String,
    },
    /// Generate N accounts and time the pipeline in memory; with `--documents N`, time
    /// the PDF renderer instead (and headless Chromium, when /usr/bin/chromium exists).
    Bench {
        #[arg(long, default_value_t = 100_000)]
        accounts: usize,
        /// Render the sample invoices N times each and report PDFs/s per core and bytes
        /// per document (no invoice run).
        #[arg(long)]
        documents: Option<usize>,
        #[arg(long, default_value_t = 4)]
        workers: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Every figure of docs/performance.md in one run: rating on one core, the
        /// in-memory pipeline at each of `--sizes`, PDFs, and requests per account on moto.
        #[arg(long)]
        suite: bool,
        /// Account counts of the suite's in-memory runs.
        #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
        sizes: Vec<usize>,
        /// Accounts of the suite's moto run (0 skips it).
        #[arg(long, default_value_t = 10_000)]
        moto_accounts: usize,
    },
    /// Serve the HTTP API on 127.0.0.1 with in-process workers. Durable by default: runs,
    /// invoices, accounts, idempotency keys, numbers and PDFs are kept in a SQLite database
    /// in --data (./billrun-data) and survive a restart, even a kill; runs left unfinished
    /// are completed on the next start. --ephemeral keeps everything in memory instead.
    Serve {
        /// The address to listen on; any but a loopback address needs --token.
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Refuse every request without `Authorization: Bearer TOKEN` (401).
        #[arg(long, env = "BILLRUN_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Named tokens with scopes: {"tokens": [{"name", "sha256" (hex SHA-256 of the
        /// token), "scopes" (billing:read, billing:run, billing:post, billing:admin)}]};
        /// a request beyond its token's scopes is refused (403).
        #[arg(long, value_name = "FILE")]
        tokens: Option<PathBuf>,
        /// A book to import before serving.
        #[arg(long)]
        book: Option<PathBuf>,
        /// Let webhook endpoints point at this machine (127.0.0.1, [::1], localhost),
        /// over http too: for testing a receiver locally only. Private, link-local and
        /// metadata addresses stay refused.
        #[arg(long)]
        allow_loopback_webhooks: bool,
        /// Require a second person to post a run: its poster must differ from its
        /// creator, and autoPost is refused (needs --tokens).
        #[arg(long)]
        maker_checker: bool,
        /// `memory`: the embedded adapters (SQLite in --data, or in memory with
        /// --ephemeral), or `aws`: DynamoDB / SQS at AWS_ENDPOINT_URL with in-process
        /// pollers (--data does not apply).
        #[arg(long, value_enum, default_value_t = Backend::Memory)]
        backend: Backend,
        /// The directory of the SQLite database (created when missing). One serve at a
        /// time per directory.
        #[arg(long, value_name = "DIR", default_value = "billrun-data")]
        data: PathBuf,
        /// Keep everything in memory instead of --data: a restart loses every run,
        /// invoice, account and idempotency key, and numbering starts again.
        #[arg(long, conflicts_with = "data")]
        ephemeral: bool,
        /// Write each completed run to DIR/<run number>/ (never over another run's files),
        /// and export files (POST /v1/invoice-runs/{id}/exports) to DIR/exports/ (else
        /// to --data DIR/exports/, else in memory).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, default_value_t = 4)]
        workers: usize,
        /// Email documents through this SMTP server: smtp://host:port (plain only to a
        /// loopback host, STARTTLS otherwise), smtps://host:port, user:password@ for AUTH.
        #[arg(long, value_name = "URL", env = "BILLRUN_SMTP", hide_env_values = true)]
        smtp: Option<String>,
        /// Without --smtp: write each email as DIR/<message id>.eml instead.
        #[arg(long, value_name = "DIR")]
        mail_dir: Option<PathBuf>,
        /// The From address of every email (required with --smtp or --mail-dir).
        #[arg(long, value_name = "ADDRESS")]
        mail_from: Option<String>,
        /// Sign the console in at this OpenID Connect issuer (authorization code + PKCE,
        /// as on AWS) instead of with a token; the API keeps --token / --tokens.
        #[arg(long, value_name = "URL", env = "BILLRUN_OIDC_ISSUER")]
        oidc_issuer: Option<String>,
        /// The console's client id at the issuer (a public client whose callback URL is
        /// http://HOST:PORT/console/callback).
        #[arg(long, value_name = "ID", env = "BILLRUN_OIDC_CLIENT_ID")]
        oidc_client_id: Option<String>,
        /// The audiences an access token may be for (its aud, or its client_id),
        /// comma-separated; the client id by default.
        #[arg(long, value_name = "AUD", env = "BILLRUN_OIDC_AUDIENCE")]
        oidc_audience: Option<String>,
        /// The scopes the console asks for (default: openid); an access token's
        /// billing:* scopes are the visitor's.
        #[arg(long, value_name = "SCOPES", env = "BILLRUN_OIDC_SCOPE")]
        oidc_scope: Option<String>,
        /// Scopes granted by the token's groups claim: "group=scope scope;group=scope".
        #[arg(long, value_name = "MAP", env = "BILLRUN_OIDC_GROUP_SCOPES")]
        oidc_group_scopes: Option<String>,
        /// Seconds between scheduler ticks (due Scheduled runs, run schedules,
        /// invoice-schedule items); 0 turns the scheduler off.
        #[arg(long, default_value_t = 5)]
        tick_seconds: u64,
    },
}

enum Failure {
    /// Invalid input: exit 2.
    Input(String),
    /// Anything else: exit 1.
    Other(String),
}

/// Logs on stderr: level from `RUST_LOG` (default `warn`), JSON lines as in Lambda
/// when `BILLRUN_LOG_FORMAT=json`, else one compact line each. Ids, numbers and counts
/// only: account names, addresses and amounts are never logged.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = if std::env::var("BILLRUN_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder
            .json()
            .with_current_span(true)
            .without_time()
            .try_init()
    } else {
        builder.compact().try_init()
    };
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Demo {
                accounts,
                out,
                target_date,
                seed,
                workers,
                backend,
                no_pdfs,
                smtp,
                mail_from,
                no_emails,
                events,
            } => {
                let mail = match no_emails {
                    true => None,
                    false => billrun_local::mail::MailOptions::from_flags(
                        smtp,
                        Some(out.join("mail")),
                        Some(mail_from),
                    )
                    .map_err(Failure::Input)?,
                };
                demo(
                    accounts,
                    &out,
                    target_date,
                    seed,
                    workers,
                    backend,
                    !no_pdfs,
                    mail,
                    events,
                )
                .await
            }
            Command::Run {
                book,
                run_request,
                out,
                workers,
                backend,
            } => run(&book, &run_request, &out, workers, backend).await,
            Command::AwsSetup { prefix } => {
                let config = aws_backend::setup(&prefix).await.map_err(Failure::Other)?;
                print!("{}", config.exports());
                Ok(())
            }
            Command::Bench {
                suite: true,
                workers,
                seed,
                sizes,
                moto_accounts,
                ..
            } => suite::suite(suite::SuiteOptions {
                sizes,
                workers,
                documents: 500,
                moto_accounts,
                seed,
            })
            .await
            .map_err(Failure::Other),
            Command::Bench {
                documents: Some(n), ..
            } => bench_documents(n),
            Command::Bench {
                accounts,
                workers,
                seed,
                documents: None,
                ..
            } => bench(accounts, workers, seed).await,
            Command::Serve {
                host,
                port,
                token,
                tokens,
                book,
                allow_loopback_webhooks,
                maker_checker,
                backend,
                data,
                ephemeral,
                out,
                workers,
                tick_seconds,
                smtp,
                mail_dir,
                mail_from,
                oidc_issuer,
                oidc_client_id,
                oidc_audience,
                oidc_scope,
                oidc_group_scopes,
            } => {
                let oidc = billrun_local::oidc::OidcFlags {
                    issuer: oidc_issuer,
                    client_id: oidc_client_id,
                    audience: oidc_audience,
                    scope: oidc_scope,
                    group_scopes: oidc_group_scopes,
                }
                .config()
                .map_err(Failure::Input)?;
                let mail = billrun_local::mail::MailOptions::from_flags(smtp, mail_dir, mail_from)
                    .map_err(Failure::Input)?;
                let tokens = match tokens {
                    Some(path) => Some(std::sync::Arc::new(
                        billrun_local::tokens::Tokens::read(&path).map_err(Failure::Input)?,
                    )),
                    None => None,
                };
                let options = billrun_local::serve::ServeOptions {
                    host,
                    port,
                    token,
                    tokens,
                    book,
                    data: (!ephemeral).then_some(data),
                    out,
                    workers,
                    tick_every: (tick_seconds > 0)
                        .then(|| std::time::Duration::from_secs(tick_seconds)),
                    mail,
                    allow_loopback_webhooks,
                    maker_checker,
                    oidc,
                    ..billrun_local::serve::ServeOptions::default()
                };
                serve(options, backend).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Input(m)) => {
            eprintln!("error: {m}");
            ExitCode::from(2)
        }
        Err(Failure::Other(m)) => {
            eprintln!("error: {m}");
            ExitCode::from(1)
        }
    }
}

async fn serve(
    options: billrun_local::serve::ServeOptions,
    backend: Backend,
) -> Result<(), Failure> {
    use billrun_local::serve::ServeError;
    let served = match backend {
        Backend::Memory => billrun_local::serve::serve(options).await,
        Backend::Aws => billrun_local::serve::serve_aws(options).await,
    };
    served.map_err(|e| match e {
        ServeError::Input(m) => Failure::Input(m),
        ServeError::Other(m) => Failure::Other(m),
    })
}

fn other(e: impl std::fmt::Display) -> Failure {
    Failure::Other(e.to_string())
}

fn first_of_month() -> NaiveDate {
    let today = Utc::now().date_naive();
    today.with_day(1).unwrap_or(today)
}

#[allow(clippy::too_many_arguments)] // the demo's flags, each once
async fn demo(
    accounts: usize,
    out: &Path,
    target: Option<NaiveDate>,
    seed: u64,
    workers: usize,
    backend: Backend,
    pdfs: bool,
    mail: Option<billrun_local::mail::MailOptions>,
    events: bool,
) -> Result<(), Failure> {
    let target = target.unwrap_or_else(first_of_month);
    println!("Generating {accounts} sample accounts (seed {seed}), target date {target}...");
    let book = sample::generate(accounts, target, seed);
    let mut request = RunRequest::for_target(target);
    request.name = Some(format!("Demo run {target}"));
    request.suppress_zero_invoices = true;
    request.invoice_message = Some("Thank you for your business.".into());
    let request = request
        .validated()
        .map_err(|e| Failure::Input(e.to_string()))?;
    // Each backend keeps its system to generate the PDFs of the run afterwards.
    let (result, system) = match backend {
        Backend::Memory => {
            let local = Local::new(None);
            local.app.book.import_book(&book).await.map_err(other)?;
            let r = execute(&local, request, workers, book.accounts.len() as u64).await?;
            (r, System::Memory(local))
        }
        Backend::Aws => {
            let aws = aws_backend::connect().await.map_err(Failure::Other)?;
            let r = execute_aws(&aws, &book, request, workers).await?;
            (r, System::Aws(Box::new(aws)))
        }
    };
    write_outputs(out, &result)?;
    std::fs::write(
        out.join("book.json"),
        serde_json::to_vec(&book).map_err(other)?,
    )
    .map_err(other)?;
    print_summary(&result);
    println!(
        "Wrote {0}/run.json, {0}/documents.json and {0}/book.json",
        out.display()
    );
    if pdfs {
        generate_pdfs(&system, result.run.id, &out.join("documents"), workers).await?;
    }
    match (&system, mail) {
        (System::Memory(local), Some(mail)) => {
            email_documents(local, result.run.id, &mail, workers).await?
        }
        (System::Aws(_), Some(_)) => {
            println!("Emails: not sent on --backend aws (a deployment emails through SES)")
        }
        (_, None) => {}
    }
    if events {
        let app = match &system {
            System::Memory(local) => &local.app,
            System::Aws(aws) => &aws.app,
        };
        let run = app.queries().get_run(result.run.id).await.map_err(other)?;
        println!("Events of run {}:", run.number);
        for e in &run.events {
            println!("{}", serde_json::to_string(e).map_err(other)?);
        }
    }
    if !result.run.counters.reconciles() {
        return Err(Failure::Other("reconciliation failed".into()));
    }
    Ok(())
}

async fn run(
    book: &Path,
    run_request: &Path,
    out: &Path,
    workers: usize,
    backend: Backend,
) -> Result<(), Failure> {
    let read =
        |p: &Path| std::fs::read(p).map_err(|e| Failure::Input(format!("{}: {e}", p.display())));
    let book_bytes = read(book)?;
    let request_bytes = read(run_request)?;
    let book =
        Book::parse(&book_bytes).map_err(|e| Failure::Input(format!("{}: {e}", book.display())))?;
    let request = RunRequest::parse(&request_bytes)
        .map_err(|e| Failure::Input(format!("{}: {e}", run_request.display())))?;
    let result = execute_on(backend, &book, request, workers).await?;
    write_outputs(out, &result)?;
    print_summary(&result);
    Ok(())
}

/// Imports the book and runs the request on the chosen backend.
async fn execute_on(
    backend: Backend,
    book: &Book,
    request: RunRequest,
    workers: usize,
) -> Result<LocalRun, Failure> {
    match backend {
        Backend::Memory => {
            let local = Local::new(None);
            local.app.book.import_book(book).await.map_err(other)?;
            execute(&local, request, workers, book.accounts.len() as u64).await
        }
        Backend::Aws => {
            let aws = aws_backend::connect().await.map_err(Failure::Other)?;
            execute_aws(&aws, book, request, workers).await
        }
    }
}

/// The run's DynamoDB write request units, computed from the sizes of the items it left
/// (docs/scale.md uses these figures).
async fn print_write_units(aws: &aws_backend::AwsLocal, accounts: f64) {
    let footprint =
        match billrun_aws::footprint::scan(&aws.clients.dynamodb, &aws.config.table).await {
            Ok(f) => f,
            Err(e) => {
                println!("(item sizes not measured: {e})");
                return;
            }
        };
    println!();
    println!(
        "{:<30}{:>12}{:>12}{:>12}",
        "items in the table", "count", "mean bytes", "max bytes"
    );
    for (kind, k) in &footprint.kinds {
        println!(
            "{kind:<30}{:>12}{:>12}{:>12}",
            k.items,
            k.mean_bytes(),
            k.max_bytes
        );
    }
    println!();
    println!(
        "{:<38}{:>12}{:>12}",
        "write units of the run (computed)", "WRU", "per account"
    );
    let progress = aws
        .metrics
        .progress_writes
        .load(std::sync::atomic::Ordering::Relaxed);
    let rows = footprint.run_write_units(progress);
    for (label, wru) in &rows {
        println!("{label:<38}{wru:>12}{:>12.2}", *wru as f64 / accounts);
    }
    let total: u64 = rows.iter().map(|(_, w)| w).sum();
    println!(
        "{:<38}{total:>12}{:>12.2}",
        "total",
        total as f64 / accounts
    );
}

/// Runs the request on the AWS adapters and prints the requests it took.
async fn execute_aws(
    aws: &aws_backend::AwsLocal,
    book: &Book,
    request: RunRequest,
    workers: usize,
) -> Result<LocalRun, Failure> {
    println!(
        "DynamoDB table {}, queues {} and {}",
        aws.config.table, aws.config.plan_queue_url, aws.config.account_queue_url
    );
    let r = aws.run(book, request, workers).await.map_err(other)?;
    let n = r.run.run.counters.accounts_selected.max(1) as f64;
    println!();
    println!(
        "{:<30}{:>12}{:>16}",
        "requests of the run", "total", "per account"
    );
    for (kind, count) in r.requests.rows() {
        println!("{kind:<30}{count:>12}{:>16.3}", count as f64 / n);
    }
    let import: u64 = r.import_requests.rows().iter().map(|(_, c)| c).sum();
    println!("(importing the book took {import} requests)");
    print_write_units(aws, n).await;
    Ok(r.run)
}

async fn execute(
    local: &Local,
    request: RunRequest,
    workers: usize,
    accounts: u64,
) -> Result<LocalRun, Failure> {
    let bar = ProgressBar::new(accounts);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} accounts {per_sec} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = |c: &Counters| {
        bar.set_length(c.accounts_selected.max(1));
        bar.set_position(c.accounted_for());
    };
    let options = Options {
        workers,
        ..Options::default()
    };
    let result = local
        .run(request, options, Some(&report))
        .await
        .map_err(other)?;
    bar.finish_and_clear();
    Ok(result)
}

/// The system a demo ran on.
enum System {
    Memory(Local),
    // Boxed: the AWS backend (its configuration, clients and queue) is ten times the
    // size of the memory one, and the enum is moved around once per command.
    Aws(Box<aws_backend::AwsLocal>),
}

/// Generates the run's PDFs with a progress bar and prints where they are.
/// Posts the run and emails its documents through `mail` (its `.eml` folder or SMTP
/// server), then reports the delivery request's counters.
async fn email_documents(
    local: &Local,
    run: billrun_domain::ids::RunId,
    mail: &billrun_local::mail::MailOptions,
    workers: usize,
) -> Result<(), Failure> {
    let started = std::time::Instant::now();
    let ports = mail.ports(local.store.clone()).map_err(Failure::Input)?;
    let app = std::sync::Arc::new((*local.app).clone().with_delivery(ports));
    billrun_local::pipeline::ensure_template(&app)
        .await
        .map_err(other)?;
    app.post_run(run).await.map_err(other)?;
    let (request, _) = app
        .deliveries()
        .map_err(other)?
        .request_emails(run, Some("demo"), Default::default())
        .await
        .map_err(other)?;
    let config = billrun_app::worker::WorkerConfig {
        workers,
        ..Default::default()
    };
    billrun_app::worker::drain(app.clone(), local.queue.clone(), config).await;
    let view = app
        .deliveries()
        .map_err(other)?
        .delivery_request(request.id)
        .await
        .map_err(other)?;
    let c = &view.counters;
    // "263 noAddress, 4 zeroAmount": the reasons by their wire names, as the API shows them.
    let reasons: Vec<String> = c
        .skipped_reasons
        .iter()
        .map(|(reason, n)| match serde_json::to_value(reason) {
            Ok(serde_json::Value::String(name)) => format!("{n} {name}"),
            _ => format!("{n} {reason:?}"),
        })
        .collect();
    println!(
        "Posted the run and emailed {} documents ({} skipped: {}; {} failed) in {:.2} s to {}",
        c.sent,
        c.skipped,
        if reasons.is_empty() {
            "none".to_string()
        } else {
            reasons.join(", ")
        },
        c.failed,
        started.elapsed().as_secs_f64(),
        mail.describe()
    );
    if c.failed > 0 {
        return Err(Failure::Other(format!("{} emails failed", c.failed)));
    }
    Ok(())
}

async fn generate_pdfs(
    system: &System,
    run: billrun_domain::ids::RunId,
    dir: &Path,
    workers: usize,
) -> Result<(), Failure> {
    let started = std::time::Instant::now();
    let bar = ProgressBar::new(1);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} PDFs {per_sec} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = |c: &billrun_app::docgen::DocumentCounters| {
        bar.set_length(c.requested.max(1));
        bar.set_position(c.generated + c.failed);
    };
    let generated = match system {
        System::Memory(local) => {
            local
                .generate_documents(run, dir, workers, Some(&report))
                .await
        }
        System::Aws(aws) => {
            aws.generate_documents(run, dir, workers, Some(&report))
                .await
        }
    }
    .map_err(other)?;
    bar.finish_and_clear();
    let c = generated.request.counters;
    println!(
        "Generated {} PDFs ({} failed) in {:.2} s with the active template: {}/<number>.pdf",
        c.generated,
        c.failed,
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    if let Some(first) = generated.files.first() {
        println!("  e.g. {}", first.display());
    }
    if c.failed > 0 {
        return Err(Failure::Other(format!("{} PDFs failed", c.failed)));
    }
    Ok(())
}

fn write_outputs(out: &Path, r: &LocalRun) -> Result<(), Failure> {
    std::fs::create_dir_all(out).map_err(|e| other(format!("{}: {e}", out.display())))?;
    let run = serde_json::to_vec_pretty(&r.run_file()).map_err(other)?;
    let docs = serde_json::to_vec_pretty(&r.documents).map_err(other)?;
    std::fs::write(out.join("run.json"), run).map_err(other)?;
    std::fs::write(out.join("documents.json"), docs).map_err(other)?;
    Ok(())
}

fn print_summary(r: &LocalRun) {
    let c = &r.run.counters;
    let secs = r.wall.as_secs_f64().max(1e-9);
    println!();
    println!(
        "Run {} ({}) {:?}, target date {}",
        r.run.number, r.run.id, r.run.status, r.run.target_date
    );
    println!("{:<22}{:>12}", "accounts selected", c.accounts_selected);
    println!("{:<22}{:>12}", "  billed", c.billed);
    println!("{:<22}{:>12}", "  suppressed", c.suppressed);
    println!("{:<22}{:>12}", "  nothing to bill", c.nothing_to_bill);
    println!("{:<22}{:>12}", "  failed", c.failed);
    println!(
        "{:<22}{:>12}",
        "reconciliation",
        if c.reconciles() { "holds" } else { "BROKEN" }
    );
    println!("{:<22}{:>12}", "invoices", c.invoices);
    println!("{:<22}{:>12}", "credit memos", c.credit_memos);
    println!(
        "{:<22}{:>12}",
        "suppressed documents", c.suppressed_documents
    );
    println!();
    println!("{:<10}{:>20}{:>20}", "currency", "invoiced", "credited");
    for a in &c.amounts {
        println!(
            "{:<10}{:>20}{:>20}",
            a.currency.code(),
            a.invoiced,
            a.credited
        );
    }
    println!();
    println!(
        "wall time {:.3} s, {:.0} accounts/s, {:.0} documents/s",
        secs,
        c.accounts_selected as f64 / secs,
        (c.invoices + c.credit_memos) as f64 / secs
    );
    let failed: Vec<_> = r
        .accounts
        .iter()
        .filter(|a| a.reason.is_some())
        .take(5)
        .collect();
    if !failed.is_empty() {
        println!();
        println!("failed accounts (first {}):", failed.len());
        for a in failed {
            println!("  {}: {}", a.account_id, a.reason.as_deref().unwrap_or(""));
        }
    }
    if let Some(d) = r
        .documents
        .iter()
        .find(|d| d.kind == DocumentKind::CreditMemo)
    {
        println!();
        println!(
            "example credit memo {} for {}: total {} {}",
            d.number.as_deref().unwrap_or("-"),
            d.account_id,
            d.totals.total,
            d.currency
        );
    }
}

/// Peak resident set size of this process in bytes (Linux), if known.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn current_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

async fn bench(accounts: usize, workers: usize, seed: u64) -> Result<(), Failure> {
    let target = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default();
    let t0 = Instant::now();
    let book = sample::generate(accounts, target, seed);
    let generated = t0.elapsed();
    let rss_book = current_rss().unwrap_or(0);
    let local = Local::new(None);
    let t1 = Instant::now();
    local.app.book.import_book(&book).await.map_err(other)?;
    let imported = t1.elapsed();
    let rss_imported = current_rss().unwrap_or(0);
    drop(book);
    let baseline = current_rss().unwrap_or(0);
    let mut request = RunRequest::for_target(target);
    request.suppress_zero_invoices = true;
    let request = request
        .validated()
        .map_err(|e| Failure::Input(e.to_string()))?;
    let options = Options {
        workers,
        collect: false,
        chaos_seed: None,
    };
    let r = local.run(request, options, None).await.map_err(other)?;
    let peak = peak_rss().unwrap_or(0);
    let c = &r.run.counters;
    let secs = r.wall.as_secs_f64().max(1e-9);
    let docs = c.invoices + c.credit_memos;
    println!("accounts            {accounts}");
    println!("workers             {workers}");
    println!("generate book       {:.3} s", generated.as_secs_f64());
    println!("import book         {:.3} s", imported.as_secs_f64());
    println!(
        "RSS                 {:.1} MiB generated, {:.1} MiB imported, {:.1} MiB book dropped",
        rss_book as f64 / 1048576.0,
        rss_imported as f64 / 1048576.0,
        baseline as f64 / 1048576.0
    );
    println!("run wall time       {secs:.3} s");
    println!("accounts/s          {:.0}", accounts as f64 / secs);
    println!(
        "documents/s         {:.0} ({docs} documents)",
        docs as f64 / secs
    );
    println!("peak RSS            {:.1} MiB", peak as f64 / 1048576.0);
    println!(
        "bytes per account   {:.0} (peak RSS beyond the imported book, per account)",
        peak.saturating_sub(baseline) as f64 / accounts.max(1) as f64
    );
    println!(
        "reconciliation      {}",
        if c.reconciles() { "holds" } else { "BROKEN" }
    );
    Ok(())
}

/// The targets the figures are reported against (README "Invoice documents").
const TARGET_PDFS_PER_CORE: f64 = 200.0;
const TARGET_ONE_PAGE_BYTES: usize = 60 * 1024;

fn bench_documents(n: usize) -> Result<(), Failure> {
    use billrun_documents::bench::{Chromium, CHROMIUM};
    let chromium = Path::new(CHROMIUM);
    println!("Rendering each sample invoice {n} times on one thread (krilla, PDF/A-2b)...");
    let figures = billrun_documents::bench_documents(n, chromium).map_err(other)?;
    println!();
    println!(
        "{:<22}{:>6}{:>10}{:>12}{:>12}{:>12}",
        "document", "lines", "renderer", "PDFs/s/core", "ms/PDF", "bytes/PDF"
    );
    for f in &figures {
        let row = |renderer: &str, m: &billrun_documents::Measured| {
            println!(
                "{:<22}{:>6}{:>10}{:>12.1}{:>12.2}{:>12}",
                f.label,
                f.lines,
                renderer,
                m.per_second(),
                m.ms_per_document(),
                m.bytes_per_document()
            )
        };
        row("krilla", &f.krilla);
        if let Chromium::Measured(c) = &f.chromium {
            row("chromium", c);
        }
    }
    println!();
    // The targets are for the typical, one-page invoice (the first case).
    let rate = figures.first().map_or(0.0, |f| f.krilla.per_second());
    let one_page = figures.first().map_or(0, |f| f.krilla.bytes_per_document());
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!(
        "target >= {TARGET_PDFS_PER_CORE:.0} PDFs/s per core (one-page invoice): {} ({rate:.0})",
        verdict(rate >= TARGET_PDFS_PER_CORE)
    );
    println!(
        "target <= {} KB for a one-page invoice: {} ({:.1} KB)",
        TARGET_ONE_PAGE_BYTES / 1024,
        verdict(one_page <= TARGET_ONE_PAGE_BYTES),
        one_page as f64 / 1024.0
    );
    for f in &figures {
        match (&f.chromium, f.chromium_ratio()) {
            (Chromium::Measured(c), Some((time, bytes))) => println!(
                "{}: headless Chromium (HTML printed to PDF, {} documents) takes {time:.0}x the time and {bytes:.1}x the bytes of krilla",
                f.label, c.documents
            ),
            (Chromium::Failed(reason), _) => println!(
                "{}: Chromium comparison skipped: {CHROMIUM} failed ({reason})",
                f.label
            ),
            _ => {}
        }
    }
    // Wall-clock figures on one thread: a busy machine lowers them.
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        println!(
            "load average {} on {cores} cores while measuring (wall-clock times)",
            load.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    if figures.iter().all(|f| f.chromium == Chromium::Absent) {
        println!("Chromium comparison skipped: {CHROMIUM} is absent (apt-get install chromium)");
    }
    Ok(())
}

#[global_allocator]
/// mimalloc: less fragmentation than the system allocator with several worker threads
/// (peak RSS of `bench --accounts 100000`: 1062 MiB with glibc malloc, 898 MiB with it).
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
