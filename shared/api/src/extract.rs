//! Request extractors that fail with an [`ApiError`]: a JSON body (415 for another
//! content type, 413 over the body limit), query parameters (400 naming the parameter,
//! unknown ones included), opaque cursors.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;

/// Whether the request says its body is JSON (`application/json`, or any `+json` type
/// such as `application/merge-patch+json`).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        let status = rejection.status();
        // `$` is the field path of the body as a whole.
        let mut e = if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                "payload_too_large",
                "the request body is larger than this route accepts",
            )
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "validation_failed",
                format!("cannot read the request body: {rejection}"),
            )
        };
        e.field = Some("$".into());
        e
    })
}

/// 415, naming the header at fault.
fn unsupported_media_type(message: &str) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        message,
    );
    e.field = Some("Content-Type".into());
    e
}

/// A JSON request body, not yet parsed (the use cases parse it, reporting field paths).
pub struct JsonBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(unsupported_media_type(
                "the request body must be JSON (Content-Type: application/json)",
            ));
        }
        Ok(JsonBody(body_bytes(req, state).await?))
    }
}

/// An optional JSON body: empty is allowed without a content type.
pub struct OptionalJsonBody(pub Option<Bytes>);

impl<S: Send + Sync> FromRequest<S> for OptionalJsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = is_json(req.headers());
        let has_type = req.headers().contains_key(CONTENT_TYPE);
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(None));
        }
        if !json {
            return Err(unsupported_media_type(if has_type {
                "the request body must be JSON (Content-Type: application/json)"
            } else {
                "a request body needs Content-Type: application/json"
            }));
        }
        Ok(OptionalJsonBody(Some(bytes)))
    }
}

/// Query parameters by name. Each route names the parameters it knows
/// ([`Params::only`]); any other one is a 400.
pub struct Params(pub BTreeMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or_default();
        let pairs: Vec<(String, String)> = axum::extract::Query::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(v)| v)
            .map_err(|_| ApiError::invalid("$query", format!("cannot parse the query '{q}'")))?;
        let mut map = BTreeMap::new();
        for (k, v) in pairs {
            if map.insert(k.clone(), v).is_some() {
                let field = if k.is_empty() {
                    "$query".to_string()
                } else {
                    k
                };
                return Err(ApiError::invalid(field, "is given more than once"));
            }
        }
        Ok(Params(map))
    }
}

/// Default and largest page size of list routes.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

impl Params {
    /// Refuses parameters other than `known`.
    pub fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        match self.0.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(ApiError::invalid(
                if k.is_empty() {
                    "$query".into()
                } else {
                    k.clone()
                },
                format!("unknown query parameter; known: {}", known.join(", ")),
            )),
            None => Ok(()),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A parameter parsed with `parse`, its error message naming the parameter. Given
    /// empty (`limit=`), it is parsed too: an empty number, date or status is an error.
    pub fn parse<T>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ApiError> {
        self.0
            .get(name)
            .map(|v| parse(v).map_err(|m| ApiError::invalid(name, m)))
            .transpose()
    }

    /// `limit`: default 100, 1 to 1000.
    pub fn limit(&self) -> Result<usize, ApiError> {
        Ok(self
            .parse("limit", |v| match v.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                _ => Err(format!("must be an integer from 1 to {MAX_LIMIT}")),
            })?
            .unwrap_or(DEFAULT_LIMIT))
    }

    /// `cursor`: an opaque position from a previous page's `nextCursor`.
    /// `cursor=` (empty) is the first page.
    pub fn cursor<T: DeserializeOwned>(&self) -> Result<Option<T>, ApiError> {
        self.get("cursor")
            .map(|v| {
                decode_cursor(v).ok_or_else(|| {
                    ApiError::invalid("cursor", "is not a cursor this list returned")
                })
            })
            .transpose()
    }
}

/// An opaque cursor: base64url of the position's JSON.
pub fn encode_cursor<T: Serialize>(position: &T) -> Option<String> {
    serde_json::to_vec(position)
        .ok()
        .map(|b| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

pub fn decode_cursor<T: DeserializeOwned>(cursor: &str) -> Option<T> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A page of a list: `nextCursor` is set when the page is full.
pub fn next_cursor<T, P: Serialize>(
    items: &[T],
    limit: usize,
    position: impl Fn(&T) -> P,
) -> Option<String> {
    if items.len() < limit {
        return None;
    }
    items.last().map(position).and_then(|p| encode_cursor(&p))
}

/// A path id parsed into its type; a malformed one is a 400 naming `field`.
pub fn path_id<T>(
    field: &str,
    raw: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, ApiError> {
    parse(raw).map_err(|m| ApiError::invalid(field, m))
}

/// A path segment that must be a UUID-based id (`id` in the error when it is not).
pub fn uuid_id<T: std::str::FromStr>(raw: &str) -> Result<T, ApiError> {
    path_id("id", raw, |s| {
        s.parse().map_err(|_| "must be a UUID".to_string())
    })
}

/// An instant query parameter: RFC 3339, or a date (midnight UTC).
pub fn parse_instant(v: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f") {
        return Ok(t.and_utc());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    Err("must be an RFC 3339 instant (2024-02-01T06:00:00Z) or a date".into())
}

/// A path parameter (`/v1/accounts/{id}`): axum's `Path`, its rejection (an id that is
/// not valid UTF-8 once percent-decoded) a 400 naming the parameter instead of
/// axum's plain-text body.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|rejection| {
                ApiError::invalid("id", format!("is not a valid path parameter: {rejection}"))
            })
    }
}
