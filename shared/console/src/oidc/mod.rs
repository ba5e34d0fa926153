//! Sign-in against the deployment's OpenID Connect issuer (a Cognito user pool, or any
//! issuer API Gateway's JWT authorizer trusts): the OAuth 2.0 authorization-code flow
//! with PKCE (S256) for a public client. `/console/sign-in` sends the browser to the
//! issuer's authorize endpoint with a `state` and a code challenge, both kept in a
//! short-lived signed cookie; `/console/callback` checks the state, exchanges the code
//! (with the verifier) at the token endpoint, verifies the access token ([`token`]) and
//! makes the console's session from it. The issuer's metadata and keys are read once per
//! process; the keys once more when a token names one not seen.

pub mod fetch;
pub(crate) mod routes;
pub mod token;

use crate::session::Keys;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use billrun_api::access::GroupScopes;
use fetch::{FetchError, Fetcher};
use jsonwebtoken::jwk::JwkSet;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use token::{Holder, Refused};

/// The sign-in cookie: the flow's state, verifier and callback URL, for ten minutes.
pub const FLOW_COOKIE: &str = "billrun_console_flow";
const FLOW_SECONDS: i64 = 10 * 60;

/// Who the console trusts to sign visitors in, and as which client.
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    /// The issuer URL (the template's `JwtIssuer`); its metadata is at
    /// `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    /// The console's client id at the issuer (`ConsoleClientId`): a public client, with
    /// the console's `/console/callback` among its callback URLs.
    pub client_id: String,
    /// The audiences an access token may be for (`JwtAudience`, as the API's authorizer).
    pub audiences: Vec<String>,
    /// The scopes asked for (`ConsoleScope`, e.g. `openid`).
    pub scope: String,
    /// Scopes granted by groups (`GroupScopes`, as the API).
    pub groups: GroupScopes,
}

/// The endpoints of the issuer's metadata the flow uses.
#[derive(Debug, Clone, Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    /// RFC 9207: the issuer names itself (`iss`) in its authorization responses.
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

/// The issuer: its configuration, and its metadata and keys once read.
pub struct Issuer {
    config: IssuerConfig,
    fetcher: Fetcher,
    metadata: tokio::sync::OnceCell<Metadata>,
    keys: tokio::sync::RwLock<Option<Arc<JwkSet>>>,
}

/// Why a sign-in did not end in a session, as the visitor is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The issuer cannot be reached or answered nonsense (502).
    Issuer(String),
    /// The issuer refused (an `error` on the callback, or at the token endpoint) (401).
    Refused(String),
    /// No flow cookie, a forged or expired one, or a `state` not this browser's (400).
    Flow(&'static str),
    /// The token failed a check (401).
    Token(Refused),
}

impl Failure {
    /// The words of the page; the tracing line carries no more than these.
    pub fn reason(&self) -> String {
        match self {
            Failure::Issuer(why) => format!("The identity provider could not be used: {why}."),
            Failure::Refused(why) => format!("The identity provider refused the sign-in ({why})."),
            Failure::Flow(why) => format!("This sign-in cannot be completed: {why}."),
            Failure::Token(r) => format!("The sign-in was refused: {}.", r.reason()),
        }
    }
}

/// The flow's secrets, kept in the signed flow cookie between the two legs.
#[derive(Serialize, Deserialize)]
struct Flow {
    #[serde(rename = "s")]
    state: String,
    #[serde(rename = "v")]
    verifier: String,
    #[serde(rename = "r")]
    redirect_uri: String,
    #[serde(rename = "e")]
    expires: i64,
}

fn random_text(bytes: usize) -> Result<String, String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| format!("no randomness for the sign-in: {e}"))?;
    Ok(B64.encode(buf))
}

/// The S256 code challenge of `verifier` (RFC 7636).
pub fn challenge(verifier: &str) -> String {
    use sha2::Digest;
    B64.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

impl Issuer {
    pub fn new(config: IssuerConfig) -> Result<Issuer, String> {
        Ok(Issuer {
            config,
            fetcher: Fetcher::new(fetch::TIMEOUT)?,
            metadata: tokio::sync::OnceCell::new(),
            keys: tokio::sync::RwLock::new(None),
        })
    }

    async fn metadata(&self) -> Result<&Metadata, Failure> {
        self.metadata
            .get_or_try_init(|| async {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    self.config.issuer.trim_end_matches('/')
                );
                let value = self.fetcher.get_json(&url).await.map_err(fetch_failure)?;
                let m: Metadata = serde_json::from_value(value)
                    .map_err(|e| Failure::Issuer(format!("its metadata lacks an endpoint: {e}")))?;
                // OpenID Connect Discovery: the metadata names the issuer it was asked
                // for, or it is someone else's.
                if m.issuer.trim_end_matches('/') != self.config.issuer.trim_end_matches('/') {
                    return Err(Failure::Issuer(
                        "its metadata names another issuer".to_string(),
                    ));
                }
                for url in [&m.authorization_endpoint, &m.token_endpoint, &m.jwks_uri] {
                    fetch::checked(url).map_err(fetch_failure)?;
                }
                Ok(m)
            })
            .await
    }

    /// The issuer's keys: those read before, unless `refresh` (a token named a key not
    /// among them).
    async fn keys(&self, refresh: bool) -> Result<Arc<JwkSet>, Failure> {
        if !refresh {
            if let Some(keys) = self.keys.read().await.as_ref() {
                return Ok(keys.clone());
            }
        }
        let url = &self.metadata().await?.jwks_uri;
        let value = self.fetcher.get_json(url).await.map_err(fetch_failure)?;
        let set: JwkSet = serde_json::from_value(value)
            .map_err(|e| Failure::Issuer(format!("its JWKS does not parse: {e}")))?;
        let set = Arc::new(set);
        *self.keys.write().await = Some(set.clone());
        Ok(set)
    }

    /// Verifies an access token, fetching the keys again once if it names a key not
    /// among those read.
    pub async fn verify(&self, access_token: &str) -> Result<Holder, Failure> {
        let kid = token::key_id(access_token).map_err(Failure::Token)?;
        let mut keys = self.keys(false).await?;
        if !token::has_key(&keys, kid.as_deref()) {
            keys = self.keys(true).await?;
        }
        let c = &self.config;
        token::verify(access_token, &keys, &c.issuer, &c.audiences, &c.groups)
            .map_err(Failure::Token)
    }

    /// The first leg: the authorize URL to send the browser to, and the flow cookie's
    /// value (signed by `keys`) that the callback needs.
    pub async fn start(
        &self,
        keys: &Keys,
        redirect_uri: &str,
    ) -> Result<(String, String), Failure> {
        let m = self.metadata().await?;
        let state = random_text(16).map_err(Failure::Issuer)?;
        let verifier = random_text(32).map_err(Failure::Issuer)?;
        let mut url = url::Url::parse(&m.authorization_endpoint)
            .map_err(|e| Failure::Issuer(format!("its authorize endpoint: {e}")))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &self.config.scope)
            .append_pair("state", &state)
            .append_pair("code_challenge", &challenge(&verifier))
            .append_pair("code_challenge_method", "S256");
        let flow = Flow {
            state,
            verifier,
            redirect_uri: redirect_uri.to_string(),
            expires: chrono::Utc::now().timestamp() + FLOW_SECONDS,
        };
        let json = serde_json::to_vec(&flow).map_err(|e| Failure::Issuer(e.to_string()))?;
        let payload = B64.encode(json);
        let signature = keys.sign("sign-in", payload.as_bytes());
        Ok((url.to_string(), format!("{payload}.{signature}")))
    }

    /// The second leg: the flow cookie's value and the callback's `state` and `code`,
    /// to the holder of the token the code is exchanged for.
    pub async fn finish(
        &self,
        keys: &Keys,
        flow_cookie: Option<&str>,
        state: &str,
        code: &str,
        iss: Option<&str>,
    ) -> Result<Holder, Failure> {
        let flow = read_flow(keys, flow_cookie)?;
        // Compared as MACs, in constant time.
        let expected = keys.sign("state", flow.state.as_bytes());
        if state.is_empty() || !keys.verify("state", state.as_bytes(), &expected) {
            return Err(Failure::Flow(
                "its state is not the one this browser was given",
            ));
        }
        if code.is_empty() {
            return Err(Failure::Refused("no code was returned".to_string()));
        }
        let m = self.metadata().await?;
        answered_by(m, iss)?;
        let (status, answer) = self
            .fetcher
            .post_form(
                &m.token_endpoint,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", &flow.redirect_uri),
                    ("client_id", &self.config.client_id),
                    ("code_verifier", &flow.verifier),
                ],
            )
            .await
            .map_err(fetch_failure)?;
        if !(200..300).contains(&status) {
            // The OAuth error code only (RFC 6749 5.2): a short token, no personal data.
            let error = answer
                .get("error")
                .and_then(serde_json::Value::as_str)
                .filter(|e| e.len() <= 64 && e.bytes().all(|b| b.is_ascii_graphic()))
                .unwrap_or("no error code");
            return Err(Failure::Refused(format!(
                "its token endpoint answered {status}: {error}"
            )));
        }
        let access = answer
            .get("access_token")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| Failure::Issuer("its token endpoint gave no access token".into()))?;
        self.verify(access).await
    }
}

/// RFC 9207: a callback naming another issuer (`iss`) answers a sign-in started there,
/// not here (a mix-up attack); one naming none is refused when the issuer says it always
/// names itself. Compared exactly, as the RFC asks.
fn answered_by(m: &Metadata, iss: Option<&str>) -> Result<(), Failure> {
    match iss {
        Some(iss) if iss == m.issuer => Ok(()),
        Some(_) => Err(Failure::Flow("it was answered by another issuer")),
        None if m.authorization_response_iss_parameter_supported => Err(Failure::Flow(
            "the issuer's answer does not name the issuer",
        )),
        None => Ok(()),
    }
}

fn fetch_failure(e: FetchError) -> Failure {
    Failure::Issuer(e.to_string())
}

fn read_flow(keys: &Keys, value: Option<&str>) -> Result<Flow, Failure> {
    const NOT_STARTED: Failure =
        Failure::Flow("it did not start in this browser, or took too long");
    let (payload, signature) = value.and_then(|v| v.split_once('.')).ok_or(NOT_STARTED)?;
    if !keys.verify("sign-in", payload.as_bytes(), signature) {
        return Err(NOT_STARTED);
    }
    let flow: Flow = B64
        .decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(NOT_STARTED)?;
    if flow.expires <= chrono::Utc::now().timestamp() {
        return Err(NOT_STARTED);
    }
    Ok(flow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_challenge_is_rfc_7636s_s256() {
        // RFC 7636 appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn a_callback_naming_another_issuer_or_none_when_it_should_is_refused() {
        let m = |supported: bool| Metadata {
            issuer: "https://idp.example/realms/acme".into(),
            authorization_endpoint: "https://idp.example/auth".into(),
            token_endpoint: "https://idp.example/token".into(),
            jwks_uri: "https://idp.example/jwks".into(),
            authorization_response_iss_parameter_supported: supported,
        };
        for supported in [true, false] {
            assert_eq!(
                answered_by(&m(supported), Some("https://idp.example/realms/acme")),
                Ok(())
            );
            assert_eq!(
                answered_by(&m(supported), Some("https://evil.example/realms/acme")),
                Err(Failure::Flow("it was answered by another issuer"))
            );
            assert!(answered_by(&m(supported), Some("https://idp.example/realms/acme/")).is_err());
        }
        assert!(answered_by(&m(true), None).is_err());
        assert_eq!(answered_by(&m(false), None), Ok(()));
        // The metadata of an issuer that does not say (Cognito's) still parses.
        let parsed: Metadata = serde_json::from_value(serde_json::json!({
            "issuer": "https://x", "authorization_endpoint": "https://x/a",
            "token_endpoint": "https://x/t", "jwks_uri": "https://x/k"
        }))
        .unwrap();
        assert!(!parsed.authorization_response_iss_parameter_supported);
    }

    #[test]
    fn a_flow_cookie_is_refused_forged_or_under_another_key() {
        let keys = Keys::random().unwrap();
        let flow = Flow {
            state: "s".into(),
            verifier: "v".into(),
            redirect_uri: "https://x/console/callback".into(),
            expires: chrono::Utc::now().timestamp() + 60,
        };
        let payload = B64.encode(serde_json::to_vec(&flow).unwrap());
        let good = format!("{payload}.{}", keys.sign("sign-in", payload.as_bytes()));
        assert!(read_flow(&keys, Some(&good)).is_ok());
        assert!(read_flow(&Keys::random().unwrap(), Some(&good)).is_err());
        let session_signed = format!("{payload}.{}", keys.sign("session", payload.as_bytes()));
        assert!(
            read_flow(&keys, Some(&session_signed)).is_err(),
            "purposes do not mix"
        );
        assert!(read_flow(&keys, None).is_err());
        let old = Flow {
            expires: chrono::Utc::now().timestamp() - 1,
            ..flow
        };
        let payload = B64.encode(serde_json::to_vec(&old).unwrap());
        let expired = format!("{payload}.{}", keys.sign("sign-in", payload.as_bytes()));
        assert!(read_flow(&keys, Some(&expired)).is_err());
    }
}
