//! The vendored script: htmx (0BSD, `assets/htmx.LICENSE`), from the npm package
//! `htmx.org`, served from the binary. Its URL does not change between builds of one
//! version, and a new version is a new file name, so it is cached for a year.

use axum::http::header;
use axum::response::IntoResponse;

/// htmx 2.0.4, `dist/htmx.min.js` of the npm package as published.
const HTMX: &str = include_str!("../assets/htmx.min.js");

pub async fn htmx() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        HTMX,
    )
}
