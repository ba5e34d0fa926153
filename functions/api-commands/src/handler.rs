use billrun_app::App;
use std::sync::Arc;

/// The router this function serves, JWT groups granting scopes by `groups`.
pub fn service(app: Arc<App>, groups: billrun_lambda::GroupScopes) -> axum::Router {
    service_with_console(app, groups, None)
}

/// The same, with the operator console's actions when the deployment has one.
pub fn service_with_console(
    app: Arc<App>,
    groups: billrun_lambda::GroupScopes,
    console: Option<&billrun_lambda::ConsoleSetup>,
) -> axum::Router {
    billrun_lambda::commands_router_with_console(app, groups, console)
}

#[cfg(test)]
mod tests {
    use super::*;
    use billrun_app::memory::{MemoryQueue, MemoryStore};
    use billrun_lambda::Side;
    use tower::ServiceExt;

    const CREATE: &str = include_str!("../../events/http-create-run.json");
    const GET: &str = include_str!("../../events/http-get-run.json");

    async fn call(app: Arc<App>, side: Side, event: &str) -> (u16, serde_json::Value) {
        call_with(app, side, event, Default::default()).await
    }

    async fn call_with(
        app: Arc<App>,
        side: Side,
        event: &str,
        groups: billrun_lambda::GroupScopes,
    ) -> (u16, serde_json::Value) {
        let request = lambda_http::request::from_str(event).unwrap();
        let response = billrun_lambda::router(app, side, groups)
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    #[tokio::test]
    async fn an_api_gateway_event_creates_a_run_that_the_queries_side_reads_back() {
        let app = Arc::new(App::in_memory(
            Arc::new(MemoryStore::new()),
            Arc::new(MemoryQueue::new()),
            std::sync::Arc::new(billrun_documents::PdfRenderer),
        ));
        let (status, run) = call(app.clone(), Side::Commands, CREATE).await;
        assert_eq!(status, 201, "{run}");
        assert_eq!(run["name"], "February 2024");
        assert_eq!(run["status"], "Processing");
        let id = run["id"].as_str().unwrap();
        let get = GET.replace("RUN_ID", id);
        let (status, read) = call(app.clone(), Side::Queries, &get).await;
        assert_eq!(status, 200);
        assert_eq!(read["id"], id);
        assert_eq!(read["number"], run["number"]);
        // The same event replayed: the idempotency key answers 200 with the same run.
        let (status, again) = call(app.clone(), Side::Commands, CREATE).await;
        assert_eq!((status, &again["id"]), (200, &run["id"]));
        // Each side refuses the other's methods.
        assert_eq!(call(app.clone(), Side::Queries, CREATE).await.0, 405);
        assert_eq!(call(app, Side::Commands, &get).await.0, 405);
    }

    /// The create event as a JWT authorizer passes it on, with `scopes` granted.
    fn with_jwt(event: &str, scopes: &[&str]) -> String {
        let mut v: serde_json::Value = serde_json::from_str(event).unwrap();
        v["requestContext"]["authorizer"] = serde_json::json!({"jwt": {
            "claims": {"sub": "user-7", "scope": scopes.join(" ")},
            "scopes": null
        }});
        v.to_string()
    }

    #[tokio::test]
    async fn a_jwt_caller_is_held_to_its_scopes_and_an_iam_caller_to_its_policy() {
        let app = Arc::new(App::in_memory(
            Arc::new(MemoryStore::new()),
            Arc::new(MemoryQueue::new()),
            std::sync::Arc::new(billrun_documents::PdfRenderer),
        ));
        let (status, body) = call(
            app.clone(),
            Side::Commands,
            &with_jwt(CREATE, &["billing:read"]),
        )
        .await;
        assert_eq!(
            (status, &body["field"]),
            (403, &serde_json::json!("billing:run"))
        );
        let (status, run) = call(
            app.clone(),
            Side::Commands,
            &with_jwt(CREATE, &["billing:read", "billing:run"]),
        )
        .await;
        assert_eq!(status, 201, "{run}");
        let mut iam: serde_json::Value = serde_json::from_str(CREATE).unwrap();
        iam["requestContext"]["authorizer"] = serde_json::json!({"iam": {
            "userArn": "arn:aws:iam::123456789012:user/finance", "accessKey": "AKIA", "accountId": "123456789012",
            "callerId": "AIDA", "principalOrgId": null, "userId": "AIDA"
        }});
        let (status, _) = call(app, Side::Commands, &iam.to_string()).await;
        assert_eq!(
            status, 200,
            "the same idempotency key, replayed by an IAM caller"
        );
    }

    /// The create event from a JWT with no scope, in the groups given as API Gateway
    /// passes a Cognito list claim on (`[a b]`).
    fn in_groups(event: &str, groups: &str) -> String {
        let mut v: serde_json::Value = serde_json::from_str(event).unwrap();
        v["requestContext"]["authorizer"] = serde_json::json!({"jwt": {
            "claims": {"sub": "user-8", "cognito:groups": groups},
            "scopes": null
        }});
        v.to_string()
    }

    #[tokio::test]
    async fn a_jwt_callers_groups_grant_the_scopes_the_deployment_maps_them_to() {
        let app = Arc::new(App::in_memory(
            Arc::new(MemoryStore::new()),
            Arc::new(MemoryQueue::new()),
            std::sync::Arc::new(billrun_documents::PdfRenderer),
        ));
        let groups = billrun_lambda::GroupScopes::parse(
            "finance-preparers=billing:run billing:read; auditors=billing:read",
        )
        .unwrap();
        let call = |event: String| {
            let (app, groups) = (app.clone(), groups.clone());
            async move { call_with(app, Side::Commands, &event, groups).await }
        };
        // Mapped groups without the run scope, an unmapped one: refused at the scope.
        let (status, body) = call(in_groups(CREATE, "[auditors sales]")).await;
        assert_eq!(
            (status, &body["field"]),
            (403, &serde_json::json!("billing:run"))
        );
        let (status, run) = call(in_groups(CREATE, "[auditors finance-preparers]")).await;
        assert_eq!(status, 201, "{run}");
        // A group named like a scope grants it without a mapping.
        let (status, _) = call(in_groups(CREATE, "billing:run")).await;
        assert_eq!(status, 200, "the same idempotency key, replayed");
        for bad in ["finance", "x=billing:everything", "=billing:read", "x="] {
            assert!(billrun_lambda::GroupScopes::parse(bad).is_err(), "{bad}");
        }
    }
}
