//! A fresh API over the in-memory adapters per test, driven in-process with
//! `tower::ServiceExt::oneshot`.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use billrun_app::memory::{MemoryQueue, MemoryStore};
use billrun_app::worker::{drain, WorkerConfig};
use billrun_app::App;
use http_body_util::BodyExt;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

/// The book of docs/book-format.md.
pub const BOOK: &str = include_str!("../../../../infra/local/tests/fixtures/book.json");

pub struct TestApi {
    pub router: Router,
    pub app: Arc<App>,
    pub store: Arc<MemoryStore>,
    pub queue: Arc<MemoryQueue>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl TestApi {
    pub fn new() -> TestApi {
        let store = Arc::new(MemoryStore::new());
        let queue = Arc::new(MemoryQueue::new());
        let app = Arc::new(App::in_memory(
            store.clone(),
            queue.clone(),
            std::sync::Arc::new(billrun_documents::PdfRenderer),
        ));
        TestApi {
            router: billrun_api::router(app.clone()),
            app,
            store,
            queue,
        }
    }

    /// The in-memory API with email delivery through `mailer` (results in the memory
    /// store), from `billing@northwind.example.com`.
    pub fn with_mailer(mailer: Arc<dyn billrun_app::ports::Mailer>) -> TestApi {
        let store = Arc::new(MemoryStore::new());
        let queue = Arc::new(MemoryQueue::new());
        let app = App::in_memory(
            store.clone(),
            queue.clone(),
            std::sync::Arc::new(billrun_documents::PdfRenderer),
        )
        .with_delivery(billrun_app::app::DeliveryPorts {
            store: store.clone(),
            mailer,
            from: "billing@northwind.example.com".into(),
        });
        let app = Arc::new(app);
        TestApi {
            router: billrun_api::router(app.clone()),
            app,
            store,
            queue,
        }
    }

    /// The in-memory API dispatching run events after each write to webhooks sent
    /// through `sender`, retried after 1 ms each up to `retries` times (an endpoint is
    /// disabled when a delivery spends them all and nothing succeeded since).
    /// Per-document events come two documents to an event, two events to a message.
    pub fn with_webhooks(
        sender: Arc<dyn billrun_app::ports::WebhookSender>,
        retries: usize,
    ) -> TestApi {
        TestApi::composed(sender, retries, None)
    }

    /// [`TestApi::with_webhooks`] with email delivery through `mailer`.
    pub fn with_webhooks_and_mailer(
        sender: Arc<dyn billrun_app::ports::WebhookSender>,
        mailer: Arc<dyn billrun_app::ports::Mailer>,
    ) -> TestApi {
        TestApi::composed(sender, 3, Some(mailer))
    }

    fn composed(
        sender: Arc<dyn billrun_app::ports::WebhookSender>,
        retries: usize,
        mailer: Option<Arc<dyn billrun_app::ports::Mailer>>,
    ) -> TestApi {
        let store = Arc::new(MemoryStore::new());
        let queue = Arc::new(MemoryQueue::new());
        let mut app = App::in_memory(
            store.clone(),
            queue.clone(),
            std::sync::Arc::new(billrun_documents::PdfRenderer),
        )
        .with_webhooks(sender);
        if let Some(mailer) = mailer {
            app = app.with_delivery(billrun_app::app::DeliveryPorts {
                store: store.clone(),
                mailer,
                from: "billing@northwind.example.com".into(),
            });
        }
        let mut app = app.dispatching_after_writes();
        app.dispatch = billrun_app::dispatch::DispatchConfig {
            retry: vec![std::time::Duration::from_millis(1); retries],
            lease: std::time::Duration::from_secs(30),
            disable_after: chrono::TimeDelta::zero(),
            documents_per_event: 2,
            pages_per_message: 2,
            ..Default::default()
        };
        let app = Arc::new(app);
        TestApi {
            router: billrun_api::router(app.clone()),
            app,
            store,
            queue,
        }
    }

    /// Creates webhook endpoint `id` at `https://hooks.example.com/<id>` for `events`;
    /// the create answer (with its secret).
    pub async fn webhook_endpoint(&self, id: &str, events: Value) -> Value {
        let body = serde_json::json!({"url": format!("https://hooks.example.com/{id}"),
            "events": events});
        let r = self
            .put(&format!("/v1/webhook-endpoints/{id}"), &body.to_string())
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body
    }

    /// Processes everything queued, and what is sent with a delay as it comes due,
    /// until nothing is left.
    pub async fn work_until_settled(&self) {
        loop {
            self.work().await;
            if self.queue.waiting() == 0 && self.queue.is_drained() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }

    /// The API over `app` (its store and queue given), the caller named by each
    /// request's `x-caller` header with every scope (no header: an unidentified caller).
    pub fn with_callers(app: App, store: Arc<MemoryStore>, queue: Arc<MemoryQueue>) -> TestApi {
        use billrun_api::access::{Principal, Scope};
        let app = Arc::new(app);
        let router = billrun_api::router(app.clone()).layer(axum::middleware::from_fn(
            |mut req: axum::extract::Request, next: axum::middleware::Next| {
                let name = req
                    .headers()
                    .get("x-caller")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                if let Some(name) = name {
                    req.extensions_mut().insert(Principal {
                        name,
                        scopes: Scope::ALL.into_iter().collect(),
                    });
                }
                next.run(req)
            },
        ));
        TestApi {
            router,
            app,
            store,
            queue,
        }
    }

    /// Imports `book` as caller `who` (an `x-caller` of [`TestApi::with_callers`]).
    pub async fn import_as(&self, book: &str, who: &str) {
        let r = self
            .call(Method::POST, "/v1/import", Some(book), &[("x-caller", who)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "import: {}", r.text);
    }

    pub async fn with_book(book: &str) -> TestApi {
        let api = TestApi::new();
        let r = api.post("/v1/import", book).await;
        assert_eq!(r.status, StatusCode::OK, "import: {}", r.text);
        api
    }

    pub async fn send(&self, req: Request<Body>) -> Reply {
        let res = self
            .router
            .clone()
            .oneshot(req)
            .await
            .expect("the router answers");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.expect("a body").to_bytes();
        let text = String::from_utf8_lossy(&bytes).to_string();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut b = Request::builder().method(method).uri(uri);
        if body.is_some() {
            b = b.header("content-type", "application/json");
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b
            .body(body.map_or_else(Body::empty, |s| Body::from(s.to_string())))
            .expect("a request");
        self.send(req).await
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.call(Method::GET, uri, None, &[]).await
    }

    pub async fn post(&self, uri: &str, body: &str) -> Reply {
        self.call(Method::POST, uri, Some(body), &[]).await
    }

    pub async fn put(&self, uri: &str, body: &str) -> Reply {
        self.call(Method::PUT, uri, Some(body), &[]).await
    }

    pub async fn patch(&self, uri: &str, body: &str) -> Reply {
        self.call(Method::PATCH, uri, Some(body), &[]).await
    }

    pub async fn delete(&self, uri: &str) -> Reply {
        self.call(Method::DELETE, uri, None, &[]).await
    }

    /// Processes everything queued.
    pub async fn work(&self) {
        drain(
            self.app.clone(),
            self.queue.clone(),
            WorkerConfig::default(),
        )
        .await;
    }
}

/// The request of `../shared/seeds/<name>` (the folder beside the repository) when
/// present, else the copy in `tests/fixtures/` (same bytes, see its README).
pub fn seed_fixture(name: &str) -> String {
    let dir = env!("CARGO_MANIFEST_DIR");
    std::fs::read_to_string(format!("{dir}/tests/fixtures/{name}")).expect("fixture")
}

/// The seed document itself, when the `shared/` folder is beside the repository.
pub fn seed_document(file: &str) -> Option<String> {
    let dir = env!("CARGO_MANIFEST_DIR");
    std::fs::read_to_string(format!("{dir}/../../../shared/seeds/{file}")).ok()
}

/// The keys of a JSON object, sorted.
pub fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

/// The first JSON object in `text` that starts at a line holding only `{` after
/// `after` (how the seeds print their examples).
pub fn json_after(text: &str, after: &str) -> Value {
    let start = text.find(after).expect("marker in the seed") + after.len();
    let rest = &text[start..];
    let open = rest.find('{').expect("a JSON object");
    let mut de = serde_json::Deserializer::from_str(&rest[open..]).into_iter::<Value>();
    de.next().expect("a value").expect("valid JSON")
}
