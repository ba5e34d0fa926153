//! The handler of the `api-queries` function, a library so that end-to-end tests drive it.

pub mod handler;

use billrun_lambda::{Adapters, NoMailer, NoQueue, Wiring};
use std::sync::Arc;

/// The function's adapters beside DynamoDB: reads only: PDFs out of their packs with signed ranged GetObject.
pub fn adapters(w: &Wiring<'_>) -> Adapters {
    let s3 = w.s3_signed();
    Adapters {
        queue: Arc::new(NoQueue),
        blobs: s3.clone(),
        renderer: Arc::new(billrun_documents::PdfRenderer),
        exports: s3,
        mailer: Arc::new(NoMailer),
    }
}
