//! Document templates (`GET /v1/document-templates`, a page at a time by its cursor):
//! which one is active, and a template's page with its fields as the API returns them,
//! its logo, the sample invoice rendered with it (or that it is being rendered, with
//! Render sample to queue it again), its audit trail and its Activate.

use crate::actions::{Action, Subject};
use crate::audit::audit_table;
use crate::fmt::{instant, text};
use crate::layout::{page as render, status};
use crate::lists::items;
use crate::session::Visitor;
use crate::{cursor_arg, enc, segment, Console, Id};
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::Response;
use maud::{html, Markup};
use serde_json::Value;
use std::collections::HashMap;

/// Templates a page lists.
const PAGE: usize = 25;

fn active(t: &Value) -> bool {
    t.get("active").and_then(Value::as_bool).unwrap_or(false)
}

fn state(t: &Value) -> Markup {
    status(if active(t) { "Active" } else { "Inactive" })
}

pub const ACTIONS: [Action; 2] = [
    Action {
        slug: "activate",
        label: "Activate",
        route: "/v1/document-templates/{id}/activate",
        allowed: |t| {
            if active(t) {
                Err("This template is the active one already.".into())
            } else {
                Ok(())
            }
        },
        consequence: |t| {
            format!(
            "Activating makes template {} (“{}”) the one every PDF requested from now on is rendered with; the template active until now is no longer used. PDFs already generated, and requests already made, keep the template they were made with.",
            text(t, "id"),
            text(t, "name")
        )
        },
        follow: None,
    },
    Action {
        slug: "render-sample",
        label: "Render sample",
        route: "/v1/document-templates/{id}/sample",
        // Always: rendering the same content again stores nothing new.
        allowed: |_| Ok(()),
        consequence: |t| {
            format!(
            "Rendering queues the sample PDF of template {} (“{}”) as its content reads now, for the documents worker; this page shows it once rendered. A sample already rendered from this content stays as it is. No customer's data is used.",
            text(t, "id"),
            text(t, "name")
        )
        },
        follow: None,
    },
];

/// Document templates, as the console acts on them.
pub static TEMPLATE: Subject = Subject {
    read: "/v1/document-templates/{id}",
    page: "/console/templates/{id}",
    name: |t| format!("template {}", text(t, "id")),
    actions: &ACTIONS,
};

pub async fn list(
    State(console): State<Console>,
    visitor: Visitor,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let uri = format!(
        "/v1/document-templates?limit={PAGE}{}",
        cursor_arg(q.get("cursor"))
    );
    let answer = match console.get(&visitor, &uri).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let templates = items(&answer);
    render(
        &visitor,
        "Templates",
        html! {
            h1 { "Document templates" }
            @if crate::template_form::TEMPLATE.offered(&visitor) {
                p { a class="button" href="/console/templates/new" { "New template" } }
            }
            @if templates.is_empty() { p { "No document templates." } } @else {
                div class="scroll" role="region" aria-label="Document templates" tabindex="0" {
                    table data-testid="templates" {
                        caption { "Templates in id order" }
                        thead { tr {
                            th scope="col" { "Template" } th scope="col" { "Name" }
                            th scope="col" { "State" } th scope="col" { "Updated" }
                        } }
                        tbody { @for t in &templates { tr {
                            th scope="row" {
                                @if let Some(id) = segment(text(t, "id")) {
                                    a href={ "/console/templates/" (id) } { (id) }
                                } @else { (text(t, "id")) }
                            }
                            td { (text(t, "name")) }
                            td data-testid="template-state" { (state(t)) }
                            td { (instant(text(t, "updatedAt"))) }
                        } } }
                    }
                }
            }
            @if let Some(c) = answer.get("nextCursor").and_then(Value::as_str) {
                p { a href={ "/console/templates?cursor=" (enc(c)) } rel="next" { "Next templates" } }
            }
        },
    )
}

/// A field's name as a heading: `postalCode` → "Postal code".
fn label(key: &str) -> String {
    let mut out = String::new();
    for (i, c) in key.chars().enumerate() {
        if i == 0 {
            out.extend(c.to_uppercase());
        } else if c.is_uppercase()
            || (c.is_ascii_digit() && !out.ends_with(|p: char| p.is_ascii_digit()))
        {
            out.push(' ');
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The logo field, shown as the image it is rather than as its base64.
const LOGO: &str = "logoPngBase64";

/// The content's fields as the API returns them, nested objects as nested lists.
fn fields(content: &Value) -> Markup {
    html! {
        @if let Some(map) = content.as_object() {
            dl class="summary" {
                @for (k, v) in map.iter().filter(|(k, _)| k.as_str() != LOGO) {
                    dt { (label(k)) }
                    dd {
                        @match v {
                            Value::String(s) => (s),
                            Value::Object(_) => (fields(v)),
                            other => (other.to_string()),
                        }
                    }
                }
            }
        } @else {
            p class="error" { "The template's content is not a JSON object." }
        }
    }
}

/// The logo as an image: a data URL of the template's own PNG, when its text is
/// base64 and nothing else.
fn logo(content: &Value) -> Option<String> {
    let b64 = content.get(LOGO)?.as_str()?;
    let plain = !b64.is_empty()
        && b64
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
    plain.then(|| format!("data:image/png;base64,{b64}"))
}

async fn page_of(console: &Console, visitor: &Visitor, id: &str) -> Result<Response, Response> {
    let t = console
        .get(visitor, &format!("/v1/document-templates/{id}"))
        .await?;
    let trail = console
        .get(
            visitor,
            &format!("/v1/audit-events?resource={id}&limit=100"),
        )
        .await?;
    let entries = items(&trail);
    // The API keeps the content as the JSON text it was put as.
    let content: Value = serde_json::from_str(text(&t, "content")).unwrap_or(Value::Null);
    let company = text(&content, "companyName");
    let sample = sample_section(console, visitor, id).await?;
    Ok(render(
        visitor,
        &format!("Template {id}"),
        html! {
            h1 { "Template " (id) }
            dl class="summary" {
                dt { "Name" } dd { (text(&t, "name")) }
                dt { "State" } dd data-testid="template-state" { (state(&t)) }
                dt { "Updated" } dd { (instant(text(&t, "updatedAt"))) }
            }
            @if crate::template_form::TEMPLATE.offered(visitor) {
                p { a class="button secondary" href={ "/console/templates/" (id) "/edit" } { "Edit template " (id) } }
            }
            (TEMPLATE.section(visitor, id, &t))
            section aria-labelledby="fields-h" {
                h2 id="fields-h" { "Fields" }
                div data-testid="template-fields" { (fields(&content)) }
            }
            section aria-labelledby="logo-h" {
                h2 id="logo-h" { "Logo" }
                @if let Some(src) = logo(&content) {
                    img data-testid="logo" src=(src) alt={ "Logo of " (company) } style="max-width: 12rem; max-height: 8rem;";
                } @else {
                    p { "No logo." }
                }
            }
            (sample)
            (audit_table("Audit trail", &entries))
        },
    ))
}

/// The sample PDF when the documents worker has rendered it from the template's current
/// content; until then, that it is being rendered (409 `sample_pending`).
async fn sample_section(
    console: &Console,
    visitor: &Visitor,
    id: &str,
) -> Result<Markup, Response> {
    let uri = format!("/v1/document-templates/{id}/sample");
    let (status, _, bytes) = console
        .call(visitor.principal(), Method::GET, &uri, None)
        .await?;
    let answer = crate::Answer {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    };
    Ok(html! {
        section aria-labelledby="pdf-h" {
            h2 id="pdf-h" { "Sample PDF" }
            @if status.is_success() {
                p { "A fixed sample invoice rendered with this template: example data, no customer's. "
                    a href={ "/console/templates/" (id) "/sample" } { "Open the sample PDF of template " (id) } }
                iframe class="pdf" title={ "Sample PDF of template " (id) } src={ "/console/templates/" (id) "/sample" } {}
            } @else if answer.body.get("code").and_then(Value::as_str) == Some("sample_pending") {
                p class="notice" data-testid="sample-pending" {
                    "The sample of this template's current content is being rendered. "
                    a href={ "/console/templates/" (id) } { "Reload this page" }
                    " in a moment to see it. (A template put before samples were rendered when put has none until Render sample asks for it.)"
                }
            } @else {
                p class="error" { (answer.error().message) }
            }
        }
    })
}

pub async fn page(State(console): State<Console>, visitor: Visitor, Id(id): Id) -> Response {
    match page_of(&console, &visitor, &id).await {
        Ok(r) | Err(r) => r,
    }
}

/// The sample PDF, as `GET /v1/document-templates/{id}/sample` answers it.
pub async fn sample(State(console): State<Console>, visitor: Visitor, Id(id): Id) -> Response {
    let uri = format!("/v1/document-templates/{id}/sample");
    crate::invoice::pdf_answer(&console, &visitor, &uri).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_are_labelled_in_words_and_the_logo_is_an_image_only_when_it_is_base64() {
        assert_eq!(label("postalCode"), "Postal code");
        assert_eq!(label("companyName"), "Company name");
        assert_eq!(label("line1"), "Line 1");
        let html = fields(
            &json!({"companyName": "<b>Acme</b>", "address": {"city": "Paris"},
            "logoPngBase64": "iVBORw0KGgo="}),
        )
        .into_string();
        assert!(html.contains("&lt;b&gt;Acme&lt;/b&gt;"), "{html}");
        assert!(html.contains("Paris") && !html.contains("iVBOR"), "{html}");
        assert_eq!(
            logo(&json!({"logoPngBase64": "iVBORw0KGgo="})).as_deref(),
            Some("data:image/png;base64,iVBORw0KGgo=")
        );
        assert_eq!(logo(&json!({"logoPngBase64": "x\" onerror=\"1"})), None);
        assert_eq!(logo(&json!({})), None);
    }
}
