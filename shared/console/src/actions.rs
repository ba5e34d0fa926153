//! The console's actions, on any resource: each is offered only when the API's scope
//! table lets the visitor call its route, enabled or disabled with the reason the
//! resource's state gives, confirmed on a page that states its consequence, and done
//! by a CSRF-checked POST that calls the API route (which checks scope and state
//! again). Runs, run schedules and documents have their tables of actions
//! ([`Subject`]).

use crate::layout::{page as render, problem};
use crate::session::{check_change, Visitor};
use crate::{enc, segment, Console};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Form;
use maud::{html, Markup};
use serde_json::Value;
use std::collections::HashMap;

/// An action: the API route it calls, and when the resource's state allows it.
pub struct Action {
    pub slug: &'static str,
    pub label: &'static str,
    /// The API route, as the API's scope table spells it (`{id}` for the resource).
    pub route: &'static str,
    /// `Err(reason)` when the resource's state refuses the action.
    pub allowed: fn(&Value) -> Result<(), String>,
    /// What confirming will do, with what it affects.
    pub consequence: fn(&Value) -> String,
    /// Where in the API's answer the action names another resource of the same kind
    /// it made (a JSON pointer: a preview run's `/id`, a void's `/creditMemo/id`),
    /// whose page is shown next; `None`: the resource's own page.
    pub follow: Option<&'static str>,
}

/// A kind of resource the console acts on.
pub struct Subject {
    /// The API route that reads one (`{id}`).
    pub read: &'static str,
    /// The console page shown after an action and linked as "Back" (`{id}`, or none for
    /// a list).
    pub page: &'static str,
    /// How a confirmation names the resource ("run BR-000001").
    pub name: fn(&Value) -> String,
    pub actions: &'static [Action],
}

impl Subject {
    fn action(&self, slug: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.slug == slug)
    }

    fn page_of(&self, id: &str) -> String {
        self.page.replace("{id}", id)
    }

    /// The console URL of an action's confirmation.
    pub fn confirm_url(&self, id: &str, a: &Action) -> String {
        format!("{}/{}/actions/{}", self.console_base(), id, a.slug)
    }

    /// `/console/runs` of `/console/runs/{id}`: where a resource's action routes are.
    fn console_base(&self) -> &'static str {
        match self.page.find("/{id}") {
            Some(i) => &self.page[..i],
            None => self.page,
        }
    }

    /// The actions the visitor's scopes allow (the others are not offered), each with
    /// whether the resource's state allows it; those it allows first.
    pub fn offered(
        &self,
        visitor: &Visitor,
        resource: &Value,
    ) -> Vec<(&Action, Result<(), String>)> {
        let mut offered: Vec<(&Action, Result<(), String>)> = self
            .actions
            .iter()
            .filter(|a| visitor.may(&Method::POST, a.route))
            .map(|a| (a, (a.allowed)(resource)))
            .collect();
        offered.sort_by_key(|(_, allowed)| allowed.is_err());
        offered
    }

    /// The resource's actions section: enabled ones link to their confirmation, the
    /// disabled ones are shown with their reason.
    pub fn section(&self, visitor: &Visitor, id: &str, resource: &Value) -> Markup {
        let offered = self.offered(visitor, resource);
        html! {
            @if !offered.is_empty() {
                section aria-labelledby="actions-h" {
                    h2 id="actions-h" { "Actions" }
                    ul class="actions" {
                        @for (a, allowed) in offered {
                            li {
                                @match allowed {
                                    Ok(()) => {
                                        a class="button" href=(self.confirm_url(id, a)) { (a.label) }
                                    }
                                    Err(why) => {
                                        button type="button" disabled aria-describedby={ "why-" (a.slug) } { (a.label) }
                                        " " span id={ "why-" (a.slug) } { (why) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The confirmation page of an action: what it will do, then one button.
    pub async fn confirm(
        &self,
        console: &Console,
        visitor: &Visitor,
        id: &str,
        slug: &str,
    ) -> Response {
        let (Some(id), Some(a)) = (segment(id), self.action(slug)) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        if !visitor.may(&Method::POST, a.route) {
            return forbidden(visitor, a);
        }
        let resource = match console.get(visitor, &self.read.replace("{id}", id)).await {
            Ok(r) => r,
            Err(r) => return r,
        };
        let name = (self.name)(&resource);
        let back = self.page_of(id);
        render(
            visitor,
            &format!("{} {name}", a.label),
            html! {
                h1 { (a.label) ": " (name) }
                @match (a.allowed)(&resource) {
                    Ok(()) => {
                        p class="notice" data-testid="consequence" { ((a.consequence)(&resource)) }
                        form method="post" action=(self.confirm_url(id, a)) {
                            input type="hidden" name="csrf" value=(visitor.csrf);
                            button type="submit" { "Confirm: " (a.label) }
                            " " a class="button secondary" href=(back) { "Back" }
                        }
                    }
                    Err(why) => {
                        p class="error" { (why) }
                        p { a href=(back) { "Back" } }
                    }
                }
            },
        )
    }

    /// Does the action through the API (which checks the scope and the state again).
    pub async fn act(
        &self,
        console: &Console,
        visitor: &Visitor,
        headers: &HeaderMap,
        id: &str,
        slug: &str,
        form: &HashMap<String, String>,
    ) -> Response {
        if let Err(r) = check_change(console, visitor, headers, form) {
            return r.into_response();
        }
        let (Some(id), Some(a)) = (segment(id), self.action(slug)) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        // Not checked here: the API's own `enforce` refuses a scope the caller lacks
        // (403), so a forged request meets the same check as an offered one.
        let uri = a.route.replace("{id}", id);
        let answer = match console
            .json(visitor.principal(), Method::POST, &uri, None)
            .await
        {
            Ok(a) => a,
            Err(r) => return r,
        };
        if answer.ok() {
            let made = a
                .follow
                .and_then(|at| answer.body.pointer(at))
                .and_then(Value::as_str);
            let next = made.map_or_else(|| id.to_string(), enc);
            Redirect::to(&self.page_of(&next)).into_response()
        } else {
            problem(visitor, &answer.error())
        }
    }
}

/// The GET of a subject's action route (`.../{id}/actions/{action}`): its
/// confirmation.
pub fn confirm_route(subject: &'static Subject) -> MethodRouter<Console> {
    get(
        move |State(console): State<Console>,
              visitor: Visitor,
              Path((id, slug)): Path<(String, String)>| async move {
            subject.confirm(&console, &visitor, &id, &slug).await
        },
    )
}

/// The POST of a subject's action route: doing it.
pub fn act_route(subject: &'static Subject) -> MethodRouter<Console> {
    post(
        move |State(console): State<Console>,
              visitor: Visitor,
              headers: HeaderMap,
              Path((id, slug)): Path<(String, String)>,
              Form(form): Form<HashMap<String, String>>| async move {
            subject
                .act(&console, &visitor, &headers, &id, &slug, &form)
                .await
        },
    )
}

fn forbidden(visitor: &Visitor, a: &Action) -> Response {
    let scope = billrun_api::access::scope_of(&Method::POST, a.route);
    problem(
        visitor,
        &crate::ApiProblem {
            status: StatusCode::FORBIDDEN,
            message: format!("{} needs the scope {}.", a.label, scope.as_str()),
            field: None,
        },
    )
}
