//! The operator console as deployed: its pages through the `api-queries` handler, its
//! actions through `api-commands`, both driven with API Gateway (payload 2.0) events, and
//! sign-in through a real OpenID Connect issuer on loopback (discovery, an authorize
//! endpoint that redirects back with a code, a token endpoint that checks the PKCE
//! verifier, a JWKS), its tokens signed with the test key `tests/keys/issuer.pem` (a
//! key made for these tests alone; `other.pem` is a key the issuer does not publish).

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::extract::{Form, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use billrun_app::memory::{MemoryQueue, MemoryStore};
use billrun_app::App;
use billrun_console::oidc::IssuerConfig;
use billrun_lambda::{ConsoleSetup, GroupScopes};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

const HOST: &str = "console.example";
const CLIENT: &str = "console-client";

/// What the test issuer's token endpoint puts in the next access token.
#[derive(Clone)]
struct Mint {
    /// `issuer` or `other` (tests/keys/<key>.pem), and the `kid` the header names.
    key: &'static str,
    kid: &'static str,
    /// `None`: the issuer's own URL.
    iss: Option<String>,
    client_id: &'static str,
    /// Expiry, seconds from now.
    expires_in: i64,
    claims: Value,
    /// The token endpoint refuses the code (`invalid_grant`).
    refuse: bool,
}

impl Mint {
    fn good(claims: Value) -> Mint {
        Mint {
            key: "issuer",
            kid: "issuer-key",
            iss: None,
            client_id: CLIENT,
            expires_in: 3600,
            claims,
            refuse: false,
        }
    }
}

struct Grant {
    challenge: String,
    redirect_uri: String,
}

struct IssuerState {
    base: String,
    mint: Mint,
    codes: HashMap<String, Grant>,
    /// Token requests whose verifier matched the challenge.
    exchanged: u32,
}

type Shared = Arc<Mutex<IssuerState>>;

fn key_der(key: &str) -> Vec<u8> {
    let pem = std::fs::read_to_string(format!(
        "{}/tests/keys/{key}.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

fn jwk(key: &str) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/tests/keys/{key}.jwk.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap()
}

async fn discovery(State(s): State<Shared>) -> Json<Value> {
    let base = s.lock().unwrap().base.clone();
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/oauth2/authorize"),
        "token_endpoint": format!("{base}/oauth2/token"),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn authorize(
    State(s): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> axum::response::Response {
    let ok = q.get("response_type").map(String::as_str) == Some("code")
        && q.get("client_id").map(String::as_str) == Some(CLIENT)
        && q.get("code_challenge_method").map(String::as_str) == Some("S256")
        && q.get("scope").map(String::as_str) == Some("openid");
    let (Some(redirect), Some(state), Some(challenge), true) = (
        q.get("redirect_uri"),
        q.get("state"),
        q.get("code_challenge"),
        ok,
    ) else {
        return (StatusCode::BAD_REQUEST, "bad authorize request").into_response();
    };
    let code = uuid::Uuid::new_v4().to_string();
    s.lock().unwrap().codes.insert(
        code.clone(),
        Grant {
            challenge: challenge.clone(),
            redirect_uri: redirect.clone(),
        },
    );
    Redirect::to(&format!("{redirect}?code={code}&state={state}")).into_response()
}

async fn token(
    State(s): State<Shared>,
    Form(f): Form<HashMap<String, String>>,
) -> axum::response::Response {
    use sha2::Digest;
    let mut s = s.lock().unwrap();
    let refuse = |why: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant", "error_description": why})),
        )
            .into_response()
    };
    let grant = f.get("code").and_then(|c| s.codes.remove(c));
    let Some(grant) = grant else {
        return refuse("unknown code");
    };
    let verifier = f.get("code_verifier").cloned().unwrap_or_default();
    let computed = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    if computed != grant.challenge
        || f.get("redirect_uri") != Some(&grant.redirect_uri)
        || f.get("client_id").map(String::as_str) != Some(CLIENT)
        || f.get("grant_type").map(String::as_str) != Some("authorization_code")
    {
        return refuse("verifier, redirect_uri, client or grant type");
    }
    s.exchanged += 1;
    let m = s.mint.clone();
    if m.refuse {
        return refuse("refused by the test");
    }
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": m.iss.clone().unwrap_or_else(|| s.base.clone()),
        "client_id": m.client_id,
        "token_use": "access",
        "iat": now,
        "exp": now + m.expires_in,
    });
    for (k, v) in m.claims.as_object().unwrap() {
        claims[k] = v.clone();
    }
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    h.kid = Some(m.kid.to_string());
    let jwt = jsonwebtoken::encode(
        &h,
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_der(&key_der(m.key)),
    )
    .unwrap();
    Json(json!({"access_token": jwt, "token_type": "Bearer", "expires_in": 3600})).into_response()
}

async fn jwks() -> Json<Value> {
    Json(json!({"keys": [jwk("issuer")]}))
}

/// The issuer on a loopback port: its URL and its state.
async fn issuer() -> (String, Shared) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/pool", listener.local_addr().unwrap());
    let state = Arc::new(Mutex::new(IssuerState {
        base: base.clone(),
        mint: Mint::good(json!({})),
        codes: HashMap::new(),
        exchanged: 0,
    }));
    let app = Router::new()
        .route("/pool/.well-known/openid-configuration", get(discovery))
        .route("/pool/oauth2/authorize", get(authorize))
        .route("/pool/oauth2/token", post(token))
        .route("/pool/.well-known/jwks.json", get(jwks))
        .with_state(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, state)
}

/// A browser's GET of `url` on the issuer (a plain HTTP/1.1 request): the `Location`
/// it is redirected to.
async fn follow(url: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = tokio::net::TcpStream::connect(authority).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
    answer
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .unwrap()
        .to_string()
}

/// An API Gateway (HTTP API, payload 2.0) event, without an authorizer (the console's
/// routes have none), its cookies in `cookies` as API Gateway passes them.
fn event(method: &str, uri: &str, cookies: &[&str], form: Option<&str>) -> lambda_http::Request {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let mut headers = json!({"host": HOST, "user-agent": "test-browser"});
    if form.is_some() {
        headers["content-type"] = json!("application/x-www-form-urlencoded");
        headers["origin"] = json!(format!("https://{HOST}"));
        headers["sec-fetch-site"] = json!("same-origin");
    }
    let route = format!("{method} /console/{{proxy+}}");
    let e = json!({
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": query,
        "cookies": cookies,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123", "domainName": HOST,
            "domainPrefix": "console",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "192.0.2.1", "userAgent": "test-browser"},
            "requestId": uuid::Uuid::new_v4().to_string(), "routeKey": route,
            "stage": "$default", "time": "01/Feb/2024:06:00:05 +0000", "timeEpoch": 1706767205000u64
        },
        "body": form,
        "isBase64Encoded": false,
    });
    lambda_http::request::from_str(&e.to_string()).unwrap()
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Reply {
    /// The `name=value` of the cookie `name` this reply sets, and its attributes.
    fn cookie(&self, name: &str) -> Option<(String, String)> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(|c| {
                let (pair, attrs) = c.split_once(';').unwrap();
                (pair.to_string(), attrs.to_string())
            })
    }

    fn location(&self) -> &str {
        self.headers[header::LOCATION].to_str().unwrap()
    }
}

async fn send(router: &Router, req: lambda_http::Request) -> Reply {
    let res = router.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// The console's view of the test issuer, `auditors` granted billing:read.
fn issuer_config(base: String) -> (GroupScopes, IssuerConfig) {
    let groups = GroupScopes::parse("auditors=billing:read").unwrap();
    let config = IssuerConfig {
        issuer: base,
        client_id: CLIENT.into(),
        audiences: vec!["billrun".into(), CLIENT.into()],
        scope: "openid".into(),
        groups: groups.clone(),
    };
    (groups, config)
}

/// Both API functions with the console, over one in-memory system with a completed run
/// (its id), and the issuer.
struct Deployment {
    queries: Router,
    commands: Router,
    api: Router,
    run: String,
    issuer: Shared,
}

async fn deployment() -> Deployment {
    let (base, issuer) = issuer().await;
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    let app = Arc::new(App::in_memory(
        store,
        queue.clone(),
        Arc::new(billrun_documents::PdfRenderer),
    ));
    let api = billrun_api::router(app.clone());
    let call = |method: &str, uri: &str, body: Value| {
        axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap()
    };
    let book = json!({"accounts": [{"id": "A-1", "name": "C", "currency": "USD", "billCycleDay": 1}],
        "subscriptions": [{"id": "S-1", "accountId": "A-1", "productId": "P", "startDate": "2024-01-01",
          "charges": [{"id": "C-1", "type": "Recurring", "price": "10.00", "billingPeriod": "Month"}]}]});
    let imported = api
        .clone()
        .oneshot(call("POST", "/v1/import", book))
        .await
        .unwrap();
    assert_eq!(imported.status(), StatusCode::OK);
    let created = api
        .clone()
        .oneshot(call(
            "POST",
            "/v1/invoice-runs",
            json!({"name": "February", "runType": "Immediate", "targetDate": "2024-02-01"}),
        ))
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let run: Value = serde_json::from_slice(
        &axum::body::to_bytes(created.into_body(), usize::MAX)
            .await
            .unwrap(),
    )
    .unwrap();
    billrun_app::worker::drain(app.clone(), queue, Default::default()).await;
    let (groups, config) = issuer_config(base);
    // Each function builds its own setup from the one secret, as each reads it at start.
    let secret = "a-session-secret-of-sixty-four-characters-made-by-secretsmanager";
    let setup = || ConsoleSetup::new(config.clone(), secret).unwrap();
    Deployment {
        queries: api_queries::handler::service_with_console(
            app.clone(),
            groups.clone(),
            Some(&setup()),
        ),
        commands: api_commands::handler::service_with_console(app, groups, Some(&setup())),
        api,
        run: run["id"].as_str().unwrap().to_string(),
        issuer,
    }
}

/// A sign-in on `queries` whose access token `mint` makes: the callback's reply.
async fn sign_in(queries: &Router, issuer: &Shared, mint: Mint) -> Reply {
    {
        issuer.lock().unwrap().mint = mint;
        let start = send(queries, event("GET", "/console/sign-in", &[], None)).await;
        assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
        let (flow, attrs) = start.cookie("billrun_console_flow").unwrap();
        for a in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/console"] {
            assert!(attrs.contains(a), "{attrs}");
        }
        let authorize = start.location().to_string();
        assert!(
            authorize.contains("code_challenge_method=S256")
                && authorize.contains(&format!(
                    "redirect_uri=https%3A%2F%2F{HOST}%2Fconsole%2Fcallback"
                )),
            "{authorize}"
        );
        let back = follow(&authorize).await;
        let path = back.strip_prefix(&format!("https://{HOST}")).unwrap();
        send(queries, event("GET", path, &[&flow], None)).await
    }
}

impl Deployment {
    async fn sign_in(&self, mint: Mint) -> Reply {
        sign_in(&self.queries, &self.issuer, mint).await
    }

    async fn page(&self, uri: &str, session: &str) -> Reply {
        send(&self.queries, event("GET", uri, &[session], None)).await
    }

    async fn run_status(&self) -> String {
        let res = self
            .api
            .clone()
            .oneshot(
                axum::http::Request::get(format!("/v1/invoice-runs/{}", self.run))
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(
            &axum::body::to_bytes(res.into_body(), usize::MAX)
                .await
                .unwrap(),
        )
        .unwrap();
        body["status"].as_str().unwrap().to_string()
    }
}

/// The session cookie a successful sign-in sets, as a `Cookie` pair.
fn session_of(reply: &Reply) -> String {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let (pair, attrs) = reply.cookie("billrun_console").unwrap();
    for a in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/console"] {
        assert!(attrs.contains(a), "{attrs}");
    }
    let (_, cleared) = reply.cookie("billrun_console_flow").unwrap();
    assert!(cleared.contains("Max-Age=0"), "the flow cookie is spent");
    pair
}

fn csrf_of(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).unwrap() + r#"name="csrf" value=""#.len();
    html[at..].split('"').next().unwrap().to_string()
}

fn poster() -> Mint {
    Mint::good(json!({
        "sub": "0b6f-ann", "username": "ann.finance",
        "scope": "openid billing:read billing:run billing:post",
    }))
}

#[tokio::test]
async fn a_poster_signs_in_through_the_issuer_and_posts_a_run_through_the_commands_function() {
    let d = deployment().await;
    let signed_out = d.page("/console/runs", "").await;
    assert_eq!(signed_out.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_out.location(), "/console/sign-in");

    let callback = d.sign_in(poster()).await;
    assert_eq!(
        d.issuer.lock().unwrap().exchanged,
        1,
        "the verifier matched"
    );
    let ann = session_of(&callback);
    assert!(
        callback.body.contains("url=/console/runs"),
        "{}",
        callback.body
    );
    let runs = d.page("/console/runs", &ann).await;
    assert_eq!(runs.status, StatusCode::OK, "{}", runs.body);
    assert!(runs.body.contains("ann.finance"), "the user is shown");
    assert!(runs.body.contains("February"));

    let confirm = d
        .page(&format!("/console/runs/{}/actions/post", d.run), &ann)
        .await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    let csrf = csrf_of(&confirm.body);
    // The session made by api-queries is accepted by api-commands (the shared key).
    let posted = send(
        &d.commands,
        event(
            "POST",
            &format!("/console/runs/{}/actions/post", d.run),
            &[&ann],
            Some(&format!("csrf={csrf}")),
        ),
    )
    .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);
    assert_eq!(d.run_status().await, "Posted");
    // Each function serves its half: a page is not the commands function's, nor a
    // change the queries function's.
    let page_on_commands = send(&d.commands, event("GET", "/console/runs", &[&ann], None)).await;
    assert_eq!(page_on_commands.status, StatusCode::METHOD_NOT_ALLOWED);
    let post_on_queries = send(
        &d.queries,
        event(
            "POST",
            "/console/sign-out",
            &[&ann],
            Some(&format!("csrf={csrf}")),
        ),
    )
    .await;
    assert_eq!(post_on_queries.status, StatusCode::METHOD_NOT_ALLOWED);
    // Signing out ends the session on a page of its own (not straight back to the
    // issuer, which would sign in again).
    let out = send(
        &d.commands,
        event(
            "POST",
            "/console/sign-out",
            &[&ann],
            Some(&format!("csrf={csrf}")),
        ),
    )
    .await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    assert!(out.body.contains("Signed out"));
    let (_, cleared) = out.cookie("billrun_console").unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
}

#[tokio::test]
async fn a_reader_by_group_is_not_offered_post_and_a_forged_post_is_refused() {
    let d = deployment().await;
    let rita = session_of(
        &d.sign_in(Mint::good(json!({
            "sub": "7c1d-rita", "cognito:groups": ["auditors", "sales"], "scope": "openid",
        })))
        .await,
    );
    let page = d.page(&format!("/console/runs/{}", d.run), &rita).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("7c1d-rita"),
        "no user name: the subject is shown"
    );
    assert!(!page.body.contains("/actions/post"), "Post is not offered");
    let csrf = csrf_of(&page.body);
    let forged = send(
        &d.commands,
        event(
            "POST",
            &format!("/console/runs/{}/actions/post", d.run),
            &[&rita],
            Some(&format!("csrf={csrf}")),
        ),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.body.contains("billing:post"), "{}", forged.body);
    assert_eq!(d.run_status().await, "Completed");
}

/// No session: the reply sets none.
fn refused(reply: &Reply, status: StatusCode, words: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert!(reply.body.contains(words), "{words}: {}", reply.body);
    assert!(reply.cookie("billrun_console").is_none());
}

#[tokio::test]
async fn a_token_that_fails_a_check_makes_no_session() {
    let d = deployment().await;
    let mut other_key = poster();
    other_key.key = "other";
    refused(
        &d.sign_in(other_key).await,
        StatusCode::UNAUTHORIZED,
        "signature does not verify",
    );
    let mut unknown_key = poster();
    (unknown_key.key, unknown_key.kid) = ("other", "other-key");
    refused(
        &d.sign_in(unknown_key).await,
        StatusCode::UNAUTHORIZED,
        "a key the issuer does not publish",
    );
    let mut wrong_issuer = poster();
    wrong_issuer.iss = Some("https://cognito-idp.eu-west-1.amazonaws.com/elsewhere".into());
    refused(
        &d.sign_in(wrong_issuer).await,
        StatusCode::UNAUTHORIZED,
        "from another issuer",
    );
    let mut wrong_audience = poster();
    wrong_audience.client_id = "another-client";
    refused(
        &d.sign_in(wrong_audience).await,
        StatusCode::UNAUTHORIZED,
        "for another audience",
    );
    let mut expired = poster();
    expired.expires_in = -600;
    refused(
        &d.sign_in(expired).await,
        StatusCode::UNAUTHORIZED,
        "has expired",
    );
    let mut refusing = poster();
    refusing.refuse = true;
    refused(
        &d.sign_in(refusing).await,
        StatusCode::UNAUTHORIZED,
        "invalid_grant",
    );
    // An `aud` claim names the audience as well as Cognito's client_id does.
    let mut by_aud = poster();
    by_aud.client_id = "another-client";
    by_aud.claims["aud"] = json!("billrun");
    session_of(&d.sign_in(by_aud).await);
}

#[tokio::test]
async fn a_callback_without_its_flow_or_with_another_state_makes_no_session() {
    let d = deployment().await;
    d.issuer.lock().unwrap().mint = poster();
    let start = send(&d.queries, event("GET", "/console/sign-in", &[], None)).await;
    let (flow, _) = start.cookie("billrun_console_flow").unwrap();
    let back = follow(start.location()).await;
    let path = back
        .strip_prefix(&format!("https://{HOST}"))
        .unwrap()
        .to_string();
    let code = path
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();

    let other_state = format!("/console/callback?code={code}&state=not-this-browsers");
    refused(
        &send(&d.queries, event("GET", &other_state, &[&flow], None)).await,
        StatusCode::BAD_REQUEST,
        "its state is not the one",
    );
    refused(
        &send(&d.queries, event("GET", &path, &[], None)).await,
        StatusCode::BAD_REQUEST,
        "did not start in this browser",
    );
    let forged_flow = flow.replacen("billrun_console_flow=", "billrun_console_flow=x", 1);
    refused(
        &send(&d.queries, event("GET", &path, &[&forged_flow], None)).await,
        StatusCode::BAD_REQUEST,
        "did not start in this browser",
    );
    let denied = "/console/callback?error=access_denied&error_description=Ann%20said%20no";
    let reply = send(&d.queries, event("GET", denied, &[&flow], None)).await;
    refused(&reply, StatusCode::UNAUTHORIZED, "access_denied");
    assert!(
        !reply.body.contains("Ann said no"),
        "the issuer's free text is not repeated"
    );
    assert_eq!(
        d.issuer.lock().unwrap().exchanged,
        0,
        "no code was exchanged"
    );
    // The flow itself is still good: the real callback signs in.
    session_of(&send(&d.queries, event("GET", &path, &[&flow], None)).await);
}

#[tokio::test]
async fn a_forged_or_missing_session_cookie_is_sent_to_sign_in() {
    let d = deployment().await;
    let ann = session_of(&d.sign_in(poster()).await);
    let (name, value) = ann.split_once('=').unwrap();
    let (payload, signature) = value.split_once('.').unwrap();
    // The payload of a session with every scope and a far expiry, under the old signature.
    let forged_payload = URL_SAFE_NO_PAD
        .encode(json!({"n": "mallory", "s": ["billing:admin"], "e": 4_000_000_000i64}).to_string());
    for cookie in [
        format!("{name}={forged_payload}.{signature}"),
        format!("{name}={payload}"),
        format!("{name}={payload}.{}", &signature[1..]),
        String::new(),
    ] {
        let reply = d.page("/console/runs", &cookie).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{cookie}");
        assert_eq!(reply.location(), "/console/sign-in");
    }
    // A POST without the session's CSRF token is refused, even with the session.
    let no_csrf = send(
        &d.commands,
        event(
            "POST",
            &format!("/console/runs/{}/actions/post", d.run),
            &[&ann],
            Some("csrf="),
        ),
    )
    .await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    assert_eq!(d.run_status().await, "Completed");
}

/// On the emulator (moto, as the other end-to-end tests: `AWS_ENDPOINT_URL`): the
/// session secret created as the template generates it, each function reading it with
/// its own clients at its start, and the run a console form creates stored in DynamoDB
/// through `api-commands` and shown by `api-queries`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_emulator_both_functions_read_the_session_secret_and_a_console_form_reaches_dynamodb(
) {
    use billrun_aws::signed::{Service, Signer};
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect(
        "AWS_ENDPOINT_URL is not set: run the tests with ./infra/test.sh, which starts a moto server",
    );
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "tests only talk to loopback"
    );
    let admin = billrun_aws::Clients::load().await;
    let names = billrun_aws::provision::Names::new(format!(
        "k{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    ));
    let config = billrun_aws::provision::provision(&admin, &names)
        .await
        .unwrap();
    let signer = Signer::new(&admin.sdk_config);
    let generated = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let created = signer
        .send(
            Service::SecretsManager,
            "POST",
            &format!("{endpoint}/"),
            &[
                ("content-type", "application/x-amz-json-1.1".to_string()),
                ("x-amz-target", "secretsmanager.CreateSecret".to_string()),
            ],
            json!({"Name": format!("{}-console-session", names.prefix), "SecretString": generated})
                .to_string()
                .as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 200, "{}", created.text());
    let arn: Value = serde_json::from_slice(&created.body).unwrap();
    let arn = arn["ARN"].as_str().unwrap();

    let commands = billrun_lambda::Runtime::new(config.clone(), 5, api_commands::adapters).await;
    let queries = billrun_lambda::Runtime::new(config, 5, api_queries::adapters).await;
    let (base, issuer) = issuer().await;
    let (groups, issuer_config) = issuer_config(base);
    let q = ConsoleSetup::from_secret(&queries.clients.sdk_config, issuer_config.clone(), arn)
        .await
        .unwrap();
    let c = ConsoleSetup::from_secret(&commands.clients.sdk_config, issuer_config.clone(), arn)
        .await
        .unwrap();
    let qry =
        api_queries::handler::service_with_console(queries.app.clone(), groups.clone(), Some(&q));
    let cmd = api_commands::handler::service_with_console(commands.app.clone(), groups, Some(&c));
    assert!(
        ConsoleSetup::from_secret(
            &queries.clients.sdk_config,
            issuer_config.clone(),
            &format!("{arn}-absent")
        )
        .await
        .is_err(),
        "a function without its secret does not start"
    );

    let ann = session_of(&sign_in(&qry, &issuer, poster()).await);
    let form = send(&qry, event("GET", "/console/runs/new", &[&ann], None)).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    let csrf = csrf_of(&form.body);
    let created = send(
        &cmd,
        event(
            "POST",
            "/console/runs",
            &[&ann],
            Some(&format!(
                "csrf={csrf}&runType=Manual&targetDate=2024-02-01&name=Console+on+AWS"
            )),
        ),
    )
    .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let page = send(&qry, event("GET", created.location(), &[&ann], None)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Console on AWS") && page.body.contains("ann.finance"));
    // The run's audit trail (on its page) names the token's subject as its actor, as
    // for an API call with the same token.
    assert!(page.body.contains("0b6f-ann"), "{}", page.body);
}
