//! `demo --backend aws` generates its PDFs: the in-process pollers drain the document
//! queue through the generate-documents Lambda's consumer, and the files match those
//! the memory backend renders (file for file, the same size). Needs a local endpoint:
//! `infra/local/with-moto.sh cargo test -p billrun-local --test aws_documents`.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use billrun_domain::request::RunRequest;
use billrun_local::pipeline::{Local, Options};
use chrono::NaiveDate;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_backend_generates_the_pdfs_of_the_run_as_memory_does() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL is not set: run with infra/local/with-moto.sh");
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "tests only talk to loopback"
    );
    std::env::remove_var("TABLE_NAME"); // fresh resources: numbering starts at 1
    let target = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let book = billrun_local::sample::generate(12, target, 7);
    let mut request = RunRequest::for_target(target);
    request.suppress_zero_invoices = true;
    let request = request.validated().unwrap();
    let dir = tempfile::tempdir().unwrap();

    let local = Local::new(None);
    local.app.book.import_book(&book).await.unwrap();
    let memory_run = local
        .run(request.clone(), Options::default(), None)
        .await
        .unwrap();
    let memory = local
        .generate_documents(memory_run.run.id, &dir.path().join("memory"), 2, None)
        .await
        .unwrap();

    let aws = billrun_local::aws_backend::connect().await.unwrap();
    let aws_run = aws.run(&book, request, 2).await.unwrap();
    let generated = aws
        .generate_documents(aws_run.run.run.id, &dir.path().join("aws"), 2, None)
        .await
        .unwrap();
    let c = generated.request.counters;
    assert!(c.requested > 0);
    assert_eq!((c.generated, c.failed), (c.requested, 0));
    assert_eq!(generated.files.len() as u64, c.requested);
    assert_eq!(generated.files.len(), memory.files.len());
    for (a, m) in generated.files.iter().zip(&memory.files) {
        assert_eq!(a.file_name(), m.file_name());
        let (a_bytes, m_bytes) = (std::fs::read(a).unwrap(), std::fs::read(m).unwrap());
        assert!(a_bytes.starts_with(b"%PDF-"));
        // The same layout; only the ids (document, run) written into the file differ.
        assert_eq!(a_bytes.len(), m_bytes.len(), "{}", a.display());
    }
}
