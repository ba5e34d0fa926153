//! A file export of a 100,000-document run written to a folder, as `serve --out` writes
//! it: the test counts every allocation of its process and reports the export's peak
//! memory beyond what the run already held (docs/scale.md "Exports"), checks that it
//! stays below the size of the file (memory is bounded by a page and a part, not by
//! the run), and reads the CSV back with Python's `csv` module: exactly the run's
//! documents, in numbering order.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use billrun_app::exports::{ExportStatus, EXPORT_PART_BYTES};
use billrun_app::memory::{MemoryQueue, MemoryStore};
use billrun_app::worker::{drain, WorkerConfig};
use billrun_app::App;
use billrun_domain::export::{ExportContent, ExportFormat, DOCUMENT_COLUMNS};
use billrun_local::export_dir::DirectoryExportFiles;
use std::alloc::{GlobalAlloc, Layout, System};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The system allocator, counting the bytes in use and their peak.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded to the system allocator with the caller's layout.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = IN_USE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const DOCUMENTS: usize = 100_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100k_document_export_is_written_in_bounded_memory_and_reads_back_whole() {
    let out = tempfile::tempdir().unwrap();
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    let app = App::in_memory(
        store,
        queue.clone(),
        Arc::new(billrun_documents::PdfRenderer),
    )
    .with_export_files(Arc::new(DirectoryExportFiles::new(out.path())));
    let book = billrun_testkit::fixtures::monthly_book(
        DOCUMENTS,
        |i| format!("{}.{:02}", 10 + i % 90, i % 100),
        |_| serde_json::json!({}),
    );
    app.reference()
        .import_book(&serde_json::to_vec(&book).unwrap())
        .await
        .unwrap();
    drop(book);
    let run = app
        .pipeline()
        .create_run(billrun_testkit::fixtures::request("2024-02-01"), None)
        .await
        .unwrap()
        .run()
        .id;
    let app = Arc::new(app);
    drain(app.clone(), queue.clone(), WorkerConfig::default()).await;
    let view = app.queries().run_view(run).await.unwrap();
    assert!(view.status.is_completed(), "{:?}", view.status);

    let mut sizes = Vec::new();
    for content in [ExportContent::Lines, ExportContent::Documents] {
        let before = IN_USE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let (export, _) = app
            .exports()
            .request(run, content, ExportFormat::Csv, None)
            .await
            .unwrap();
        drain(app.clone(), queue.clone(), WorkerConfig::default()).await;
        let peak = PEAK.load(Ordering::Relaxed) - before;
        let export = app.exports().export(export.id).await.unwrap();
        assert_eq!(export.status, ExportStatus::Completed, "{:?}", export.error);
        let path = out.path().join(&export.key);
        let size = std::fs::metadata(&path).unwrap().len();
        assert_eq!(size, export.bytes);
        eprintln!(
            "== {content:?} export of {DOCUMENTS} documents: {} rows, {:.1} MB file, peak {:.1} MiB beyond the run",
            export.rows,
            size as f64 / 1e6,
            peak as f64 / (1024.0 * 1024.0)
        );
        sizes.push((content, size, peak, path));
    }
    // Bounded by a part, a page of documents and slack, whatever the run's size; the
    // lines file is several times that, so the export cannot have held it.
    let bound = EXPORT_PART_BYTES + 4 * 1024 * 1024;
    for (content, size, peak, _) in &sizes {
        assert!(
            *peak < bound,
            "{content:?}: peak {peak} bytes, over a part and a page ({bound})"
        );
        assert!(*size > 2 * bound as u64 || *content == ExportContent::Documents);
    }

    // Python's csv module reads the documents' file back: (documentId, number, total)
    // of every row, compared with the run's documents in numbering order.
    let (_, _, _, documents_path) = &sizes[1];
    let script = "import csv, json, sys\n\
        with open(sys.argv[1], newline='') as f:\n\
        \x20   rows = list(csv.reader(f))\n\
        cols = rows[0]\n\
        pick = [cols.index(c) for c in ('documentId', 'number', 'total')]\n\
        print(json.dumps({'header': cols, 'rows': [[r[i] for i in pick] for r in rows[1:]]}))\n";
    let out = Command::new("python3")
        .args(["-c", script, documents_path.to_str().unwrap()])
        .output()
        .expect("python3 runs (the test script installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(parsed["header"], serde_json::json!(DOCUMENT_COLUMNS));
    let rows = parsed["rows"].as_array().unwrap();
    let mut expected = Vec::new();
    let mut after = None;
    loop {
        let page = app
            .queries()
            .run_documents_page(run, None, after.as_ref(), 1000)
            .await
            .unwrap();
        for d in &page {
            expected.push(serde_json::json!([
                d.document.id.to_string(),
                d.document.number.clone().unwrap_or_default(),
                d.document.totals.total.to_string()
            ]));
        }
        match page.last() {
            Some(last) if page.len() == 1000 => {
                after = Some(billrun_app::model::listing::DocumentPosition::of(last))
            }
            _ => break,
        }
    }
    assert_eq!(expected.len(), DOCUMENTS);
    assert!(rows.len() == expected.len() && rows.iter().zip(&expected).all(|(a, b)| a == b));
}
