//! The MIME builder, read back by mail-parser.

use crate::{lf, pdf_bytes, sample_mail};
use billrun_app::model::deliveries::OutgoingMail;
use billrun_app::ports::SendFailed;
use billrun_mail::{to_mime, to_mime_at};
use mail_parser::{MessageParser, MimeHeaders};
use std::time::{Duration, SystemTime};

fn at() -> SystemTime {
    // 2024-02-01T09:30:00Z
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_706_779_800)
}

/// Puts a value into one field of a mail.
type SetField = fn(&mut OutgoingMail, &str);

fn permanent(r: Result<Vec<u8>, SendFailed>) -> String {
    match r {
        Err(SendFailed::Permanent(reason)) => reason,
        other => panic!("expected a permanent failure, got {other:?}"),
    }
}

#[test]
fn a_message_reads_back_with_its_headers_both_bodies_and_the_attachment() {
    let mail = sample_mail();
    let bytes = to_mime_at(&mail, at()).unwrap();
    let m = MessageParser::default().parse(&bytes).unwrap();

    let from = m.from().unwrap().first().unwrap();
    assert_eq!(from.address(), Some("billing@northwind.example"));
    assert_eq!(from.name(), Some("Northwind Billing"));
    let to: Vec<_> = m
        .to()
        .unwrap()
        .iter()
        .map(|a| a.address().unwrap())
        .collect();
    assert_eq!(to, ["ada@customer.example", "ap@customer.example"]);
    assert_eq!(m.to().unwrap().first().unwrap().name(), Some("Ada Müller"));
    let cc = m.cc().unwrap().first().unwrap().address();
    assert_eq!(cc, Some("controller@customer.example"));
    let reply_to = m.reply_to().unwrap().first().unwrap().address();
    assert_eq!(reply_to, Some("help@northwind.example"));
    assert_eq!(m.subject(), Some("Rechnung INV-000000001 – Northwind"));
    assert_eq!(m.message_id(), Some("req-1.doc-1@billrun"));
    assert_eq!(m.date().unwrap().to_rfc3339(), "2024-02-01T09:30:00Z");
    assert!(m.bcc().is_none());

    assert_eq!(lf(&m.body_text(0).unwrap()), mail.text);
    assert_eq!(lf(&m.body_html(0).unwrap()), mail.html);
    assert_eq!(m.attachment_count(), 1);
    let pdf = m.attachment(0).unwrap();
    assert_eq!(pdf.contents(), pdf_bytes().as_slice());
    assert_eq!(pdf.attachment_name(), Some("INV-000000001.pdf"));
    assert!(pdf.is_content_type("application", "pdf"));
    assert_eq!(pdf.content_transfer_encoding(), Some("base64"));
    assert_eq!(
        m.text_part(0).unwrap().content_transfer_encoding(),
        Some("quoted-printable")
    );

    let raw = String::from_utf8_lossy(&bytes);
    assert!(raw.contains("Content-Type: multipart/mixed;"), "{raw}");
    assert!(raw.contains("multipart/alternative;"), "{raw}");
    assert!(
        raw.contains("Message-ID: <req-1.doc-1@billrun>\r\n"),
        "{raw}"
    );
}

#[test]
fn without_html_the_text_part_stands_alone_beside_the_attachment() {
    let mut mail = sample_mail();
    mail.html = String::new();
    let bytes = to_mime_at(&mail, at()).unwrap();
    let raw = String::from_utf8_lossy(&bytes);
    assert!(!raw.contains("text/html"), "{raw}");
    assert!(!raw.contains("multipart/alternative"), "{raw}");
    let m = MessageParser::default().parse(&bytes).unwrap();
    assert_eq!(lf(&m.body_text(0).unwrap()), mail.text);
    assert_eq!(m.attachment(0).unwrap().contents(), pdf_bytes().as_slice());
}

#[test]
fn without_an_attachment_the_message_has_only_its_bodies() {
    let mut mail = sample_mail();
    mail.attachment = None;
    let m_bytes = to_mime_at(&mail, at()).unwrap();
    let m = MessageParser::default().parse(&m_bytes).unwrap();
    assert_eq!(m.attachment_count(), 0);
    assert_eq!(lf(&m.body_html(0).unwrap()), mail.html);
}

#[test]
fn the_same_mail_at_the_same_date_is_the_same_bytes() {
    let mail = sample_mail();
    assert_eq!(
        to_mime_at(&mail, at()).unwrap(),
        to_mime_at(&mail, at()).unwrap()
    );
    assert!(to_mime(&mail).is_ok());
}

/// `bytes` parsed, after checking that no line of them starts a `Bcc` header.
fn parsed_without_bcc(bytes: &[u8]) -> mail_parser::Message<'_> {
    let raw = String::from_utf8_lossy(bytes);
    let bcc = |l: &str| l.to_ascii_lowercase().starts_with("bcc:");
    assert!(!raw.lines().any(bcc), "{raw}");
    let m = MessageParser::default().parse(bytes).unwrap();
    assert!(m.bcc().is_none());
    m
}

#[test]
fn a_line_break_in_the_subject_cannot_start_a_bcc_header() {
    let mut mail = sample_mail();
    mail.subject = "Invoice\r\nBcc: evil@x.com".to_string();
    let bytes = to_mime_at(&mail, at()).unwrap();
    let m = parsed_without_bcc(&bytes);
    assert_eq!(m.subject(), Some("Invoice  Bcc: evil@x.com"));
}

#[test]
fn a_line_break_in_a_display_name_or_file_name_cannot_start_a_header() {
    let mut mail = sample_mail();
    mail.to = vec!["\"Evil\r\nBcc: evil@x.com\" <ada@customer.example>".to_string()];
    mail.attachment.as_mut().unwrap().filename = "INV-1.pdf\r\nBcc: evil@x.com".to_string();
    let bytes = to_mime_at(&mail, at()).unwrap();
    let m = parsed_without_bcc(&bytes);
    let to = m.to().unwrap().first().unwrap();
    assert_eq!(to.address(), Some("ada@customer.example"));
    // The name keeps its words; the parser may fold the two spaces into one.
    let name = to.name().unwrap().split_whitespace().collect::<Vec<_>>();
    assert_eq!(name, ["Evil", "Bcc:", "evil@x.com"]);
    assert_eq!(
        m.attachment(0).unwrap().attachment_name(),
        Some("INV-1.pdf  Bcc: evil@x.com")
    );
}

#[test]
fn a_bad_address_fails_permanently_naming_its_header_but_not_the_address() {
    let bad = "not an address";
    let cases: [(&str, SetField); 4] = [
        ("From", |m, v| m.from = v.to_string()),
        ("To", |m, v| m.to[1] = v.to_string()),
        ("Cc", |m, v| m.cc = vec![v.to_string()]),
        ("Reply-To", |m, v| m.reply_to = Some(v.to_string())),
    ];
    for (header, set) in cases {
        let mut mail = sample_mail();
        set(&mut mail, bad);
        let reason = permanent(to_mime_at(&mail, at()));
        assert!(reason.starts_with(&format!("{header}:")), "{reason}");
        assert!(!reason.contains(bad), "{reason}");
    }
    // An address cut in two by a line break is no address either.
    let mut mail = sample_mail();
    mail.to = vec!["ada@customer\r\n.example".to_string()];
    assert!(permanent(to_mime_at(&mail, at())).starts_with("To:"));
}

#[test]
fn a_message_without_recipient_or_with_a_malformed_id_fails_permanently() {
    let mut mail = sample_mail();
    mail.to.clear();
    assert!(permanent(to_mime_at(&mail, at())).starts_with("To:"));
    for id in [
        "req-1.doc-1@billrun",
        "<no-at-sign>",
        "<a@b>\r\nBcc: x@y.z",
        "<a b@c>",
    ] {
        let mut mail = sample_mail();
        mail.message_id = id.to_string();
        assert!(
            permanent(to_mime_at(&mail, at())).starts_with("Message-ID:"),
            "{id}"
        );
    }
    let mut mail = sample_mail();
    mail.attachment.as_mut().unwrap().content_type = "not a type".to_string();
    assert!(permanent(to_mime_at(&mail, at())).starts_with("attachment:"));
}
