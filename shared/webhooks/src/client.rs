//! The HTTPS client of webhooks: hyper over rustls (ring, the system's roots), through a
//! resolver that refuses every name resolving to an address the [`UrlPolicy`] forbids,
//! at the moment of connecting. No redirect is followed (a 3xx is a failed attempt),
//! the whole exchange has a timeout, and at most a small excerpt of a response body is
//! read.

use crate::policy::UrlPolicy;
use crate::signature;
use async_trait::async_trait;
use billrun_app::model::webhooks::RESPONSE_EXCERPT_BYTES;
use billrun_app::ports::{OutgoingWebhook, WebhookResponse, WebhookSendError, WebhookSender};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// How long an attempt may take, connection to the last byte read.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// Resolves a host and refuses it when any of its addresses is forbidden (an
/// attacker's name that resolves to a public and a private address is refused, not
/// tried in turn). Names may be pinned to addresses (tests without DNS).
#[derive(Clone)]
pub struct CheckedResolver {
    policy: UrlPolicy,
    pinned: Arc<HashMap<String, Vec<IpAddr>>>,
}

impl CheckedResolver {
    async fn resolve(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        let ips: Vec<IpAddr> = match self.pinned.get(host) {
            Some(ips) => ips.clone(),
            None => tokio::net::lookup_host((host, 0))
                .await?
                .map(|a| a.ip())
                .collect(),
        };
        if ips.is_empty() {
            return Err(std::io::Error::other(format!("{host} has no address")));
        }
        for ip in &ips {
            self.policy.check_ip(*ip).map_err(|why| {
                std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!("{host} resolves to {why}"),
                )
            })?;
        }
        Ok(ips)
    }
}

type Resolving =
    Pin<Box<dyn Future<Output = std::io::Result<std::vec::IntoIter<SocketAddr>>> + Send>>;

impl tower_service::Service<Name> for CheckedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Resolving;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let resolver = self.clone();
        Box::pin(async move {
            let ips = resolver.resolve(name.as_str()).await?;
            // The connector sets the URL's port on each address.
            Ok(ips
                .into_iter()
                .map(|ip| SocketAddr::new(ip, 0))
                .collect::<Vec<_>>()
                .into_iter())
        })
    }
}

type Https = hyper_rustls::HttpsConnector<HttpConnector<CheckedResolver>>;

/// Sends webhooks ([`WebhookSender`]).
pub struct HttpWebhookSender {
    policy: UrlPolicy,
    resolver: CheckedResolver,
    client: Client<Https, Full<Bytes>>,
    timeout: Duration,
}

impl HttpWebhookSender {
    /// A sender under `policy`, each attempt limited to `timeout`.
    pub fn new(policy: UrlPolicy, timeout: Duration) -> Result<Self, String> {
        Self::with_pinned(policy, timeout, HashMap::new())
    }

    /// The same, with names resolved to the addresses given instead of through DNS
    /// (tests; the addresses are checked like resolved ones).
    pub fn with_pinned(
        policy: UrlPolicy,
        timeout: Duration,
        pinned: HashMap<String, Vec<IpAddr>>,
    ) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            // A certificate the store cannot parse is skipped, as browsers do.
            let _ = roots.add(cert);
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let resolver = CheckedResolver {
            policy,
            pinned: Arc::new(pinned),
        };
        let mut http = HttpConnector::new_with_resolver(resolver.clone());
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(HttpWebhookSender {
            policy,
            resolver,
            client: Client::builder(TokioExecutor::new()).build(https),
            timeout,
        })
    }

    async fn exchange(
        &self,
        request: http::Request<Full<Bytes>>,
    ) -> Result<WebhookResponse, WebhookSendError> {
        let mut response = self
            .client
            .request(request)
            .await
            .map_err(|e| classify(&e))?;
        let status = response.status().as_u16();
        let mut kept = Vec::new();
        // Read no more than the excerpt: a receiver's body is neither trusted nor
        // needed, and the connection is dropped with the rest unread.
        while kept.len() < RESPONSE_EXCERPT_BYTES {
            match response.body_mut().frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        kept.extend_from_slice(&data);
                    }
                }
                Some(Err(_)) | None => break,
            }
        }
        kept.truncate(RESPONSE_EXCERPT_BYTES);
        let excerpt: String = String::from_utf8_lossy(&kept)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        Ok(WebhookResponse { status, excerpt })
    }
}

/// The failure of a request: a refusal from the resolver, or the error's chain in one
/// line.
fn classify(e: &(dyn std::error::Error + 'static)) -> WebhookSendError {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::PermissionDenied {
                return WebhookSendError::Refused(io.to_string());
            }
        }
        parts.push(s.to_string());
        source = s.source();
    }
    WebhookSendError::Failed(parts.join(": "))
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    fn check_url(&self, url: &str) -> Result<(), String> {
        self.policy.check_url(url).map(|_| ())
    }

    async fn send(&self, w: &OutgoingWebhook) -> Result<WebhookResponse, WebhookSendError> {
        let url = self
            .policy
            .check_url(&w.url)
            .map_err(WebhookSendError::Refused)?;
        if let Some(url::Host::Domain(name)) = url.host() {
            // Checked here for a clear refusal; the connector's resolver checks again
            // (the name may resolve elsewhere by then).
            if let Err(e) = self.resolver.resolve(name).await {
                return Err(match e.kind() {
                    std::io::ErrorKind::PermissionDenied => {
                        WebhookSendError::Refused(e.to_string())
                    }
                    _ => WebhookSendError::Failed(format!("cannot resolve {name}: {e}")),
                });
            }
        }
        let timestamp = w.timestamp.timestamp();
        let signature =
            signature::header(&w.secrets, &w.message_id, timestamp, &w.body).map_err(|_| {
                WebhookSendError::Failed("a signing secret is not whsec_ base64".into())
            })?;
        let request = http::Request::post(url.as_str())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::USER_AGENT, "billrun-webhooks/1")
            .header(signature::ID_HEADER, &w.message_id)
            .header(signature::TIMESTAMP_HEADER, timestamp.to_string())
            .header(signature::SIGNATURE_HEADER, signature)
            .body(Full::new(Bytes::from(w.body.clone())))
            .map_err(|e| WebhookSendError::Failed(format!("request: {e}")))?;
        match tokio::time::timeout(self.timeout, self.exchange(request)).await {
            Ok(answer) => answer,
            Err(_) => Err(WebhookSendError::Timeout),
        }
    }
}
