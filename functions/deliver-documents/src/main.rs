//! `deliver-documents`: SQS consumer of the delivery queue. A `Deliver` message emails a
//! chunk of a delivery request's documents, each once (a claim, the send through SES with
//! its PDF attached, the result); an `AutoEmail` message makes the delivery request of a
//! run posted with `autoEmail`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    billrun_lambda::init_tracing();
    let runtime = billrun_lambda::Runtime::from_env(deliver_documents::adapters).await?;
    if runtime.app.delivery.is_none() {
        // Without a sender every message would be refused: stop at start, where the
        // configuration error shows, rather than dead-letter the queue.
        return Err("SENDER is not set: deliver-documents has nothing to send email from".into());
    }
    // Each invocation goes through `billrun_lambda::handle_sqs`, as
    // `deliver_documents::handler::handle` does in the end-to-end tests.
    billrun_lambda::run_sqs(runtime.app, runtime.max_receives).await
}
