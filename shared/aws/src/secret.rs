//! A secret's text from Secrets Manager: GetSecretValue signed with SigV4 alone
//! ([`crate::signed`], the service's JSON protocol), without the Secrets Manager
//! client. The console's session key is read this way, once per execution environment.

use crate::signed::{Service, Signer};
use billrun_app::error::StoreError;

/// The Secrets Manager endpoint: `AWS_ENDPOINT_URL/`, or the region's.
fn endpoint(signer: &Signer) -> String {
    match signer.endpoint_url() {
        Some(url) => format!("{url}/"),
        None => format!("https://secretsmanager.{}.amazonaws.com/", signer.region()),
    }
}

/// The `SecretString` of the secret `id` (its ARN or name). The error names the secret
/// and the service's answer, never the secret's value.
pub async fn secret_string(signer: &Signer, id: &str) -> Result<String, StoreError> {
    let headers = [
        ("content-type", "application/x-amz-json-1.1".to_string()),
        ("x-amz-target", "secretsmanager.GetSecretValue".to_string()),
    ];
    let body = serde_json::to_vec(&serde_json::json!({ "SecretId": id }))
        .map_err(|e| StoreError::fatal(format!("encode GetSecretValue: {e}")))?;
    let reply = signer
        .send(
            Service::SecretsManager,
            "POST",
            &endpoint(signer),
            &headers,
            &body,
        )
        .await?;
    if !(200..300).contains(&reply.status) {
        return Err(StoreError::fatal(format!(
            "GetSecretValue {id}: HTTP {}: {}",
            reply.status,
            reply.text()
        )));
    }
    let answer: serde_json::Value = serde_json::from_slice(&reply.body)
        .map_err(|e| StoreError::fatal(format!("GetSecretValue {id}: not JSON: {e}")))?;
    answer
        .get("SecretString")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| StoreError::fatal(format!("GetSecretValue {id}: no SecretString")))
}
