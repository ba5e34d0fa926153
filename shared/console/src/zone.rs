//! The visitor's time zone, in which the console shows times ([`crate::fmt::instant`]).
//!
//! A cookie, `billrun_tz`, names it (an IANA name). The console's own small script sets
//! it from the browser's zone (`Intl.DateTimeFormat().resolvedOptions().timeZone`) on
//! the first page it loads, and `/console/time-zone` changes it by a form; without
//! the cookie (no JavaScript), or with a name the tzdb does not have, times are in UTC.
//! The zone is set for the rendering of each request (a task-local), so the one
//! formatter needs no argument.

use crate::fields::{field, text, Field};
use crate::layout::page;
use crate::session::{check_change, Visitor};
use crate::Console;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use billrun_domain::zone::Zone;
use maud::html;
use std::collections::HashMap;

const COOKIE: &str = "billrun_tz";

tokio::task_local! {
    static ZONE: Zone;
}

/// The zone the current request renders in; `None`: UTC (no zone chosen, or outside a
/// request).
pub fn current() -> Option<Zone> {
    ZONE.try_with(|z| *z).ok()
}

/// The name of [`current`].
pub fn name() -> &'static str {
    current().map_or("UTC", Zone::name)
}

/// The zone a request's cookie names, if the tzdb has it.
fn of_request(headers: &HeaderMap) -> Option<Zone> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .and_then(|(_, v)| Zone::named(&v.replace("%2F", "/")))
}

/// Renders the request in its visitor's zone.
pub async fn in_visitors_zone(req: Request, next: Next) -> Response {
    match of_request(req.headers()) {
        Some(z) => ZONE.scope(z, next.run(req)).await,
        None => next.run(req).await,
    }
}

/// The script that tells the console the browser's zone once: it sets the cookie when
/// there is none and reloads the page to show it (once: the cookie is then there, and
/// when cookies are refused it does not reload).
pub const SCRIPT: &str = r#"(function () {
  var has = function () { return /(^|;\s*)billrun_tz=/.test(document.cookie); };
  if (has()) return;
  var tz;
  try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!tz || !/^[A-Za-z0-9_+\-\/]+$/.test(tz)) return;
  document.cookie = "billrun_tz=" + tz + "; Path=/console; Max-Age=31536000; SameSite=Lax";
  if (tz !== "UTC" && has()) location.reload();
})();
"#;

pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SCRIPT,
    )
}

fn form(visitor: &Visitor, value: &str, error: Option<&str>, saved: bool) -> Response {
    let mut res = page(
        visitor,
        "Time zone",
        html! {
            h1 { "Time zone" }
            @if saved { p class="notice" role="status" { "Times are now shown in " (name()) "." } }
            p { "The console shows times in " strong data-testid="zone" { (name()) } ", with the exact instant in UTC when you hover over them. "
                "Your browser's zone is used unless you choose another here; without JavaScript, times are in UTC." }
            form method="post" action="/console/time-zone" novalidate {
                input type="hidden" name="csrf" value=(visitor.csrf);
                (field(&Field { suggestions: Some("zones"), ..text("zone", "Time zone", "An IANA name, such as America/New_York, Europe/Berlin or UTC.") }, value, error))
                datalist id="zones" { @for z in Zone::all() { option value=(z) {} } }
                button type="submit" { "Save" }
            }
        },
    );
    if error.is_some() {
        *res.status_mut() = StatusCode::BAD_REQUEST;
    }
    res
}

pub async fn page_of(visitor: Visitor, Query(q): Query<HashMap<String, String>>) -> Response {
    form(&visitor, name(), None, q.contains_key("saved"))
}

/// Saves the chosen zone in the cookie.
pub async fn save(
    State(console): State<Console>,
    visitor: Visitor,
    headers: HeaderMap,
    Form(values): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = check_change(&console, &visitor, &headers, &values) {
        return r.into_response();
    }
    let raw = values.get("zone").map_or("", |z| z.trim());
    let Some(zone) = Zone::named(raw) else {
        return form(
            &visitor,
            raw,
            Some("is not a time zone of the tzdb (names are case-sensitive: Europe/Berlin)"),
            false,
        );
    };
    let secure = if console.secure { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE}={}; Path=/console; Max-Age=31536000; SameSite=Lax{secure}",
        zone.name()
    );
    let mut res = Redirect::to("/console/time-zone?saved").into_response();
    if let Ok(v) = cookie.parse() {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_names_a_zone_of_the_tzdb_or_none() {
        let headers = |c: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::COOKIE, c.parse().unwrap());
            h
        };
        let name = |c: &str| of_request(&headers(c)).map(Zone::name);
        assert_eq!(
            name("a=1; billrun_tz=America/New_York"),
            Some("America/New_York")
        );
        assert_eq!(name("billrun_tz=Europe%2FBerlin"), Some("Europe/Berlin"));
        assert_eq!(name("billrun_tz=Mars/Base"), None);
        assert_eq!(name("billrun_tz=america/new_york"), None);
        assert_eq!(name("other=1"), None);
        assert_eq!(super::name(), "UTC", "outside a request: UTC");
    }
}
