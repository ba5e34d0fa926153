//! The handler of the `process-account` function, a library so that end-to-end tests drive it.

pub mod handler;

use billrun_lambda::{Adapters, NoBlobs, NoQueue, Wiring};
use std::sync::Arc;

/// The function's adapters beside DynamoDB: commits to DynamoDB only (the event source mapping deletes its messages).
pub fn adapters(_: &Wiring<'_>) -> Adapters {
    Adapters {
        queue: Arc::new(NoQueue),
        blobs: Arc::new(NoBlobs),
        renderer: Arc::new(billrun_documents::PdfRenderer),
    }
}
