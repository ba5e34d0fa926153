//! The handler of the `plan-run` function, a library so that end-to-end tests drive it.

pub mod handler;

use billrun_lambda::{Adapters, NoBlobs, NoExportFiles, NoMailer, Wiring};
use std::sync::Arc;

/// The function's adapters beside DynamoDB: plans a run onto the account queue.
pub fn adapters(w: &Wiring<'_>) -> Adapters {
    Adapters {
        queue: w.sqs(),
        blobs: Arc::new(NoBlobs),
        renderer: Arc::new(billrun_documents::PdfRenderer),
        exports: Arc::new(NoExportFiles),
        mailer: Arc::new(NoMailer),
    }
}
