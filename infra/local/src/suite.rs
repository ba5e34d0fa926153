//! `billrun-local bench --suite`: every figure docs/performance.md records, in one run.
//!
//! 1. rating throughput on one core (the sample book's accounts rated in a loop);
//! 2. the in-memory pipeline end to end at 10k, 100k and 1M accounts, each in its own
//!    process (`bench --accounts N`) so that each size's peak RSS is its own;
//! 3. PDF throughput (`bench --documents N`, its own process);
//! 4. requests and write units per account on moto (`demo --backend aws`), through
//!    `infra/local/with-moto.sh`, which installs and starts its own moto server.

use billrun_app::memory::{MemoryQueue, MemoryStore};
use billrun_app::App;
use billrun_domain::ids::RunId;
use billrun_domain::rating::{rate_account, RunSpec};
use billrun_domain::request::RunRequest;
use chrono::NaiveDate;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct SuiteOptions {
    /// Account counts of the in-memory end-to-end runs.
    pub sizes: Vec<usize>,
    pub workers: usize,
    pub documents: usize,
    /// Accounts of the moto run; 0 skips it.
    pub moto_accounts: usize,
    pub seed: u64,
}

fn target() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default()
}

/// Rates the sample book's accounts on this thread for at least `min` and returns
/// (accounts rated, elapsed).
async fn rating(seed: u64, min: Duration) -> Result<(u64, Duration), String> {
    let book = crate::sample::generate(2_000, target(), seed);
    let store = Arc::new(MemoryStore::new());
    let app = App::in_memory(
        store.clone(),
        Arc::new(MemoryQueue::new()),
        std::sync::Arc::new(billrun_documents::PdfRenderer),
    );
    app.book
        .import_book(&book)
        .await
        .map_err(|e| e.to_string())?;
    let mut accounts = Vec::with_capacity(book.accounts.len());
    for a in &book.accounts {
        if let Some(ab) = app
            .book
            .account_book(&a.id)
            .await
            .map_err(|e| e.to_string())?
        {
            accounts.push(ab);
        }
    }
    let request = RunRequest::for_target(target())
        .validated()
        .map_err(|e| e.to_string())?;
    let spec = RunSpec::new(RunId(uuid::Uuid::nil()), &request);
    let started = Instant::now();
    let mut rated = 0u64;
    while started.elapsed() < min {
        for ab in &accounts {
            // Failed accounts (the sample book has a few) cost their rating too.
            let _ = std::hint::black_box(rate_account(&spec, std::hint::black_box(ab)));
            rated += 1;
        }
    }
    Ok((rated, started.elapsed()))
}

/// Runs `program args` and returns its standard output; its standard error passes through.
fn capture(program: &Path, args: &[String]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "{} {} failed ({}):\n{stdout}",
            program.display(),
            args.join(" "),
            out.status
        ));
    }
    Ok(stdout)
}

/// The value after `label` on the line that starts with it (`"accounts/s          51434"`).
fn field<'a>(output: &'a str, label: &str) -> &'a str {
    output
        .lines()
        .find(|l| l.starts_with(label))
        .map(|l| l[label.len()..].trim())
        .unwrap_or("?")
}

/// The lines of `output` from the one starting with `from` up to the next blank line.
fn section<'a>(output: &'a str, from: &str) -> Vec<&'a str> {
    output
        .lines()
        .skip_while(|l| !l.starts_with(from))
        .take_while(|l| !l.trim().is_empty())
        .collect()
}

pub async fn suite(o: SuiteOptions) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    println!("billrun bench suite");
    println!("machine             {}", machine());
    println!();

    println!("== 1. rating, one core");
    let (rated, elapsed) = rating(o.seed, Duration::from_secs(3)).await?;
    let per = elapsed.as_secs_f64() / rated.max(1) as f64;
    println!(
        "rated {rated} accounts in {:.2} s: {:.0} accounts/s, {:.2} µs per account",
        elapsed.as_secs_f64(),
        1.0 / per,
        per * 1e6
    );
    println!();

    println!(
        "== 2. in-memory pipeline, end to end ({} workers)",
        o.workers
    );
    println!(
        "{:>10}{:>12}{:>14}{:>14}{:>14}{:>16}",
        "accounts", "wall s", "accounts/s", "documents/s", "peak RSS MiB", "bytes/account"
    );
    for &n in &o.sizes {
        let out = capture(
            &exe,
            &[
                "bench".into(),
                "--accounts".into(),
                n.to_string(),
                "--workers".into(),
                o.workers.to_string(),
                "--seed".into(),
                o.seed.to_string(),
            ],
        )?;
        let first = |s: &str| s.split_whitespace().next().unwrap_or("?").to_string();
        println!(
            "{n:>10}{:>12}{:>14}{:>14}{:>14}{:>16}",
            first(field(&out, "run wall time")),
            first(field(&out, "accounts/s")),
            first(field(&out, "documents/s")),
            first(field(&out, "peak RSS")),
            first(field(&out, "bytes per account")),
        );
        if field(&out, "reconciliation") != "holds" {
            return Err(format!("the {n}-account run does not reconcile:\n{out}"));
        }
    }
    println!();

    println!("== 3. PDF documents");
    let out = capture(
        &exe,
        &[
            "bench".into(),
            "--documents".into(),
            o.documents.to_string(),
        ],
    )?;
    print!("{out}");
    println!();

    if o.moto_accounts > 0 {
        println!(
            "== 4. requests and write units per account on moto ({} accounts)",
            o.moto_accounts
        );
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("with-moto.sh");
        let dir = std::env::temp_dir().join(format!("billrun-suite-{}", std::process::id()));
        let out = capture(
            &script,
            &[
                exe.display().to_string(),
                "demo".into(),
                "--backend".into(),
                "aws".into(),
                "--no-pdfs".into(),
                "--accounts".into(),
                o.moto_accounts.to_string(),
                "--seed".into(),
                o.seed.to_string(),
                "--out".into(),
                dir.display().to_string(),
            ],
        );
        let _ = std::fs::remove_dir_all(&dir);
        let out = out?;
        for heading in [
            "requests of the run",
            "items in the table",
            "write units of the run",
        ] {
            for line in section(&out, heading) {
                println!("{line}");
            }
            println!();
        }
        println!("wall time {}", field(&out, "wall time"));
    }
    Ok(())
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or_else(
            || "?".into(),
            |kb| format!("{:.1} GiB", kb as f64 / 1048576.0),
        );
    format!("{cpus} CPUs ({model}), {mem}")
}
