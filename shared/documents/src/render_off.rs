//! `render` in a build without the PDF writer: every call answers
//! [`RenderError::NotBuilt`]. Only generate-documents (and the local mode) render.

pub use crate::outcome::{RenderContext, RenderError};
use crate::template::DocumentTemplate;
use billrun_domain::book::Account;
use billrun_domain::document::Document;

pub fn render(
    _document: &Document,
    _account: &Account,
    _template: &DocumentTemplate,
    _ctx: &RenderContext,
) -> Result<Vec<u8>, RenderError> {
    Err(RenderError::NotBuilt)
}
