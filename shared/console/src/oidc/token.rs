//! The access token the issuer's token endpoint hands the console, checked as API
//! Gateway's JWT authorizer checks the API's: its signature against the issuer's JWKS
//! (RSA: RS256, RS384, RS512), its issuer, its audience (`aud`, or Cognito's
//! `client_id`) and its expiry. Its claims then go through the API's one mapping to a
//! caller ([`billrun_api::access::jwt_principal`]).

use billrun_api::access::{jwt_principal, GroupScopes, Principal};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use std::collections::HashMap;

/// Clock skew allowed on the expiry.
const LEEWAY_SECONDS: u64 = 30;

/// Why a token was refused. The variants name the check, never the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not a JWT, or claims that do not parse.
    Malformed,
    /// Signed with an algorithm other than RSA (`none`, HMAC, …).
    Algorithm,
    /// Its key (`kid`) is not in the issuer's JWKS, even fetched again.
    UnknownKey,
    /// The signature does not verify under the issuer's key.
    Signature,
    /// Another issuer's.
    Issuer,
    /// For another audience or client.
    Audience,
    /// Expired.
    Expired,
}

impl Refused {
    pub fn reason(self) -> &'static str {
        match self {
            Refused::Malformed => "the token is not a well-formed JWT",
            Refused::Algorithm => "the token is not signed with RSA",
            Refused::UnknownKey => "the token is signed with a key the issuer does not publish",
            Refused::Signature => "the token's signature does not verify",
            Refused::Issuer => "the token is from another issuer",
            Refused::Audience => "the token is for another audience",
            Refused::Expired => "the token has expired",
        }
    }
}

/// Who a verified token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The API caller: `sub` and the scopes its claims grant.
    pub principal: Principal,
    /// What the console shows: `username` (Cognito), `preferred_username`, else `sub`.
    pub display: String,
}

/// The key id a token names, to look it up (and to refetch the JWKS once when the
/// issuer has rotated keys since it was read).
pub fn key_id(token: &str) -> Result<Option<String>, Refused> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| Refused::Malformed)?;
    Ok(header.kid)
}

/// Whether `keys` has the key `kid` names.
pub fn has_key(keys: &JwkSet, kid: Option<&str>) -> bool {
    match kid {
        Some(kid) => keys.find(kid).is_some(),
        None => keys.keys.len() == 1,
    }
}

/// Verifies `token` against `keys` and names its holder.
pub fn verify(
    token: &str,
    keys: &JwkSet,
    issuer: &str,
    audiences: &[String],
    groups: &GroupScopes,
) -> Result<Holder, Refused> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| Refused::Malformed)?;
    if !matches!(
        header.alg,
        Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512
    ) {
        return Err(Refused::Algorithm);
    }
    let jwk = match header.kid.as_deref() {
        Some(kid) => keys.find(kid),
        // A JWKS of one key may be used by tokens that name none.
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    }
    .ok_or(Refused::UnknownKey)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| Refused::UnknownKey)?;
    let mut validation = Validation::new(header.alg);
    validation.leeway = LEEWAY_SECONDS;
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    // Checked below: Cognito's access tokens carry `client_id`, not `aud`.
    validation.validate_aud = false;
    let data =
        jsonwebtoken::decode::<HashMap<String, Value>>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::InvalidSignature => Refused::Signature,
                K::ExpiredSignature => Refused::Expired,
                K::InvalidIssuer => Refused::Issuer,
                K::InvalidAlgorithm => Refused::Algorithm,
                _ => Refused::Malformed,
            }
        })?;
    let claims = data.claims;
    if !for_audience(&claims, audiences) {
        return Err(Refused::Audience);
    }
    let flat = as_api_gateway_passes(&claims);
    let principal = jwt_principal(&flat, None, groups);
    if principal.name.is_empty() {
        return Err(Refused::Malformed);
    }
    let display = ["username", "preferred_username"]
        .iter()
        .find_map(|c| flat.get(*c).filter(|v| !v.is_empty()).cloned())
        .unwrap_or_else(|| principal.name.clone());
    Ok(Holder { principal, display })
}

/// The token is for one of `audiences`: its `aud` (one or a list), or its `client_id`.
fn for_audience(claims: &HashMap<String, Value>, audiences: &[String]) -> bool {
    let named = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        }
    };
    named(claims.get("aud"))
        .into_iter()
        .chain(named(claims.get("client_id")))
        .any(|a| audiences.contains(&a))
}

/// The claims as text, the way API Gateway's JWT authorizer hands them to the API
/// (a list flattened to `[a b]`), so that the API's mapping reads them the same way.
fn as_api_gateway_passes(claims: &HashMap<String, Value>) -> HashMap<String, String> {
    claims
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Array(items) => {
                    let parts: Vec<String> = items
                        .iter()
                        .map(|i| match i {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect();
                    format!("[{}]", parts.join(" "))
                }
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_audience_is_aud_or_cognitos_client_id() {
        let aud = vec!["billrun".to_string(), "console-client".to_string()];
        let c = |v: Value| serde_json::from_value::<HashMap<String, Value>>(v).unwrap();
        assert!(for_audience(&c(json!({"aud": "billrun"})), &aud));
        assert!(for_audience(&c(json!({"aud": ["x", "billrun"]})), &aud));
        assert!(for_audience(
            &c(json!({"client_id": "console-client"})),
            &aud
        ));
        assert!(!for_audience(&c(json!({"aud": "other"})), &aud));
        assert!(!for_audience(&c(json!({"client_id": "other"})), &aud));
        assert!(!for_audience(&c(json!({})), &aud));
    }

    #[test]
    fn a_list_claim_is_flattened_as_api_gateway_flattens_it() {
        let c: HashMap<String, Value> = serde_json::from_value(
            json!({"cognito:groups": ["finance", "auditors"], "exp": 17, "sub": "u-1"}),
        )
        .unwrap();
        let flat = as_api_gateway_passes(&c);
        assert_eq!(flat["cognito:groups"], "[finance auditors]");
        assert_eq!(flat["exp"], "17");
        assert_eq!(flat["sub"], "u-1");
    }
}
