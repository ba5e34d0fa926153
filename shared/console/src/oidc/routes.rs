//! The two legs of the issuer's sign-in as console routes: `/console/sign-in` (to the
//! issuer) and `/console/callback` (back, to a session).

use super::{Failure, Issuer, FLOW_COOKIE};
use crate::session::{cookie_value, SignIn};
use crate::{layout, Console};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use std::collections::HashMap;

/// The console's callback URL at the host the browser reached it by (API Gateway's
/// endpoint or a custom domain): the issuer must list it for the client.
fn redirect_uri(console: &Console, headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let plain = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    (plain && !host.is_empty()).then(|| {
        let scheme = if console.secure { "https" } else { "http" };
        format!("{scheme}://{host}/console/callback")
    })
}

/// The flow cookie: HttpOnly, `SameSite=Lax` (the issuer's redirect back is a
/// navigation from another site, which a Strict cookie would not accompany), ten
/// minutes, and `Secure` under TLS.
fn flow_cookie(console: &Console, value: &str, max_age: i64) -> String {
    format!(
        "{FLOW_COOKIE}={value}; Path=/console; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        if console.secure { "; Secure" } else { "" }
    )
}

pub async fn start(console: &Console, issuer: &Issuer, headers: &HeaderMap) -> Response {
    let Some(redirect) = redirect_uri(console, headers) else {
        return refused(&Failure::Flow("the request names no host"));
    };
    match issuer.start(&console.keys, &redirect).await {
        Ok((authorize, flow)) => (
            StatusCode::SEE_OTHER,
            [
                (
                    header::SET_COOKIE,
                    flow_cookie(console, &flow, super::FLOW_SECONDS),
                ),
                (header::LOCATION, authorize),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
        )
            .into_response(),
        Err(f) => refused(&f),
    }
}

/// The issuer's redirect back: `?code&state` (and `iss`, RFC 9207), or `?error`.
pub async fn callback(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let SignIn::Issuer(issuer) = &console.sign_in else {
        return (
            StatusCode::NOT_FOUND,
            "this console signs in without an issuer",
        )
            .into_response();
    };
    let text = |k: &str| query.get(k).map(String::as_str).unwrap_or("");
    let outcome = if !text("error").is_empty() {
        // The OAuth error code (RFC 6749 4.1.2.1), shown escaped; its description is
        // the issuer's free text and is not repeated.
        let code: String = text("error")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        Err(Failure::Refused(code))
    } else {
        issuer
            .finish(
                &console.keys,
                cookie_value(&headers, FLOW_COOKIE),
                text("state"),
                text("code"),
                query.get("iss").map(String::as_str),
            )
            .await
    };
    let holder = match outcome {
        Ok(holder) => holder,
        Err(f) => return refused(&f),
    };
    let session = match console.session_cookie(&holder.principal, Some(&holder.display)) {
        Ok(cookie) => cookie,
        Err(e) => return crate::internal(&e),
    };
    // A page, not a redirect: the session cookie is SameSite=Strict, and a browser sends
    // none on a redirect that continues the issuer's cross-site navigation; the page's
    // own refresh is a navigation from the console, which carries it.
    let mut res = (
        StatusCode::OK,
        layout::bare(
            "Signed in",
            html! {
                meta http-equiv="refresh" content="0; url=/console/runs";
                h1 { "Signed in" }
                p { a href="/console/runs" { "Continue to the runs" } }
            },
        ),
    )
        .into_response();
    let h = res.headers_mut();
    for cookie in [session, flow_cookie(&console, "", 0)] {
        if let Ok(v) = cookie.parse() {
            h.append(header::SET_COOKIE, v);
        }
    }
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    res
}

/// A sign-in that ends without a session: the reason, a way to start again, and a
/// line in the log naming the check that failed (no token, no personal data).
fn refused(f: &Failure) -> Response {
    let status = match f {
        Failure::Issuer(_) => StatusCode::BAD_GATEWAY,
        Failure::Flow(_) => StatusCode::BAD_REQUEST,
        Failure::Refused(_) | Failure::Token(_) => StatusCode::UNAUTHORIZED,
    };
    tracing::warn!(status = status.as_u16(), reason = %f.reason(), "console sign-in refused");
    (
        status,
        layout::bare(
            "Sign-in refused",
            html! {
                h1 { "Sign-in refused" }
                p class="error" role="alert" { (f.reason()) }
                p { a href="/console/sign-in" { "Sign in again" } }
            },
        ),
    )
        .into_response()
}
