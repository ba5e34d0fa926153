//! `plan-run`: SQS consumer of planning pages: each page selects accounts by the run's filters, queues their messages and the next page.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    billrun_lambda::init_tracing();
    let runtime = billrun_lambda::Runtime::from_env(plan_run::adapters).await?;
    // Each invocation goes through `billrun_lambda::handle_sqs`, as `plan_run::handler::handle`
    // does in the end-to-end tests.
    billrun_lambda::run_sqs(runtime.app, runtime.max_receives).await
}
