//! The email that carries a document: the template's optional `email` object, its
//! placeholders and defaults.
//!
//! ```json
//! "email": {"subject": "Invoice {number} from {company}",
//!           "text": "Hello {accountName},\n\ninvoice {number} for {total} is due on {dueDate}.",
//!           "html": "<p>Invoice <b>{number}</b>: {total}</p>",
//!           "replyTo": "billing@northwind.example"}
//! ```
//!
//! Every field is optional. A missing subject or text takes the default of the document's
//! kind (invoice or credit memo). A missing `html` takes the default too, unless `text`
//! is given: then the email is plain text, so that the text written for it is what
//! readers see (mail clients show the HTML part when there is one).
//!
//! Placeholders are `{name}`; `{{` and `}}` write a brace (CSS in the HTML needs them).
//! Amounts and dates read as on the PDF: the template's locale, the currency mark the
//! PDF uses. Values put into the HTML body are HTML-escaped; the template's own HTML is
//! the template owner's and is sent as written.

use crate::format::{money, CurrencyMark};
use crate::outcome::RenderError;
use crate::template::{DocumentTemplate, TemplateError};
use billrun_app::ports::EmailContent;
use billrun_domain::book::Account;
use billrun_domain::document::{Document, DocumentKind};
use serde::{Deserialize, Serialize};

/// Longest subject, in characters (after the placeholders, the mail headers fold it).
pub const MAX_SUBJECT: usize = 200;
/// Longest text body, in characters.
pub const MAX_TEXT_BODY: usize = 20_000;
/// Longest HTML body, in characters.
pub const MAX_HTML_BODY: usize = 100_000;
/// Longest address (RFC 5321's path limit less its angle brackets).
pub const MAX_ADDRESS: usize = billrun_domain::email::MAX_ADDRESS;

/// The template's `email` object, as received.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateEmail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// One bare address (`billing@northwind.example`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
}

/// What a placeholder stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Number,
    Total,
    DueDate,
    InvoiceDate,
    Company,
    AccountName,
}

/// Each placeholder's name, as written between the braces.
const FIELDS: [(&str, Field); 6] = [
    ("number", Field::Number),
    ("total", Field::Total),
    ("dueDate", Field::DueDate),
    ("invoiceDate", Field::InvoiceDate),
    ("company", Field::Company),
    ("accountName", Field::AccountName),
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Field(Field),
}

/// `s` as literal text and placeholders; the error says what is wrong.
fn parse(s: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                literal.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        // Names are short: a long run is a brace that was meant as text.
                        Some(c) if name.len() < 40 && c != '{' => name.push(c),
                        _ => return Err(
                            "has a '{' without its '}' within 40 characters (write {{ for a brace)"
                                .into(),
                        ),
                    }
                }
                let Some((_, field)) = FIELDS.iter().find(|(n, _)| *n == name) else {
                    let known: Vec<String> =
                        FIELDS.iter().map(|(n, _)| format!("{{{n}}}")).collect();
                    return Err(format!(
                        "has an unknown placeholder {{{name}}} (known: {})",
                        known.join(", ")
                    ));
                };
                if !literal.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Field(*field));
            }
            '}' => return Err("has a '}' without its '{' (write }} for a brace)".into()),
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Ok(pieces)
}

fn err(field: &str, message: impl Into<String>) -> TemplateError {
    TemplateError {
        field: format!("email.{field}"),
        message: message.into(),
    }
}

impl TemplateEmail {
    /// Checks every field; the first problem is reported with its path (`email.subject`).
    pub fn validate(&self) -> Result<(), TemplateError> {
        for (field, value, max) in [
            ("subject", &self.subject, MAX_SUBJECT),
            ("text", &self.text, MAX_TEXT_BODY),
            ("html", &self.html, MAX_HTML_BODY),
        ] {
            let Some(v) = value else { continue };
            if v.chars().count() > max {
                return Err(err(field, format!("must be at most {max} characters")));
            }
            parse(v).map_err(|m| err(field, m))?;
        }
        if let Some(s) = &self.subject {
            if s.trim().is_empty() {
                return Err(err("subject", "must not be empty"));
            }
            // A subject is one header line: a line break could start another header.
            if s.chars().any(char::is_control) {
                return Err(err(
                    "subject",
                    "must not contain line breaks or control characters",
                ));
            }
        }
        if let Some(a) = &self.reply_to {
            if !is_address(a) {
                return Err(err(
                    "replyTo",
                    "must be one email address (name@example.com)",
                ));
            }
        }
        Ok(())
    }
}

/// Whether `s` is a plain address, by the rule the book's addresses follow
/// ([`billrun_domain::email::address_problem`]): the form every relay accepts.
pub fn is_address(s: &str) -> bool {
    billrun_domain::email::address_problem(s).is_none()
}

const INVOICE_SUBJECT: &str = "Invoice {number} from {company}";
const INVOICE_TEXT: &str = "Hello {accountName},

invoice {number} of {invoiceDate} is attached.

Total due: {total}
Due date: {dueDate}

Thank you for your business.
{company}
";
const INVOICE_HTML: &str = "<!DOCTYPE html>
<html><body style=\"font-family: Helvetica, Arial, sans-serif; color: #222222;\">
<p>Hello {accountName},</p>
<p>invoice <strong>{number}</strong> of {invoiceDate} is attached.</p>
<table role=\"presentation\" cellpadding=\"4\" cellspacing=\"0\">
<tr><td>Total due</td><td><strong>{total}</strong></td></tr>
<tr><td>Due date</td><td>{dueDate}</td></tr>
</table>
<p>Thank you for your business.<br>{company}</p>
</body></html>
";
const CREDIT_MEMO_SUBJECT: &str = "Credit memo {number} from {company}";
const CREDIT_MEMO_TEXT: &str = "Hello {accountName},

credit memo {number} of {invoiceDate} is attached.

Total credit: {total}

{company}
";
const CREDIT_MEMO_HTML: &str = "<!DOCTYPE html>
<html><body style=\"font-family: Helvetica, Arial, sans-serif; color: #222222;\">
<p>Hello {accountName},</p>
<p>credit memo <strong>{number}</strong> of {invoiceDate} is attached.</p>
<table role=\"presentation\" cellpadding=\"4\" cellspacing=\"0\">
<tr><td>Total credit</td><td><strong>{total}</strong></td></tr>
</table>
<p>{company}</p>
</body></html>
";

/// (subject, text, html) of the kind's default email.
fn defaults(kind: DocumentKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        DocumentKind::Invoice => (INVOICE_SUBJECT, INVOICE_TEXT, INVOICE_HTML),
        DocumentKind::CreditMemo => (CREDIT_MEMO_SUBJECT, CREDIT_MEMO_TEXT, CREDIT_MEMO_HTML),
    }
}

/// The placeholders' values for one document.
struct Values {
    number: String,
    total: String,
    due_date: String,
    invoice_date: String,
    company: String,
    account_name: String,
}

impl Values {
    fn get(&self, f: Field) -> &str {
        match f {
            Field::Number => &self.number,
            Field::Total => &self.total,
            Field::DueDate => &self.due_date,
            Field::InvoiceDate => &self.invoice_date,
            Field::Company => &self.company,
            Field::AccountName => &self.account_name,
        }
    }

    /// `template` (the template's `email.<field>`) with its placeholders filled in, each
    /// value passed through `escape`.
    fn fill(
        &self,
        field: &str,
        template: &str,
        escape: fn(&str) -> String,
    ) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(template.len() + 64);
        for piece in parse(template).map_err(|m| err(field, m))? {
            match piece {
                Piece::Literal(s) => out.push_str(&s),
                Piece::Field(f) => out.push_str(&escape(self.get(f))),
            }
        }
        Ok(out)
    }
}

fn as_is(s: &str) -> String {
    s.to_string()
}

/// A header value on one line: control characters (from book data) as spaces.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `s` safe as HTML text and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

impl DocumentTemplate {
    /// The email that carries `document` to `account` (module docs): the template's
    /// `email` fields or the defaults of the document's kind, filled in.
    pub fn email_content(
        &self,
        document: &Document,
        account: &Account,
    ) -> Result<EmailContent, RenderError> {
        let number = document
            .number
            .as_deref()
            .ok_or_else(|| RenderError::Unnumbered(document.id.to_string()))?;
        let locale = self.parsed_locale()?;
        let mark = CurrencyMark::as_on_documents(document.currency);
        let values = Values {
            number: number.to_string(),
            total: money(document.totals.total, document.currency, locale, &mark),
            due_date: locale.date(document.due_date),
            invoice_date: locale.date(document.invoice_date),
            company: self.company_name.clone(),
            account_name: account.name.clone(),
        };
        let email = self.email.as_ref();
        let given = |f: fn(&TemplateEmail) -> &Option<String>| email.and_then(|e| f(e).as_deref());
        let (subject, text, html) = defaults(document.kind);
        let text_given = given(|e| &e.text);
        let html = match (given(|e| &e.html), text_given) {
            (Some(h), _) => h,
            (None, Some(_)) => "",
            (None, None) => html,
        };
        Ok(EmailContent {
            subject: one_line(&values.fill(
                "subject",
                given(|e| &e.subject).unwrap_or(subject),
                as_is,
            )?),
            text: values.fill("text", text_given.unwrap_or(text), as_is)?,
            html: values.fill("html", html, html_escape)?,
            reply_to: given(|e| &e.reply_to).map(str::to_string),
        })
    }
}

#[cfg(test)]
#[path = "email/tests.rs"]
mod tests;
