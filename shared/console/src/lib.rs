//! The operator console at `/console/`: server-rendered HTML pages (maud, escaped at
//! every interpolation) with a vendored htmx for the live parts.
//!
//! The console has no path of its own to the data. Every page and action is a request to
//! the HTTP API's own router ([`Api`]), made in process with the signed-in caller's
//! [`Principal`] attached: the same handlers, use cases, validation (errors name their
//! field, shown at the form's field), scope table ([`billrun_api::access::scope_of`],
//! checked by the router's own `enforce`) and audit actor as a `curl` of the same route.
//! What a page offers is decided from that one table too ([`session::Visitor::may`]).

mod actions;
mod assets;
mod audit;
mod fields;
mod fmt;
mod forms;
mod invoice;
mod invoice_schedule_form;
mod invoice_schedules;
mod layout;
mod lists;
pub mod oidc;
mod put_form;
mod rebill;
mod run;
mod runs;
mod schedule_form;
mod schedules;
pub mod session;
mod template_form;
mod templates;
mod webhooks;
mod zone;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use billrun_api::access::Principal;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

pub use session::SignIn;

/// What the console serves: the API router it calls, how visitors sign in, and the key
/// its session cookies and CSRF tokens are signed with.
#[derive(Clone)]
pub struct Console {
    api: Router,
    sign_in: SignIn,
    keys: Arc<session::Keys>,
    /// Marks the session cookie `Secure` (served over TLS).
    secure: bool,
}

impl Console {
    /// A console over `api` (the API router, without a guard in front of it: the
    /// console attaches its visitor's principal itself). The signing key is random, made
    /// here: a restart signs everyone out, which is fine for a local server.
    pub fn new(api: Router, sign_in: SignIn, secure: bool) -> Result<Console, String> {
        Ok(Console {
            api,
            sign_in,
            keys: Arc::new(session::Keys::random()?),
            secure,
        })
    }

    /// A console whose sessions are signed with `key` (every instance of a deployment
    /// must share it, or a session made by one is refused by the next).
    pub fn with_key(api: Router, sign_in: SignIn, secure: bool, key: &[u8]) -> Console {
        Console {
            api,
            sign_in,
            keys: Arc::new(session::Keys::from_secret(key)),
            secure,
        }
    }
}

/// The console as a deployment splits it, in one router (every path it is given is
/// the console's: its caller sends it only `/console` and below): its pages (GET, HEAD) over the
/// API's read half and its forms (POST) over the write half, both signing sessions with
/// one key. `billrun-local serve` serves this, so that every console test runs the
/// console as `api-queries` and `api-commands` do on AWS: a form that read through the
/// API would meet the write half's 405 in the tests, not first in a deployment.
pub fn split_router(
    reads: Router,
    writes: Router,
    sign_in: SignIn,
    secure: bool,
) -> Result<Router, String> {
    let keys = Arc::new(session::Keys::random()?);
    let pages = pages(Console {
        api: reads,
        sign_in: sign_in.clone(),
        keys: keys.clone(),
        secure,
    });
    let forms = forms(Console {
        api: writes,
        sign_in,
        keys,
        secure,
    });
    Ok(fork(|req| req.method() == Method::POST, forms, pages))
}

/// One router of two: each request goes to `when` if `choose` says so, else to
/// `otherwise`. A fallback, not routes: a route's path parameters would stay in the
/// request and reach the chosen router's own routes as extra ones, and a merge refuses
/// two routers that each have a fallback (the API's 404 and 405 bodies).
pub fn fork(
    choose: impl Fn(&Request<Body>) -> bool + Clone + Send + Sync + 'static,
    when: Router,
    otherwise: Router,
) -> Router {
    Router::new().fallback(move |req: Request<Body>| {
        let to = if choose(&req) {
            when.clone()
        } else {
            otherwise.clone()
        };
        answer(to, req)
    })
}

/// A router's answer to one request (a router never fails: its error is `Infallible`).
async fn answer(router: Router, req: Request<Body>) -> Response {
    match router.oneshot(req).await {
        Ok(res) => res,
        Err(never) => match never {},
    }
}

/// The console's routes, all under `/console`: its [`pages`] and its [`forms`] over
/// one API router (tests, benches).
pub fn router(console: Console) -> Router {
    page_routes()
        .merge(form_routes())
        .layer(axum::middleware::from_fn(zone::in_visitors_zone))
        .with_state(console)
}

/// The console's GET routes (pages, confirmations, documents, the sign-in page and
/// the issuer's callback). On AWS `api-queries` serves them over its half of the API
/// router and `api-commands` serves [`forms`]: API Gateway sends the GETs to the one
/// and the POSTs to the other, each function links only its half, and a form calls
/// only writes.
pub fn pages(console: Console) -> Router {
    page_routes()
        .layer(axum::middleware::from_fn(zone::in_visitors_zone))
        .with_state(console)
}

/// The console's POST routes (sign-in with a token, sign-out, the forms, the
/// actions): see [`pages`].
pub fn forms(console: Console) -> Router {
    form_routes()
        .layer(axum::middleware::from_fn(zone::in_visitors_zone))
        .with_state(console)
}

fn page_routes() -> Router<Console> {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/runs") }))
        .route("/console/", get(|| async { Redirect::to("/console/runs") }))
        .route("/console/assets/htmx.min.js", get(assets::htmx))
        .route("/console/assets/time-zone.js", get(zone::script))
        .route("/console/time-zone", get(zone::page_of))
        .route("/console/sign-in", get(session::sign_in_page))
        .route("/console/callback", get(oidc::routes::callback))
        .route("/console/runs", get(runs::list))
        .route("/console/runs/new", get(forms::new_run))
        .route("/console/runs/{id}", get(run::page))
        .route("/console/runs/{id}/progress", get(runs::progress_route))
        .route(
            "/console/runs/{id}/actions/{action}",
            actions::confirm_route(&run::RUN),
        )
        .route("/console/invoices/{id}", get(invoice::page))
        .route("/console/invoices/{id}/document", get(invoice::pdf))
        .route("/console/invoices/{id}/rebill", get(rebill::confirm))
        .route(
            "/console/invoices/{id}/actions/{action}",
            actions::confirm_route(&invoice::DOCUMENT),
        )
        .route("/console/schedules", get(schedules::list))
        .route("/console/schedules/new", get(schedule_form::new))
        .route("/console/schedules/{id}/edit", get(schedule_form::edit))
        .route(
            "/console/schedules/{id}/actions/{action}",
            actions::confirm_route(&schedules::SCHEDULE),
        )
        .route("/console/invoice-schedules", get(invoice_schedules::list))
        .route(
            "/console/invoice-schedules/new",
            get(invoice_schedule_form::new),
        )
        .route(
            "/console/invoice-schedules/{id}/edit",
            get(invoice_schedule_form::edit),
        )
        .route(
            "/console/invoice-schedules/{id}",
            get(invoice_schedules::page),
        )
        .route(
            "/console/invoice-schedules/{id}/items/{item}/execute",
            invoice_schedules::confirm_route(),
        )
        .route("/console/templates", get(templates::list))
        .route("/console/templates/new", get(template_form::new))
        .route("/console/templates/{id}/edit", get(template_form::edit))
        .route("/console/templates/{id}", get(templates::page))
        .route("/console/templates/{id}/sample", get(templates::sample))
        .route(
            "/console/templates/{id}/actions/{action}",
            actions::confirm_route(&templates::TEMPLATE),
        )
        .route("/console/audit", get(audit::list))
        .route("/console/aging", get(lists::aging))
        .route("/console/webhooks", get(webhooks::list))
        .route("/console/webhooks/{id}", get(webhooks::endpoint))
        .route("/console/webhook-deliveries/{id}", get(webhooks::delivery))
        .route(
            "/console/webhook-deliveries/{id}/actions/{action}",
            actions::confirm_route(&webhooks::DELIVERY),
        )
}

fn form_routes() -> Router<Console> {
    Router::new()
        .route("/console/time-zone", post(zone::save))
        .route("/console/sign-in", post(session::sign_in))
        .route("/console/sign-out", post(session::sign_out))
        .route("/console/runs", post(forms::create))
        .route(
            "/console/runs/{id}/actions/{action}",
            actions::act_route(&run::RUN),
        )
        .route("/console/invoices/{id}/rebill", post(rebill::rebill))
        .route(
            "/console/invoices/{id}/actions/{action}",
            actions::act_route(&invoice::DOCUMENT),
        )
        .route("/console/schedules", post(schedule_form::create))
        .route("/console/schedules/{id}/edit", post(schedule_form::update))
        .route(
            "/console/invoice-schedules",
            post(invoice_schedule_form::create),
        )
        .route(
            "/console/invoice-schedules/{id}/edit",
            post(invoice_schedule_form::update),
        )
        .route("/console/templates", post(template_form::create))
        .route("/console/templates/{id}/edit", post(template_form::update))
        .route(
            "/console/schedules/{id}/actions/{action}",
            actions::act_route(&schedules::SCHEDULE),
        )
        .route(
            "/console/invoice-schedules/{id}/items/{item}/execute",
            invoice_schedules::execute_route(),
        )
        .route(
            "/console/templates/{id}/actions/{action}",
            actions::act_route(&templates::TEMPLATE),
        )
        .route(
            "/console/webhook-deliveries/{id}/actions/{action}",
            actions::act_route(&webhooks::DELIVERY),
        )
}

/// An API answer: its status and its JSON body (`Value::Null` when it had none).
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.status.is_success()
    }

    /// The API's error (`{code, message, field}`) as the console shows it.
    pub fn error(&self) -> ApiProblem {
        let text = |k: &str| self.body.get(k).and_then(Value::as_str).map(str::to_string);
        ApiProblem {
            status: self.status,
            message: text("message").unwrap_or_else(|| format!("the API answered {}", self.status)),
            field: text("field"),
        }
    }
}

/// An API refusal, shown to the visitor as the API worded it.
#[derive(Debug, Clone)]
pub(crate) struct ApiProblem {
    pub status: StatusCode,
    pub message: String,
    pub field: Option<String>,
}

/// The largest API answer the console reads (a page of 100 documents with their lines
/// stays far below it).
const MAX_ANSWER: usize = 32 * 1024 * 1024;

impl Console {
    /// Calls the API router in process as `principal` (`None`: a console open without
    /// sign-in, like the API without tokens).
    async fn call(
        &self,
        principal: Option<&Principal>,
        method: Method,
        uri: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, axum::http::HeaderMap, axum::body::Bytes), Response> {
        self.call_with(principal, method, uri, body, &[]).await
    }

    /// [`Console::call`] with request headers: an `Idempotency-Key` (a create that a
    /// resubmitted form must not make twice), `If-None-Match: *` (a create that must not
    /// replace).
    async fn call_with(
        &self,
        principal: Option<&Principal>,
        method: Method,
        uri: &str,
        body: Option<Value>,
        headers: &[(header::HeaderName, &str)],
    ) -> Result<(StatusCode, axum::http::HeaderMap, axum::body::Bytes), Response> {
        let mut req = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            req = req.header(name, *value);
        }
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let body = match body {
            Some(v) => Body::from(v.to_string()),
            None => Body::empty(),
        };
        let mut req = req.body(body).map_err(|e| internal(&e.to_string()))?;
        if let Some(p) = principal {
            req.extensions_mut().insert(p.clone());
        }
        let res = answer(self.api.clone(), req).await;
        let (parts, body) = res.into_parts();
        let bytes = axum::body::to_bytes(body, MAX_ANSWER)
            .await
            .map_err(|e| internal(&format!("reading the API's answer: {e}")))?;
        Ok((parts.status, parts.headers, bytes))
    }

    /// [`Console::call`] reading a JSON answer.
    pub(crate) async fn json(
        &self,
        principal: Option<&Principal>,
        method: Method,
        uri: &str,
        body: Option<Value>,
    ) -> Result<Answer, Response> {
        self.json_with(principal, method, uri, body, &[]).await
    }

    /// [`Console::json`] with request headers ([`Console::call_with`]).
    pub(crate) async fn json_with(
        &self,
        principal: Option<&Principal>,
        method: Method,
        uri: &str,
        body: Option<Value>,
        headers: &[(header::HeaderName, &str)],
    ) -> Result<Answer, Response> {
        let (status, _, bytes) = self
            .call_with(principal, method, uri, body, headers)
            .await?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Ok(Answer { status, body })
    }

    /// A GET that must succeed: any refusal becomes the console's error page.
    pub(crate) async fn get(
        &self,
        visitor: &session::Visitor,
        uri: &str,
    ) -> Result<Value, Response> {
        let answer = self
            .json(visitor.principal(), Method::GET, uri, None)
            .await?;
        if answer.ok() {
            Ok(answer.body)
        } else {
            Err(layout::problem(visitor, &answer.error()))
        }
    }
}

pub(crate) fn internal(message: &str) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("the console failed: {message}"),
    )
        .into_response()
}

/// A query-string value, percent-encoded.
pub(crate) fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A path segment from the visitor: only the characters an id may have, so that it
/// cannot reach another API route.
/// `&cursor=…` for an API list route, from the page's own cursor parameter (absent or
/// empty: the first page, nothing added).
pub(crate) fn cursor_arg(cursor: Option<&String>) -> String {
    match cursor.filter(|c| !c.is_empty()) {
        Some(c) => format!("&cursor={}", enc(c)),
        None => String::new(),
    }
}

/// A page's resource id: the route's one path parameter, which must be a [`segment`];
/// any other answers 404 before the handler runs.
pub(crate) struct Id(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Id {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let not_found = || StatusCode::NOT_FOUND.into_response();
        let axum::extract::Path(id) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| not_found())?;
        match segment(&id) {
            Some(_) => Ok(Id(id)),
            None => Err(not_found()),
        }
    }
}

pub(crate) fn segment(s: &str) -> Option<&str> {
    (!s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_segment_cannot_reach_another_route() {
        assert_eq!(segment("0b6f-AZ_9"), Some("0b6f-AZ_9"));
        for bad in ["", "../v1/import", "a/b", "a?b=1", "a%2F", &"x".repeat(129)] {
            assert_eq!(segment(bad), None, "{bad}");
        }
        assert_eq!(enc("a b&c/é"), "a%20b%26c%2F%C3%A9");
    }
}
