//! What the console's create-or-edit forms of a `PUT` resource share (templates,
//! invoice schedules): whether the visitor's scopes allow the `PUT`, the save itself
//! (a new resource is sent with `If-None-Match: *`, so that typing a taken id is refused
//! at the id instead of replacing it), and the notice above a refused form.

use crate::layout::problem;
use crate::session::Visitor;
use crate::{enc, ApiProblem, Console};
use axum::http::{header, Method, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde_json::Value;

/// A resource a form saves with `PUT`.
pub struct Resource {
    /// The API route, as the scope table spells it (`{id}` for the resource).
    pub route: &'static str,
    /// How a refusal names it ("a document template").
    pub what: &'static str,
}

/// How a save ended: the refusals a form shows at its fields are a value of their own.
pub enum Saved {
    Done,
    /// A bad field or a taken id: the form again, with the error at its field.
    AtForm(ApiProblem),
    /// Anything else (a missing scope, a failure): the console's error page.
    Page(Response),
}

impl Resource {
    /// Whether the visitor may create or edit it (the pages offer the form then).
    pub fn offered(&self, visitor: &Visitor) -> bool {
        visitor.may(&Method::PUT, self.route)
    }

    /// The 403 page of a visitor whose scopes do not allow the `PUT`.
    pub fn forbidden(&self, visitor: &Visitor) -> Option<Response> {
        if self.offered(visitor) {
            return None;
        }
        let scope = billrun_api::access::scope_of(&Method::PUT, self.route);
        Some(problem(
            visitor,
            &ApiProblem {
                status: StatusCode::FORBIDDEN,
                message: format!("Saving {} needs the scope {}.", self.what, scope.as_str()),
                field: None,
            },
        ))
    }

    /// `PUT`s `body` as `id` (create-only when `new`). The API checks the scope again:
    /// a forged form meets its 403.
    pub async fn save(
        &self,
        console: &Console,
        visitor: &Visitor,
        id: &str,
        new: bool,
        body: Value,
    ) -> Saved {
        let create_only: &[(header::HeaderName, &str)] = if new {
            &[(header::IF_NONE_MATCH, "*")]
        } else {
            &[]
        };
        let uri = self.route.replace("{id}", &enc(id));
        let answer = match console
            .json_with(
                visitor.principal(),
                Method::PUT,
                &uri,
                Some(body),
                create_only,
            )
            .await
        {
            Ok(a) => a,
            Err(r) => return Saved::Page(r),
        };
        if answer.ok() {
            return Saved::Done;
        }
        let e = answer.error();
        if e.status == StatusCode::BAD_REQUEST || e.field.is_some() {
            Saved::AtForm(e)
        } else {
            Saved::Page(problem(visitor, &e))
        }
    }
}

/// The id a new resource's form was given, or the error to show at its field.
pub fn new_id(raw: &str) -> Result<&str, ApiProblem> {
    crate::segment(raw.trim()).ok_or_else(|| ApiProblem {
        status: StatusCode::BAD_REQUEST,
        message: "must be 1 to 128 letters, digits, - or _".into(),
        field: Some("id".into()),
    })
}

/// The notice above a refused form: the error itself when no field of the form shows
/// it (`shown`), else a pointer to the field marked.
pub fn notice(error: Option<&ApiProblem>, shown: impl Fn(&str) -> bool, what: &str) -> Markup {
    let elsewhere = error.filter(|e| !e.field.as_deref().is_some_and(&shown));
    html! {
        @if let Some(e) = elsewhere {
            p class="error" role="alert" { @if let Some(f) = &e.field { (f) ": " } (e.message) }
        } @else if error.is_some() {
            p class="error" role="alert" { "The " (what) " was not saved: see the field marked below." }
        }
    }
}
