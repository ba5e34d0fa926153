//! Where the in-memory pipeline's memory goes: `bench`'s run under a counting allocator,
//! with the retained structures measured by cloning them (the clone's heap bytes).
//! `cargo run --profile local -p billrun-local --example memprofile -- 100000`

use billrun_app::ports::{BookStore, DocumentStore, RunStore};
use billrun_domain::ids::AccountId;
use billrun_domain::request::RunRequest;
use billrun_local::pipeline::{Local, Options};
use billrun_local::sample;
use chrono::NaiveDate;
use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::Relaxed};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);
static COUNT: AtomicUsize = AtomicUsize::new(0);
static INNER: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn add(n: isize) {
    let now = LIVE.fetch_add(n, Relaxed) + n;
    PEAK.fetch_max(now, Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        add(l.size() as isize);
        COUNT.fetch_add(1, Relaxed);
        unsafe { INNER.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        add(-(l.size() as isize));
        unsafe { INNER.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        add(n as isize - l.size() as isize);
        unsafe { INNER.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn mib(b: isize) -> String {
    format!("{:.1} MiB", b as f64 / 1048576.0)
}

fn rss(key: &str) -> isize {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<isize>().ok())
        .unwrap_or(0)
        * 1024
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::main]
async fn main() -> Result<()> {
    let accounts: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let n = accounts as f64;
    let target = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default();
    let book = sample::generate(accounts, target, 42);
    println!("book generated: live {}", mib(LIVE.load(Relaxed)));
    let local = Local::new(None);
    local.app.book.import_book(&book).await?;
    println!("imported: live {}", mib(LIVE.load(Relaxed)));
    drop(book);
    let base = LIVE.load(Relaxed);
    println!(
        "book dropped: live {}, RSS {}",
        mib(base),
        mib(rss("VmRSS:"))
    );
    // The state's heap before the run (clone of every account book).
    let ids: Vec<AccountId> = local
        .store
        .select_accounts(&Default::default(), None, usize::MAX)
        .await?
        .ids;
    let measure_books = |label: &'static str| {
        let store = local.store.clone();
        let ids = ids.clone();
        async move {
            let before = LIVE.load(Relaxed);
            let mut books = Vec::with_capacity(ids.len());
            for id in &ids {
                books.push(store.account_book(id).await?);
            }
            let b = LIVE.load(Relaxed) - before;
            let states: Vec<_> = books.iter().flatten().map(|b| b.state.clone()).collect();
            let s = LIVE.load(Relaxed) - before - b;
            drop(states);
            drop(books);
            println!(
                "{label}: account books (clone) {} , of it state {} ({:.0} B/account)",
                mib(b),
                mib(s),
                s as f64 / n
            );
            Ok::<_, Box<dyn std::error::Error>>(s)
        }
    };
    let s0 = measure_books("before run").await?;
    PEAK.store(LIVE.load(Relaxed), Relaxed);
    let base = LIVE.load(Relaxed);
    let c0 = COUNT.load(Relaxed);
    let mut request = RunRequest::for_target(target);
    request.suppress_zero_invoices = true;
    let request = request.validated()?;
    let options = Options {
        workers: 4,
        collect: false,
        chaos_seed: None,
    };
    let r = local.run(request, options, None).await?;
    let after = LIVE.load(Relaxed);
    let peak = PEAK.load(Relaxed);
    println!(
        "run: retained {} ({:.0} B/account), peak live beyond base {} ({:.0} B/account), allocations {}",
        mib(after - base),
        (after - base) as f64 / n,
        mib(peak - base),
        (peak - base) as f64 / n,
        COUNT.load(Relaxed) - c0
    );
    println!(
        "RSS now {}, peak {}",
        mib(rss("VmRSS:")),
        mib(rss("VmHWM:"))
    );
    let s1 = measure_books("after run").await?;
    println!("state growth {:.0} B/account", (s1 - s0) as f64 / n);
    // Documents, cloned.
    let run = r.run.id;
    let before = LIVE.load(Relaxed);
    let mut docs = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = local
            .store
            .run_documents(run, cursor.as_deref(), 1000)
            .await?;
        docs.extend(page.documents);
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    docs.shrink_to_fit();
    let heap = LIVE.load(Relaxed)
        - before
        - (docs.len() * std::mem::size_of::<billrun_app::model::StoredDocument>()) as isize;
    let lines: usize = docs.iter().map(|d| d.document.lines.len()).sum();
    let desc: usize = docs
        .iter()
        .flat_map(|d| d.document.lines.iter())
        .map(|l| l.description.len())
        .sum();
    println!(
        "documents: {} docs, {} lines; inline StoredDocument {} B, Line {} B; heap of docs {} ({:.0} B/doc); descriptions {:.0} B/line",
        docs.len(), lines, std::mem::size_of::<billrun_app::model::StoredDocument>(), std::mem::size_of::<billrun_domain::document::Line>(),
        mib(heap), heap as f64 / docs.len() as f64, desc as f64 / lines as f64
    );
    drop(docs);
    let before = LIVE.load(Relaxed);
    let mut outs = Vec::new();
    let mut after_id: Option<AccountId> = None;
    loop {
        let page = local.store.outcomes(run, after_id.as_ref(), 1000).await?;
        let Some(last) = page.last() else { break };
        after_id = Some(last.account_id.clone());
        outs.extend(page);
    }
    outs.shrink_to_fit();
    let heap = LIVE.load(Relaxed)
        - before
        - (outs.len() * std::mem::size_of::<billrun_app::model::AccountOutcomeRecord>()) as isize;
    let changes: usize = outs.iter().map(|o| o.changes.len()).sum();
    let amounts: usize = outs.iter().map(|o| o.counters.amounts.len()).sum();
    println!(
        "outcomes: {} records, inline {} B, heap {} ({:.0} B/record); {} changes (StateChange {} B), {} amounts",
        outs.len(), std::mem::size_of::<billrun_app::model::AccountOutcomeRecord>(), mib(heap), heap as f64 / outs.len() as f64,
        changes, std::mem::size_of::<billrun_domain::state::StateChange>(), amounts
    );
    Ok(())
}
