//! billrun-documents as the application's renderer port: templates are
//! [`DocumentTemplate`]s read from their JSON, documents rendered by [`render`] as
//! PDF/A-2b, and the emails that carry them composed by
//! [`DocumentTemplate::email_content`]. In a build without the PDF writer (feature
//! `render` off) templates are still read and checked and emails composed (the same text,
//! amounts included), and rendering answers [`RenderError::NotBuilt`].

use crate::render::{render, RenderError};
use crate::template::DocumentTemplate;
use billrun_app::ports::{
    DocumentRenderer, EmailContent, RenderContext, RenderFailed, RenderTemplate, TemplateRejected,
};
use billrun_domain::book::Account;
use billrun_domain::document::Document;

/// The PDF renderer.
#[derive(Debug, Clone, Copy, Default)]
pub struct PdfRenderer;

impl DocumentRenderer for PdfRenderer {
    fn template(&self, content: &str) -> Result<Box<dyn RenderTemplate>, TemplateRejected> {
        match DocumentTemplate::from_json(content.as_bytes()) {
            Ok(t) => Ok(Box::new(t)),
            Err(e) => Err(TemplateRejected {
                field: e.field,
                message: e.message,
            }),
        }
    }

    fn renders(&self) -> bool {
        cfg!(feature = "render")
    }
}

impl RenderTemplate for DocumentTemplate {
    fn render(
        &self,
        document: &Document,
        account: &Account,
        context: &RenderContext,
    ) -> Result<Vec<u8>, RenderFailed> {
        render(document, account, self, context)
            .map_err(|e: RenderError| RenderFailed(e.to_string()))
    }

    fn email(&self, document: &Document, account: &Account) -> Result<EmailContent, RenderFailed> {
        self.email_content(document, account)
            .map_err(|e| RenderFailed(e.to_string()))
    }

    fn sample(&self) -> Result<Vec<u8>, RenderFailed> {
        let mut s = crate::sample::invoice(sample_currency(&self.locale), &self.locale, 6)
            .map_err(RenderFailed)?;
        // Labelled where a reader looks first: the number, the customer, the message.
        s.document.number = Some(SAMPLE_NUMBER.to_string());
        s.account.name = SAMPLE_CUSTOMER.to_string();
        for a in [&mut s.account.bill_to, &mut s.account.ship_to]
            .into_iter()
            .flatten()
        {
            a.name = Some(SAMPLE_CUSTOMER.to_string());
        }
        s.context.invoice_message = Some(SAMPLE_MESSAGE.to_string());
        self.render(&s.document, &s.account, &s.context)
    }
}

/// The sample invoice's number, customer and message ([`RenderTemplate::sample`]).
pub const SAMPLE_NUMBER: &str = "SAMPLE-0001";
pub const SAMPLE_CUSTOMER: &str = "Sample Customer (example data)";
pub const SAMPLE_MESSAGE: &str =
    "SAMPLE: example data rendered to preview this template. This is not an invoice.";

/// The currency the sample is in: the one most readers of the locale bill in.
fn sample_currency(locale: &str) -> &'static str {
    match locale.to_ascii_lowercase().as_str() {
        "en-gb" => "GBP",
        "de-de" | "fr-fr" => "EUR",
        _ => "USD",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_is_checked_with_the_field_that_is_wrong() {
        let good = serde_json::to_string(&crate::sample::demo_template("en-US")).unwrap();
        assert!(PdfRenderer.template(&good).is_ok());
        let mut bad: serde_json::Value = serde_json::from_str(&good).unwrap();
        bad["locale"] = "xx-XX".into();
        let Err(e) = PdfRenderer.template(&bad.to_string()) else {
            panic!("an unknown locale is refused");
        };
        assert_eq!(e.field, "locale");
        let Err(e) = PdfRenderer.template("[]") else {
            panic!("a template is a JSON object");
        };
        assert_eq!(e.field, "");
    }

    #[test]
    fn a_template_reads_its_email_fields_and_composes_the_email_of_a_document() {
        let s = crate::sample::invoice("EUR", "de-DE", 3).unwrap();
        let mut json = serde_json::to_value(&s.template).unwrap();
        json["email"] = serde_json::json!({"subject": "Rechnung {number} über {total}",
                                           "replyTo": "ar@northwind.example"});
        let t = PdfRenderer.template(&json.to_string()).unwrap();
        let e = t.email(&s.document, &s.account).unwrap();
        assert_eq!(e.subject, "Rechnung INV-000001042 über 1.857,85 €");
        assert_eq!(e.reply_to.as_deref(), Some("ar@northwind.example"));

        json["email"] = serde_json::json!({"subject": "Rechnung {nummer}"});
        let Err(e) = PdfRenderer.template(&json.to_string()) else {
            panic!("an unknown placeholder is refused");
        };
        assert_eq!(e.field, "email.subject");
    }
}
