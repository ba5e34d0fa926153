//! The operator console on AWS: served by the two API functions, each over its own half
//! of the API router (API Gateway routes the console's GETs to `api-queries` and its
//! POSTs to `api-commands`, without the JWT authorizer: the console checks its own
//! session cookie). Visitors sign in through the API's JWT issuer; the sessions are
//! signed with a key both functions read from Secrets Manager at their start, so that a
//! session one makes the other accepts.

use billrun_api::access::GroupScopes;
use billrun_aws::config::ConfigError;
use billrun_console::oidc::{Issuer, IssuerConfig};
use billrun_console::{Console, SignIn};
use std::sync::Arc;

/// The shortest session secret accepted (the template generates 64 characters).
const MIN_SECRET_CHARS: usize = 32;

/// What the console of a deployment needs: its session key and its issuer.
#[derive(Clone)]
pub struct ConsoleSetup {
    /// The secret the session key is derived from.
    pub key: Vec<u8>,
    pub issuer: Arc<Issuer>,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl ConsoleSetup {
    /// A console signing visitors in as `client_id` at the issuer of `config`, its
    /// sessions signed with a key derived from `secret`.
    pub fn new(config: IssuerConfig, secret: &str) -> Result<ConsoleSetup, ConfigError> {
        if secret.chars().count() < MIN_SECRET_CHARS {
            return Err(ConfigError(format!(
                "the console's session secret is shorter than {MIN_SECRET_CHARS} characters"
            )));
        }
        let issuer = Issuer::new(config).map_err(|e| ConfigError(format!("console: {e}")))?;
        Ok(ConsoleSetup {
            key: secret.as_bytes().to_vec(),
            issuer: Arc::new(issuer),
        })
    }

    /// The deployment's console: `None` unless `CONSOLE_CLIENT_ID` is set (the template
    /// sets it, with `JWT_ISSUER`, `JWT_AUDIENCE`, `CONSOLE_SCOPE` and
    /// `CONSOLE_SESSION_SECRET_ARN`, when it has a JWT issuer and a console client id).
    /// The secret is read here, once per execution environment.
    pub async fn from_env(
        sdk: &aws_types::SdkConfig,
        groups: &GroupScopes,
    ) -> Result<Option<ConsoleSetup>, ConfigError> {
        let Some(client_id) = var("CONSOLE_CLIENT_ID") else {
            return Ok(None);
        };
        let need = |name: &str| {
            var(name)
                .ok_or_else(|| ConfigError(format!("{name} must be set with CONSOLE_CLIENT_ID")))
        };
        let issuer = need("JWT_ISSUER")?;
        let audiences: Vec<String> = need("JWT_AUDIENCE")?
            .split(',')
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect();
        let secret_arn = need("CONSOLE_SESSION_SECRET_ARN")?;
        let config = IssuerConfig {
            issuer,
            client_id,
            audiences,
            scope: var("CONSOLE_SCOPE").unwrap_or_else(|| "openid".to_string()),
            groups: groups.clone(),
        };
        ConsoleSetup::from_secret(sdk, config, &secret_arn)
            .await
            .map(Some)
    }

    /// A console whose session secret is the Secrets Manager secret `secret_arn`, read
    /// now with the function's credentials.
    pub async fn from_secret(
        sdk: &aws_types::SdkConfig,
        config: IssuerConfig,
        secret_arn: &str,
    ) -> Result<ConsoleSetup, ConfigError> {
        let signer = billrun_aws::signed::Signer::new(sdk);
        let secret = billrun_aws::secret::secret_string(&signer, secret_arn)
            .await
            .map_err(|e| ConfigError(format!("the console's session secret: {e}")))?;
        ConsoleSetup::new(config, &secret)
    }

    /// The console over `api` (the function's half of the API router).
    fn console(&self, api: axum::Router) -> Console {
        Console::with_key(api, SignIn::Issuer(self.issuer.clone()), true, &self.key)
    }
}

/// The read API with the console's pages beside it when the deployment has a console
/// (api-queries): the forms' code stays out of its binary.
pub fn with_console_pages(api: axum::Router, console: Option<&ConsoleSetup>) -> axum::Router {
    match console {
        Some(c) => api.clone().merge(billrun_console::pages(c.console(api))),
        None => api,
    }
}

/// The write API with the console's forms beside it (api-commands): the pages' code
/// stays out of its binary.
pub fn with_console_forms(api: axum::Router, console: Option<&ConsoleSetup>) -> axum::Router {
    match console {
        Some(c) => api.clone().merge(billrun_console::forms(c.console(api))),
        None => api,
    }
}
