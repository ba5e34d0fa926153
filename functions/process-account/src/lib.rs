//! The handler of the `process-account` function, a library so that end-to-end tests drive it.

pub mod handler;

use billrun_lambda::{Adapters, NoBlobs, NoExportFiles, NoMailer, Wiring};
use std::sync::Arc;

/// The function's adapters beside DynamoDB: commits to DynamoDB (the event source mapping
/// deletes its messages); the batch that finalizes a run posted by `autoPost` queues its
/// `autoEmail` request on the delivery queue, which deliver-documents makes and sends.
pub fn adapters(w: &Wiring<'_>) -> Adapters {
    Adapters {
        queue: w.sqs(),
        blobs: Arc::new(NoBlobs),
        renderer: Arc::new(billrun_documents::PdfRenderer),
        exports: Arc::new(NoExportFiles),
        mailer: Arc::new(NoMailer),
    }
}
