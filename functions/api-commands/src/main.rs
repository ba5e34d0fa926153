//! `api-commands`: the shared HTTP router behind API Gateway (HTTP API, payload v2), limited to
//! the commands side.

use api_commands::handler;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    billrun_lambda::init_tracing();
    let runtime = billrun_lambda::Runtime::from_env(api_commands::adapters).await?;
    let groups = billrun_lambda::group_scopes_from_env()?;
    let console =
        billrun_lambda::ConsoleSetup::from_env(&runtime.clients.sdk_config, &groups).await?;
    lambda_http::run(handler::service_with_console(
        runtime.app,
        groups,
        console.as_ref(),
    ))
    .await
}
