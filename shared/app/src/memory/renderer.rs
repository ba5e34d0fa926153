//! For this crate's tests, which render nothing: a renderer that reads no template.
//! Compositions that render pass billrun-documents' `PdfRenderer`.

use crate::ports::{DocumentRenderer, RenderTemplate, TemplateRejected};

pub(crate) struct NoRenderer;

impl DocumentRenderer for NoRenderer {
    fn template(&self, _content: &str) -> Result<Box<dyn RenderTemplate>, TemplateRejected> {
        Err(TemplateRejected {
            field: String::new(),
            message: "this composition renders no documents".into(),
        })
    }

    fn renders(&self) -> bool {
        false
    }
}
