//! `process-account`: SQS consumer of account messages: each rates one account and commits its documents, watermarks and outcome in one transaction.

use process_account::handler;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    billrun_lambda::init_tracing();
    let runtime = billrun_lambda::Runtime::from_env(process_account::adapters).await?;
    let (app, max_receives) = (runtime.app, runtime.max_receives);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let app = app.clone();
        async move {
            Ok::<SqsBatchResponse, lambda_runtime::Error>(
                handler::handle(&app, event.payload, max_receives).await,
            )
        }
    }))
    .await
}
