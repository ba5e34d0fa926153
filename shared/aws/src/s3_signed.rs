//! The file port of generate-documents and api-queries: PutObject and (ranged)
//! GetObject signed with SigV4 alone ([`crate::signed`]), without the S3 client (1.43 MB
//! of a release binary). A pack is written once: `If-None-Match: *` makes S3 answer 412
//! when the content-addressed key exists, which needs only `s3:PutObject`. A download
//! reads one PDF of its pack: GetObject with `Range: bytes=a-b` (`s3:GetObject`).

use crate::metrics::{bump, Metrics};
use crate::signed::{Reply, Service, Signer};
use crate::uri::encode;
use billrun_app::error::StoreError;
use billrun_app::model::exports::{UploadId, UploadedPart};
use billrun_app::ports::{byte_range, BlobStore, ExportFiles, StoreResult};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub struct S3SignedBlobs {
    signer: Signer,
    /// `https://<bucket>.s3.<region>.amazonaws.com`, or `<AWS_ENDPOINT_URL>/<bucket>`
    /// (path style, as the S3 client uses it with an endpoint URL).
    base: String,
    metrics: Arc<Metrics>,
}

impl S3SignedBlobs {
    pub fn new(signer: Signer, bucket: &str, metrics: Arc<Metrics>) -> Self {
        let base = match signer.endpoint_url() {
            Some(url) => format!("{url}/{}", encode(bucket, false)),
            None => {
                let region = signer.region();
                let suffix = if region.starts_with("cn-") {
                    "amazonaws.com.cn"
                } else {
                    "amazonaws.com"
                };
                format!("https://{bucket}.s3.{region}.{suffix}")
            }
        };
        S3SignedBlobs {
            signer,
            base,
            metrics,
        }
    }

    /// The URL of an operation on the object `key` (the `x-id` query parameter names the
    /// operation, as the S3 client sends it).
    fn object_url(&self, key: &str, operation: &str) -> String {
        format!("{}/{}?x-id={operation}", self.base, encode(key, true))
    }

    /// The URL and headers of the conditional PutObject of `key`.
    pub fn put_request(
        &self,
        key: &str,
        content_type: &str,
    ) -> (String, Vec<(&'static str, String)>) {
        let url = self.object_url(key, "PutObject");
        let headers = vec![
            ("content-type", content_type.to_string()),
            ("if-none-match", "*".to_string()),
            ("x-amz-server-side-encryption", "AES256".to_string()),
        ];
        (url, headers)
    }

    /// The URL and headers of the GetObject of `key`, of `range` (`bytes=a-b`) alone
    /// when given.
    pub fn get_request(
        &self,
        key: &str,
        range: Option<String>,
    ) -> (String, Vec<(&'static str, String)>) {
        let url = self.object_url(key, "GetObject");
        (url, range.map(|r| ("range", r)).into_iter().collect())
    }

    /// GetObject of `key` (a range of it when given): `None` when no object has the key.
    async fn get(&self, key: &str, range: Option<String>) -> StoreResult<Option<Vec<u8>>> {
        bump(&self.metrics.s3_gets);
        self.metrics.record("s3:GetObject".to_string());
        let (url, headers) = self.get_request(key, range);
        let reply = self
            .signer
            .send(Service::S3, "GET", &url, &headers, &[])
            .await?;
        match reply.status {
            200..=299 => Ok(Some(reply.body)),
            404 if code(&reply).as_deref() == Some("NoSuchKey") => Ok(None),
            416 => Err(StoreError::fatal(format!(
                "GetObject {key}: HTTP 416: the object does not hold the range"
            ))),
            _ => Err(s3_error("GetObject", key, &reply)),
        }
    }
}

/// The `<Code>` of an S3 XML error.
fn code(reply: &Reply) -> Option<String> {
    xml_text(reply, "Code")
}

/// The text of the first `<tag>` element of an S3 XML answer.
fn xml_text(reply: &Reply, tag: &str) -> Option<String> {
    let text = reply.text();
    let open = format!("<{tag}>");
    let start = text.find(&open)? + open.len();
    let len = text[start..].find(&format!("</{tag}>"))?;
    Some(text[start..start + len].to_string())
}

/// The XML body of a CompleteMultipartUpload.
fn complete_body(parts: &[UploadedPart]) -> String {
    let mut body = String::from("<CompleteMultipartUpload>");
    for p in parts {
        body.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
            p.number,
            p.tag.replace('&', "&amp;").replace('"', "&quot;")
        ));
    }
    body.push_str("</CompleteMultipartUpload>");
    body
}

/// As the S3 client adapter maps them: a missing bucket, a denied or unknown key (and a
/// signature S3 rejects) are fatal, the rest (5xx, throttling, a conflicting concurrent
/// conditional write, 409) transient.
fn s3_error(operation: &str, key: &str, reply: &Reply) -> StoreError {
    let code = code(reply);
    let text = format!(
        "{operation} {key}: HTTP {} {}",
        reply.status,
        code.as_deref().unwrap_or("(no error code)")
    );
    match code.as_deref() {
        Some("NoSuchBucket" | "AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch") => {
            StoreError::fatal(text)
        }
        _ => StoreError::transient(text),
    }
}

#[async_trait::async_trait]
impl BlobStore for S3SignedBlobs {
    async fn put_blob(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> StoreResult<bool> {
        bump(&self.metrics.s3_puts);
        self.metrics.record("s3:PutObject".to_string());
        let (url, headers) = self.put_request(key, content_type);
        let reply = self
            .signer
            .send(Service::S3, "PUT", &url, &headers, &bytes)
            .await?;
        match reply.status {
            200..=299 => Ok(true),
            412 => Ok(false),
            _ => Err(s3_error("PutObject", key, &reply)),
        }
    }

    async fn get_blob(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.get(key, None).await
    }

    /// The answer must hold the whole range (206 with `length` bytes).
    async fn get_blob_range(
        &self,
        key: &str,
        offset: u64,
        length: u64,
    ) -> StoreResult<Option<Vec<u8>>> {
        let bytes = self.get(key, Some(byte_range(offset, length)?)).await?;
        match bytes {
            Some(b) if b.len() as u64 != length => Err(StoreError::fatal(format!(
                "GetObject {key}: {} bytes from {offset}, not {length}",
                b.len()
            ))),
            other => Ok(other),
        }
    }
}

/// Export files as S3 multipart uploads (each request signed alone, like the packs'):
/// `s3:PutObject` covers creating, uploading to and completing an upload,
/// `s3:AbortMultipartUpload` dropping one; a download is a presigned GetObject, so
/// the file never passes through API Gateway.
#[async_trait::async_trait]
impl ExportFiles for S3SignedBlobs {
    async fn begin_upload(&self, key: &str, content_type: &str) -> StoreResult<UploadId> {
        bump(&self.metrics.s3_puts);
        self.metrics.record("s3:PutObject".to_string());
        let url = format!(
            "{}/{}?uploads&x-id=CreateMultipartUpload",
            self.base,
            encode(key, true)
        );
        let headers = [
            ("content-type", content_type.to_string()),
            ("x-amz-server-side-encryption", "AES256".to_string()),
        ];
        let reply = self
            .signer
            .send(Service::S3, "POST", &url, &headers, &[])
            .await?;
        match reply.status {
            200..=299 => xml_text(&reply, "UploadId").map(UploadId).ok_or_else(|| {
                StoreError::fatal(format!(
                    "CreateMultipartUpload {key}: no UploadId in the answer"
                ))
            }),
            _ => Err(s3_error("CreateMultipartUpload", key, &reply)),
        }
    }

    async fn upload_part(
        &self,
        key: &str,
        upload: &UploadId,
        number: u32,
        bytes: Vec<u8>,
    ) -> StoreResult<UploadedPart> {
        bump(&self.metrics.s3_puts);
        self.metrics.record("s3:PutObject".to_string());
        let url = format!(
            "{}/{}?partNumber={number}&uploadId={}&x-id=UploadPart",
            self.base,
            encode(key, true),
            encode(&upload.0, false)
        );
        let reply = self
            .signer
            .send(Service::S3, "PUT", &url, &[], &bytes)
            .await?;
        match (reply.status, reply.etag.clone()) {
            (200..=299, Some(tag)) => Ok(UploadedPart { number, tag }),
            (200..=299, None) => Err(StoreError::fatal(format!(
                "UploadPart {key} #{number}: no ETag in the answer"
            ))),
            _ => Err(s3_error("UploadPart", key, &reply)),
        }
    }

    async fn complete_upload(
        &self,
        key: &str,
        upload: &UploadId,
        parts: &[UploadedPart],
    ) -> StoreResult<()> {
        bump(&self.metrics.s3_puts);
        self.metrics.record("s3:PutObject".to_string());
        let url = format!(
            "{}/{}?uploadId={}&x-id=CompleteMultipartUpload",
            self.base,
            encode(key, true),
            encode(&upload.0, false)
        );
        let body = complete_body(parts);
        let headers = [("content-type", "application/xml".to_string())];
        let reply = self
            .signer
            .send(Service::S3, "POST", &url, &headers, body.as_bytes())
            .await?;
        // S3 can answer 200 and report the failure in the body.
        match reply.status {
            200..=299 if code(&reply).is_none() => Ok(()),
            _ => Err(s3_error("CompleteMultipartUpload", key, &reply)),
        }
    }

    async fn abort_upload(&self, key: &str, upload: &UploadId) -> StoreResult<()> {
        self.metrics.record("s3:AbortMultipartUpload".to_string());
        let url = format!(
            "{}/{}?uploadId={}&x-id=AbortMultipartUpload",
            self.base,
            encode(key, true),
            encode(&upload.0, false)
        );
        let reply = self
            .signer
            .send(Service::S3, "DELETE", &url, &[], &[])
            .await?;
        match reply.status {
            200..=299 => Ok(()),
            404 if code(&reply).as_deref() == Some("NoSuchUpload") => Ok(()),
            _ => Err(s3_error("AbortMultipartUpload", key, &reply)),
        }
    }

    async fn download_url(&self, key: &str, ttl: Duration) -> StoreResult<Option<String>> {
        self.metrics.record("s3:GetObject".to_string());
        let url = self.object_url(key, "GetObject");
        self.signer
            .presigned_url(Service::S3, "GET", &url, ttl, SystemTime::now())
            .await
            .map(Some)
    }

    async fn read_file_range(
        &self,
        key: &str,
        offset: u64,
        length: u64,
    ) -> StoreResult<Option<Vec<u8>>> {
        self.get(key, Some(byte_range(offset, length)?)).await
    }
}

// `cfg(test)` on its own, so clippy's test exemptions (unwrap, expect) see the module.
#[cfg(test)]
#[cfg(feature = "s3")]
mod tests {
    use super::*;
    use crate::signed::test_util::{get, sdk, unsigned, Capture, Sent};
    use aws_smithy_runtime_api::client::http::{http_client_fn, SharedHttpConnector};
    use std::time::{Duration, SystemTime};

    /// The PutObject the S3 client sends (no flexible checksum: the signed payload hash
    /// covers the bytes).
    async fn by_the_client(sdk: &aws_types::SdkConfig, key: &str, body: &[u8]) -> Sent {
        let capture = Capture(Arc::default(), 200, "");
        let connector = SharedHttpConnector::new(capture.clone());
        let config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            )
            .http_client(http_client_fn(move |_, _| connector.clone()))
            .build();
        aws_sdk_s3::Client::from_conf(config)
            .put_object()
            .bucket("billrun-documents")
            .key(key)
            .content_type("application/pdf")
            .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
            .if_none_match("*")
            .body(body.to_vec().into())
            .send()
            .await
            .unwrap();
        let sent = capture.0.lock().pop().unwrap();
        sent
    }

    /// Every header we send, the client sent with the same value; and signing the
    /// client's own headers (but the two it adds after signing), the signer computes the
    /// client's signature.
    async fn signs_like_the_client(
        blobs: &S3SignedBlobs,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: &[u8],
        theirs: &[(String, String)],
        at: SystemTime,
    ) {
        let ours = blobs
            .signer
            .signed_headers(Service::S3, method, url, headers, body, at)
            .await
            .unwrap();
        for (name, value) in &ours {
            if name != "authorization" {
                assert_eq!(get(theirs, name), Some(value.as_str()), "{name}");
            }
        }
        let resigned = blobs
            .signer
            .signed_headers(Service::S3, method, url, &unsigned(theirs), body, at)
            .await
            .unwrap();
        assert_eq!(
            get(&resigned, "authorization"),
            get(theirs, "authorization")
        );
    }

    #[tokio::test]
    async fn signs_the_put_object_the_s3_client_signs() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
        let body = b"%PDF-1.7 not really".to_vec();
        let key = "documents/0d2f/INV 2026-001+A-0123abcd.pdf";
        for endpoint in [None, Some("http://127.0.0.1:5000")] {
            for token in [None, Some("session/token+=")] {
                let sdk = sdk(endpoint, token, at);
                let (method, uri, theirs, _) = by_the_client(&sdk, key, &body).await;
                let blobs =
                    S3SignedBlobs::new(Signer::new(&sdk), "billrun-documents", Arc::default());
                let (url, headers) = blobs.put_request(key, "application/pdf");
                assert_eq!((method.as_str(), url.as_str()), ("PUT", uri.as_str()));
                signs_like_the_client(&blobs, "PUT", &url, &headers, &body, &theirs, at).await;
            }
        }
    }

    #[tokio::test]
    async fn signs_the_ranged_get_object_the_s3_client_signs() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
        let key = "documents/0d2f/pack-INV 2026-001+A-0123abcd.bin";
        for endpoint in [None, Some("http://127.0.0.1:5000")] {
            for token in [None, Some("session/token+=")] {
                let sdk = sdk(endpoint, token, at);
                let capture = Capture(Arc::default(), 206, "");
                let connector = SharedHttpConnector::new(capture.clone());
                let config = aws_sdk_s3::config::Builder::from(&sdk)
                    .force_path_style(endpoint.is_some())
                    .http_client(http_client_fn(move |_, _| connector.clone()))
                    .build();
                let _ = aws_sdk_s3::Client::from_conf(config)
                    .get_object()
                    .bucket("billrun-documents")
                    .key(key)
                    .range("bytes=36600-73199")
                    .send()
                    .await;
                let (method, uri, theirs, _) = capture.0.lock().pop().unwrap();
                let blobs =
                    S3SignedBlobs::new(Signer::new(&sdk), "billrun-documents", Arc::default());
                let range = byte_range(36_600, 36_600).unwrap();
                let (url, headers) = blobs.get_request(key, Some(range));
                assert_eq!((method.as_str(), url.as_str()), ("GET", uri.as_str()));
                assert_eq!(get(&theirs, "range"), Some("bytes=36600-73199"));
                signs_like_the_client(&blobs, "GET", &url, &headers, &[], &theirs, at).await;
            }
        }
    }

    #[tokio::test]
    async fn an_existing_key_is_not_written_and_errors_are_classified() {
        let at = SystemTime::now();
        let sdk = sdk(Some("http://127.0.0.1:9"), None, at);
        let answer = |status| {
            let capture = Capture(Arc::default(), status, "");
            let blobs = S3SignedBlobs::new(
                Signer::with_connector(&sdk, SharedHttpConnector::new(capture.clone())),
                "b",
                Arc::default(),
            );
            (capture, blobs)
        };
        let (_, blobs) = answer(200);
        assert!(blobs
            .put_blob("k", vec![1], "application/pdf")
            .await
            .unwrap());
        assert!(blobs.metrics.actions().contains("s3:PutObject"));
        let (_, blobs) = answer(412);
        assert!(!blobs
            .put_blob("k", vec![1], "application/pdf")
            .await
            .unwrap());
        // A 5xx is retried, then transient.
        let (capture, blobs) = answer(503);
        let e = blobs.put_blob("k", vec![1], "application/pdf").await;
        assert!(matches!(e, Err(StoreError::Transient(_))), "{e:?}");
        assert_eq!(capture.0.lock().len(), 3);
        let denied = Reply {
            status: 403,
            body: b"<Error><Code>AccessDenied</Code></Error>".to_vec(),
            etag: None,
        };
        assert!(matches!(
            s3_error("PutObject", "k", &denied),
            StoreError::Fatal(_)
        ));
        let conflict = Reply {
            status: 409,
            body: b"<Error><Code>ConditionalRequestConflict</Code></Error>".to_vec(),
            etag: None,
        };
        assert!(matches!(
            s3_error("PutObject", "k", &conflict),
            StoreError::Transient(_)
        ));
    }

    /// The query a presigned URL carries, sorted: (name, value).
    fn query(url: &str) -> Vec<(String, String)> {
        let mut q: Vec<(String, String)> = url
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or_default()
            .split('&')
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_string(), v.to_string())
            })
            .collect();
        q.sort();
        q
    }

    #[tokio::test]
    async fn presigns_the_get_object_url_the_s3_client_presigns() {
        use aws_sdk_s3::presigning::PresigningConfig;
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
        let ttl = Duration::from_secs(900);
        let key = "exports/0d2f/5a1e 2026+x.csv";
        for endpoint in [None, Some("http://127.0.0.1:5000")] {
            for token in [None, Some("session/token+=")] {
                let sdk = sdk(endpoint, token, at);
                let config = aws_sdk_s3::config::Builder::from(&sdk)
                    .force_path_style(endpoint.is_some())
                    .build();
                let theirs = aws_sdk_s3::Client::from_conf(config)
                    .get_object()
                    .bucket("billrun-documents")
                    .key(key)
                    .presigned(
                        PresigningConfig::builder()
                            .start_time(at)
                            .expires_in(ttl)
                            .build()
                            .unwrap(),
                    )
                    .await
                    .unwrap();
                let blobs =
                    S3SignedBlobs::new(Signer::new(&sdk), "billrun-documents", Arc::default());
                let url = blobs.object_url(key, "GetObject");
                let ours = blobs
                    .signer
                    .presigned_url(Service::S3, "GET", &url, ttl, at)
                    .await
                    .unwrap();
                assert_eq!(ours.split('?').next(), theirs.uri().split('?').next());
                assert_eq!(query(&ours), query(theirs.uri()), "{endpoint:?} {token:?}");
            }
        }
    }

    #[test]
    fn a_completion_lists_every_part_in_order_with_its_etag_escaped() {
        let parts = [
            UploadedPart {
                number: 1,
                tag: "\"a1\"".into(),
            },
            UploadedPart {
                number: 2,
                tag: "\"b&2\"".into(),
            },
        ];
        assert_eq!(
            complete_body(&parts),
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;a1&quot;</ETag></Part>\
             <Part><PartNumber>2</PartNumber><ETag>&quot;b&amp;2&quot;</ETag></Part></CompleteMultipartUpload>"
        );
    }
}
