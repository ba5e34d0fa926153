use billrun_app::App;
use billrun_lambda::Side;
use std::sync::Arc;

/// The router this function serves.
pub fn service(app: Arc<App>) -> axum::Router {
    billrun_lambda::router(app, Side::Queries)
}
