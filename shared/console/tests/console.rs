//! The console over the in-memory API, without a browser: sign-in and its cookie,
//! personal data escaped, and a caller's scopes deciding what is offered and what the
//! API lets through (the browser tests, tests/console, cover the pages in chromium).

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use billrun_api::access::{Principal, Scope};
use billrun_app::memory::{MemoryQueue, MemoryStore};
use billrun_console::{Console, SignIn};
use std::sync::Arc;
use tower::ServiceExt;

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn send(router: &Router, req: Request<Body>) -> Reply {
    let res = router.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn get(uri: &str, cookie: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap()
}

fn post_form(uri: &str, cookie: &str, form: &str) -> Request<Body> {
    Request::post(uri)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("host", "console.test")
        .header("origin", "http://console.test")
        .body(Body::from(form.to_string()))
        .unwrap()
}

/// Account A-1 (USD) with its subscription S-1.
const BOOK: &str = r#"{"accounts": [{"id": "A-1", "name": "C", "currency": "USD", "billCycleDay": 1}],
    "subscriptions": [{"id": "S-1", "accountId": "A-1", "productId": "P", "startDate": "2024-01-01",
      "charges": [{"id": "C-1", "type": "Recurring", "price": "10.00", "billingPeriod": "Month"}]}]}"#;

/// The console and the API over one in-memory system; `ann-token` has every scope,
/// `rita-token` only billing:read.
async fn console() -> (Router, Router) {
    let (console, api, _) = console_and_worker().await;
    (console, api)
}

/// [`console`], with what processes the queue as the embedded worker does.
async fn console_and_worker() -> (Router, Router, impl Fn() -> tokio::task::JoinHandle<()>) {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    let app = Arc::new(billrun_app::App::in_memory(
        store,
        queue.clone(),
        Arc::new(billrun_documents::PdfRenderer),
    ));
    let api = billrun_api::router(app.clone());
    let work = move || {
        let (app, queue) = (app.clone(), queue.clone());
        tokio::spawn(async move {
            billrun_app::worker::drain(app, queue, Default::default()).await;
        })
    };
    let book = BOOK;
    let imported = send(
        &api,
        Request::post("/v1/import")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(book))
            .unwrap(),
    )
    .await;
    assert_eq!(imported.status, StatusCode::OK, "{}", imported.body);
    let holder = |t: &str| match t {
        "ann-token" => Some(Principal::with_all_scopes("ann")),
        "rita-token" => Some(Principal {
            name: "rita".into(),
            scopes: [Scope::Read].into_iter().collect(),
        }),
        _ => None,
    };
    let console = Console::new(api.clone(), SignIn::Tokens(Arc::new(holder)), false).unwrap();
    (billrun_console::router(console), api, work)
}

/// Signs in; the session cookie as a `Cookie` header value.
async fn sign_in(console: &Router, token: &str) -> String {
    let reply = send(
        console,
        post_form("/console/sign-in", "", &format!("token={token}")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let cookie = reply.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "serve speaks plain HTTP: {cookie}"
    );
    cookie.split(';').next().unwrap().to_string()
}

fn csrf_of(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).unwrap() + r#"name="csrf" value=""#.len();
    html[at..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn a_signed_in_caller_creates_a_run_whose_name_is_escaped_and_a_reader_cannot_start_it() {
    let (console, api) = console().await;
    let signed_out = send(&console, get("/console/runs", "")).await;
    assert_eq!(signed_out.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_out.headers[header::LOCATION], "/console/sign-in");
    let refused = send(&console, post_form("/console/sign-in", "", "token=nope")).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);

    let ann = sign_in(&console, "ann-token").await;
    let form = send(&console, get("/console/runs/new", &ann)).await;
    assert_eq!(form.status, StatusCode::OK);
    let csrf = csrf_of(&form.body);
    let created = send(
        &console,
        post_form(
            "/console/runs",
            &ann,
            &format!(
                "csrf={csrf}&runType=Manual&targetDate=2024-02-01&name=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
            ),
        ),
    )
    .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let location = created.headers[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    let id = location.trim_start_matches("/console/runs/").to_string();
    let page = send(&console, get(&location, &ann)).await;
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.body.contains("<script>alert"));
    assert!(page
        .body
        .contains(&format!("/console/runs/{id}/actions/start")));

    // A reader is offered no action, and a forged one is the API's 403.
    let rita = sign_in(&console, "rita-token").await;
    let page = send(&console, get(&location, &rita)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("/actions/"), "no action offered");
    assert!(!page.body.contains(r#"href="/console/runs/new""#));
    let csrf = csrf_of(&page.body);
    let forged = send(
        &console,
        post_form(
            &format!("/console/runs/{id}/actions/start"),
            &rita,
            &format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.body.contains("billing:run"), "{}", forged.body);
    // Ann's CSRF token is not Rita's.
    let ann_csrf = csrf_of(&send(&console, get(&location, &ann)).await.body);
    let crossed = send(
        &console,
        post_form(
            &format!("/console/runs/{id}/actions/start"),
            &rita,
            &format!("csrf={ann_csrf}"),
        ),
    )
    .await;
    assert_eq!(crossed.status, StatusCode::FORBIDDEN);
    let run = send(&api, get(&format!("/v1/invoice-runs/{id}"), "")).await;
    assert!(run.body.contains(r#""status":"Pending""#), "{}", run.body);
}

#[tokio::test]
async fn without_tokens_the_console_is_open_like_the_api_but_still_needs_its_csrf_token() {
    let app = billrun_app::App::in_memory(
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryQueue::new()),
        Arc::new(billrun_documents::PdfRenderer),
    );
    let api = billrun_api::router(Arc::new(app));
    let console = billrun_console::router(Console::new(api, SignIn::Open, false).unwrap());
    let sign_in = send(&console, get("/console/sign-in", "")).await;
    assert_eq!(sign_in.status, StatusCode::SEE_OTHER);
    let form = send(&console, get("/console/runs/new", "")).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("local (no sign-in)"));
    assert!(!form.body.contains("Sign out"), "no session to end");
    let body = "runType=Manual&targetDate=2024-02-01";
    let refused = send(&console, post_form("/console/runs", "", body)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let csrf = csrf_of(&form.body);
    let created = send(
        &console,
        post_form("/console/runs", "", &format!("{body}&csrf={csrf}")),
    )
    .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
}

#[tokio::test]
async fn a_schedule_is_paused_by_an_admin_only_and_the_audit_trail_escapes_what_it_echoes() {
    let (console, api) = console().await;
    let schedule = r#"{"runTemplate": {"name": "<script>alert(1)</script>"},
        "recurrence": {"kind": "Weekly", "weekday": "Monday", "localTime": "06:00", "timeZone": "America/New_York"}}"#;
    let put = send(
        &api,
        Request::put("/v1/run-schedules/weekly")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(schedule))
            .unwrap(),
    )
    .await;
    assert_eq!(put.status, StatusCode::CREATED, "{}", put.body);

    // A reader sees the schedule, escaped, and is offered no action; a forged pause is
    // the API's 403.
    let rita = sign_in(&console, "rita-token").await;
    let page = send(&console, get("/console/schedules", &rita)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.body.contains("<script>alert"));
    assert!(page.body.contains("America/New_York"));
    assert!(!page.body.contains("/actions/"), "no action offered");
    let forged = send(
        &console,
        post_form(
            "/console/schedules/weekly/actions/pause",
            &rita,
            &format!("csrf={}", csrf_of(&page.body)),
        ),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.body.contains("billing:admin"), "{}", forged.body);

    let ann = sign_in(&console, "ann-token").await;
    let page = send(&console, get("/console/schedules", &ann)).await;
    assert!(page
        .body
        .contains("/console/schedules/weekly/actions/pause"));
    let paused = send(
        &console,
        post_form(
            "/console/schedules/weekly/actions/pause",
            &ann,
            &format!("csrf={}", csrf_of(&page.body)),
        ),
    )
    .await;
    assert_eq!(paused.status, StatusCode::SEE_OTHER, "{}", paused.body);
    assert_eq!(paused.headers[header::LOCATION], "/console/schedules");
    let got = send(&api, get("/v1/run-schedules/weekly", "")).await;
    assert!(got.body.contains(r#""enabled":false"#), "{}", got.body);

    let trail = send(&console, get("/console/audit?actor=ann", &ann)).await;
    assert_eq!(trail.status, StatusCode::OK);
    assert!(trail.body.contains("runSchedule.updated"), "{}", trail.body);
    let hostile = send(
        &console,
        get("/console/audit?actor=%3Cb%3Ex%3C%2Fb%3E", &ann),
    )
    .await;
    assert_eq!(hostile.status, StatusCode::OK);
    assert!(hostile.body.contains("&lt;b&gt;x&lt;/b&gt;"));
    assert!(!hostile.body.contains("<b>x</b>"));
}

#[tokio::test]
async fn a_template_page_escapes_its_fields_and_only_an_admin_activates_it() {
    let (console, api, work) = console_and_worker().await;
    let template = serde_json::json!({"name": "<i>Plain</i>", "content": {
        "companyName": "<script>alert(1)</script> GmbH", "locale": "de-DE",
        "logoPngBase64": base64_png(), "footer": "Danke & tschüss"}});
    let put = send(
        &api,
        Request::put("/v1/document-templates/T-1")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(template.to_string()))
            .unwrap(),
    )
    .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);

    let rita = sign_in(&console, "rita-token").await;
    let list = send(&console, get("/console/templates", &rita)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.body.contains("&lt;i&gt;Plain&lt;/i&gt;"),
        "{}",
        list.body
    );
    assert!(list.body.contains(r#"href="/console/templates/T-1""#));
    let page = send(&console, get("/console/templates/T-1", &rita)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page
        .body
        .contains("&lt;script&gt;alert(1)&lt;/script&gt; GmbH"));
    assert!(!page.body.contains("<script>alert"));
    assert!(page.body.contains("Danke &amp; tschüss"));
    assert!(page.body.contains(r#"src="data:image/png;base64,"#));
    // Rendered by the documents worker: being rendered until it has run.
    assert!(
        page.body.contains(r#"data-testid="sample-pending""#),
        "{}",
        page.body
    );
    assert!(!page.body.contains("/actions/"), "no action for a reader");
    work().await.unwrap();
    let page = send(&console, get("/console/templates/T-1", &rita)).await;
    assert!(page.body.contains(r#"src="/console/templates/T-1/sample""#));
    assert!(!page.body.contains("sample-pending"));
    let sample = send(&console, get("/console/templates/T-1/sample", &rita)).await;
    assert_eq!(sample.status, StatusCode::OK, "{}", sample.body);
    assert_eq!(sample.headers[header::CONTENT_TYPE], "application/pdf");
    assert!(sample.body.starts_with("%PDF-"));
    let forged = send(
        &console,
        post_form(
            "/console/templates/T-1/actions/activate",
            &rita,
            &format!("csrf={}", csrf_of(&page.body)),
        ),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let ann = sign_in(&console, "ann-token").await;
    let page = send(&console, get("/console/templates/T-1", &ann)).await;
    assert!(page
        .body
        .contains("/console/templates/T-1/actions/activate"));
    // Render sample: queued again through the write route; the same sample after.
    let confirm = send(
        &console,
        get("/console/templates/T-1/actions/render-sample", &ann),
    )
    .await;
    assert!(
        confirm
            .body
            .contains("Rendering queues the sample PDF of template T-1"),
        "{}",
        confirm.body
    );
    let done = send(
        &console,
        post_form(
            "/console/templates/T-1/actions/render-sample",
            &ann,
            &format!("csrf={}", csrf_of(&confirm.body)),
        ),
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.headers[header::LOCATION], "/console/templates/T-1");
    work().await.unwrap();
    let again = send(&console, get("/console/templates/T-1/sample", &ann)).await;
    assert_eq!(again.body, sample.body, "rendered again: the same sample");
    let confirm = send(
        &console,
        get("/console/templates/T-1/actions/activate", &ann),
    )
    .await;
    assert!(confirm.body.contains("&lt;i&gt;Plain&lt;/i&gt;"));
    let done = send(
        &console,
        post_form(
            "/console/templates/T-1/actions/activate",
            &ann,
            &format!("csrf={}", csrf_of(&confirm.body)),
        ),
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.headers[header::LOCATION], "/console/templates/T-1");
    let page = send(&console, get("/console/templates/T-1", &ann)).await;
    assert!(page.body.contains("template.activated"), "{}", page.body);
    assert!(
        !page.body.contains("/actions/activate\""),
        "active: no Activate link"
    );
    let trail = send(&console, get("/console/audit?actor=ann", &ann)).await;
    assert!(
        trail
            .body
            .contains(r#"<a href="/console/templates/T-1">T-1</a>"#),
        "the trail links a template's entry to its page: {}",
        trail.body
    );
}

/// A 1×1 PNG, base64.
fn base64_png() -> &'static str {
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
}

#[tokio::test]
async fn an_invoice_schedule_item_is_executed_by_a_runner_only_and_then_shows_its_run() {
    let (console, api) = console().await;
    let schedule = r#"{"id": "IS-1", "accountId": "A-1", "subscriptionIds": ["S-1"], "items": [
        {"id": "I-1", "invoiceDate": "2024-02-01", "amount": "1200.00"},
        {"id": "I-2", "invoiceDate": "2024-08-01", "amount": "600.00"}]}"#;
    let put = send(
        &api,
        Request::put("/v1/invoice-schedules/IS-1")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(schedule))
            .unwrap(),
    )
    .await;
    assert_eq!(put.status, StatusCode::CREATED, "{}", put.body);

    let rita = sign_in(&console, "rita-token").await;
    let list = send(&console, get("/console/invoice-schedules", &rita)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list
        .body
        .contains(r#"href="/console/invoice-schedules/IS-1""#));
    let page = send(&console, get("/console/invoice-schedules/IS-1", &rita)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("$1,200.00"), "the account's currency");
    assert!(!page.body.contains("/execute"), "no Execute for a reader");
    let forged = send(
        &console,
        post_form(
            "/console/invoice-schedules/IS-1/items/I-1/execute",
            &rita,
            &format!("csrf={}", csrf_of(&page.body)),
        ),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.body.contains("billing:run"), "{}", forged.body);

    let ann = sign_in(&console, "ann-token").await;
    let confirm = send(
        &console,
        get("/console/invoice-schedules/IS-1/items/I-1/execute", &ann),
    )
    .await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm
        .body
        .contains("account A-1 is invoiced $1,200.00 dated 2024-02-01"));
    let done = send(
        &console,
        post_form(
            "/console/invoice-schedules/IS-1/items/I-1/execute",
            &ann,
            &format!("csrf={}", csrf_of(&confirm.body)),
        ),
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let page = send(&console, get("/console/invoice-schedules/IS-1", &ann)).await;
    assert!(page.body.contains("its run"), "{}", page.body);
    assert!(
        !page.body.contains("/items/I-1/execute"),
        "executed: not offered again"
    );
    assert!(page.body.contains("/items/I-2/execute"));
    // Executed twice: the API's refusal, in its words.
    let again = send(
        &console,
        post_form(
            "/console/invoice-schedules/IS-1/items/I-1/execute",
            &ann,
            &format!("csrf={}", csrf_of(&page.body)),
        ),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
}

/// The console as `billrun-local serve` and AWS split it (pages over the API's reads,
/// forms over its writes: a form's POST that read through the API would meet a 405),
/// over an in-memory system with account A-1 (USD).
async fn split_console() -> Router {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    let app = Arc::new(billrun_app::App::in_memory(
        store,
        queue,
        Arc::new(billrun_documents::PdfRenderer),
    ));
    let book = BOOK;
    let imported = send(
        &billrun_api::router(app.clone()),
        Request::post("/v1/import")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(book))
            .unwrap(),
    )
    .await;
    assert_eq!(imported.status, StatusCode::OK, "{}", imported.body);
    billrun_console::split_router(
        billrun_api::query_router(app.clone()),
        billrun_api::command_router(app),
        SignIn::Tokens(Arc::new(|t: &str| match t {
            "ann-token" => Some(Principal::with_all_scopes("ann")),
            "rita-token" => Some(Principal {
                name: "rita".into(),
                scopes: [Scope::Read].into_iter().collect(),
            }),
            _ => None,
        })),
        false,
    )
    .unwrap()
}

/// A form body's value, percent-encoded.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn a_template_is_created_and_edited_by_an_admin_through_the_split_console() {
    let console = split_console().await;
    let rita = sign_in(&console, "rita-token").await;
    let list = send(&console, get("/console/templates", &rita)).await;
    assert!(!list.body.contains("/console/templates/new"), "not offered");
    let refused = send(&console, get("/console/templates/new", &rita)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let forged = send(
        &console,
        post_form(
            "/console/templates",
            &rita,
            &format!("csrf={}&id=T-9&name=X&content=%7B%7D", csrf_of(&list.body)),
        ),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);

    let ann = sign_in(&console, "ann-token").await;
    let list = send(&console, get("/console/templates", &ann)).await;
    assert!(list.body.contains(r#"href="/console/templates/new""#));
    let form = send(&console, get("/console/templates/new", &ann)).await;
    assert_eq!(form.status, StatusCode::OK);
    let csrf = csrf_of(&form.body);
    let submit = |content: &str, id: &str| {
        format!("csrf={csrf}&id={id}&name=Plain&content={}", enc(content))
    };
    let bad = send(
        &console,
        post_form(
            "/console/templates",
            &ann,
            &submit(r#"{"companyName": "Acme", "accentColor": "blue"}"#, "T-9"),
        ),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert!(
        bad.body
            .contains(r#"data-testid="error-content">accentColor: "#),
        "{}",
        bad.body
    );
    assert!(bad.body.contains("blue"), "the content typed is kept");
    let good = r#"{"companyName": "Acme"}"#;
    let made = send(
        &console,
        post_form("/console/templates", &ann, &submit(good, "T-9")),
    )
    .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    assert_eq!(made.headers[header::LOCATION], "/console/templates/T-9");
    let taken = send(
        &console,
        post_form("/console/templates", &ann, &submit(good, "T-9")),
    )
    .await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.body);
    assert!(
        taken.body.contains(r#"data-testid="error-id""#),
        "{}",
        taken.body
    );

    let page = send(&console, get("/console/templates/T-9", &ann)).await;
    assert!(page.body.contains(r#"href="/console/templates/T-9/edit""#));
    let edit = send(&console, get("/console/templates/T-9/edit", &ann)).await;
    assert_eq!(edit.status, StatusCode::OK);
    assert!(
        edit.body
            .contains("&quot;companyName&quot;: &quot;Acme&quot;"),
        "{}",
        edit.body
    );
    let saved = send(
        &console,
        post_form(
            "/console/templates/T-9/edit",
            &ann,
            &format!(
                "csrf={}&name=Renamed&content={}",
                csrf_of(&edit.body),
                enc(good)
            ),
        ),
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let page = send(&console, get("/console/templates/T-9", &ann)).await;
    assert!(page.body.contains("Renamed"), "{}", page.body);
    assert!(page.body.contains("template.updated"), "{}", page.body);
}

#[tokio::test]
async fn an_invoice_schedule_is_created_row_by_row_and_its_errors_shown_at_their_row() {
    let console = split_console().await;
    let rita = sign_in(&console, "rita-token").await;
    let list = send(&console, get("/console/invoice-schedules", &rita)).await;
    assert!(!list.body.contains("/console/invoice-schedules/new"));
    let forged = send(
        &console,
        post_form(
            "/console/invoice-schedules",
            &rita,
            &format!("csrf={}&id=IS-9&accountId=A-1&rows=1", csrf_of(&list.body)),
        ),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);

    let ann = sign_in(&console, "ann-token").await;
    let form = send(&console, get("/console/invoice-schedules/new", &ann)).await;
    assert_eq!(form.status, StatusCode::OK);
    assert_eq!(form.body.matches(r#"data-testid="item-row""#).count(), 3);
    let csrf = csrf_of(&form.body);
    let added = send(
        &console,
        post_form(
            "/console/invoice-schedules",
            &ann,
            &format!("csrf={csrf}&id=IS-9&rows=3&add=row&items%5B0%5D.id=I-1"),
        ),
    )
    .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert_eq!(added.body.matches(r#"data-testid="item-row""#).count(), 4);
    assert!(
        added.body.contains(r#"value="I-1""#),
        "the rows typed are kept"
    );
    let body = |amount: &str| {
        format!(
            "csrf={csrf}&id=IS-9&accountId=A-1&subscriptionIds=S-1&rows=4\
             &items%5B1%5D.id=I-1&items%5B1%5D.invoiceDate=2027-01-01&items%5B1%5D.amount=100.00\
             &items%5B3%5D.id=I-2&items%5B3%5D.invoiceDate=2027-02-01&items%5B3%5D.amount={amount}"
        )
    };
    let bad = send(
        &console,
        post_form("/console/invoice-schedules", &ann, &body("1.005")),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert!(
        bad.body.contains(r#"data-testid="error-items[3].amount""#),
        "at the form's row 4, not the request's item 2: {}",
        bad.body
    );
    let made = send(
        &console,
        post_form("/console/invoice-schedules", &ann, &body("50.00")),
    )
    .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    assert_eq!(
        made.headers[header::LOCATION],
        "/console/invoice-schedules/IS-9"
    );
    let taken = send(
        &console,
        post_form("/console/invoice-schedules", &ann, &body("50.00")),
    )
    .await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.body);
    assert!(taken.body.contains(r#"data-testid="error-id""#));
    let page = send(&console, get("/console/invoice-schedules/IS-9", &ann)).await;
    assert!(
        page.body.contains("$50.00") && page.body.contains("I-2"),
        "{}",
        page.body
    );
    let edit = send(&console, get("/console/invoice-schedules/IS-9/edit", &ann)).await;
    assert_eq!(edit.status, StatusCode::OK);
    assert_eq!(edit.body.matches(r#"data-testid="item-row""#).count(), 3);
    let saved = send(
        &console,
        post_form(
            "/console/invoice-schedules/IS-9/edit",
            &ann,
            &format!(
                "csrf={csrf}&accountId=A-1&subscriptionIds=S-1&rows=1&items%5B0%5D.id=I-1\
                 &items%5B0%5D.invoiceDate=2027-01-01&items%5B0%5D.amount=75.00"
            ),
        ),
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let page = send(&console, get("/console/invoice-schedules/IS-9", &ann)).await;
    assert!(
        page.body.contains("$75.00") && !page.body.contains("I-2"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn an_id_that_is_not_a_path_segment_is_not_found_on_every_page_and_form() {
    let console = split_console().await;
    let ann = sign_in(&console, "ann-token").await;
    // `..` and an encoded slash would reach another API route if they were passed on.
    for bad in ["..", "a%2Fb", "a%20b", "%2E%2E"] {
        for uri in [
            format!("/console/runs/{bad}"),
            format!("/console/invoices/{bad}"),
            format!("/console/invoices/{bad}/document"),
            format!("/console/templates/{bad}"),
            format!("/console/templates/{bad}/edit"),
            format!("/console/invoice-schedules/{bad}"),
            format!("/console/webhooks/{bad}"),
        ] {
            let page = send(&console, get(&uri, &ann)).await;
            assert_eq!(page.status, StatusCode::NOT_FOUND, "GET {uri}");
            // Refused before the handler: no API call was made for it.
            assert!(page.body.is_empty(), "GET {uri}: {}", page.body);
        }
        let form = send(
            &console,
            post_form(&format!("/console/templates/{bad}/edit"), &ann, "name=x"),
        )
        .await;
        assert_eq!(form.status, StatusCode::NOT_FOUND, "POST {bad}");
    }
    // A well-formed id reaches its handler, which shows the API's own 404 as a page.
    let good = send(&console, get("/console/templates/T-none", &ann)).await;
    assert_eq!(good.status, StatusCode::NOT_FOUND);
    assert!(good.body.contains("Not found"), "{}", good.body);
}
