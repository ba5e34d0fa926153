//! billrun-mail's tests, one binary: the MIME builder read back by an independent parser
//! (mail-parser), the `.eml` folder, and the SMTP mailer against a small SMTP server run
//! on loopback by the test itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod eml;
mod fake_smtp;
mod mime;
mod smtp;

use billrun_app::model::deliveries::{Attachment, OutgoingMail};

/// A PDF-like attachment: binary bytes, every value 0..=255 and a NUL, so that only
/// base64 can carry it.
pub fn pdf_bytes() -> Vec<u8> {
    let mut b = b"%PDF-1.7\n".to_vec();
    b.extend((0..=255u8).cycle().take(3000));
    b
}

/// A message as delivery builds one: two recipients, a copy, a reply-to, both bodies
/// and the PDF.
pub fn sample_mail() -> OutgoingMail {
    OutgoingMail {
        message_id: "<req-1.doc-1@billrun>".to_string(),
        from: "Northwind Billing <billing@northwind.example>".to_string(),
        to: vec![
            "Ada Müller <ada@customer.example>".to_string(),
            "ap@customer.example".to_string(),
        ],
        cc: vec!["controller@customer.example".to_string()],
        reply_to: Some("help@northwind.example".to_string()),
        subject: "Rechnung INV-000000001 – Northwind".to_string(),
        text: "Hello Ada,\n\nplease find invoice INV-000000001 attached: 1.234,56 €.\n".to_string(),
        html: "<p>Hello Ada,</p>\n<p>Invoice <b>INV-000000001</b>: 1.234,56 €.</p>".to_string(),
        attachment: Some(Attachment {
            filename: "INV-000000001.pdf".to_string(),
            content_type: "application/pdf".to_string(),
            bytes: pdf_bytes(),
        }),
    }
}

/// `\r\n` as `\n`: lettre writes text bodies with CRLF line ends, as SMTP requires.
pub fn lf(s: &str) -> String {
    s.replace("\r\n", "\n")
}
