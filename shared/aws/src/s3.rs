//! S3 adapter of the file port: a private bucket, objects encrypted at rest (SSE-S3).

use crate::metrics::{bump, Metrics};
use async_trait::async_trait;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use billrun_app::error::StoreError;
use billrun_app::ports::{BlobStore, StoreResult};
use std::sync::Arc;
use std::time::Duration;

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

fn s3_err<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    e: aws_sdk_s3::error::SdkError<E, R>,
) -> StoreError {
    let text = format!("{}", DisplayErrorContext(&e));
    match e.code() {
        Some("NoSuchBucket" | "AccessDenied" | "InvalidAccessKeyId") => StoreError::Fatal(text),
        _ => StoreError::Transient(text),
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
                    .map_err(|e| StoreError::Transient(format!("reading object {key}: {e}")))?;
                Ok(Some(bytes.into_bytes().to_vec()))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(s3_err(e)),
        }
    }

    /// A presigned GetObject URL (signed locally: no request is made).
    async fn presign_get(&self, key: &str, ttl: Duration) -> StoreResult<Option<String>> {
        let config = PresigningConfig::expires_in(ttl)
            .map_err(|e| StoreError::Fatal(format!("presigning config: {e}")))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(s3_err)?;
        Ok(Some(request.uri().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use billrun_app::docgen::DOWNLOAD_URL_TTL;

    /// A client that never connects: presigning signs locally.
    fn blobs() -> S3Blobs {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                None,
                None,
                "test",
            ))
            .endpoint_url("http://127.0.0.1:9")
            .force_path_style(true)
            .build();
        S3Blobs::new(
            aws_sdk_s3::Client::from_conf(config),
            "bucket",
            Arc::new(Metrics::default()),
        )
    }

    fn query(url: &str, name: &str) -> Option<String> {
        let (_, q) = url.split_once('?')?;
        q.split('&')
            .find_map(|p| p.strip_prefix(&format!("{name}=")).map(str::to_string))
    }

    #[tokio::test]
    async fn a_presigned_download_link_expires_after_fifteen_minutes_by_default() {
        assert_eq!(DOWNLOAD_URL_TTL, Duration::from_secs(15 * 60));
        let url = blobs()
            .presign_get("documents/r/INV-1.pdf", DOWNLOAD_URL_TTL)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            query(&url, "X-Amz-Expires").as_deref(),
            Some("900"),
            "{url}"
        );
        assert!(query(&url, "X-Amz-Signature").is_some(), "{url}");
        assert!(url.contains("/bucket/documents/r/INV-1.pdf?"), "{url}");
        // The expiry is the one asked for, and S3's one-week ceiling is refused.
        let url = blobs()
            .presign_get("k", Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(query(&url, "X-Amz-Expires").as_deref(), Some("60"));
        let week = Duration::from_secs(7 * 24 * 3600 + 1);
        assert!(blobs().presign_get("k", week).await.is_err());
    }
}
