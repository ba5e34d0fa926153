//! The handler of the `dispatch-events` function, a library so that end-to-end tests
//! drive it with the JSON Lambda hands it.
//!
//! Two event sources invoke it. The table's stream, filtered to run records
//! (template.yaml): a record whose new image has a version its old one did not is a
//! write that may have recorded events, dispatched from the old version + 1
//! ([`billrun_app::dispatch::Dispatcher::dispatch`]; a repeat finds what it made). The
//! first record that fails is reported (`batchItemFailures`, by its sequence number),
//! so the stream retries from it. And the webhook queue: its SQS records go through
//! [`billrun_lambda::handle_sqs`].

use billrun_app::App;
use billrun_lambda::{Adapters, NoBlobs, NoExportFiles, NoMailer, Runtime, Wiring};
use serde_json::{json, Value};
use std::sync::Arc;

/// The function's adapters beside DynamoDB: queues webhook deliveries; no files.
pub fn adapters(w: &Wiring<'_>) -> Adapters {
    Adapters {
        queue: w.sqs(),
        blobs: Arc::new(NoBlobs),
        renderer: Arc::new(billrun_documents::PdfRenderer),
        exports: Arc::new(NoExportFiles),
        mailer: Arc::new(NoMailer),
    }
}

/// The runtime's app with the webhook sender (public addresses only) and the
/// deployment's bus (`EVENT_BUS_NAME`; the per-document events too when
/// `BUS_DOCUMENT_EVENTS` says so).
pub fn compose(runtime: &Runtime) -> Result<App, lambda_runtime::Error> {
    let sender = billrun_webhooks::HttpWebhookSender::new(
        billrun_webhooks::UrlPolicy::default(),
        billrun_webhooks::client::DEFAULT_TIMEOUT,
    )?;
    let mut app = (*runtime.app).clone().with_webhooks(Arc::new(sender));
    let wiring = Wiring {
        config: &runtime.config,
        clients: &runtime.clients,
        metrics: &runtime.metrics,
    };
    if let Some(bus) = wiring.event_bus() {
        app = app.with_event_bus(bus);
        app.dispatch.bus_document_events = runtime.config.bus_document_events;
    }
    Ok(app)
}

/// Handles one invocation: a batch of stream records or of webhook queue messages.
pub async fn handle(
    app: &App,
    event: Value,
    max_receives: u32,
) -> Result<Value, lambda_runtime::Error> {
    let from_stream = event["Records"][0]["eventSource"] == "aws:dynamodb";
    if !from_stream {
        let sqs: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_value(event)?;
        let answer = billrun_lambda::handle_sqs(app, sqs, max_receives).await;
        return Ok(serde_json::to_value(answer)?);
    }
    let records = event["Records"].as_array().cloned().unwrap_or_default();
    let mut failures = Vec::new();
    for record in &records {
        let Some(write) = billrun_lambda::stream::run_write(record) else {
            continue;
        };
        if let Err(e) = app
            .dispatcher()
            .dispatch(write.run, write.from_version..=write.through_version)
            .await
        {
            tracing::error!(run_id = %write.run, error = %billrun_app::error::chain(&e),
                "dispatching a run's events failed; the stream retries from it");
            let sequence = record["dynamodb"]["SequenceNumber"].clone();
            failures.push(json!({ "itemIdentifier": sequence }));
            break;
        }
    }
    Ok(json!({ "batchItemFailures": failures }))
}
