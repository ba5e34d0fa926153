//! S3 adapter of the file port: a private bucket, objects encrypted at rest (SSE-S3).

use crate::metrics::{bump, Metrics};
use async_trait::async_trait;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use billrun_app::error::StoreError;
use billrun_app::ports::{byte_range, BlobStore, StoreResult};
use std::sync::Arc;

pub struct S3Blobs {
    client: aws_sdk_s3::Client,
    bucket: String,
    metrics: Arc<Metrics>,
}

impl S3Blobs {
    pub fn new(
        client: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        metrics: Arc<Metrics>,
    ) -> Self {
        S3Blobs {
            client,
            bucket: bucket.into(),
            metrics,
        }
    }
}

/// The SDK error stays the failure's source (the log's error chain).
fn s3_err<E, R>(e: aws_sdk_s3::error::SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let text = format!("{}", DisplayErrorContext(&e));
    match e.code() {
        Some("NoSuchBucket" | "AccessDenied" | "InvalidAccessKeyId") => {
            StoreError::fatal_from(text, e)
        }
        _ => StoreError::transient_from(text, e),
    }
}

#[async_trait]
impl BlobStore for S3Blobs {
    /// PutObject with `If-None-Match: *`: S3 answers 412 when the key exists.
    async fn put_blob(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> StoreResult<bool> {
        bump(&self.metrics.s3_puts);
        match self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .server_side_encryption(ServerSideEncryption::Aes256)
            .if_none_match("*")
            .body(ByteStream::from(bytes))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => Ok(false),
            Err(e) => Err(s3_err(e)),
        }
    }

    async fn get_blob(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        bump(&self.metrics.s3_gets);
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let bytes = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| StoreError::transient(format!("reading object {key}: {e}")))?;
                Ok(Some(bytes.into_bytes().to_vec()))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(s3_err(e)),
        }
    }

    /// GetObject with a `Range` header; the answer must hold the whole range.
    async fn get_blob_range(
        &self,
        key: &str,
        offset: u64,
        length: u64,
    ) -> StoreResult<Option<Vec<u8>>> {
        bump(&self.metrics.s3_gets);
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(byte_range(offset, length)?)
            .send()
            .await
        {
            Ok(out) => {
                let bytes = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| StoreError::transient(format!("reading object {key}: {e}")))?
                    .into_bytes();
                if bytes.len() as u64 != length {
                    return Err(StoreError::fatal(format!(
                        "object {key}: {} bytes from {offset}, not {length}",
                        bytes.len()
                    )));
                }
                Ok(Some(bytes.to_vec()))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 416) => {
                Err(StoreError::fatal(format!(
                    "object {key} does not hold {length} bytes from {offset}"
                )))
            }
            Err(e) => Err(s3_err(e)),
        }
    }
}
