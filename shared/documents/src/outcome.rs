//! What rendering takes beside the document and what it can fail with: the same whether
//! or not this build has the PDF writer (feature `render`).

use crate::template::TemplateError;

/// What a document does not carry but its PDF shows: the renderer port's.
pub use billrun_app::ports::RenderContext;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("invalid document template: {0}")]
    Template(#[from] TemplateError),
    #[error("document {0} has no number yet (documents are numbered when their run is finalized)")]
    Unnumbered(String),
    #[error("the embedded fonts could not be read")]
    Fonts,
    #[error("the template's logo could not be read: {0}")]
    Logo(String),
    #[error("the PDF could not be written: {0}")]
    Pdf(String),
    /// This build was made without the PDF writer (feature `render` of billrun-documents).
    #[error("this build cannot render documents (billrun-documents without its render feature)")]
    NotBuilt,
}
