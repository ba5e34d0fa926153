//! billrun-documents as the application's renderer port: templates are
//! [`DocumentTemplate`]s read from their JSON, documents rendered by [`render`] as
//! PDF/A-2b. In a build without the PDF writer (feature `render` off) templates are
//! still read and checked, and rendering answers [`RenderError::NotBuilt`].

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

    fn email(&self, document: &Document, _account: &Account) -> Result<EmailContent, RenderFailed> {
        // The template's email fields come next; until then the number names the email.
        let number = document.number.as_deref().unwrap_or_default();
        Ok(EmailContent {
            subject: format!("Invoice {number} from {}", self.company_name),
            text: format!("Your invoice {number} is attached."),
            html: String::new(),
            reply_to: None,
        })
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
}
