use super::*;
use crate::sample::{self, Sample};

/// The sample USD invoice (en-US) under a template with `email`.
fn invoice_with(email: TemplateEmail) -> Sample {
    let mut s = sample::invoice("USD", "en-US", 3).unwrap();
    s.template.email = Some(email);
    s
}

fn content(s: &Sample) -> EmailContent {
    s.template.email_content(&s.document, &s.account).unwrap()
}

fn field_of(json: &str) -> String {
    DocumentTemplate::from_json(json.as_bytes())
        .unwrap_err()
        .field
}

#[test]
fn an_invoice_without_email_fields_gets_the_default_subject_and_bodies() {
    let s = sample::invoice("USD", "en-US", 8).unwrap();
    let e = content(&s);
    assert_eq!(
        e.subject,
        "Invoice INV-000001042 from Northwind Analytics, Inc."
    );
    for body in [&e.text, &e.html] {
        for fact in [
            "Contoso Retail Group",
            "INV-000001042",
            "Feb 1, 2024",
            "$4,642.30",
            "Mar 2, 2024",
            "Northwind Analytics, Inc.",
        ] {
            assert!(body.contains(fact), "'{fact}' not in {body}");
        }
    }
    assert!(e.text.contains("Total due: $4,642.30"), "{}", e.text);
    assert!(e.html.starts_with("<!DOCTYPE html>"));
    assert_eq!(e.reply_to, None);
}

#[test]
fn a_credit_memo_says_credit_memo_and_names_no_due_date() {
    let s = sample::credit_memo("USD", "en-US").unwrap();
    let e = content(&s);
    assert_eq!(
        e.subject,
        "Credit memo CM-000000088 from Northwind Analytics, Inc."
    );
    assert!(e.text.contains("credit memo CM-000000088"), "{}", e.text);
    assert!(e.text.contains("Total credit: -$194.45"), "{}", e.text);
    for body in [&e.text, &e.html] {
        assert!(!body.contains("nvoice"), "{body}");
        assert!(!body.contains("Due date"), "{body}");
    }
}

#[test]
fn amounts_and_dates_follow_the_templates_locale_and_the_pdfs_currency_mark() {
    let cases = [
        ("EUR", "de-DE", "4.270,92 €", "01.02.2024"),
        ("EUR", "fr-FR", "4\u{202F}270,92 €", "01/02/2024"),
        ("GBP", "en-GB", "£3,667.42", "1 Feb 2024"),
        ("JPY", "en-US", "¥698,667", "Feb 1, 2024"),
        ("KWD", "en-US", "KWD 1,425.187", "Feb 1, 2024"),
        ("CAD", "en-US", "CAD 4,642.30", "Feb 1, 2024"),
    ];
    for (currency, locale, total, date) in cases {
        let s = sample::invoice(currency, locale, 8).unwrap();
        let e = content(&s);
        assert!(e.text.contains(total), "{currency} {locale}: {}", e.text);
        assert!(e.text.contains(date), "{currency} {locale}: {}", e.text);
    }
}

#[test]
fn the_templates_fields_fill_their_placeholders_and_braces_are_doubled() {
    let s = invoice_with(TemplateEmail {
        subject: Some("{company}: {number} ({total}) due {dueDate}".into()),
        text: Some("Dear {accountName}, {{literal}} {invoiceDate}".into()),
        html: Some("<style>p {{ color: red }}</style><p>{accountName}</p>".into()),
        reply_to: Some("billing@northwind.example".into()),
    });
    let e = content(&s);
    let total = money(
        s.document.totals.total,
        s.document.currency,
        crate::format::Locale::EnUs,
        &CurrencyMark::as_on_documents(s.document.currency),
    );
    assert_eq!(
        e.subject,
        format!("Northwind Analytics, Inc.: INV-000001042 ({total}) due Mar 2, 2024")
    );
    assert_eq!(e.text, "Dear Contoso Retail Group, {literal} Feb 1, 2024");
    assert_eq!(
        e.html,
        "<style>p { color: red }</style><p>Contoso Retail Group</p>"
    );
    assert_eq!(e.reply_to.as_deref(), Some("billing@northwind.example"));
}

#[test]
fn values_are_html_escaped_in_the_html_body_only() {
    let mut s = sample::invoice("USD", "en-US", 3).unwrap();
    s.account.name = "Tom & Jerry's <b>\"Cheese\"</b>".into();
    let e = content(&s);
    assert!(
        e.text.contains("Hello Tom & Jerry's <b>\"Cheese\"</b>,"),
        "{}",
        e.text
    );
    assert!(
        e.html
            .contains("Hello Tom &amp; Jerry&#39;s &lt;b&gt;&quot;Cheese&quot;&lt;/b&gt;,"),
        "{}",
        e.html
    );
    assert!(!e.html.contains("<b>\"Cheese"));
}

#[test]
fn a_line_break_in_book_data_does_not_reach_the_subject() {
    let mut s = invoice_with(TemplateEmail {
        subject: Some("Invoice for {accountName}".into()),
        ..TemplateEmail::default()
    });
    s.account.name = "Contoso\r\nBcc: evil@x.com".into();
    assert_eq!(content(&s).subject, "Invoice for Contoso  Bcc: evil@x.com");
}

#[test]
fn a_template_with_its_own_text_but_no_html_sends_plain_text() {
    let text_only = invoice_with(TemplateEmail {
        text: Some("Invoice {number} attached.".into()),
        ..TemplateEmail::default()
    });
    let e = content(&text_only);
    assert_eq!(e.text, "Invoice INV-000001042 attached.");
    assert_eq!(e.html, "");
    assert_eq!(
        e.subject,
        "Invoice INV-000001042 from Northwind Analytics, Inc."
    );

    let html_only = invoice_with(TemplateEmail {
        html: Some("<p>{number}</p>".into()),
        ..TemplateEmail::default()
    });
    let e = content(&html_only);
    assert_eq!(e.html, "<p>INV-000001042</p>");
    assert!(
        e.text.starts_with("Hello Contoso Retail Group,"),
        "{}",
        e.text
    );
}

#[test]
fn an_unnumbered_document_has_no_email() {
    let mut s = sample::invoice("USD", "en-US", 3).unwrap();
    s.document.number = None;
    let Err(RenderError::Unnumbered(_)) = s.template.email_content(&s.document, &s.account) else {
        panic!("an unnumbered document is an error");
    };
}

#[test]
fn every_default_is_a_valid_template_of_its_own() {
    for kind in [DocumentKind::Invoice, DocumentKind::CreditMemo] {
        let (subject, text, html) = defaults(kind);
        let e = TemplateEmail {
            subject: Some(subject.into()),
            text: Some(text.into()),
            html: Some(html.into()),
            reply_to: None,
        };
        e.validate().unwrap();
    }
}

#[test]
fn email_fields_parse_from_the_template_json_and_round_trip() {
    let t = DocumentTemplate::from_json(
        br#"{"companyName": "Acme", "email": {"subject": "Invoice {number}",
             "text": "Total {total}", "html": "<p>{total}</p>", "replyTo": "ar@acme.example"}}"#,
    )
    .unwrap();
    let e = t.email.as_ref().unwrap();
    assert_eq!(e.subject.as_deref(), Some("Invoice {number}"));
    assert_eq!(e.reply_to.as_deref(), Some("ar@acme.example"));
    let json = serde_json::to_vec(&t).unwrap();
    assert_eq!(DocumentTemplate::from_json(&json).unwrap(), t);
    // Absent, it stays absent.
    let t = DocumentTemplate::from_json(br#"{"companyName": "Acme"}"#).unwrap();
    assert_eq!(t.email, None);
    assert!(!serde_json::to_string(&t).unwrap().contains("email"));
}

#[test]
fn a_bad_email_field_is_refused_with_its_path() {
    let template = |email: &str| format!(r#"{{"companyName": "A", "email": {email}}}"#);
    let long = |n: usize| "x".repeat(n);
    let cases = [
        (
            r#"{"subject": "Invoice {invoiceNumber}"}"#.to_string(),
            "email.subject",
        ),
        (
            r#"{"subject": "Invoice {number"}"#.to_string(),
            "email.subject",
        ),
        (
            r#"{"subject": "Invoice number}"}"#.to_string(),
            "email.subject",
        ),
        (
            r#"{"subject": "Invoice\r\nBcc: evil@x.com"}"#.to_string(),
            "email.subject",
        ),
        (r#"{"subject": "  "}"#.to_string(), "email.subject"),
        (
            format!(r#"{{"subject": "{}"}}"#, long(201)),
            "email.subject",
        ),
        (r#"{"text": "Due {due}"}"#.to_string(), "email.text"),
        (format!(r#"{{"text": "{}"}}"#, long(20_001)), "email.text"),
        (
            r#"{"html": "<style>p { color: red }</style>"}"#.to_string(),
            "email.html",
        ),
        (format!(r#"{{"html": "{}"}}"#, long(100_001)), "email.html"),
        (
            r#"{"replyTo": "not an address"}"#.to_string(),
            "email.replyTo",
        ),
        (
            r#"{"replyTo": "Billing <ar@acme.example>"}"#.to_string(),
            "email.replyTo",
        ),
        (
            r#"{"replyTo": "ar@acme.example\r\nBcc: evil@x.com"}"#.to_string(),
            "email.replyTo",
        ),
        (r#"{"from": "ar@acme.example"}"#.to_string(), ""),
    ];
    for (email, field) in cases {
        assert_eq!(field_of(&template(&email)), field, "{email}");
    }
    let e = DocumentTemplate::from_json(template(r#"{"text": "{total} {nope}"}"#).as_bytes())
        .unwrap_err();
    assert!(e.message.contains("{nope}"), "{}", e.message);
    assert!(e.message.contains("{accountName}"), "{}", e.message);
    // The limits themselves are allowed.
    let at_limits = format!(
        r#"{{"subject": "{}", "text": "{}", "html": "{}"}}"#,
        long(200),
        long(20_000),
        long(100_000)
    );
    DocumentTemplate::from_json(template(&at_limits).as_bytes()).unwrap();
}

#[test]
fn reply_to_addresses_are_plain_ascii_addresses() {
    for good in [
        "ar@acme.example",
        "first.last+invoices@mail.acme.co.uk",
        "o'brien@acme-billing.example",
    ] {
        assert!(is_address(good), "{good}");
    }
    for bad in [
        "",
        "ar",
        "ar@",
        "@acme.example",
        "ar@localhost",
        "ar@@acme.example",
        "a r@acme.example",
        ".ar@acme.example",
        "ar.@acme.example",
        "a..r@acme.example",
        "ar@-acme.example",
        "ar@acme..example",
        "ar@acme.example.",
        "ar@acmé.example",
        "\"ar\"@acme.example",
    ] {
        assert!(!is_address(bad), "{bad}");
    }
    assert!(!is_address(&format!("{}@acme.example", "a".repeat(65))));
}
