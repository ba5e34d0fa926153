//! The work queue of generate-documents: SendMessage to the document queue signed with
//! SigV4 alone ([`crate::signed`], SQS's JSON protocol), without the SQS client. The
//! function's only sends are an export's continuation (its next parts, in a message of
//! their own) and document messages; any other message is refused before anything is
//! sent, as [`crate::NoQueue`] refuses all.

use crate::metrics::Metrics;
use crate::signed::{Service, Signer};
use async_trait::async_trait;
use billrun_app::error::StoreError;
use billrun_app::model::Message;
use billrun_app::ports::{StoreResult, WorkQueue};
use std::sync::Arc;

pub struct SignedDocumentQueue {
    signer: Signer,
    /// The SQS endpoint: `AWS_ENDPOINT_URL/`, or `https://sqs.<region>.amazonaws.com/`.
    endpoint: String,
    queue_url: Option<String>,
    metrics: Arc<Metrics>,
}

impl SignedDocumentQueue {
    pub fn new(signer: Signer, queue_url: Option<String>, metrics: Arc<Metrics>) -> Self {
        let endpoint = match signer.endpoint_url() {
            Some(url) => format!("{url}/"),
            None => format!("https://sqs.{}.amazonaws.com/", signer.region()),
        };
        SignedDocumentQueue {
            signer,
            endpoint,
            queue_url,
            metrics,
        }
    }

    /// The JSON body of a SendMessage.
    fn body(queue_url: &str, message: &Message) -> StoreResult<Vec<u8>> {
        let message = serde_json::to_string(message)
            .map_err(|e| StoreError::fatal(format!("encode message: {e}")))?;
        serde_json::to_vec(&serde_json::json!({"QueueUrl": queue_url, "MessageBody": message}))
            .map_err(|e| StoreError::fatal(format!("encode SendMessage: {e}")))
    }
}

#[async_trait]
impl WorkQueue for SignedDocumentQueue {
    async fn send(&self, messages: Vec<Message>) -> StoreResult<()> {
        if let Some(other) = messages
            .iter()
            .find(|m| !matches!(m, Message::Export { .. } | Message::Document { .. }))
        {
            return Err(StoreError::fatal(format!(
                "this function queues only document and export messages, not {other:?}"
            )));
        }
        let url = self.queue_url.as_deref().ok_or_else(|| {
            StoreError::fatal("DOCUMENT_QUEUE_URL is not set: cannot queue documents")
        })?;
        let headers = [
            ("content-type", "application/x-amz-json-1.0".to_string()),
            ("x-amz-target", "AmazonSQS.SendMessage".to_string()),
        ];
        for m in &messages {
            self.metrics.record("sqs:SendMessage".to_string());
            let body = Self::body(url, m)?;
            let reply = self
                .signer
                .send(Service::Sqs, "POST", &self.endpoint, &headers, &body)
                .await?;
            if !(200..300).contains(&reply.status) {
                let text = format!("SendMessage: HTTP {}: {}", reply.status, reply.text());
                return Err(match reply.status {
                    400..=499 if !crate::signed::retryable(&reply) => StoreError::fatal(text),
                    _ => StoreError::transient(text),
                });
            }
        }
        Ok(())
    }
}

// `cfg(test)` on its own, so clippy's test exemptions (unwrap, expect) see the module.
#[cfg(test)]
#[cfg(feature = "sqs")]
mod tests {
    use super::*;
    use crate::signed::test_util::{get, sdk, unsigned, Capture};
    use aws_smithy_runtime_api::client::http::{http_client_fn, SharedHttpConnector};
    use std::time::{Duration, SystemTime};

    /// The SQS client's SendMessage to the same endpoint, re-signed by our signer from
    /// the client's own headers and body, carries the client's signature.
    #[tokio::test]
    async fn signs_the_send_message_the_sqs_client_signs() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
        for endpoint in [None, Some("http://127.0.0.1:5000")] {
            for token in [None, Some("session/token+=")] {
                let sdk = sdk(endpoint, token, at);
                let capture = Capture(Arc::default(), 200, "{}");
                let connector = SharedHttpConnector::new(capture.clone());
                let config = aws_sdk_sqs::config::Builder::from(&sdk)
                    .http_client(http_client_fn(move |_, _| connector.clone()))
                    .build();
                let url = "https://sqs.eu-west-1.amazonaws.com/123456789012/billrun-documents";
                let _ = aws_sdk_sqs::Client::from_conf(config)
                    .send_message()
                    .queue_url(url)
                    .message_body("{\"type\":\"export\"}")
                    .send()
                    .await;
                let (method, uri, theirs, body) = capture.0.lock().pop().unwrap();
                let queue =
                    SignedDocumentQueue::new(Signer::new(&sdk), Some(url.into()), Arc::default());
                assert_eq!(
                    (method.as_str(), uri.as_str()),
                    ("POST", queue.endpoint.as_str())
                );
                assert_eq!(get(&theirs, "x-amz-target"), Some("AmazonSQS.SendMessage"));
                let resigned = queue
                    .signer
                    .signed_headers(Service::Sqs, "POST", &uri, &unsigned(&theirs), &body, at)
                    .await
                    .unwrap();
                assert_eq!(
                    get(&resigned, "authorization"),
                    get(&theirs, "authorization")
                );
            }
        }
    }
}
