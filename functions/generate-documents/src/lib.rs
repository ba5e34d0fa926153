//! The handler of the `generate-documents` function, a library so that end-to-end tests drive it.

pub mod handler;

use billrun_lambda::{Adapters, NoMailer, Wiring};
use std::sync::Arc;

/// The function's adapters beside DynamoDB: writes document packs with signed PutObject,
/// export files as signed multipart uploads, and queues an export's continuation with a
/// signed SendMessage.
pub fn adapters(w: &Wiring<'_>) -> Adapters {
    let s3 = w.s3_signed();
    Adapters {
        // An export hands its next parts on to a message of their own.
        queue: w.signed_document_queue(),
        blobs: s3.clone(),
        renderer: Arc::new(billrun_documents::PdfRenderer),
        exports: s3,
        mailer: Arc::new(NoMailer),
    }
}
