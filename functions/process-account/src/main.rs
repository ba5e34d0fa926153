//! `process-account`: SQS consumer of account messages: each rates one account and commits its documents, watermarks and outcome in one transaction.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    billrun_lambda::init_tracing();
    let runtime = billrun_lambda::Runtime::from_env(process_account::adapters).await?;
    // Each invocation goes through `billrun_lambda::handle_sqs`, as `process_account::handler::handle`
    // does in the end-to-end tests.
    billrun_lambda::run_sqs(runtime.app, runtime.max_receives).await
}
