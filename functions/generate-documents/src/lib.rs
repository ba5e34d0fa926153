//! The handler of the `generate-documents` function, a library so that end-to-end tests drive it.

pub mod handler;

use billrun_lambda::{Adapters, NoMailer, NoQueue, Wiring};
use std::sync::Arc;

/// The function's adapters beside DynamoDB: writes document packs with signed PutObject; sends nothing.
pub fn adapters(w: &Wiring<'_>) -> Adapters {
    Adapters {
        queue: Arc::new(NoQueue),
        blobs: w.s3_signed(),
        renderer: Arc::new(billrun_documents::PdfRenderer),
        mailer: Arc::new(NoMailer),
    }
}
