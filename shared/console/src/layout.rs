//! The page shell every console page shares: landmarks, navigation, the signed-in
//! caller with sign-out, and the error page of an API refusal.

use crate::session::Visitor;
use crate::ApiProblem;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

/// Plain, high-contrast styles: status is always written as text (colour only adds to
/// it), focus is always visible, and wide tables scroll inside their region so the page
/// reflows at 200% zoom.
const STYLE: &str = r#"
:root { font-family: system-ui, sans-serif; line-height: 1.5; color: #1a1a1a; background: #fff; }
body { margin: 0; }
a { color: #0b4f9c; }
a:focus, button:focus, input:focus, select:focus, textarea:focus, summary:focus, iframe:focus { outline: 3px solid #b35c00; outline-offset: 2px; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: 1rem; background: #fff; padding: .5rem; }
header { background: #10253f; color: #fff; padding: .5rem 1rem; display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; justify-content: space-between; }
header a { color: #fff; }
header nav ul { list-style: none; display: flex; flex-wrap: wrap; gap: 1rem; margin: 0; padding: 0; }
header form { display: inline; }
main { padding: 1rem; max-width: 80rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
th, td { border: 1px solid #8a8a8a; padding: .25rem .5rem; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.status { font-weight: 600; border: 1px solid currentColor; border-radius: .25rem; padding: 0 .3rem; }
.status-Failed, .status-CompletedWithErrors, .status-Canceled { color: #8b0000; }
.status-Posted, .status-Completed { color: #14532d; }
.error { color: #8b0000; font-weight: 600; }
.notice { border: 2px solid #10253f; padding: .5rem 1rem; }
button, .button { font: inherit; padding: .3rem .8rem; border: 2px solid #10253f; background: #10253f; color: #fff; border-radius: .25rem; cursor: pointer; text-decoration: none; display: inline-block; }
button.secondary, .button.secondary { background: #fff; color: #10253f; }
button[disabled] { background: #e8e8e8; color: #444; border-color: #777; cursor: not-allowed; }
.actions { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; }
.actions li { max-width: 22rem; }
.field { margin: .5rem 0 1rem; }
.field label { display: block; font-weight: 600; }
.field .hint, .field .error { display: block; }
.field .hint { color: #444; }
.field input[aria-invalid=true], .field textarea[aria-invalid=true] { border: 2px solid #8b0000; }
.field textarea { width: 100%; max-width: 60rem; font-family: ui-monospace, monospace; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dl.summary dt { font-weight: 600; }
dl.summary dd { margin: 0; }
progress { width: 12rem; max-width: 100%; }
iframe.pdf { width: 100%; height: 40rem; border: 1px solid #8a8a8a; }
"#;

fn head(title: &str, script: bool) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · billrun console" }
            style { (maud::PreEscaped(STYLE)) }
            @if script {
                script src="/console/assets/htmx.min.js" defer {}
                script src="/console/assets/time-zone.js" {}
            }
        }
    }
}

/// A whole page for `visitor`.
pub fn page(visitor: &Visitor, title: &str, body: Markup) -> Response {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                (head(title, true))
                body {
                    a class="skip" href="#main" { "Skip to content" }
                    header {
                        nav aria-label="Console" {
                            ul {
                                li { a href="/console/runs" { "Runs" } }
                                @if visitor.may(&axum::http::Method::POST, "/v1/invoice-runs") {
                                    li { a href="/console/runs/new" { "New run" } }
                                }
                                li { a href="/console/schedules" { "Schedules" } }
                                li { a href="/console/invoice-schedules" { "Invoice schedules" } }
                                li { a href="/console/templates" { "Templates" } }
                                li { a href="/console/webhooks" { "Webhooks" } }
                                li { a href="/console/aging" { "Aging" } }
                                li { a href="/console/audit" { "Audit trail" } }
                            }
                        }
                        div {
                            a href="/console/time-zone" data-testid="time-zone" { "Times in " (crate::zone::name()) }
                            " · Signed in as " strong data-testid="who" { (visitor.name) }
                            @if visitor.signed_in {
                                " "
                                form method="post" action="/console/sign-out" {
                                    input type="hidden" name="csrf" value=(visitor.csrf);
                                    button type="submit" class="secondary" { "Sign out" }
                                }
                            }
                        }
                    }
                    main id="main" { (body) }
                }
            }
        }
        .into_string(),
    )
    .into_response()
}

/// A page without navigation (sign-in, refusals before a session exists).
pub fn bare(title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                (head(title, false))
                body { main id="main" { (body) } }
            }
        }
        .into_string(),
    )
}

pub fn sign_in(error: Option<&str>) -> Html<String> {
    bare(
        "Sign in",
        html! {
            h1 { "billrun console" }
            form method="post" action="/console/sign-in" {
                div class="field" {
                    label for="token" { "API token" }
                    span class="hint" id="token-hint" { "The token this server was given for you (serve --tokens)." }
                    @if let Some(e) = error {
                        span class="error" id="token-error" { (e) }
                        input id="token" name="token" type="password" autocomplete="current-password" required
                            aria-invalid="true" aria-describedby="token-hint token-error";
                    } @else {
                        input id="token" name="token" type="password" autocomplete="current-password" required
                            aria-describedby="token-hint";
                    }
                }
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// The API refused what a page needed: its status and its words.
pub fn problem(visitor: &Visitor, problem: &ApiProblem) -> Response {
    let title = match problem.status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::CONFLICT => "Refused in this state",
        _ => "Refused",
    };
    let mut res = page(
        visitor,
        title,
        html! {
            h1 { (title) }
            p class="error" role="alert" { (problem.message) }
            p { a href="/console/runs" { "Back to the runs" } }
        },
    );
    *res.status_mut() = problem.status;
    res
}

/// A run or document status, as text (its colour only repeats it).
pub fn status(s: &str) -> Markup {
    html! { span class={ "status status-" (s) } { (s) } }
}
