//! `generate-documents`: SQS consumer of document messages: each renders one document of a generation request to PDF, stores it in S3 under a content-addressed key (unless it is there already) and records Generated or Failed.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    billrun_lambda::init_tracing();
    let runtime = billrun_lambda::Runtime::from_env(generate_documents::adapters).await?;
    // Each invocation goes through `billrun_lambda::handle_sqs`, as `generate_documents::handler::handle`
    // does in the end-to-end tests.
    billrun_lambda::run_sqs(runtime.app, runtime.max_receives).await
}
