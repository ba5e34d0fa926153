//! `serve --oidc-issuer`: the console signs visitors in at an OpenID Connect issuer (a
//! company's identity provider) with the authorization-code flow and PKCE, the code the
//! console runs on AWS ([`billrun_console::oidc`]), its access token's claims mapped to
//! scopes as the API maps a JWT's ([`billrun_api::access::jwt_principal`]). The API's
//! bearer side keeps serve's tokens.

use billrun_api::access::GroupScopes;
use billrun_console::oidc::{fetch, IssuerConfig};

/// The scopes asked for when `--oidc-scope` is not given (as `ConsoleScope` on AWS).
const DEFAULT_SCOPE: &str = "openid";

/// The `--oidc-*` flags as given.
#[derive(Debug, Clone, Default)]
pub struct OidcFlags {
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    /// Comma-separated; the client id when not given.
    pub audience: Option<String>,
    pub scope: Option<String>,
    /// `group=scope scope;group=scope`, as `GroupScopes` on AWS.
    pub group_scopes: Option<String>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl OidcFlags {
    /// The issuer the console trusts, `None` without `--oidc-issuer`; an error naming
    /// the flag when the flags do not make one.
    pub fn config(&self) -> Result<Option<IssuerConfig>, String> {
        let Some(issuer) = given(&self.issuer) else {
            let stray = [
                ("--oidc-client-id", &self.client_id),
                ("--oidc-audience", &self.audience),
                ("--oidc-scope", &self.scope),
                ("--oidc-group-scopes", &self.group_scopes),
            ]
            .into_iter()
            .find(|(_, v)| given(v).is_some());
            return match stray {
                Some((flag, _)) => Err(format!("{flag} needs --oidc-issuer")),
                None => Ok(None),
            };
        };
        // Checked now, not at the first sign-in: the console fetches only over HTTPS
        // (or plain HTTP to this machine).
        fetch::checked(issuer).map_err(|e| format!("--oidc-issuer {e}"))?;
        let client_id = given(&self.client_id)
            .ok_or("--oidc-issuer needs --oidc-client-id: the console's client at the issuer")?
            .to_string();
        let audiences: Vec<String> = match given(&self.audience) {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect(),
            None => vec![client_id.clone()],
        };
        let groups = match given(&self.group_scopes) {
            Some(text) => {
                GroupScopes::parse(text).map_err(|e| format!("--oidc-group-scopes: {e}"))?
            }
            None => GroupScopes::default(),
        };
        Ok(Some(IssuerConfig {
            issuer: issuer.to_string(),
            client_id,
            audiences,
            scope: given(&self.scope).unwrap_or(DEFAULT_SCOPE).to_string(),
            groups,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(issuer: &str, client_id: &str) -> OidcFlags {
        OidcFlags {
            issuer: Some(issuer.into()),
            client_id: Some(client_id.into()),
            ..OidcFlags::default()
        }
    }

    #[test]
    fn the_audience_defaults_to_the_client_and_the_scope_to_openid() {
        let c = flags("https://idp.example/realms/acme", "billrun")
            .config()
            .unwrap()
            .unwrap();
        assert_eq!(c.issuer, "https://idp.example/realms/acme");
        assert_eq!(c.audiences, vec!["billrun".to_string()]);
        assert_eq!(c.scope, "openid");
        let c = OidcFlags {
            audience: Some("urn:billrun, api".into()),
            scope: Some("openid billing:read".into()),
            group_scopes: Some("finance=billing:read billing:post".into()),
            ..flags("http://127.0.0.1:4000", "billrun")
        }
        .config()
        .unwrap()
        .unwrap();
        assert_eq!(
            c.audiences,
            vec!["urn:billrun".to_string(), "api".to_string()]
        );
        assert_eq!(c.scope, "openid billing:read");
        assert_eq!(
            c.groups,
            GroupScopes::parse("finance=billing:read billing:post").unwrap()
        );
    }

    #[test]
    fn flags_that_make_no_issuer_are_refused_by_name() {
        assert!(OidcFlags::default().config().unwrap().is_none());
        let err = |f: OidcFlags| f.config().unwrap_err();
        assert!(err(flags("http://idp.example", "billrun")).contains("--oidc-issuer"));
        assert!(err(flags("https://idp.example", " ")).contains("--oidc-client-id"));
        assert!(err(OidcFlags {
            scope: Some("openid".into()),
            ..OidcFlags::default()
        })
        .starts_with("--oidc-scope needs --oidc-issuer"));
        assert!(err(OidcFlags {
            group_scopes: Some("finance=billing:everything".into()),
            ..flags("https://idp.example", "billrun")
        })
        .starts_with("--oidc-group-scopes"));
    }
}
