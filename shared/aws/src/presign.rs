//! Presigned S3 GetObject URLs signed with SigV4 alone, for a function that only hands
//! out download links (api-queries): the S3 client, with its endpoint rules and checksum
//! tables (1.43 MB of a release binary), stays out of it. The signature is the one the
//! S3 client computes (a test compares the two).

use crate::uri::encode;
use crate::Metrics;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    sign, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use billrun_app::error::StoreError;
use billrun_app::ports::{BlobStore, StoreResult};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// S3's ceiling for a presigned URL's lifetime.
const MAX_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

/// The file port of a function that only presigns downloads. Its reads and writes are
/// never called there (every download is a presigned URL); should one be, it fails as a
/// fatal storage error naming the feature that has them.
pub struct S3Presigner {
    credentials: Option<SharedCredentialsProvider>,
    region: String,
    /// `https://<bucket>.s3.<region>.amazonaws.com`, or `<AWS_ENDPOINT_URL>/<bucket>`
    /// (path style, as the S3 client uses it with an endpoint URL).
    base: String,
    metrics: Arc<Metrics>,
}

impl S3Presigner {
    pub fn new(sdk: &aws_types::SdkConfig, bucket: &str, metrics: Arc<Metrics>) -> Self {
        let region = sdk
            .region()
            .map_or_else(|| "us-east-1".to_string(), |r| r.to_string());
        let base = match sdk.endpoint_url() {
            Some(url) => format!("{}/{}", url.trim_end_matches('/'), encode(bucket, false)),
            None => {
                let suffix = if region.starts_with("cn-") {
                    "amazonaws.com.cn"
                } else {
                    "amazonaws.com"
                };
                format!("https://{bucket}.s3.{region}.{suffix}")
            }
        };
        S3Presigner {
            credentials: sdk.credentials_provider(),
            region,
            base,
            metrics,
        }
    }

    /// The presigned GetObject URL of `key`, valid for `ttl` from `now`.
    pub async fn presign_at(
        &self,
        key: &str,
        ttl: Duration,
        now: SystemTime,
    ) -> StoreResult<String> {
        if ttl > MAX_EXPIRY {
            return Err(StoreError::Fatal(format!(
                "a presigned URL lives at most {} s, not {} s",
                MAX_EXPIRY.as_secs(),
                ttl.as_secs()
            )));
        }
        let provider = self.credentials.as_ref().ok_or_else(|| {
            StoreError::Fatal("no AWS credentials to sign a download URL with".into())
        })?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| StoreError::Transient(format!("AWS credentials: {e}")))?;
        let identity = Identity::from(credentials);
        // What the URL's request is authorized by, as the S3 client's recorder notes it.
        self.metrics.record("s3:GetObject".to_string());
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(ttl);
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(now)
            .settings(settings)
            .build()
            .map_err(|e| StoreError::Fatal(format!("signing parameters: {e}")))?
            .into();
        let url = format!("{}/{}?x-id=GetObject", self.base, encode(key, true));
        let request = SignableRequest::new(
            "GET",
            url.as_str(),
            std::iter::empty(),
            SignableBody::UnsignedPayload,
        )
        .map_err(|e| StoreError::Fatal(format!("signing {key}: {e}")))?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| StoreError::Fatal(format!("signing {key}: {e}")))?
            .into_parts();
        let mut url = url;
        for (name, value) in instructions.params() {
            url.push('&');
            url.push_str(&encode(name, false));
            url.push('=');
            url.push_str(&encode(value, false));
        }
        Ok(url)
    }
}

fn no_client(key: &str) -> StoreError {
    StoreError::Fatal(format!(
        "cannot read or write document file {key}: this function only presigns downloads \
         (the S3 client is billrun-aws feature `s3`)"
    ))
}

#[async_trait::async_trait]
impl BlobStore for S3Presigner {
    async fn put_blob(&self, key: &str, _bytes: Vec<u8>, _content_type: &str) -> StoreResult<bool> {
        Err(no_client(key))
    }

    async fn get_blob(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        Err(no_client(key))
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> StoreResult<Option<String>> {
        self.presign_at(key, ttl, SystemTime::now()).await.map(Some)
    }
}

#[cfg(all(test, feature = "s3"))]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;
    use aws_sdk_s3::presigning::PresigningConfig;

    fn sdk(endpoint: Option<&str>, token: Option<&str>) -> aws_types::SdkConfig {
        let credentials = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            token.map(str::to_string),
            None,
            "test",
        );
        let mut b = aws_types::SdkConfig::builder()
            .behavior_version(
                aws_smithy_runtime_api::client::behavior_version::BehaviorVersion::latest(),
            )
            .region(aws_types::region::Region::new("eu-west-1"))
            .credentials_provider(SharedCredentialsProvider::new(credentials));
        if let Some(e) = endpoint {
            b = b.endpoint_url(e);
        }
        b.build()
    }

    async fn by_the_client(sdk: &aws_types::SdkConfig, key: &str, at: SystemTime) -> String {
        let config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .build();
        let presigning = PresigningConfig::builder()
            .start_time(at)
            .expires_in(Duration::from_secs(900))
            .build()
            .unwrap();
        aws_sdk_s3::Client::from_conf(config)
            .get_object()
            .bucket("billrun-documents")
            .key(key)
            .presigned(presigning)
            .await
            .unwrap()
            .uri()
            .to_string()
    }

    #[tokio::test]
    async fn signs_the_url_the_s3_client_signs() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
        for endpoint in [None, Some("http://127.0.0.1:5000")] {
            for token in [None, Some("session/token+=")] {
                let sdk = sdk(endpoint, token);
                let key = "documents/0d2f/INV 2026-001+A.pdf";
                let ours = S3Presigner::new(&sdk, "billrun-documents", Arc::default())
                    .presign_at(key, Duration::from_secs(900), at)
                    .await
                    .unwrap();
                assert_eq!(ours, by_the_client(&sdk, key, at).await);
            }
        }
    }

    #[tokio::test]
    async fn refuses_more_than_a_week_and_never_reads() {
        let p = S3Presigner::new(&sdk(None, None), "b", Arc::default());
        let week = Duration::from_secs(7 * 24 * 3600 + 1);
        assert!(p.presign_get("k", week).await.is_err());
        assert!(matches!(p.get_blob("k").await, Err(StoreError::Fatal(_))));
    }
}
