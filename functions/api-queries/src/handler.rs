use billrun_app::App;
use std::sync::Arc;

/// The router this function serves, JWT groups granting scopes by `groups`.
pub fn service(app: Arc<App>, groups: billrun_lambda::GroupScopes) -> axum::Router {
    billrun_lambda::queries_router(app, groups)
}
