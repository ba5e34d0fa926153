//! Create or edit a document template: its name and its content (the template JSON,
//! the logo included as its `logoPngBase64`) as a form, saved with `PUT
//! /v1/document-templates/{id}`. The renderer's check is the API's: an error inside the
//! content names it `content.<path>`, shown at the content field with that path. The
//! form shows everything the `PUT` takes, so an edit's POST needs nothing read again
//! (on AWS a form's POST reaches only the API's writes). Templates have no version:
//! an edit replaces a change made since its form was read (docs/decisions.md).

use crate::fields::{field, text, textarea, Field};
use crate::layout::page;
use crate::put_form::{new_id, notice, Resource, Saved};
use crate::session::{check_change, Visitor};
use crate::{ApiProblem, Console, Id};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use serde_json::{json, Value};
use std::collections::HashMap;

pub static TEMPLATE: Resource = Resource {
    route: "/v1/document-templates/{id}",
    what: "a document template",
};

const ID: Field<'static> = text(
    "id",
    "Template id",
    "Letters, digits, - and _: how the API and the audit trail name it.",
);
const NAME: Field<'static> = text("name", "Name", "How the template is listed.");
const CONTENT: Field<'static> = text(
    "content",
    "Content",
    "The template as JSON (shared/documents/src/template.rs): company, address, locale, colours; the logo as logoPngBase64, a PNG in base64.",
);

/// Where the form shows an error about `field`, and how: the content's inner paths
/// (`content.locale`) at the content field, prefixed with the path.
fn shown_at(e: &ApiProblem, name: &str) -> Option<String> {
    let f = e.field.as_deref()?;
    if f == name {
        return Some(e.message.clone());
    }
    let inner = f.strip_prefix("content.").filter(|_| name == "content")?;
    Some(format!("{inner}: {}", e.message))
}

/// The form: `id` is `None` for a new template (its id is a field).
fn form(
    visitor: &Visitor,
    id: Option<&str>,
    values: &HashMap<String, String>,
    error: Option<&ApiProblem>,
) -> Response {
    let value = |k: &str| values.get(k).map_or("", String::as_str);
    let at = |k: &str| error.and_then(|e| shown_at(e, k));
    let shown = |f: &str| f == "id" || f == "name" || f == "content" || f.starts_with("content.");
    let (title, action, back) = match id {
        None => (
            "New document template".to_string(),
            "/console/templates".to_string(),
            "/console/templates".to_string(),
        ),
        Some(id) => (
            format!("Edit template {id}"),
            format!("/console/templates/{id}/edit"),
            format!("/console/templates/{id}"),
        ),
    };
    let mut res = page(
        visitor,
        &title,
        html! {
            h1 { (title) }
            (notice(error, shown, "template"))
            form method="post" action=(action) novalidate {
                input type="hidden" name="csrf" value=(visitor.csrf);
                @if id.is_none() { (field(&ID, value("id"), at("id").as_deref())) }
                (field(&NAME, value("name"), at("name").as_deref()))
                (textarea(&CONTENT, value("content"), at("content").as_deref(), 18))
                button type="submit" { "Save template" }
                " " a class="button secondary" href=(back) { "Back" }
            }
        },
    );
    if let Some(e) = error {
        *res.status_mut() = e.status;
    }
    res
}

/// The form's values of a stored template: its content pretty-printed to edit.
fn values_of(t: &Value) -> HashMap<String, String> {
    let text = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let raw = text("content");
    let content = serde_json::from_str::<Value>(&raw)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or(raw);
    HashMap::from([("name".into(), text("name")), ("content".into(), content)])
}

/// The `PUT`'s body: the content as the text typed (the API reads it as JSON and
/// names what is wrong in it).
fn request_of(values: &HashMap<String, String>) -> Value {
    let get = |k: &str| values.get(k).map_or("", String::as_str);
    json!({ "name": get("name").trim(), "content": get("content") })
}

pub async fn new(visitor: Visitor) -> Response {
    if let Some(r) = TEMPLATE.forbidden(&visitor) {
        return r;
    }
    let values = HashMap::from([(
        "content".to_string(),
        "{\n  \"companyName\": \"\"\n}".to_string(),
    )]);
    form(&visitor, None, &values, None)
}

pub async fn edit(State(console): State<Console>, visitor: Visitor, Id(id): Id) -> Response {
    if let Some(r) = TEMPLATE.forbidden(&visitor) {
        return r;
    }
    match console
        .get(&visitor, &format!("/v1/document-templates/{id}"))
        .await
    {
        Ok(t) => form(&visitor, Some(&id), &values_of(&t), None),
        Err(r) => r,
    }
}

async fn save(
    console: &Console,
    visitor: &Visitor,
    id: &str,
    new: bool,
    values: &HashMap<String, String>,
) -> Response {
    match TEMPLATE
        .save(console, visitor, id, new, request_of(values))
        .await
    {
        Saved::Done => Redirect::to(&format!("/console/templates/{id}")).into_response(),
        Saved::AtForm(e) => form(visitor, (!new).then_some(id), values, Some(&e)),
        Saved::Page(r) => r,
    }
}

pub async fn create(
    State(console): State<Console>,
    visitor: Visitor,
    headers: HeaderMap,
    Form(values): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = check_change(&console, &visitor, &headers, &values) {
        return r.into_response();
    }
    match new_id(values.get("id").map_or("", String::as_str)) {
        Ok(id) => save(&console, &visitor, id, true, &values).await,
        Err(e) => form(&visitor, None, &values, Some(&e)),
    }
}

pub async fn update(
    State(console): State<Console>,
    visitor: Visitor,
    headers: HeaderMap,
    Id(id): Id,
    Form(values): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = check_change(&console, &visitor, &headers, &values) {
        return r.into_response();
    }
    save(&console, &visitor, &id, false, &values).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn an_error_inside_the_content_is_shown_at_the_content_with_its_path() {
        let e = ApiProblem {
            status: StatusCode::BAD_REQUEST,
            message: "unknown locale".into(),
            field: Some("content.locale".into()),
        };
        assert_eq!(
            shown_at(&e, "content").as_deref(),
            Some("locale: unknown locale")
        );
        assert_eq!(shown_at(&e, "name"), None);
        let taken = ApiProblem {
            field: Some("id".into()),
            ..e
        };
        assert_eq!(shown_at(&taken, "id").as_deref(), Some("unknown locale"));
    }

    #[test]
    fn a_stored_template_fills_the_form_and_the_request_sends_the_content_as_typed() {
        let t = json!({"id": "T-1", "name": "Plain", "content": "{\"companyName\":\"Acme\"}"});
        let v = values_of(&t);
        assert_eq!(v["name"], "Plain");
        assert_eq!(v["content"], "{\n  \"companyName\": \"Acme\"\n}");
        let typed = HashMap::from([
            ("name".to_string(), " Plain ".to_string()),
            ("content".to_string(), "{not json".to_string()),
            ("csrf".to_string(), "x".to_string()),
        ]);
        assert_eq!(
            request_of(&typed),
            json!({"name": "Plain", "content": "{not json"})
        );
    }
}
