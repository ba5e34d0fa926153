//! The file port, the work queue and the mailer of a build without the S3, SQS or SES
//! client (features `s3`, `sqs`, `ses`): a Lambda function links only the clients its use
//! cases call, which are the ones its IAM role allows (template.yaml).

use async_trait::async_trait;
use billrun_app::error::StoreError;
use billrun_app::model::deliveries::OutgoingMail;
use billrun_app::model::Message;
use billrun_app::ports::{Accepted, BlobStore, Mailer, SendFailed, StoreResult, WorkQueue};

/// The work queue of a function built without `sqs` (process-account, api-queries,
/// generate-documents). Never called: none of their use cases sends a message, and their
/// roles have no `sqs:SendMessage`. Should one ever be called (a message of another
/// queue delivered to the function), it fails as a fatal storage error naming the
/// missing feature, not retried.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoQueue;

#[async_trait]
impl WorkQueue for NoQueue {
    async fn send(&self, messages: Vec<Message>) -> StoreResult<()> {
        Err(StoreError::fatal(format!(
            "cannot queue {} message(s): this function is built without the SQS client \
             (billrun-aws feature `sqs`)",
            messages.len()
        )))
    }
}

/// The file port of a function built without `s3` (every function but api-queries and
/// generate-documents). Never called: none of their use cases reads or writes a document
/// file, and their roles have no S3 permission. Should one ever be called, it fails as a
/// fatal storage error naming the missing feature.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoBlobs;

fn no_s3(key: &str) -> StoreError {
    StoreError::fatal(format!(
        "cannot access document file {key}: this function is built without the S3 client \
         (billrun-aws feature `s3`)"
    ))
}

#[async_trait]
impl BlobStore for NoBlobs {
    async fn put_blob(&self, key: &str, _bytes: Vec<u8>, _content_type: &str) -> StoreResult<bool> {
        Err(no_s3(key))
    }

    async fn get_blob(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        Err(no_s3(key))
    }

    async fn get_blob_range(
        &self,
        key: &str,
        _offset: u64,
        _length: u64,
    ) -> StoreResult<Option<Vec<u8>>> {
        Err(no_s3(key))
    }
}

/// The mailer of every function but deliver-documents. Those functions have email
/// delivery configured (they make delivery requests, queue their messages and show each
/// document's `deliveryStatus`), but sending is deliver-documents' alone: `Deliver`
/// messages go to its queue only, and the other roles have no `ses:` permission. Should
/// one be called anyway, the message fails permanently with a reason saying so (stored on
/// the document's result; a resend from deliver-documents sends it), never retried here.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoMailer;

#[async_trait]
impl Mailer for NoMailer {
    async fn send(&self, _mail: &OutgoingMail) -> Result<Accepted, SendFailed> {
        Err(SendFailed::Permanent(
            "this function does not send email (only deliver-documents does, with the SES \
             client: billrun-aws feature `ses`)"
                .into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn absent_clients_fail_fatally_naming_the_feature() {
        let e = NoQueue.send(vec![]).await.unwrap_err();
        assert!(
            matches!(&e, StoreError::Fatal(m) if m.message().contains("`sqs`")),
            "{e}"
        );
        let e = NoBlobs.get_blob("documents/x.pdf").await.unwrap_err();
        assert!(
            matches!(&e, StoreError::Fatal(m) if m.message().contains("`s3`")),
            "{e}"
        );
        let e = NoBlobs
            .get_blob_range("documents/x.bin", 0, 1)
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Fatal(_)));
        let mail = OutgoingMail {
            message_id: "<r.d@billrun>".into(),
            from: "billing@example.com".into(),
            to: vec!["ap@example.com".into()],
            cc: vec![],
            reply_to: None,
            subject: "Invoice".into(),
            text: "".into(),
            html: "".into(),
            attachment: None,
        };
        let e = NoMailer.send(&mail).await.unwrap_err();
        assert!(
            matches!(&e, SendFailed::Permanent(m) if m.contains("`ses`") && !m.contains('@')),
            "{e}"
        );
    }
}
