use billrun_app::App;
use std::sync::Arc;

/// The router this function serves, JWT groups granting scopes by `groups`.
pub fn service(app: Arc<App>, groups: billrun_lambda::GroupScopes) -> axum::Router {
    service_with_console(app, groups, None)
}

/// The same, with the operator console's pages when the deployment has one.
pub fn service_with_console(
    app: Arc<App>,
    groups: billrun_lambda::GroupScopes,
    console: Option<&billrun_lambda::ConsoleSetup>,
) -> axum::Router {
    billrun_lambda::queries_router_with_console(app, groups, console)
}
