//! Who may call which route. Four scopes; every route's scope in one table
//! ([`scope_of`]), from which each OpenAPI operation's `security` is written; and the
//! check ([`enforce`]): a request whose [`Principal`] lacks the route's scope is
//! refused with 403 before its handler runs. The composition sets the principal: the
//! `serve` token check (a token's name and scopes), the Lambda adapter (the JWT's
//! subject and scopes, or the IAM principal).

use crate::error::ApiError;
use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// Every read.
    #[serde(rename = "billing:read")]
    Read,
    /// Create, start, change and retry runs; generate documents; execute a schedule item.
    #[serde(rename = "billing:run")]
    Run,
    /// What finance signs off: post, cancel, delete runs; email customers; record
    /// payments and credit applications.
    #[serde(rename = "billing:post")]
    Post,
    /// Reference data and configuration: import, accounts, subscriptions, usage,
    /// adjustments, invoice and run schedules, templates.
    #[serde(rename = "billing:admin")]
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Run, Scope::Post, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "billing:read",
            Scope::Run => "billing:run",
            Scope::Post => "billing:post",
            Scope::Admin => "billing:admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// The caller of a request, as the composition identified it: a name for the record
/// (a token's name, a JWT's `sub`, an IAM principal's ARN) and its scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub scopes: BTreeSet<Scope>,
}

impl Principal {
    /// A caller with every scope (a single `serve --token`, an IAM-signed request
    /// whose IAM policy already decided).
    pub fn with_all_scopes(name: impl Into<String>) -> Principal {
        Principal {
            name: name.into(),
            scopes: Scope::ALL.into_iter().collect(),
        }
    }
}

/// Scopes granted by membership of identity-provider groups (a Cognito user pool's
/// `cognito:groups`, another issuer's `groups` claim): a deployment's mapping, written
/// `group=scope scope;group=scope` (`GroupScopes` in the template). A group named like
/// a scope (`billing:post`) grants that scope without being listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupScopes(std::collections::BTreeMap<String, BTreeSet<Scope>>);

impl GroupScopes {
    /// Parses the mapping; the error names the first part that is not
    /// `group=scope …` with known scopes.
    pub fn parse(text: &str) -> Result<GroupScopes, String> {
        let mut map = std::collections::BTreeMap::new();
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((group, scopes)) = part.split_once('=') else {
                return Err(format!("'{part}' is not group=scope"));
            };
            let group = group.trim();
            if group.is_empty() {
                return Err(format!("'{part}' names no group"));
            }
            let mut granted = BTreeSet::new();
            for s in scopes.split([' ', ',']).filter(|s| !s.is_empty()) {
                granted.insert(Scope::parse(s).ok_or_else(|| {
                    format!("'{s}' (group {group}) is not one of billing:read, billing:run, billing:post, billing:admin")
                })?);
            }
            if granted.is_empty() {
                return Err(format!("group {group} is given no scope"));
            }
            map.entry(group.to_string())
                .or_insert_with(BTreeSet::new)
                .extend(granted);
        }
        Ok(GroupScopes(map))
    }

    /// The scopes `groups` grant.
    pub fn scopes_of<'a>(&self, groups: impl IntoIterator<Item = &'a str>) -> BTreeSet<Scope> {
        let mut out = BTreeSet::new();
        for g in groups {
            if let Some(s) = Scope::parse(g) {
                out.insert(s);
            }
            if let Some(granted) = self.0.get(g) {
                out.extend(granted.iter().copied());
            }
        }
        out
    }
}

/// The groups of a JWT claim as API Gateway passes it on: a list flattened to text
/// (`[finance admins]`), or one name.
pub fn claim_groups(value: &str) -> Vec<&str> {
    value
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split([' ', ','])
        .map(|g| g.trim_matches('"'))
        .filter(|g| !g.is_empty())
        .collect()
}

/// The JWT claims that carry the caller's groups: Cognito's, and the common name.
pub const GROUP_CLAIMS: [&str; 2] = ["cognito:groups", "groups"];

/// The caller a verified JWT names, the one mapping of both places that verify one
/// (API Gateway's JWT authorizer, the console's sign-in): its `sub`, and its
/// `billing:*` scopes (`scopes` when the verifier lists them, else the `scope` claim)
/// with those its groups are granted (`groups`). `claims` are as API Gateway passes
/// them on: text, a list flattened to `[a b]`.
pub fn jwt_principal(
    claims: &std::collections::HashMap<String, String>,
    scopes: Option<&[String]>,
    groups: &GroupScopes,
) -> Principal {
    let name = claims.get("sub").cloned().unwrap_or_default();
    let granted: Vec<&str> = match scopes {
        Some(s) if !s.is_empty() => s.iter().map(String::as_str).collect(),
        _ => claims
            .get("scope")
            .map(|s| s.split_whitespace().collect())
            .unwrap_or_default(),
    };
    let mut scopes: BTreeSet<Scope> = granted.into_iter().filter_map(Scope::parse).collect();
    for claim in GROUP_CLAIMS {
        if let Some(value) = claims.get(claim) {
            scopes.extend(groups.scopes_of(claim_groups(value)));
        }
    }
    Principal { name, scopes }
}

/// The scope of every route that is not a read (a read, GET or HEAD, needs
/// [`Scope::Read`]): (method, route as the router spells it, scope).
pub const WRITES: &[(&str, &str, Scope)] = &[
    ("POST", "/v1/import", Scope::Admin),
    ("PUT", "/v1/accounts/{id}", Scope::Admin),
    ("PUT", "/v1/subscriptions/{id}", Scope::Admin),
    ("POST", "/v1/usage", Scope::Admin),
    ("POST", "/v1/adjustments", Scope::Admin),
    ("PUT", "/v1/invoice-schedules/{id}", Scope::Admin),
    ("POST", "/v1/invoice-schedules/{id}/execute", Scope::Run),
    ("PUT", "/v1/document-templates/{id}", Scope::Admin),
    ("POST", "/v1/document-templates/{id}/activate", Scope::Admin),
    ("POST", "/v1/document-templates/{id}/sample", Scope::Admin),
    ("POST", "/v1/invoice-runs", Scope::Run),
    ("PATCH", "/v1/invoice-runs/{id}", Scope::Run),
    ("DELETE", "/v1/invoice-runs/{id}", Scope::Post),
    ("POST", "/v1/invoice-runs/{id}/start", Scope::Run),
    ("POST", "/v1/invoice-runs/{id}/cancel", Scope::Post),
    ("POST", "/v1/invoice-runs/{id}/post", Scope::Post),
    ("POST", "/v1/invoice-runs/{id}/approve", Scope::Post),
    ("POST", "/v1/invoices/{id}/approve", Scope::Post),
    ("POST", "/v1/invoices/{id}/post", Scope::Post),
    ("POST", "/v1/invoices/{id}/void", Scope::Post),
    ("POST", "/v1/invoices/{id}/cancel", Scope::Post),
    ("POST", "/v1/accounts/{id}/rebill", Scope::Run),
    ("POST", "/v1/invoice-runs/{id}/retry-failed", Scope::Run),
    // A preview writes only its own items: running, not posting.
    ("POST", "/v1/invoice-runs/{id}/preview", Scope::Run),
    ("POST", "/v1/invoice-runs/{id}/documents", Scope::Run),
    ("POST", "/v1/document-requests/{id}/resend", Scope::Run),
    // An export writes only its own record and file: reading the run's data.
    ("POST", "/v1/invoice-runs/{id}/exports", Scope::Read),
    ("POST", "/v1/invoice-runs/{id}/emails", Scope::Post),
    ("POST", "/v1/delivery-requests/{id}/resend", Scope::Post),
    ("POST", "/v1/invoices/{id}/payments", Scope::Post),
    ("POST", "/v1/credit-memos/{id}/applications", Scope::Post),
    ("PUT", "/v1/run-schedules/{id}", Scope::Admin),
    ("DELETE", "/v1/run-schedules/{id}", Scope::Admin),
    ("POST", "/v1/run-schedules/{id}/pause", Scope::Admin),
    ("POST", "/v1/run-schedules/{id}/resume", Scope::Admin),
    ("PUT", "/v1/webhook-endpoints/{id}", Scope::Admin),
    ("DELETE", "/v1/webhook-endpoints/{id}", Scope::Admin),
    (
        "POST",
        "/v1/webhook-endpoints/{id}/rotate-secret",
        Scope::Admin,
    ),
    (
        "POST",
        "/v1/webhook-deliveries/{id}/redeliver",
        Scope::Admin,
    ),
    // The source APIs: each by the strongest thing it can do.
    (
        "POST",
        "/services/data/v64.0/actions/standard/generateInvoiceDocuments",
        Scope::Run,
    ),
    ("POST", "/v2/bill_runs", Scope::Run),
    ("DELETE", "/v2/bill_runs/{id}", Scope::Post),
    ("POST", "/v2/bill_runs/{id}/cancel", Scope::Post),
    ("POST", "/v2/bill_runs/{id}/post", Scope::Post),
    ("POST", "/v1/bill-runs/{key}/emails", Scope::Post),
    ("POST", "/backend/api/v1/billingRuns/", Scope::Run),
    // A status change may post or cancel the run.
    ("PUT", "/backend/api/v1/billingRuns/{id}", Scope::Post),
    ("POST", "/api/billing/v1/configure-requests", Scope::Run),
];

/// The scope `method route` needs. A write route missing from [`WRITES`] needs
/// [`Scope::Admin`], the narrowest grant (a test keeps the table whole).
pub fn scope_of(method: &Method, route: &str) -> Scope {
    if method == Method::GET || method == Method::HEAD {
        return Scope::Read;
    }
    WRITES
        .iter()
        .find(|(m, r, _)| *m == method.as_str() && *r == route)
        .map_or(Scope::Admin, |(_, _, s)| *s)
}

/// The middleware of every router: a request with a [`Principal`] that lacks its
/// route's scope is answered 403 `forbidden`, the scope named in `field`; one that has
/// it runs as its principal (the changes it makes record the name:
/// [`billrun_app::actor`]). A request
/// without a principal is one its composition admitted whole (`serve` without tokens,
/// the handlers' tests); an unmatched route goes on to its 404.
pub async fn enforce(req: Request, next: Next) -> Response {
    let needed = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| scope_of(req.method(), p.as_str()));
    match (needed, req.extensions().get::<Principal>()) {
        (Some(scope), Some(p)) if !p.scopes.contains(&scope) => {
            let mut e = ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this request needs the scope {}", scope.as_str()),
            );
            e.field = Some(scope.as_str().to_string());
            e.into_response()
        }
        (_, Some(p)) => {
            let name = p.name.clone();
            billrun_app::actor::acting_as(name, next.run(req)).await
        }
        _ => next.run(req).await,
    }
}

/// Writes each operation's scope into the OpenAPI document (`security`, with the
/// `bearer` scheme) from [`scope_of`].
pub fn describe_scopes(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
    for (path, item) in doc.paths.paths.iter_mut() {
        let ops = [
            (Method::GET, &mut item.get),
            (Method::PUT, &mut item.put),
            (Method::POST, &mut item.post),
            (Method::DELETE, &mut item.delete),
            (Method::PATCH, &mut item.patch),
        ];
        for (method, op) in ops {
            if let Some(op) = op {
                let scope = scope_of(&method, path);
                op.security = Some(vec![SecurityRequirement::new("bearer", [scope.as_str()])]);
            }
        }
    }
    if let Some(c) = doc.components.as_mut() {
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}
