//! The PDFs read back as text with `pdftotext` (poppler-utils; `infra/test.sh` installs
//! it): every number a reader needs is there, in the currency's and locale's format.

// The PDFs need the PDF writer: without it (`--no-default-features`) there is nothing to read.
#![cfg(feature = "render")]
// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use billrun_documents::sample::{self, Sample};
use billrun_documents::{render, RenderError};
use std::io::Write;
use std::process::Command;

fn pdf(s: &Sample) -> Vec<u8> {
    render(&s.document, &s.account, &s.template, &s.context).unwrap()
}

/// The text of each page (pdftotext separates pages with a form feed).
fn pages(pdf: &[u8]) -> Vec<String> {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(pdf).unwrap();
    let out = Command::new("pdftotext")
        .arg("-layout")
        .arg(f.path())
        .arg("-")
        .output()
        .expect("pdftotext is required by these tests: apt-get install -y poppler-utils (infra/test.sh does it)");
    assert!(
        out.status.success(),
        "pdftotext failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut pages: Vec<String> = text.split('\u{c}').map(str::to_string).collect();
    if pages.last().is_some_and(|p| p.trim().is_empty()) {
        pages.pop();
    }
    pages
}

fn assert_has(text: &str, expected: &[&str]) {
    for e in expected {
        assert!(text.contains(e), "'{e}' not found in:\n{text}");
    }
}

#[test]
fn a_usd_invoice_in_en_us_shows_its_number_dates_line_amounts_tax_and_total() {
    let s = sample::invoice("USD", "en-US", 8).unwrap();
    let pages = pages(&pdf(&s));
    assert_eq!(pages.len(), 1);
    assert_has(
        &pages[0],
        &[
            "INVOICE",
            "INV-000001042",
            "Invoice date",
            "Feb 1, 2024",
            "Due date",
            "Mar 2, 2024",
            "Net 30",
            "Northwind Analytics, Inc.",
            "Tax ID: EIN 94-3187452",
            "BILL TO",
            "Contoso Retail Group — Accounts Payable",
            "SHIP TO",
            "Reno, NV 89502",
            "Your plan renews on March 1, 2024.",
            "Description",
            "Period",
            "Quantity",
            "Amount",
            "Feb 1 – Feb 29, 2024",
            "125,000",
            "$1,554.00",
            "$249.00",
            "$62.50",
            "$99.00",
            "$750.00",
            "$45.00",
            "-$25.00",
            "Subtotal",
            "$4,288.50",
            "Tax (8.25%)",
            "$353.80",
            "Total due (USD)",
            "$4,642.30",
            "Page 1 of 1",
            "Thank you for your business.",
        ],
    );
    // The period column replaces the raw half-open period in the description.
    assert!(!pages[0].contains("2024-02-01 – 2024-03-01"));
}

#[test]
fn a_eur_invoice_in_de_de_writes_dates_and_amounts_the_german_way() {
    let s = sample::invoice("EUR", "de-DE", 8).unwrap();
    let text = &pages(&pdf(&s))[0];
    assert_has(
        text,
        &[
            "INV-000001042",
            "01.02.2024",
            "02.03.2024",
            "01.02.2024 – 29.02.2024",
            "125.000",
            "1.429,68 €",
            "229,08 €",
            "57,50 €",
            "91,08 €",
            "690,00 €",
            "41,40 €",
            "-23,00 €",
            "3.945,42 €",
            "Tax (8,25 %)",
            "325,50 €",
            "4.270,92 €",
        ],
    );
    assert!(!text.contains('$'), "no dollar sign in a euro invoice");
}

#[test]
fn a_jpy_invoice_has_whole_yen() {
    let s = sample::invoice("JPY", "en-US", 8).unwrap();
    let text = &pages(&pdf(&s))[0];
    assert_has(
        text,
        &[
            "INV-000001042",
            "Feb 1, 2024",
            "Mar 2, 2024",
            "¥233,877",
            "¥37,475",
            "¥9,406",
            "¥14,900",
            "¥112,875",
            "¥6,773",
            "-¥3,763",
            "¥645,420",
            "¥53,247",
            "¥698,667",
        ],
    );
}

#[test]
fn a_kwd_invoice_has_three_decimals_and_the_iso_code() {
    let s = sample::invoice("KWD", "en-US", 8).unwrap();
    let text = &pages(&pdf(&s))[0];
    assert_has(
        text,
        &[
            "INV-000001042",
            "Feb 1, 2024",
            "Mar 2, 2024",
            "KWD 477.078",
            "KWD 76.443",
            "KWD 19.188",
            "KWD 30.393",
            "KWD 230.250",
            "KWD 13.815",
            "-KWD 7.675",
            "KWD 1,316.570",
            "KWD 108.617",
            "KWD 1,425.187",
        ],
    );
}

#[test]
fn a_credit_memo_names_the_invoices_it_credits_and_has_no_due_date() {
    let s = sample::credit_memo("USD", "en-US").unwrap();
    let text = &pages(&pdf(&s))[0];
    assert_has(
        text,
        &[
            "CREDIT MEMO",
            "CM-000000088",
            "Credit memo date",
            "Credits invoices INV-000000977, INV-000001003",
            "Credit: Team plan",
            "Jan 20 – Jan 31, 2024",
            "-$50.13",
            "-$129.50",
            "-$14.82",
            "Total credit (USD)",
            "-$194.45",
        ],
    );
    assert!(!text.contains("Due date"));
}

/// How the sample's line descriptions start.
const ROW_STARTS: [&str; 7] = [
    "Team plan",
    "Data warehouse",
    "API requests",
    "Priority support",
    "Onboarding",
    "Additional storage",
    "Service credit",
];

#[test]
fn a_150_line_invoice_repeats_the_header_row_on_every_page_and_totals_on_the_last() {
    let s = sample::invoice("USD", "en-US", 150).unwrap();
    let bytes = pdf(&s);
    let pages = pages(&bytes);
    let n = pages.len();
    assert!(n >= 3, "150 lines on {n} pages");
    let mut lines_seen = 0;
    for (i, page) in pages.iter().enumerate() {
        assert_has(page, &["Description", "Period", "Quantity", "Amount"]);
        assert_has(page, &[&format!("Page {} of {n}", i + 1), "INV-000001042"]);
        let has_totals = page.contains("Total due (USD)");
        assert_eq!(has_totals, i + 1 == n, "totals on page {} of {n}", i + 1);
        lines_seen += page
            .lines()
            .filter(|l| {
                let d = l.trim_start();
                ROW_STARTS.iter().any(|p| d.starts_with(p))
            })
            .count();
    }
    assert_eq!(lines_seen, 150, "line rows found");
    let last_amount = billrun_documents::money(
        s.document.totals.total,
        s.document.currency,
        billrun_documents::Locale::EnUs,
        &billrun_documents::fonts::currency_mark(s.document.currency),
    );
    assert!(pages[n - 1].contains(&last_amount));
    println!("150-line invoice: {n} pages, {} bytes", bytes.len());
}

#[test]
fn every_line_amount_of_the_150_line_invoice_is_printed() {
    let s = sample::invoice("EUR", "de-DE", 150).unwrap();
    let text = pages(&pdf(&s)).join("\n");
    let mark = billrun_documents::fonts::currency_mark(s.document.currency);
    for line in &s.document.lines {
        let amount = billrun_documents::money(
            line.amount,
            s.document.currency,
            billrun_documents::Locale::DeDe,
            &mark,
        );
        assert!(text.contains(&amount), "{amount}");
    }
}

#[test]
fn the_output_is_a_pdf_a_2b_file_of_at_most_60_kb_for_one_page() {
    let s = sample::invoice("USD", "en-US", 8).unwrap();
    let bytes = pdf(&s);
    assert!(bytes.starts_with(b"%PDF-"));
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("<pdfaid:part>2</pdfaid:part>") || text.contains("pdfaid:part=\"2\""),
        "PDF/A-2 identification in the XMP metadata"
    );
    assert!(
        text.contains("<pdfaid:conformance>B</pdfaid:conformance>")
            || text.contains("pdfaid:conformance=\"B\"")
    );
    println!("one-page invoice: {} bytes", bytes.len());
    assert!(bytes.len() <= 60 * 1024, "{} bytes", bytes.len());
}

#[test]
fn the_same_document_and_template_give_the_same_bytes() {
    let s = sample::invoice("USD", "en-US", 40).unwrap();
    assert_eq!(pdf(&s), pdf(&s));
    let mut other = s.clone();
    other.template.footer = Some("Another footer".into());
    assert_ne!(pdf(&s), pdf(&other), "a template change shows in the bytes");
}

#[test]
fn text_the_font_cannot_show_is_replaced_rather_than_failing_pdf_a() {
    let mut s = sample::invoice("USD", "en-US", 3).unwrap();
    s.document.lines[0].description = "東京 office seats\u{7}".into();
    s.account.name = "Ünïcødé Ltd".into();
    s.account.bill_to = None;
    s.account.ship_to = None;
    let text = &pages(&pdf(&s))[0];
    assert_has(text, &["?? office seats", "Ünïcødé Ltd"]);
    assert!(!text.contains("SHIP TO"));
}

#[test]
fn a_long_description_wraps_inside_its_column() {
    let mut s = sample::invoice("USD", "en-US", 2).unwrap();
    s.document.lines[0].description =
        "Enterprise analytics platform with dedicated tenancy, single sign-on, audit log export and 24/7 premium support".into();
    let text = &pages(&pdf(&s))[0];
    assert_has(
        text,
        &["Enterprise analytics platform", "24/7 premium", "$1,554.00"],
    );
}

#[test]
fn a_document_without_a_number_or_with_an_invalid_template_is_an_error() {
    let mut s = sample::invoice("USD", "en-US", 1).unwrap();
    s.document.number = None;
    assert!(matches!(
        render(&s.document, &s.account, &s.template, &s.context),
        Err(RenderError::Unnumbered(_))
    ));
    let mut s = sample::invoice("USD", "en-US", 1).unwrap();
    s.template.accent_color = "teal".into();
    match render(&s.document, &s.account, &s.template, &s.context) {
        Err(RenderError::Template(e)) => assert_eq!(e.field, "accentColor"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_document_without_lines_still_has_its_header_row_and_totals() {
    let mut s = sample::invoice("USD", "en-US", 0).unwrap();
    s.context.invoice_message = None;
    let text = &pages(&pdf(&s))[0];
    assert_has(
        text,
        &[
            "Description",
            "Subtotal",
            "$0.00",
            "Total due (USD)",
            "Page 1 of 1",
        ],
    );
}

#[test]
fn an_email_writes_the_total_and_dates_exactly_as_its_pdf_does() {
    let samples = [
        sample::invoice("USD", "en-US", 8),
        sample::invoice("EUR", "de-DE", 8),
        sample::invoice("EUR", "fr-FR", 8),
        sample::invoice("GBP", "en-GB", 8),
        sample::invoice("JPY", "en-US", 8),
        sample::invoice("KWD", "de-DE", 8),
        sample::invoice("CAD", "en-US", 8),
        sample::credit_memo("EUR", "de-DE"),
    ];
    for s in samples {
        let mut s = s.unwrap();
        // The placeholders' values alone, one a line.
        s.template.email = Some(billrun_documents::TemplateEmail {
            text: Some("{total}\n{invoiceDate}\n{number}".into()),
            ..Default::default()
        });
        let email = s.template.email_content(&s.document, &s.account).unwrap();
        // pdftotext may write the French narrow no-break space as a plain one.
        let text = pages(&pdf(&s))[0].replace('\u{202F}', " ");
        for value in email.text.replace('\u{202F}', " ").lines() {
            assert!(
                text.contains(value),
                "{} {}: '{value}' not in the PDF:\n{text}",
                s.document.currency,
                s.template.locale
            );
        }
    }
}

#[test]
fn a_templates_sample_shows_its_own_fields_on_a_document_labelled_as_a_sample() {
    use billrun_app::ports::DocumentRenderer;
    let content = serde_json::json!({
        "companyName": "Fabrikam Sample Works GmbH",
        "address": {"line1": "Hauptstraße 5", "city": "Berlin", "postalCode": "10115",
                    "country": "Germany"},
        "taxId": "DE 123456789",
        "footer": "Bitte zahlen Sie innerhalb von 14 Tagen.",
        "locale": "de-DE",
    });
    let t = billrun_documents::PdfRenderer
        .template(&content.to_string())
        .unwrap();
    let pdf = t.sample().unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let text = pages(&pdf).join("\n");
    assert_has(
        &text,
        &[
            "Fabrikam Sample Works GmbH",
            "Hauptstraße 5",
            "DE 123456789",
            "Bitte zahlen Sie innerhalb von 14 Tagen.",
            billrun_documents::SAMPLE_NUMBER,
            "Sample Customer (example data)",
            "This is not an invoice.",
            // de-DE writes euros after the amount, with a decimal comma.
            " €",
        ],
    );
    assert!(
        !text.contains("Contoso"),
        "no customer of the fixtures shows"
    );
}
