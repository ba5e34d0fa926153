//! The console's outbound HTTP to the issuer (discovery, JWKS, the token endpoint): the
//! client webhooks use (hyper over rustls with ring, the system's roots), each exchange
//! under a timeout and its answer read up to a bound. HTTPS only, but for a loopback
//! issuer (a test's, or one on the same host).

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// How long one exchange with the issuer may take, connection to the last byte.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read (a JWKS or a token response is a few kilobytes).
const MAX_ANSWER: usize = 256 * 1024;

/// Why an exchange with the issuer failed (never carries a token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The URL is not HTTPS (nor loopback HTTP), or does not parse.
    Url(String),
    /// No answer in time, or the connection failed.
    Unreachable(String),
    /// An answer, but not a JSON object.
    NotJson(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Url(why) | FetchError::Unreachable(why) | FetchError::NotJson(why) => {
                f.write_str(why)
            }
        }
    }
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// The HTTP client of the sign-in.
#[derive(Clone)]
pub struct Fetcher {
    client: Client<Https, Full<Bytes>>,
    timeout: Duration,
}

impl Fetcher {
    pub fn new(timeout: Duration) -> Result<Fetcher, String> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
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
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Fetcher {
            client: Client::builder(TokioExecutor::new()).build(https),
            timeout,
        })
    }

    /// `GET url` answered 200 with a JSON object.
    pub async fn get_json(&self, url: &str) -> Result<Value, FetchError> {
        let request = http::Request::get(checked(url)?.as_str())
            .header(http::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|e| FetchError::Url(format!("{url}: {e}")))?;
        let (status, body) = self.exchange(request, url).await?;
        if status != 200 {
            return Err(FetchError::Unreachable(format!("{url} answered {status}")));
        }
        Ok(body)
    }

    /// `POST url` with a form body: the status and the JSON object answered (an OAuth
    /// error is a JSON object too).
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
    ) -> Result<(u16, Value), FetchError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = http::Request::post(checked(url)?.as_str())
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| FetchError::Url(format!("{url}: {e}")))?;
        self.exchange(request, url).await
    }

    async fn exchange(
        &self,
        request: http::Request<Full<Bytes>>,
        url: &str,
    ) -> Result<(u16, Value), FetchError> {
        let read = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| FetchError::Unreachable(format!("{url}: {e}")))?;
            let status = response.status().as_u16();
            let bytes = Limited::new(response.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| FetchError::Unreachable(format!("{url}: reading the answer: {e}")))?
                .to_bytes();
            Ok::<_, FetchError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(self.timeout, read)
            .await
            .map_err(|_| {
                FetchError::Unreachable(format!("{url}: no answer in {:?}", self.timeout))
            })??;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) if v.is_object() => Ok((status, v)),
            _ => Err(FetchError::NotJson(format!(
                "{url} answered {status} without a JSON object"
            ))),
        }
    }
}

/// `url` when it is HTTPS, or HTTP to a loopback address.
pub fn checked(url: &str) -> Result<url::Url, FetchError> {
    let parsed = url::Url::parse(url).map_err(|e| FetchError::Url(format!("{url}: {e}")))?;
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => Err(FetchError::Url(format!(
            "{url}: the issuer's endpoints must be https"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_is_fetched() {
        assert!(
            checked("https://cognito-idp.eu-west-1.amazonaws.com/pool/.well-known/jwks.json")
                .is_ok()
        );
        assert!(checked("http://127.0.0.1:4000/jwks").is_ok());
        assert!(checked("http://[::1]:4000/jwks").is_ok());
        for bad in [
            "http://issuer.example/jwks",
            "ftp://127.0.0.1/x",
            "not a url",
        ] {
            assert!(matches!(checked(bad), Err(FetchError::Url(_))), "{bad}");
        }
    }
}
