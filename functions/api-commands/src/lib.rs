//! The handler of the `api-commands` function, a library so that end-to-end tests drive it.

pub mod handler;

use billrun_lambda::{Adapters, NoBlobs, NoExportFiles, NoMailer, Wiring};
use std::sync::Arc;

/// The function's adapters beside DynamoDB: a run's creation, retries and cancels send to the plan queue; no document file is read or written.
pub fn adapters(w: &Wiring<'_>) -> Adapters {
    Adapters {
        queue: w.sqs(),
        blobs: Arc::new(NoBlobs),
        renderer: Arc::new(billrun_documents::PdfRenderer),
        exports: Arc::new(NoExportFiles),
        mailer: Arc::new(NoMailer),
    }
}
