//! billrun's HTTP API: one axum [`Router`] with the canonical `/v1` routes, the
//! compatibility endpoints of the source documents (`compat`), the OpenAPI 3.1 document
//! generated from the handlers and schemas, and one error → status mapping
//! ([`error`]). `billrun-local serve` mounts [`router`]; the HTTP Lambda functions mount
//! its two halves, [`query_router`] and [`command_router`]; no handler is registered
//! twice.

pub mod access;
pub mod approval;
pub mod audit;
pub mod compat;
pub mod corrections;
pub mod deliveries;
pub mod documents;
pub mod error;
pub mod events;
pub mod exports;
pub mod extract;
pub mod invoice_schedules;
pub mod journal;
pub mod payments;
pub mod previews;
pub mod run_schedules;
pub mod schema;
pub mod templates;
pub mod v1;
pub mod webhooks;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post, put};
use axum::Router;
use billrun_app::App;
use std::sync::Arc;
use utoipa::OpenApi;

/// Largest request body of every route but the import.
pub const BODY_LIMIT: usize = 1 << 20;
/// Largest book `POST /v1/import` takes: 5 MB, what fits a Lambda payload (6 MB).
pub const IMPORT_LIMIT: usize = 5_000_000;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "billrun",
        description = "Serverless invoice runs: reference data, invoice runs and their documents, and the compatibility endpoints of the source documents. Lists page with `limit` and an opaque `cursor` (`nextCursor`); errors are `{code, message, field}` with a dotted field path."
    ),
    paths(
        v1::health,
        v1::openapi_json,
        v1::import,
        v1::put_account,
        v1::get_account,
        v1::list_accounts,
        v1::put_subscription,
        v1::get_subscription,
        v1::post_usage,
        v1::post_adjustments,
        v1::put_schedule,
        v1::get_schedule,
        v1::put_template,
        v1::activate_template,
        templates::list,
        invoice_schedules::list,
        templates::get,
        templates::sample,
        templates::render_sample,
        v1::create_run,
        v1::get_run,
        v1::list_runs,
        v1::patch_run,
        v1::start_run,
        v1::cancel_run,
        v1::delete_run,
        approval::post_run,
        approval::approve_run,
        approval::approve_invoice,
        approval::post_invoice,
        corrections::void_invoice,
        corrections::cancel_invoice,
        corrections::rebill_account,
        v1::retry_failed,
        previews::preview_run,
        previews::run_diff,
        v1::run_accounts,
        v1::run_invoices,
        v1::get_invoice,
        journal::get_journal,
        documents::request_documents,
        documents::get_request,
        documents::resend,
        documents::get_pdf,
        deliveries::request_emails,
        deliveries::get_request,
        deliveries::resend,
        payments::record_payment,
        payments::list_payments,
        payments::aging,
        payments::apply_credit_memo,
        exports::export_run,
        events::run_events,
        exports::request_export,
        exports::get_export,
        exports::download_export,
        compat::generate_documents::generate,
        compat::schedules::execute,
        compat::bill_runs::create,
        compat::bill_runs::get,
        compat::bill_runs::list,
        compat::bill_runs::cancel,
        compat::bill_runs::delete,
        compat::bill_runs::post_run,
        compat::bill_runs::email,
        compat::billing_runs::get,
        compat::billing_runs::list,
        compat::billing_runs::create,
        compat::billing_runs::update,
        compat::configure_requests::create,
        compat::configure_requests::get,
        compat::configure_requests::invoices,
        compat::configure_requests::credit_memos,
        run_schedules::put,
        run_schedules::get,
        run_schedules::list,
        run_schedules::delete,
        run_schedules::pause,
        run_schedules::resume,
        webhooks::put_endpoint,
        webhooks::get_endpoint,
        webhooks::list_endpoints,
        webhooks::delete_endpoint,
        webhooks::rotate_secret,
        webhooks::list_deliveries,
        webhooks::get_delivery,
        webhooks::redeliver,
        audit::list,
    ),
    // Referenced by a query parameter, which utoipa does not collect by itself.
    components(schemas(schema::JournalFormat)),
    tags(
        (name = "service", description = "Health and this document"),
        (name = "reference data", description = "Accounts, subscriptions, usage, adjustments, invoice schedules, document templates"),
        (name = "runs", description = "Invoice runs"),
        (name = "results", description = "Invoices and credit memos"),
        (name = "events", description = "Webhook endpoints that receive run events (Standard Webhooks), and their deliveries"),
        (name = "audit", description = "Who changed what: every change of a run or a document, with its actor"),
        (name = "compatibility", description = "The request and response shapes of the source documents, translated to and from the canonical model"),
    )
)]
pub struct ApiDoc;

/// The OpenAPI 3.1 document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    describe_error_codes(&mut doc);
    access::describe_scopes(&mut doc);
    doc
}

/// The error body's `code` lists every conflict code from [`billrun_app::ConflictCode`],
/// the one source of them, rather than a hand-kept copy.
fn describe_error_codes(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::Schema;
    use utoipa::openapi::RefOr;
    let conflicts: Vec<String> = billrun_app::ConflictCode::ALL
        .iter()
        .map(|c| format!("`{}`", c.as_str()))
        .collect();
    let description = format!(
        "`validation_failed`, `forbidden` (403: the caller lacks the operation's scope), \
         `not_found`, `payload_too_large`, `unsupported_media_type`, \
         `temporarily_unavailable`, `internal_error`, or (409) one of the conflict codes {}.",
        conflicts.join(", ")
    );
    let code = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("ErrorBody"))
        .and_then(|s| match s {
            RefOr::T(Schema::Object(o)) => o.properties.get_mut("code"),
            _ => None,
        });
    if let Some(RefOr::T(Schema::Object(code))) = code {
        code.description = Some(description);
    }
}

/// [`openapi`] as pretty JSON with a trailing newline (the form of `docs/openapi.json`).
pub fn openapi_json() -> String {
    match openapi().to_pretty_json() {
        Ok(mut s) => {
            s.push('\n');
            s
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot render the OpenAPI document");
            "{}\n".to_string()
        }
    }
}

/// Every route over the use cases of `app` (`billrun-local serve`).
pub fn router(app: Arc<App>) -> Router {
    finish(write_routes(read_routes(Router::new())), app)
}

/// The read routes only (GET, and HEAD with them): what the `api-queries` function
/// serves. The write handlers, and the use cases only they call, stay out of its binary.
pub fn query_router(app: Arc<App>) -> Router {
    finish(read_routes(Router::new()), app)
}

/// The write routes only (POST, PUT, PATCH, DELETE): what the `api-commands` function
/// serves. The read handlers (and the served OpenAPI text) stay out of its binary.
pub fn command_router(app: Arc<App>) -> Router {
    finish(write_routes(Router::new()), app)
}

type Routes = Router<Arc<App>>;

/// Every GET route. A path with writes too is also in [`write_routes`]; axum merges
/// the methods of one path.
fn read_routes(routes: Routes) -> Routes {
    routes
        .route("/v1/health", get(v1::health))
        .route("/v1/openapi.json", get(v1::openapi_json))
        .route("/v1/accounts", get(v1::list_accounts))
        .route("/v1/accounts/{id}", get(v1::get_account))
        .route("/v1/subscriptions/{id}", get(v1::get_subscription))
        .route("/v1/invoice-schedules", get(invoice_schedules::list))
        .route("/v1/invoice-schedules/{id}", get(v1::get_schedule))
        .route("/v1/invoice-runs", get(v1::list_runs))
        .route("/v1/invoice-runs/{id}", get(v1::get_run))
        .route("/v1/invoice-runs/{id}/accounts", get(v1::run_accounts))
        .route("/v1/invoice-runs/{id}/invoices", get(v1::run_invoices))
        .route("/v1/invoice-runs/{id}/diff", get(previews::run_diff))
        .route("/v1/invoice-runs/{id}/journal", get(journal::get_journal))
        .route("/v1/invoices/{id}", get(v1::get_invoice))
        .route("/v1/invoices/{id}/document", get(documents::get_pdf))
        .route("/v1/invoices/{id}/payments", get(payments::list_payments))
        .route("/v1/reports/aging", get(payments::aging))
        .route("/v1/invoice-runs/{id}/export", get(exports::export_run))
        .route("/v1/invoice-runs/{id}/events", get(events::run_events))
        .route("/v1/exports/{id}", get(exports::get_export))
        .route("/v1/webhook-endpoints", get(webhooks::list_endpoints))
        .route("/v1/webhook-endpoints/{id}", get(webhooks::get_endpoint))
        .route(
            "/v1/webhook-endpoints/{id}/deliveries",
            get(webhooks::list_deliveries),
        )
        .route("/v1/webhook-deliveries/{id}", get(webhooks::get_delivery))
        .route("/v1/exports/{id}/file", get(exports::download_export))
        .route("/v1/document-requests/{id}", get(documents::get_request))
        .route("/v1/delivery-requests/{id}", get(deliveries::get_request))
        .route("/v2/bill_runs", get(compat::bill_runs::list))
        .route("/v2/bill_runs/{id}", get(compat::bill_runs::get))
        .route(
            "/backend/api/v1/billingRuns/",
            get(compat::billing_runs::list),
        )
        .route(
            "/backend/api/v1/billingRuns/{id}",
            get(compat::billing_runs::get),
        )
        .route(
            "/api/billing/v1/request-results/{id}",
            get(compat::configure_requests::get),
        )
        .route(
            "/api/billing/v1/request-results/{id}/invoices",
            get(compat::configure_requests::invoices),
        )
        .route(
            "/api/billing/v1/request-results/{id}/credit-memos",
            get(compat::configure_requests::credit_memos),
        )
        .route("/v1/run-schedules", get(run_schedules::list))
        .route("/v1/document-templates", get(templates::list))
        .route("/v1/document-templates/{id}", get(templates::get))
        .route("/v1/document-templates/{id}/sample", get(templates::sample))
        .route("/v1/run-schedules/{id}", get(run_schedules::get))
        .route("/v1/audit-events", get(audit::list))
}

/// Every POST, PUT, PATCH and DELETE route.
fn write_routes(routes: Routes) -> Routes {
    routes
        .route(
            "/v1/import",
            post(v1::import).layer(DefaultBodyLimit::max(IMPORT_LIMIT)),
        )
        .route("/v1/accounts/{id}", put(v1::put_account))
        .route("/v1/subscriptions/{id}", put(v1::put_subscription))
        .route("/v1/usage", post(v1::post_usage))
        .route("/v1/adjustments", post(v1::post_adjustments))
        .route("/v1/invoice-schedules/{id}", put(v1::put_schedule))
        .route(
            "/v1/invoice-schedules/{id}/execute",
            post(compat::schedules::execute),
        )
        .route("/v1/document-templates/{id}", put(v1::put_template))
        .route(
            "/v1/document-templates/{id}/activate",
            post(v1::activate_template),
        )
        .route(
            "/v1/document-templates/{id}/sample",
            post(templates::render_sample),
        )
        .route("/v1/invoice-runs", post(v1::create_run))
        .route(
            "/v1/invoice-runs/{id}",
            patch(v1::patch_run).delete(v1::delete_run),
        )
        .route("/v1/invoice-runs/{id}/start", post(v1::start_run))
        .route("/v1/invoice-runs/{id}/cancel", post(v1::cancel_run))
        .route("/v1/invoice-runs/{id}/post", post(approval::post_run))
        .route("/v1/invoice-runs/{id}/approve", post(approval::approve_run))
        .route("/v1/invoices/{id}/approve", post(approval::approve_invoice))
        .route("/v1/invoices/{id}/post", post(approval::post_invoice))
        .route("/v1/invoices/{id}/void", post(corrections::void_invoice))
        .route(
            "/v1/invoices/{id}/cancel",
            post(corrections::cancel_invoice),
        )
        .route(
            "/v1/accounts/{id}/rebill",
            post(corrections::rebill_account),
        )
        .route("/v1/invoice-runs/{id}/retry-failed", post(v1::retry_failed))
        .route("/v1/invoice-runs/{id}/preview", post(previews::preview_run))
        .route(
            "/v1/invoice-runs/{id}/documents",
            post(documents::request_documents),
        )
        .route("/v1/document-requests/{id}/resend", post(documents::resend))
        .route(
            "/v1/invoice-runs/{id}/exports",
            post(exports::request_export),
        )
        .route(
            "/v1/invoice-runs/{id}/emails",
            post(deliveries::request_emails),
        )
        .route(
            "/v1/delivery-requests/{id}/resend",
            post(deliveries::resend),
        )
        .route("/v1/invoices/{id}/payments", post(payments::record_payment))
        .route(
            "/v1/credit-memos/{id}/applications",
            post(payments::apply_credit_memo),
        )
        .route(
            "/services/data/v64.0/actions/standard/generateInvoiceDocuments",
            post(compat::generate_documents::generate),
        )
        .route("/v2/bill_runs", post(compat::bill_runs::create))
        .route("/v2/bill_runs/{id}", delete(compat::bill_runs::delete))
        .route("/v2/bill_runs/{id}/cancel", post(compat::bill_runs::cancel))
        .route("/v2/bill_runs/{id}/post", post(compat::bill_runs::post_run))
        .route("/v1/bill-runs/{key}/emails", post(compat::bill_runs::email))
        .route(
            "/backend/api/v1/billingRuns/",
            post(compat::billing_runs::create),
        )
        .route(
            "/backend/api/v1/billingRuns/{id}",
            put(compat::billing_runs::update),
        )
        .route(
            "/api/billing/v1/configure-requests",
            post(compat::configure_requests::create),
        )
        .route(
            "/v1/run-schedules/{id}",
            put(run_schedules::put).delete(run_schedules::delete),
        )
        .route("/v1/run-schedules/{id}/pause", post(run_schedules::pause))
        .route("/v1/run-schedules/{id}/resume", post(run_schedules::resume))
        .route(
            "/v1/webhook-endpoints/{id}",
            put(webhooks::put_endpoint).delete(webhooks::delete_endpoint),
        )
        .route(
            "/v1/webhook-endpoints/{id}/rotate-secret",
            post(webhooks::rotate_secret),
        )
        .route(
            "/v1/webhook-deliveries/{id}/redeliver",
            post(webhooks::redeliver),
        )
}

/// The fallbacks (404, 405 as API errors), the body limit and the state.
fn finish(routes: Routes, app: Arc<App>) -> Router {
    routes
        .fallback(|| async { error::ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async {
            error::ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .route_layer(axum::middleware::from_fn(access::enforce))
        .with_state(app)
}
