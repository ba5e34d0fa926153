use billrun_app::App;
use std::sync::Arc;

/// The router this function serves.
pub fn service(app: Arc<App>) -> axum::Router {
    billrun_lambda::queries_router(app)
}
