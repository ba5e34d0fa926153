//! Throughput figures for `billrun-local bench --documents N`: PDFs per second on one
//! core and bytes per document for a one-page and a multi-page sample invoice, and, when
//! `/usr/bin/chromium` exists, the same invoices as HTML printed to PDF by headless
//! Chromium (the approach other billing systems take), measured in the same run.

use crate::format::{money, CurrencyMark, Locale};
use crate::render::{render, RenderError};
use crate::sample::{self, Sample};
use billrun_domain::book::Address;
use billrun_domain::document::{Document, DocumentKind};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Chromium starts a browser per document: a few are enough for a rate.
const CHROMIUM_MAX_DOCUMENTS: usize = 10;

/// The invoices measured: (label, lines).
pub const CASES: [(&str, usize); 2] = [("one-page invoice", 8), ("multi-page invoice", 80)];

/// `documents` PDFs made in `seconds`, `bytes` in all.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    pub documents: usize,
    pub seconds: f64,
    pub bytes: usize,
}

impl Measured {
    /// On one thread, so per core.
    pub fn per_second(&self) -> f64 {
        self.documents as f64 / self.seconds.max(1e-9)
    }

    pub fn ms_per_document(&self) -> f64 {
        1000.0 * self.seconds / self.documents.max(1) as f64
    }

    pub fn bytes_per_document(&self) -> usize {
        self.bytes / self.documents.max(1)
    }
}

/// What happened to the Chromium comparison of a case.
#[derive(Debug, Clone, PartialEq)]
pub enum Chromium {
    Measured(Measured),
    /// `/usr/bin/chromium` does not exist.
    Absent,
    /// It exists but did not print the page (the reason).
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct CaseFigures {
    pub label: &'static str,
    pub lines: usize,
    pub krilla: Measured,
    pub chromium: Chromium,
}

impl CaseFigures {
    /// (time per document, bytes per document) of Chromium over krilla.
    pub fn chromium_ratio(&self) -> Option<(f64, f64)> {
        match &self.chromium {
            Chromium::Measured(c) => Some((
                c.ms_per_document() / self.krilla.ms_per_document().max(1e-9),
                c.bytes_per_document() as f64 / self.krilla.bytes_per_document().max(1) as f64,
            )),
            _ => None,
        }
    }
}

/// The sample invoice of `lines` lines: USD, en-US, with a logo.
pub fn sample_invoice(lines: usize) -> Result<Sample, RenderError> {
    sample::invoice("USD", "en-US", lines).map_err(RenderError::Pdf)
}

/// Renders each of [`CASES`] `n` times (at least once) on the calling thread, then, when
/// `chromium` exists, prints the same invoice's HTML with it (at most 10 times).
pub fn bench_documents(n: usize, chromium: &Path) -> Result<Vec<CaseFigures>, RenderError> {
    let n = n.max(1);
    let mut out = Vec::new();
    for (label, lines) in CASES {
        let s = sample_invoice(lines)?;
        let mut bytes = 0usize;
        let start = Instant::now();
        for _ in 0..n {
            bytes += render(&s.document, &s.account, &s.template, &s.context)?.len();
        }
        let krilla = Measured {
            documents: n,
            seconds: start.elapsed().as_secs_f64(),
            bytes,
        };
        let chromium = if chromium.exists() {
            match print_with_chromium(chromium, &s, n.min(CHROMIUM_MAX_DOCUMENTS)) {
                Ok(m) => Chromium::Measured(m),
                Err(reason) => Chromium::Failed(reason),
            }
        } else {
            Chromium::Absent
        };
        out.push(CaseFigures {
            label,
            lines,
            krilla,
            chromium,
        });
    }
    Ok(out)
}

/// `chromium --headless --no-sandbox --disable-gpu --print-to-pdf=out.pdf invoice.html`,
/// `n` times, each a fresh browser as an HTML-to-PDF service starts one per document
/// (`--no-pdf-header-footer`: no date and file name printed on the page; a profile
/// directory of its own, so concurrent runs do not share one).
fn print_with_chromium(chromium: &Path, s: &Sample, n: usize) -> Result<Measured, String> {
    let dir = TempDir::new()?;
    let html = dir.0.join("invoice.html");
    std::fs::write(&html, invoice_html(s)).map_err(|e| format!("{}: {e}", html.display()))?;
    let pdf = dir.0.join("out.pdf");
    let mut bytes = 0usize;
    let start = Instant::now();
    for _ in 0..n {
        let _ = std::fs::remove_file(&pdf);
        let output = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-pdf-header-footer",
            ])
            .arg(format!(
                "--user-data-dir={}",
                dir.0.join("profile").display()
            ))
            .arg(format!("--print-to-pdf={}", pdf.display()))
            .arg(&html)
            .output()
            .map_err(|e| format!("{}: {e}", chromium.display()))?;
        let len = std::fs::metadata(&pdf).map(|m| m.len() as usize).ok();
        match len {
            Some(len) if output.status.success() && len > 0 => bytes += len,
            _ => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                let last = stderr.lines().last().unwrap_or_default();
                return Err(format!("exit {}: {last}", output.status));
            }
        }
    }
    Ok(Measured {
        documents: n,
        seconds: start.elapsed().as_secs_f64(),
        bytes,
    })
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir, String> {
        let dir = std::env::temp_dir().join(format!(
            "billrun-chromium-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn address_lines(a: &Address) -> Vec<String> {
    let city = [&a.city, &a.state, &a.postal_code]
        .iter()
        .filter_map(|p| p.as_deref())
        .collect::<Vec<_>>()
        .join(" ");
    [&a.name, &a.line1, &a.line2]
        .into_iter()
        .filter_map(|p| p.clone())
        .chain((!city.is_empty()).then_some(city))
        .chain(a.country.clone())
        .collect()
}

/// The same invoice as a plain HTML page for Chromium, from the same data the PDF
/// renderer takes: seller block and logo, bill-to, number and dates, the lines table
/// (description, period, quantity, amount), totals by bucket, tax, total, the message
/// and the footer, on the template's page size, in Liberation Sans as the PDF uses.
pub fn invoice_html(s: &Sample) -> String {
    let d: &Document = &s.document;
    let t = &s.template;
    let locale = Locale::parse(&t.locale).unwrap_or(Locale::EnUs);
    let mark = CurrencyMark::choose(d.currency, |_| true);
    let m = |v| esc(&money(v, d.currency, locale, &mark));
    let (w, h) = locale.page_size();
    let title = match d.kind {
        DocumentKind::Invoice => "INVOICE",
        DocumentKind::CreditMemo => "CREDIT MEMO",
    };
    let seller: Vec<String> = [&t.address.line1, &t.address.line2]
        .into_iter()
        .filter_map(|p| p.clone())
        .chain(
            [&t.address.city, &t.address.postal_code]
                .iter()
                .filter_map(|p| p.as_deref())
                .map(str::to_string)
                .reduce(|a, b| format!("{a} {b}")),
        )
        .chain(t.address.country.clone())
        .chain(t.tax_id.as_ref().map(|id| format!("Tax ID: {id}")))
        .collect();
    let bill_to = s
        .account
        .bill_to
        .as_ref()
        .map(address_lines)
        .unwrap_or_else(|| vec![s.account.name.clone()]);
    let br = |v: &[String]| v.iter().map(|l| esc(l)).collect::<Vec<_>>().join("<br>");
    let mut rows = String::new();
    for l in &d.lines {
        let period = match (l.period_start, l.period_end) {
            (Some(a), Some(b)) => format!("{} – {}", locale.date(a), locale.date(b)),
            (Some(a), None) | (None, Some(a)) => locale.date(a),
            (None, None) => String::new(),
        };
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            esc(&l.description),
            esc(&period),
            esc(&locale.quantity(l.quantity)),
            m(l.amount)
        ));
    }
    let tt = &d.totals;
    let mut totals = String::new();
    for (label, v) in [
        ("One-time", tt.one_time),
        ("Recurring", tt.recurring),
        ("Evergreen", tt.evergreen),
        ("Usage", tt.usage),
        ("Adjustments", tt.adjustments),
        ("Fees", tt.fee),
        ("Subtotal", tt.sub_total),
        ("Tax", tt.tax),
    ] {
        if !v.is_zero() || label == "Subtotal" || label == "Tax" {
            totals.push_str(&format!(
                "<tr><td>{label}</td><td class=n>{}</td></tr>",
                m(v)
            ));
        }
    }
    let message = s
        .context
        .invoice_message
        .as_ref()
        .or(d.invoice_message.as_ref())
        .map(|m| format!("<p>{}</p>", esc(m)))
        .unwrap_or_default();
    let logo = t
        .logo_png_base64
        .as_ref()
        .map(|b| format!("<img src=\"data:image/png;base64,{b}\" height=48>"))
        .unwrap_or_default();
    format!(
        "<!doctype html><html><head><meta charset=utf-8><title>{number}</title><style>\
         @page{{size:{w}pt {h}pt;margin:40pt}}\
         body{{font-family:'Liberation Sans',Arial,sans-serif;font-size:9pt;color:#222}}\
         header{{display:flex;justify-content:space-between}}h1{{color:{accent};margin:0}}\
         table{{width:100%;border-collapse:collapse;margin-top:12pt}}\
         thead{{display:table-header-group}}th{{background:{accent};color:#fff;text-align:left}}\
         td,th{{padding:3pt 4pt;border-bottom:0.5pt solid #ddd}}.n{{text-align:right}}\
         .totals{{width:45%;margin-left:55%}}.total td{{font-weight:bold;border-top:1pt solid {accent}}}\
         footer{{margin-top:18pt;font-size:8pt;color:#555}}</style></head><body>\
         <header><div>{logo}<p><b>{company}</b><br>{seller}</p></div>\
         <div class=n><h1>{title}</h1><p>Number {number}<br>Date {date}<br>Due {due}<br>Account {account}</p></div></header>\
         <p><b>Bill to</b><br>{bill_to}</p>{message}\
         <table><thead><tr><th>Description</th><th>Period</th><th class=n>Quantity</th><th class=n>Amount</th></tr></thead>\
         <tbody>{rows}</tbody></table>\
         <table class=totals>{totals}<tr class=total><td>Total {currency}</td><td class=n>{total}</td></tr></table>\
         <footer>{footer}</footer></body></html>",
        accent = esc(&t.accent_color),
        company = esc(&t.company_name),
        seller = br(&seller),
        number = esc(d.number.as_deref().unwrap_or_default()),
        date = esc(&locale.date(d.invoice_date)),
        due = esc(&locale.date(d.due_date)),
        account = esc(d.account_id.as_str()),
        bill_to = br(&bill_to),
        currency = d.currency.code(),
        total = m(tt.total),
        footer = esc(t.footer.as_deref().unwrap_or_default()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_is_rendered_n_times_and_chromium_is_reported_absent_when_missing() {
        let figures = bench_documents(2, Path::new("/nonexistent/chromium")).unwrap();
        assert_eq!(figures.len(), CASES.len());
        for f in &figures {
            assert_eq!(f.krilla.documents, 2);
            assert!(f.krilla.bytes_per_document() > 1000);
            assert_eq!(f.chromium, Chromium::Absent);
            assert_eq!(f.chromium_ratio(), None);
        }
        assert!(
            figures[1].krilla.bytes_per_document() > figures[0].krilla.bytes_per_document(),
            "more lines, more bytes"
        );
    }

    #[test]
    fn a_chromium_that_fails_is_reported_with_the_reason() {
        let figures = bench_documents(1, Path::new("/bin/false")).unwrap();
        assert!(matches!(&figures[0].chromium, Chromium::Failed(r) if r.contains("exit")));
    }

    #[test]
    fn the_html_version_carries_every_line_and_the_totals_of_the_same_invoice() {
        let s = sample_invoice(8).unwrap();
        let html = invoice_html(&s);
        let locale = Locale::parse(&s.template.locale).unwrap();
        let mark = CurrencyMark::choose(s.document.currency, |_| true);
        assert!(html.contains(s.document.number.as_deref().unwrap()));
        let t = &s.document.totals;
        let buckets = [
            t.one_time,
            t.recurring,
            t.evergreen,
            t.usage,
            t.adjustments,
            t.fee,
        ];
        let shown = buckets.iter().filter(|v| !v.is_zero()).count() + 2; // subtotal, tax
        assert_eq!(
            html.matches("<tr><td>").count(),
            s.document.lines.len() + shown
        );
        for l in &s.document.lines {
            assert!(html.contains(&esc(&l.description)), "{}", l.description);
        }
        for v in [t.sub_total, t.tax, t.total] {
            assert!(html.contains(&money(v, s.document.currency, locale, &mark)));
        }
    }

    #[test]
    fn ratios_are_chromium_over_krilla() {
        let f = CaseFigures {
            label: "x",
            lines: 1,
            krilla: Measured {
                documents: 100,
                seconds: 0.5,
                bytes: 100 * 40_000,
            },
            chromium: Chromium::Measured(Measured {
                documents: 2,
                seconds: 1.0,
                bytes: 2 * 80_000,
            }),
        };
        assert_eq!(f.chromium_ratio(), Some((100.0, 2.0)));
    }
}
