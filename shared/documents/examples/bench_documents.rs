//! `cargo run --release -p billrun-documents --example bench_documents -- N`: what
//! `billrun-local bench --documents N` reports (PDFs/s on one core, bytes per document,
//! and headless Chromium for comparison when `/usr/bin/chromium` exists).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "500".into())
        .parse()?;
    let f = billrun_documents::bench_documents(n)?;
    println!(
        "krilla: {} PDFs in {:.2} s = {:.0} PDFs/s per core, {} bytes per document",
        f.documents, f.seconds, f.pdfs_per_sec, f.bytes_per_doc
    );
    match (&f.chromium, f.speedup_over_chromium()) {
        (Some(c), Some(x)) => println!(
            "chromium: {:.2} PDFs/s, {} bytes per document; krilla is {x:.0}x faster",
            c.pdfs_per_sec, c.bytes_per_doc
        ),
        _ => println!("chromium: not measured (/usr/bin/chromium absent)"),
    }
    Ok(())
}
