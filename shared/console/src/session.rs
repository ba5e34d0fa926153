//! Who is at the console: sign-in with an API token, or through the deployment's
//! OpenID Connect issuer ([`crate::oidc`]), exchanged for a session cookie (stateless:
//! the caller's name, scopes and expiry, signed with HMAC-SHA256), and the CSRF defence of every state change (a per-session token in every form, plus the
//! request's `Origin` / `Sec-Fetch-Site`).

use crate::{layout, Console};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use billrun_api::access::{scope_of, Principal, Scope};
use hmac::{KeyInit, Mac};
use maud::html;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The session cookie's name.
pub const COOKIE: &str = "billrun_console";
/// How long a session lasts: a working day.
const SESSION_SECONDS: i64 = 8 * 60 * 60;

/// Who holds a token, if anyone (the composition's token check).
pub type TokenHolder = Arc<dyn Fn(&str) -> Option<Principal> + Send + Sync>;

/// How visitors become callers of the API.
#[derive(Clone)]
pub enum SignIn {
    /// No sign-in: every visitor is the API's unauthenticated caller, as the API itself
    /// is without tokens (`serve` on a loopback address only), with every scope.
    Open,
    /// A token of the API (`serve --token` / `--tokens`) is asked for once and
    /// exchanged for a session; this says who holds a token, if anyone.
    Tokens(TokenHolder),
    /// The deployment's OpenID Connect issuer signs visitors in (on AWS: the issuer of
    /// the API's JWT authorizer); the session is made from its access token.
    Issuer(Arc<crate::oidc::Issuer>),
}

/// The key sessions and CSRF tokens are signed with.
pub struct Keys {
    key: [u8; 32],
}

impl Keys {
    pub fn random() -> Result<Keys, String> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| format!("no random key for sessions: {e}"))?;
        Ok(Keys { key })
    }

    /// A key derived from a deployment's secret.
    pub fn from_secret(secret: &[u8]) -> Keys {
        use sha2::Digest;
        Keys {
            key: sha2::Sha256::digest(secret).into(),
        }
    }

    fn mac(&self, purpose: &str, data: &[u8]) -> HmacSha256 {
        // A 32-byte key is always a valid HMAC key; the fallback never runs.
        let mut mac = HmacSha256::new_from_slice(&self.key)
            .unwrap_or_else(|_| HmacSha256::new(&Default::default()));
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(data);
        mac
    }

    pub(crate) fn sign(&self, purpose: &str, data: &[u8]) -> String {
        B64.encode(self.mac(purpose, data).finalize().into_bytes())
    }

    pub(crate) fn verify(&self, purpose: &str, data: &[u8], signature: &str) -> bool {
        match B64.decode(signature) {
            Ok(sig) => self.mac(purpose, data).verify_slice(&sig).is_ok(),
            Err(_) => false,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Claims {
    #[serde(rename = "n")]
    name: String,
    #[serde(rename = "s")]
    scopes: BTreeSet<Scope>,
    /// Expiry, Unix seconds.
    #[serde(rename = "e")]
    expires: i64,
    /// The name shown, when not `name` (an issuer's user name beside its subject).
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    display: Option<String>,
}

/// The visitor of a page: the API caller it acts as, and its CSRF token.
pub struct Visitor {
    principal: Option<Principal>,
    pub name: String,
    scopes: BTreeSet<Scope>,
    pub csrf: String,
    /// Whether there is a session to end (not in [`SignIn::Open`]).
    pub signed_in: bool,
}

impl Visitor {
    pub fn principal(&self) -> Option<&Principal> {
        self.principal.as_ref()
    }

    /// Whether the API would let this visitor make `method route` (the API's own
    /// scope table): what is not allowed is not offered.
    pub fn may(&self, method: &Method, route: &str) -> bool {
        self.scopes.contains(&scope_of(method, route))
    }
}

/// Why a request has no visitor.
pub enum NoVisitor {
    /// No session (or an expired or forged one): sign in first.
    SignInFirst,
}

impl IntoResponse for NoVisitor {
    fn into_response(self) -> Response {
        match self {
            NoVisitor::SignInFirst => Redirect::to("/console/sign-in").into_response(),
        }
    }
}

pub(crate) fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl Console {
    fn visitor_of(&self, headers: &HeaderMap) -> Result<Visitor, NoVisitor> {
        if matches!(self.sign_in, SignIn::Open) {
            return Ok(Visitor {
                principal: None,
                name: "local (no sign-in)".into(),
                scopes: Scope::ALL.into_iter().collect(),
                csrf: self.keys.sign("csrf", b"open"),
                signed_in: false,
            });
        }
        let value = cookie_value(headers, COOKIE).ok_or(NoVisitor::SignInFirst)?;
        let (payload, signature) = value.split_once('.').ok_or(NoVisitor::SignInFirst)?;
        if !self.keys.verify("session", payload.as_bytes(), signature) {
            return Err(NoVisitor::SignInFirst);
        }
        let claims: Claims = B64
            .decode(payload)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(NoVisitor::SignInFirst)?;
        if claims.expires <= chrono::Utc::now().timestamp() {
            return Err(NoVisitor::SignInFirst);
        }
        Ok(Visitor {
            principal: Some(Principal {
                name: claims.name.clone(),
                scopes: claims.scopes.clone(),
            }),
            name: claims.display.unwrap_or(claims.name),
            scopes: claims.scopes,
            csrf: self.keys.sign("csrf", value.as_bytes()),
            signed_in: true,
        })
    }

    /// The session of `p`, shown as `display` when given.
    pub(crate) fn session_cookie(
        &self,
        p: &Principal,
        display: Option<&str>,
    ) -> Result<String, String> {
        let claims = Claims {
            name: p.name.clone(),
            scopes: p.scopes.clone(),
            expires: chrono::Utc::now().timestamp() + SESSION_SECONDS,
            display: display.filter(|d| *d != p.name).map(str::to_string),
        };
        let json = serde_json::to_vec(&claims).map_err(|e| e.to_string())?;
        let payload = B64.encode(json);
        let signature = self.keys.sign("session", payload.as_bytes());
        Ok(format!(
            "{COOKIE}={payload}.{signature}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECONDS}{}",
            if self.secure { "; Secure" } else { "" }
        ))
    }
}

impl FromRequestParts<Console> for Visitor {
    type Rejection = NoVisitor;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, NoVisitor> {
        console.visitor_of(&parts.headers)
    }
}

/// Why a state change was refused before it reached the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The form carried no CSRF token, or not this session's.
    CsrfToken,
    /// The request came from another site (`Origin` or `Sec-Fetch-Site`).
    CrossOrigin,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let why = match self {
            Refusal::CsrfToken => {
                "This form is out of date or did not come from the console (its CSRF token is missing or wrong). Reload the page and try again."
            }
            Refusal::CrossOrigin => "A change to billing must come from the console's own pages.",
        };
        (
            StatusCode::FORBIDDEN,
            layout::bare("Refused", html! { h1 { "Refused" } p { (why) } }),
        )
            .into_response()
    }
}

/// The request comes from the console's own origin: `Sec-Fetch-Site` (when the browser
/// sends it) is same-origin, and `Origin` (when present) is this host.
pub fn same_origin(headers: &HeaderMap) -> Result<(), Refusal> {
    let text = |h| headers.get(h).and_then(|v: &HeaderValue| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        if site != "same-origin" && site != "none" {
            return Err(Refusal::CrossOrigin);
        }
    }
    if let Some(origin) = text("origin") {
        let host = text("host").ok_or(Refusal::CrossOrigin)?;
        let bare = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .ok_or(Refusal::CrossOrigin)?;
        if bare != host {
            return Err(Refusal::CrossOrigin);
        }
    }
    Ok(())
}

/// The checks of every state change: same origin and this session's CSRF token.
pub fn check_change(
    console: &Console,
    visitor: &Visitor,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<(), Refusal> {
    same_origin(headers)?;
    let given = form.get("csrf").map(String::as_str).unwrap_or("");
    // Compared as MACs, in constant time.
    let expected = console.keys.sign("csrf-check", visitor.csrf.as_bytes());
    if console
        .keys
        .verify("csrf-check", given.as_bytes(), &expected)
    {
        Ok(())
    } else {
        Err(Refusal::CsrfToken)
    }
}

pub async fn sign_in_page(State(console): State<Console>, headers: HeaderMap) -> Response {
    match &console.sign_in {
        SignIn::Open => Redirect::to("/console/runs").into_response(),
        SignIn::Tokens(_) => layout::sign_in(None).into_response(),
        SignIn::Issuer(issuer) => crate::oidc::routes::start(&console, issuer, &headers).await,
    }
}

pub async fn sign_in(
    State(console): State<Console>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = same_origin(&headers) {
        return r.into_response();
    }
    let holder = match &console.sign_in {
        SignIn::Tokens(holder) => holder,
        SignIn::Open => return Redirect::to("/console/runs").into_response(),
        // No token form to post: the issuer signs visitors in.
        SignIn::Issuer(_) => return Redirect::to("/console/sign-in").into_response(),
    };
    let token = form.get("token").map(|t| t.trim()).unwrap_or("");
    let principal = if token.is_empty() {
        None
    } else {
        holder(token)
    };
    let Some(p) = principal else {
        let why = if token.is_empty() {
            "Enter the token you were given for this server."
        } else {
            "This token is not one of this server's."
        };
        return (StatusCode::UNAUTHORIZED, layout::sign_in(Some(why))).into_response();
    };
    match console.session_cookie(&p, None) {
        Ok(cookie) => (
            StatusCode::SEE_OTHER,
            [
                (header::SET_COOKIE, cookie),
                (header::LOCATION, "/console/runs".to_string()),
            ],
        )
            .into_response(),
        Err(e) => crate::internal(&e),
    }
}

pub async fn sign_out(
    State(console): State<Console>,
    visitor: Visitor,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = check_change(&console, &visitor, &headers, &form) {
        return r.into_response();
    }
    let cleared = format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0");
    if let SignIn::Issuer(_) = console.sign_in {
        // Not straight back to the sign-in: with the issuer's own session still open,
        // it would sign the visitor in again at once.
        let page = layout::bare(
            "Signed out",
            html! {
                h1 { "Signed out" }
                p { "You have left the console. Your session at the identity provider is its own." }
                p { a href="/console/sign-in" { "Sign in again" } }
            },
        );
        return ([(header::SET_COOKIE, cleared)], page).into_response();
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cleared),
            (header::LOCATION, "/console/sign-in".to_string()),
        ],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn only_the_consoles_own_origin_may_change_state() {
        let host = ("host", "127.0.0.1:8080");
        assert!(
            same_origin(&headers(&[host])).is_ok(),
            "a client without the headers"
        );
        assert!(same_origin(&headers(&[host, ("origin", "http://127.0.0.1:8080")])).is_ok());
        assert!(same_origin(&headers(&[host, ("sec-fetch-site", "same-origin")])).is_ok());
        for bad in [
            headers(&[host, ("origin", "http://evil.example")]),
            headers(&[host, ("origin", "null")]),
            headers(&[host, ("sec-fetch-site", "cross-site")]),
            headers(&[host, ("sec-fetch-site", "same-site")]),
            headers(&[("origin", "http://127.0.0.1:8080")]),
        ] {
            assert_eq!(same_origin(&bad), Err(Refusal::CrossOrigin), "{bad:?}");
        }
    }

    #[test]
    fn a_signed_value_is_refused_once_changed_or_under_another_key() {
        let keys = Keys::random().unwrap();
        let sig = keys.sign("session", b"payload");
        assert!(keys.verify("session", b"payload", &sig));
        assert!(!keys.verify("session", b"payloae", &sig));
        assert!(
            !keys.verify("csrf", b"payload", &sig),
            "purposes do not mix"
        );
        assert!(!Keys::random().unwrap().verify("session", b"payload", &sig));
        assert!(!keys.verify("session", b"payload", "not base64!"));
    }
}
