//! Throughput figures for `billrun-local bench --documents N`: PDFs per second on one
//! core and bytes per document for the sample invoice, and, when `/usr/bin/chromium`
//! exists, the same invoice as HTML printed to PDF by headless Chromium (the approach
//! other billing systems take) for comparison.

use crate::render::{render, RenderError};
use crate::sample::{self, Sample};
use billrun_domain::document::Document;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const CHROMIUM: &str = "/usr/bin/chromium";
/// Chromium starts a browser per document: a few are enough for a rate.
const CHROMIUM_MAX_DOCUMENTS: usize = 10;

#[derive(Debug, Clone, PartialEq)]
pub struct BenchFigures {
    pub documents: usize,
    pub seconds: f64,
    /// On one thread, so per core.
    pub pdfs_per_sec: f64,
    pub bytes_per_doc: usize,
    /// `None` when `/usr/bin/chromium` is absent or failed.
    pub chromium: Option<ChromiumFigures>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChromiumFigures {
    pub documents: usize,
    pub pdfs_per_sec: f64,
    pub bytes_per_doc: usize,
}

impl BenchFigures {
    /// How many times faster krilla is than Chromium, when Chromium was measured.
    pub fn speedup_over_chromium(&self) -> Option<f64> {
        self.chromium
            .as_ref()
            .filter(|c| c.pdfs_per_sec > 0.0)
            .map(|c| self.pdfs_per_sec / c.pdfs_per_sec)
    }
}

/// The typical invoice the benchmark renders: 8 lines, USD, en-US, with a logo.
pub fn typical_invoice() -> Result<Sample, RenderError> {
    sample::invoice("USD", "en-US", 8).map_err(RenderError::Pdf)
}

/// Renders the typical invoice `n` times (at least once) on the calling thread.
pub fn bench_documents(n: usize) -> Result<BenchFigures, RenderError> {
    let s = typical_invoice()?;
    let n = n.max(1);
    let mut bytes = 0usize;
    let start = Instant::now();
    for _ in 0..n {
        bytes += render(&s.document, &s.account, &s.template, &s.context)?.len();
    }
    let seconds = start.elapsed().as_secs_f64();
    let chromium = Path::new(CHROMIUM)
        .exists()
        .then(|| bench_chromium(&s, n.min(CHROMIUM_MAX_DOCUMENTS)))
        .flatten();
    Ok(BenchFigures {
        documents: n,
        seconds,
        pdfs_per_sec: n as f64 / seconds.max(1e-9),
        bytes_per_doc: bytes / n,
        chromium,
    })
}

fn bench_chromium(s: &Sample, n: usize) -> Option<ChromiumFigures> {
    let dir = std::env::temp_dir().join(format!("billrun-chromium-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let html_path = dir.join("invoice.html");
    std::fs::write(&html_path, invoice_html(s)).ok()?;
    let pdf_path = dir.join("invoice.pdf");
    let mut bytes = 0usize;
    let start = Instant::now();
    for _ in 0..n {
        let status = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--disable-gpu",
                "--no-sandbox",
                "--no-pdf-header-footer",
            ])
            .arg(format!("--print-to-pdf={}", pdf_path.display()))
            .arg(format!("file://{}", html_path.display()))
            .output()
            .ok()?;
        if !status.status.success() {
            return None;
        }
        bytes += std::fs::metadata(&pdf_path).ok()?.len() as usize;
    }
    let seconds = start.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    Some(ChromiumFigures {
        documents: n,
        pdfs_per_sec: n as f64 / seconds.max(1e-9),
        bytes_per_doc: bytes / n,
    })
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The same invoice as a plain HTML page (system fonts, one table), for Chromium.
pub fn invoice_html(s: &Sample) -> String {
    let d: &Document = &s.document;
    let mut rows = String::new();
    for l in &d.lines {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            esc(&l.description),
            l.period_start.map(|p| p.to_string()).unwrap_or_default(),
            l.quantity.normalize(),
            l.amount
        ));
    }
    format!(
        "<!doctype html><html><head><meta charset=utf-8><style>\
         body{{font-family:'Liberation Sans',Arial,sans-serif;font-size:10pt;margin:48pt}}\
         h1{{color:{accent};text-align:right}}table{{width:100%;border-collapse:collapse}}\
         th{{background:#e8edf2;text-align:left}}td,th{{padding:4pt;border-bottom:0.5pt solid #ddd}}\
         .n{{text-align:right}}</style></head><body>\
         <img src=\"data:image/png;base64,{logo}\" height=44><h1>INVOICE</h1>\
         <p><b>{company}</b><br>{number}<br>{date}</p>\
         <table><tr><th>Description</th><th>Period</th><th class=n>Quantity</th><th class=n>Amount</th></tr>{rows}</table>\
         <p class=n>Subtotal {sub}<br>Tax {tax}<br><b>Total {total}</b></p><footer>{footer}</footer></body></html>",
        accent = esc(&s.template.accent_color),
        logo = s.template.logo_png_base64.as_deref().unwrap_or_default(),
        company = esc(&s.template.company_name),
        number = esc(d.number.as_deref().unwrap_or_default()),
        date = d.invoice_date,
        sub = d.totals.sub_total,
        tax = d.totals.tax,
        total = d.totals.total,
        footer = esc(s.template.footer.as_deref().unwrap_or_default()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bench_renders_and_reports_a_rate_and_a_size() {
        let f = bench_documents(3).unwrap();
        assert_eq!(f.documents, 3);
        assert!(f.pdfs_per_sec > 0.0);
        assert!(f.bytes_per_doc > 1000);
    }

    #[test]
    fn the_html_version_names_the_same_invoice() {
        let s = typical_invoice().unwrap();
        let html = invoice_html(&s);
        assert!(html.contains("INV-000001042") && html.contains("4642.30"));
    }
}
