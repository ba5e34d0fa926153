//! The file port and the work queue of a build without the S3 or SQS client (features
//! `s3`, `sqs`): a Lambda function links only the clients its use cases call, which are
//! the ones its IAM role allows (template.yaml).

use async_trait::async_trait;
use billrun_app::error::StoreError;
use billrun_app::model::Message;
use billrun_app::ports::{BlobStore, StoreResult, WorkQueue};

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
    }
}
