//! What every billrun Lambda function shares. Each function's `main` is the composition
//! root: [`init_tracing`], [`Runtime::from_env`] with the function's choice of adapters
//! (typed configuration read once, SDK clients built once), then its handler.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use billrun_app::model::Message;
use billrun_app::worker::{deliver_batch, Disposition};
use billrun_app::App;
use billrun_aws::config::ConfigError;
pub use billrun_aws::dynamo::stream;
pub use billrun_aws::{Adapters, NoBlobs, NoExportFiles, NoMailer, NoQueue, Wiring};
use billrun_aws::{AwsConfig, Clients, Metrics};
use lambda_runtime::Diagnostic;
use std::sync::Arc;

mod console;
pub use console::{with_console_forms, with_console_pages, ConsoleSetup};

/// JSON logs (CloudWatch), level from `RUST_LOG` (default `info`); the use cases' spans
/// carry the run and account ids.
pub fn init_tracing() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_target(false)
        .without_time();
    let _ = tracing_subscriber::registry()
        .with(json)
        .with(filter)
        .try_init();
}

/// A function's errors, marked for the Lambda runtime as worth retrying or not.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("{0}")]
    Retryable(String),
    #[error("{0}")]
    NonRetryable(String),
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Diagnostic {
        let error_type = match &e {
            HandlerError::Retryable(_) => "Retryable",
            HandlerError::NonRetryable(_) => "NonRetryable",
        };
        Diagnostic {
            error_type: error_type.to_string(),
            error_message: e.to_string(),
        }
    }
}

impl From<billrun_app::AppError> for HandlerError {
    /// The message carries the error's chain of causes (the function's log shows it).
    fn from(e: billrun_app::AppError) -> Self {
        let text = billrun_app::error::chain(&e).to_string();
        if e.is_retryable() {
            HandlerError::Retryable(text)
        } else {
            HandlerError::NonRetryable(text)
        }
    }
}

/// Everything a function needs, built once per execution environment.
pub struct Runtime {
    pub config: AwsConfig,
    pub clients: Clients,
    pub app: Arc<App>,
    pub metrics: Arc<Metrics>,
    /// The queues' `maxReceiveCount` (`MAX_RECEIVE_COUNT`, default 5): a record on that
    /// receive is its last.
    pub max_receives: u32,
}

/// A function's choice of the queue, blob and renderer adapters (its `adapters` function,
/// which the end-to-end tests call too).
pub type Compose = fn(&Wiring<'_>) -> Adapters;

impl Runtime {
    /// The runtime of a function's `main`: the configuration from the environment, the
    /// DynamoDB store and the adapters `compose` chooses.
    pub async fn from_env(compose: Compose) -> Result<Runtime, HandlerError> {
        let config =
            AwsConfig::from_env().map_err(|e| HandlerError::NonRetryable(e.to_string()))?;
        let max_receives = match std::env::var("MAX_RECEIVE_COUNT") {
            Err(_) => 5,
            Ok(v) => v.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                HandlerError::NonRetryable(format!(
                    "MAX_RECEIVE_COUNT must be a positive integer, got '{v}'"
                ))
            })?,
        };
        Ok(Self::new(config, max_receives, compose).await)
    }

    pub async fn new(config: AwsConfig, max_receives: u32, compose: Compose) -> Runtime {
        let metrics = Arc::new(Metrics::default());
        let clients = Clients::load_recording(Some(metrics.clone())).await;
        let adapters = compose(&Wiring {
            config: &config,
            clients: &clients,
            metrics: &metrics,
        });
        let (app, _store) = billrun_aws::app(&config, &clients, metrics.clone(), adapters);
        Runtime {
            config,
            clients,
            app: Arc::new(app),
            metrics,
            max_receives,
        }
    }
}

/// The SQS consumer: each record deserialized and handled on its own; only the records
/// to deliver again are reported (`batchItemFailures`). A malformed body fails alone and,
/// after `maxReceiveCount` receives, reaches the DLQ. A record on its last allowed
/// receive records its account Failed and is acknowledged, so the run always completes.
pub async fn handle_sqs(app: &App, event: SqsEvent, max_receives: u32) -> SqsBatchResponse {
    let mut failures = Vec::new();
    let mut ids = Vec::with_capacity(event.records.len());
    let mut batch = Vec::with_capacity(event.records.len());
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let receives: u32 = record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let message = match record.body.as_deref().map(message_of) {
            Some(Ok(message)) => message,
            Some(Err(Unhandled::Ignored(why))) => {
                // An SES event the rule should not have routed, or about a message
                // billrun did not send: acknowledged, so that it does not come again.
                tracing::info!(message_id = %id, reason = %why, "message ignored");
                continue;
            }
            Some(Err(Unhandled::Malformed)) | None => {
                tracing::warn!(message_id = %id, "malformed message body");
                failures.push(id);
                continue;
            }
        };
        ids.push(id);
        batch.push((message, receives));
    }
    let dispositions = deliver_batch(app, &batch, max_receives).await;
    for (id, disposition) in ids.into_iter().zip(dispositions) {
        if disposition == Disposition::Retry {
            failures.push(id);
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures
        .into_iter()
        .map(|item_identifier| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = item_identifier;
            f
        })
        .collect();
    response
}

/// Why a queue message's body is not handled.
enum Unhandled {
    /// Well-formed, and of nothing billrun records.
    Ignored(billrun_aws::ses_events::SesEventError),
    Malformed,
}

/// The message of an SQS body: billrun's own, or SES's bounce or complaint event routed
/// to the delivery queue by the template's EventBridge rule.
fn message_of(body: &str) -> Result<Message, Unhandled> {
    use billrun_aws::ses_events::{feedback_message, SesEventError};
    if let Ok(message) = serde_json::from_str::<Message>(body) {
        return Ok(message);
    }
    match feedback_message(body) {
        Ok(message) => Ok(message),
        Err(e @ (SesEventError::Ignored(_) | SesEventError::Untagged)) => {
            Err(Unhandled::Ignored(e))
        }
        Err(SesEventError::NotSes | SesEventError::Malformed(_)) => Err(Unhandled::Malformed),
    }
}

/// Serves an SQS consumer function's invocations with [`handle_sqs`] until the runtime
/// stops: the whole `main` of plan-run, process-account, generate-documents and
/// deliver-documents after their runtime is built.
pub async fn run_sqs(app: Arc<App>, max_receives: u32) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SqsEvent>| {
            let app = app.clone();
            async move {
                Ok::<SqsBatchResponse, lambda_runtime::Error>(
                    handle_sqs(&app, event.payload, max_receives).await,
                )
            }
        },
    ))
    .await
}

/// Which HTTP methods a function serves: API Gateway routes reads to `api-queries` and
/// writes to `api-commands`; each refuses the other kind with 405.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Commands,
    Queries,
}

impl Side {
    pub fn serves(self, method: &Method) -> bool {
        let read = method == Method::GET || method == Method::HEAD;
        match self {
            Side::Queries => read,
            Side::Commands => !read,
        }
    }
}

/// The router of `api-commands`: the write routes only, so that the read handlers stay
/// out of its binary; a read is refused with 405. `groups` maps a JWT's groups to scopes.
pub fn commands_router(app: Arc<App>, groups: GroupScopes) -> axum::Router {
    commands_router_with_console(app, groups, None)
}

/// [`commands_router`] with the console's POSTs (sign-out, forms, actions) over the
/// write routes, when the deployment has a console.
pub fn commands_router_with_console(
    app: Arc<App>,
    groups: GroupScopes,
    console: Option<&ConsoleSetup>,
) -> axum::Router {
    let api = billrun_api::command_router(app);
    guard(with_console_forms(api, console), Side::Commands, groups)
}

/// The router of `api-queries`: the read routes only, so that the write handlers (and
/// the use cases only they call) stay out of its binary; a write is refused with 405.
pub fn queries_router(app: Arc<App>, groups: GroupScopes) -> axum::Router {
    queries_router_with_console(app, groups, None)
}

/// [`queries_router`] with the console's pages and sign-in over the read routes, when
/// the deployment has a console.
pub fn queries_router_with_console(
    app: Arc<App>,
    groups: GroupScopes,
    console: Option<&ConsoleSetup>,
) -> axum::Router {
    let api = billrun_api::query_router(app);
    guard(with_console_pages(api, console), Side::Queries, groups)
}

/// One side's router (tests; a function calls its own, which links only its side).
pub fn router(app: Arc<App>, side: Side, groups: GroupScopes) -> axum::Router {
    match side {
        Side::Commands => commands_router(app, groups),
        Side::Queries => queries_router(app, groups),
    }
}

pub use billrun_api::access::GroupScopes;

/// The deployment's group mapping (`GROUP_SCOPES`, the template's `GroupScopes`; unset:
/// none). A mapping that does not parse stops the function at its start.
pub fn group_scopes_from_env() -> Result<GroupScopes, ConfigError> {
    match std::env::var("GROUP_SCOPES") {
        Ok(v) => GroupScopes::parse(&v).map_err(|e| ConfigError(format!("GROUP_SCOPES: {e}"))),
        Err(_) => Ok(GroupScopes::default()),
    }
}

/// Who API Gateway's authorizer says is calling: with a JWT authorizer the caller
/// [`billrun_api::access::jwt_principal`] reads from the token's claims (the console's
/// sign-in reads its tokens with the same function); with AWS_IAM the caller's ARN with
/// every scope (its IAM policy has decided). `None` when the request carries no
/// authorizer (the handlers' tests, and the console's routes, which check their own
/// session cookie; every other deployed route has one, `functions/e2e/tests/template.rs`).
pub fn principal(
    context: &lambda_http::request::RequestContext,
    groups: &GroupScopes,
) -> Option<billrun_api::access::Principal> {
    use billrun_api::access::{jwt_principal, Principal};
    #[allow(irrefutable_let_patterns)]
    let lambda_http::request::RequestContext::ApiGatewayV2(ctx) = context
    else {
        return None;
    };
    let authorizer = ctx.authorizer.as_ref()?;
    if let Some(jwt) = &authorizer.jwt {
        return Some(jwt_principal(&jwt.claims, jwt.scopes.as_deref(), groups));
    }
    let iam = authorizer.iam.as_ref()?;
    Some(Principal::with_all_scopes(
        iam.user_arn.clone().unwrap_or_default(),
    ))
}

/// Refuses the other side's methods on every path, the unknown ones included, with 405
/// and a body saying so; passes the caller ([`principal`]) on to the scope check.
fn guard(router: axum::Router, side: Side, groups: GroupScopes) -> axum::Router {
    let groups = Arc::new(groups);
    router.layer(axum::middleware::from_fn(
        move |mut req: Request, next: Next| {
            let groups = groups.clone();
            async move {
                if let Some(p) = req
                    .extensions()
                    .get::<lambda_http::request::RequestContext>()
                    .and_then(|c| principal(c, &groups))
                {
                    req.extensions_mut().insert(p);
                }
                if side.serves(req.method()) {
                    next.run(req).await
                } else {
                    let body = serde_json::json!({
                        "code": "method_not_allowed",
                        "message": format!("{} is served by the other API function", req.method()),
                        "field": null,
                    });
                    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
                }
            }
        },
    ))
}

/// `Response` re-exported for handlers' tests.
pub type HttpResponse = Response;
