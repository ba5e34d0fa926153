//! Requests signed with SigV4 alone and sent over the SDK's own HTTP connector (hyper,
//! rustls with ring — already linked for the DynamoDB client): a function that calls one
//! S3 or SQS operation does without that service's SDK client (the S3 client is 1.43 MB
//! of a release binary, docs/performance.md). The adapter on top: `s3_signed`
//! (PutObject, feature `s3-signed`).

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
    SignatureLocation, SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::http::{HttpConnector, SharedHttpConnector};
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use billrun_app::error::StoreError;
use std::time::{Duration, SystemTime};

/// Attempts per request on a network error, a 5xx or a throttling answer, as the SDK
/// clients' standard retry mode.
const ATTEMPTS: u32 = 3;
/// One attempt's ceiling (connect, send, read the answer).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// How a service wants its requests signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `s3`: the payload's SHA-256 in `x-amz-content-sha256`, the path encoded once and
    /// not normalized (as the S3 client signs).
    S3,
    /// `sqs`: the defaults (as the SQS client signs).
    Sqs,
    /// `secretsmanager`: the defaults (the console's session key, [`crate::secret`]).
    SecretsManager,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::S3 => "s3",
            Service::Sqs => "sqs",
            Service::SecretsManager => "secretsmanager",
        }
    }

    fn settings(self) -> SigningSettings {
        let mut settings = SigningSettings::default();
        if self == Service::S3 {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        }
        settings
    }
}

/// An answer: status and body (the callers read error codes from it), and the `ETag`
/// header when there is one (an uploaded part's).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub etag: Option<String>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Signs and sends requests with the function's credentials and region.
#[derive(Debug, Clone)]
pub struct Signer {
    credentials: Option<SharedCredentialsProvider>,
    region: String,
    endpoint_url: Option<String>,
    connector: SharedHttpConnector,
}

/// The HTTPS connector the SDK clients use (aws-smithy-http-client, rustls with ring),
/// with the connect timeout of the SDK's defaults.
pub fn https_connector() -> SharedHttpConnector {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    use aws_smithy_runtime_api::client::http::HttpConnectorSettings;
    let settings = HttpConnectorSettings::builder()
        .connect_timeout(Duration::from_millis(3100))
        .build();
    SharedHttpConnector::new(
        aws_smithy_http_client::Connector::builder()
            .connector_settings(settings)
            .sleep_impl(aws_smithy_async::rt::sleep::TokioSleep::new())
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build(),
    )
}

impl Signer {
    /// Region, credentials and endpoint of `sdk`, over [`https_connector`].
    pub fn new(sdk: &aws_types::SdkConfig) -> Self {
        Self::with_connector(sdk, https_connector())
    }

    pub fn with_connector(sdk: &aws_types::SdkConfig, connector: SharedHttpConnector) -> Self {
        Signer {
            credentials: sdk.credentials_provider(),
            region: sdk
                .region()
                .map_or_else(|| "us-east-1".to_string(), |r| r.to_string()),
            endpoint_url: sdk
                .endpoint_url()
                .map(|u| u.trim_end_matches('/').to_string()),
            connector,
        }
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// `AWS_ENDPOINT_URL` without its trailing slash, when set.
    pub fn endpoint_url(&self) -> Option<&str> {
        self.endpoint_url.as_deref()
    }

    /// The credentials to sign with, from the provider (refreshed by it as they expire).
    async fn identity(&self) -> Result<Identity, StoreError> {
        let provider = self
            .credentials
            .as_ref()
            .ok_or_else(|| StoreError::fatal("no AWS credentials to sign a request with"))?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| StoreError::transient(format!("AWS credentials: {e}")))?;
        Ok(Identity::from(credentials))
    }

    /// The SigV4 parameters of a request to `service` at `now`.
    fn params<'a>(
        &'a self,
        identity: &'a Identity,
        service: Service,
        now: SystemTime,
        settings: SigningSettings,
    ) -> Result<aws_sigv4::http_request::SigningParams<'a>, StoreError> {
        Ok(v4::SigningParams::builder()
            .identity(identity)
            .region(&self.region)
            .name(service.name())
            .time(now)
            .settings(settings)
            .build()
            .map_err(|e| StoreError::fatal(format!("signing parameters: {e}")))?
            .into())
    }

    /// The headers to send `method url` with: `headers`, then the signature's
    /// (`authorization`, `x-amz-date`, `x-amz-content-sha256` for S3,
    /// `x-amz-security-token` with a session token).
    pub async fn signed_headers(
        &self,
        service: Service,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: &[u8],
        now: SystemTime,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let identity = self.identity().await?;
        let params = self.params(&identity, service, now, service.settings())?;
        let request = SignableRequest::new(
            method,
            url,
            headers.iter().map(|(k, v)| (*k, v.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|e| StoreError::fatal(format!("signing {method} {url}: {e}")))?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| StoreError::fatal(format!("signing {method} {url}: {e}")))?
            .into_parts();
        let mut all: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        all.extend(
            instructions
                .headers()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        Ok(all)
    }

    /// `url` with a query-string signature (an S3 presigned URL): anyone holding it can
    /// send `method` to it, without credentials, for `ttl` from `now`. The payload is
    /// not signed (`UNSIGNED-PAYLOAD`), as S3 presigns it.
    pub async fn presigned_url(
        &self,
        service: Service,
        method: &str,
        url: &str,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<String, StoreError> {
        let identity = self.identity().await?;
        let mut settings = service.settings();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(ttl);
        settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
        let params = self.params(&identity, service, now, settings)?;
        let request = SignableRequest::new(
            method,
            url,
            std::iter::empty(),
            SignableBody::UnsignedPayload,
        )
        .map_err(|e| StoreError::fatal(format!("presigning {method} {url}: {e}")))?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| StoreError::fatal(format!("presigning {method} {url}: {e}")))?
            .into_parts();
        let (_, query) = instructions.into_parts();
        let mut out = url.to_string();
        for (name, value) in query {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(name);
            out.push('=');
            out.push_str(&crate::uri::encode(&value, false));
        }
        Ok(out)
    }

    /// Signs and sends the request, again (signed anew) after a network error, a 5xx or
    /// a throttling answer, up to [`ATTEMPTS`] times; the last answer is returned
    /// whatever its status. A network error on the last attempt is
    /// [`StoreError::Transient`].
    pub async fn send(
        &self,
        service: Service,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<Reply, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self.send_once(service, method, url, headers, body).await;
            let retry = match &outcome {
                Err(StoreError::Transient(_)) => true,
                Ok(reply) => retryable(reply),
                Err(_) => false,
            };
            if !retry || attempt >= ATTEMPTS {
                return outcome;
            }
            // 50 ms, 100 ms, with jitter from the clock's nanoseconds.
            let jitter = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| u64::from(d.subsec_nanos() % 50));
            tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt) + jitter)).await;
        }
    }

    async fn send_once(
        &self,
        service: Service,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<Reply, StoreError> {
        let signed = self
            .signed_headers(service, method, url, headers, body, SystemTime::now())
            .await?;
        let mut request = HttpRequest::new(SdkBody::from(body.to_vec()));
        let bad = |e: &dyn std::fmt::Display| StoreError::fatal(format!("{method} {url}: {e}"));
        request.set_method(method).map_err(|e| bad(&e))?;
        request.set_uri(url).map_err(|e| bad(&e))?;
        for (name, value) in signed {
            request
                .headers_mut()
                .try_insert(name, value)
                .map_err(|e| bad(&e))?;
        }
        request
            .headers_mut()
            .try_insert("content-length", body.len().to_string())
            .map_err(|e| bad(&e))?;
        let exchange = async {
            let response = self
                .connector
                .call(request)
                .await
                .map_err(|e| StoreError::transient_from(format!("{method} {url}"), e))?;
            let status = response.status().as_u16();
            let etag = response.headers().get("etag").map(str::to_string);
            let body = ByteStream::new(response.into_body())
                .collect()
                .await
                .map_err(|e| StoreError::transient_from(format!("{method} {url}: reading"), e))?
                .into_bytes()
                .to_vec();
            Ok(Reply { status, body, etag })
        };
        tokio::time::timeout(ATTEMPT_TIMEOUT, exchange)
            .await
            .map_err(|_| {
                StoreError::transient(format!(
                    "{method} {url}: no answer in {} s",
                    ATTEMPT_TIMEOUT.as_secs()
                ))
            })?
    }
}

/// 5xx, 429, and the 400s that SQS and S3 use for throttling.
pub fn retryable(reply: &Reply) -> bool {
    if reply.status >= 500 || reply.status == 429 {
        return true;
    }
    if reply.status == 400 {
        let text = reply.text();
        return [
            "Throttling",
            "RequestThrottled",
            "SlowDown",
            "RequestTimeout",
        ]
        .iter()
        .any(|code| text.contains(code));
    }
    false
}

#[cfg(test)]
pub(crate) mod test_util {
    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_credential_types::Credentials;
    use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorFuture};
    use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
    use aws_smithy_types::body::SdkBody;
    use parking_lot::Mutex;
    use std::sync::Arc;
    use std::time::SystemTime;

    /// What was sent: method, URI, headers (lower-case names, sorted), body.
    pub type Sent = (String, String, Vec<(String, String)>, Vec<u8>);

    /// A connector that records each request and answers `status` with `body`.
    #[derive(Debug, Clone)]
    pub struct Capture(pub Arc<Mutex<Vec<Sent>>>, pub u16, pub &'static str);

    impl HttpConnector for Capture {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            let mut headers: Vec<(String, String)> = request
                .headers()
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
                .collect();
            headers.sort();
            self.0.lock().push((
                request.method().to_string(),
                request.uri().to_string(),
                headers,
                request.body().bytes().unwrap_or_default().to_vec(),
            ));
            let status = self.1.try_into().unwrap();
            HttpConnectorFuture::ready(Ok(HttpResponse::new(status, SdkBody::from(self.2))))
        }
    }

    pub fn sdk(
        endpoint: Option<&str>,
        token: Option<&str>,
        at: SystemTime,
    ) -> aws_types::SdkConfig {
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
            .time_source(aws_smithy_async::time::StaticTimeSource::new(at))
            .credentials_provider(SharedCredentialsProvider::new(credentials));
        if let Some(e) = endpoint {
            b = b.endpoint_url(e);
        }
        b.build()
    }

    pub fn get<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `theirs` without the signature's headers and the two the SDK adds after signing:
    /// what re-signing them should reproduce the SDK's signature from.
    pub fn unsigned(theirs: &[(String, String)]) -> Vec<(&str, String)> {
        theirs
            .iter()
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "authorization"
                        | "amz-sdk-invocation-id"
                        | "amz-sdk-request"
                        | "x-amz-date"
                        | "x-amz-content-sha256"
                        | "x-amz-security-token"
                )
            })
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect()
    }
}
