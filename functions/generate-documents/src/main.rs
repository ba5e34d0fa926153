//! `generate-documents`: SQS consumer of document messages: each renders one document of a generation request to PDF, stores it in S3 under a content-addressed key (unless it is there already) and records Generated or Failed.

use generate_documents::handler;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    billrun_lambda::init_tracing();
    let runtime = billrun_lambda::Runtime::from_env(generate_documents::adapters).await?;
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
