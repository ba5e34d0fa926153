//! Rendering documents as files: the port document generation renders through and
//! template uploads are checked by. billrun-documents implements it (`PdfRenderer`,
//! PDF/A-2b); the composition passes it in.

use billrun_domain::book::Account;
use billrun_domain::document::Document;

/// What a document does not carry but its file shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderContext {
    /// The run's invoice message; `None` falls back to the document's own.
    pub invoice_message: Option<String>,
    /// Numbers of invoices a credit memo credits, beside those its lines name in
    /// `creditsDocument` (both are shown, each once, in order).
    pub credited_invoices: Vec<String>,
}

/// Why a template's content cannot be used: the field (a camelCase path within the
/// content, empty for the whole) and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct TemplateRejected {
    pub field: String,
    pub message: String,
}

/// Why one document could not be rendered (worth no retry: the same inputs fail again).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RenderFailed(pub String);

/// Reads template contents into templates that render documents.
pub trait DocumentRenderer: Send + Sync {
    /// The template `content` describes, checked whole.
    fn template(&self, content: &str) -> Result<Box<dyn RenderTemplate>, TemplateRejected>;

    /// Whether this build writes files (a build without the PDF writer still reads
    /// templates and composes emails).
    fn renders(&self) -> bool;
}

/// One checked template: read once, rendering every document of a request.
pub trait RenderTemplate: Send + Sync {
    /// The file of `document` billed to `account`. The same inputs give the same bytes.
    fn render(
        &self,
        document: &Document,
        account: &Account,
        context: &RenderContext,
    ) -> Result<Vec<u8>, RenderFailed>;

    /// The email that carries `document` to `account`: subject, bodies and reply-to
    /// from the template's email fields (or their defaults), amounts and dates in the
    /// template's locale as on the PDF.
    fn email(&self, document: &Document, account: &Account) -> Result<EmailContent, RenderFailed>;

    /// The file of a fixed sample invoice, its account fictitious and the document
    /// labelled as a sample: what this template's documents look like, on no real data.
    fn sample(&self) -> Result<Vec<u8>, RenderFailed>;
}

/// What a template says an email carrying one document reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmailContent {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// `Reply-To`, a checked address.
    pub reply_to: Option<String>,
}
