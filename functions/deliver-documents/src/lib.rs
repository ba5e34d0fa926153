//! The handler of the `deliver-documents` function, a library so that end-to-end tests drive it.

pub mod handler;

use billrun_lambda::{Adapters, NoExportFiles, Wiring};
use std::sync::Arc;

/// The function's adapters beside DynamoDB: sends email through SES; reads PDFs out of
/// their packs and writes the packs it renders with signed requests; queues document and
/// delivery messages (an `AutoEmail` makes a delivery request).
pub fn adapters(w: &Wiring<'_>) -> Adapters {
    Adapters {
        queue: w.sqs(),
        blobs: w.s3_signed(),
        renderer: Arc::new(billrun_documents::PdfRenderer),
        exports: Arc::new(NoExportFiles),
        mailer: w.ses(),
    }
}
