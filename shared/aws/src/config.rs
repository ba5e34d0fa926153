//! Typed configuration from the environment, read once, and the SDK clients, built once.

use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// Partitions every per-run item is spread over (`RUN#<id>#<k>`), unless `RUN_SHARDS`
/// says otherwise.
pub const DEFAULT_SHARDS: u32 = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsConfig {
    pub table: String,
    pub bucket: String,
    pub plan_queue_url: String,
    pub account_queue_url: String,
    pub document_queue_url: Option<String>,
    pub shards: u32,
    /// `AWS_ENDPOINT_URL`, when set: S3 then uses path-style addressing.
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

impl AwsConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let need = |k: &str| get(k).ok_or_else(|| ConfigError(format!("{k} is not set")));
        let shards = match get("RUN_SHARDS") {
            None => DEFAULT_SHARDS,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| ConfigError(format!("RUN_SHARDS must be 1..=1000, got '{v}'")))?,
        };
        Ok(AwsConfig {
            table: need("TABLE_NAME")?,
            bucket: need("BUCKET_NAME")?,
            plan_queue_url: need("PLAN_QUEUE_URL")?,
            account_queue_url: need("ACCOUNT_QUEUE_URL")?,
            document_queue_url: get("DOCUMENT_QUEUE_URL"),
            shards,
            endpoint_url: get("AWS_ENDPOINT_URL"),
        })
    }
}

/// Region, credentials and endpoint through the SDK's default chain.
#[cfg(feature = "default-chain")]
async fn sdk_config(
    http: aws_smithy_runtime_api::client::http::SharedHttpClient,
) -> aws_types::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await
}

/// Region (`AWS_REGION`, then `AWS_DEFAULT_REGION`, else us-east-1), credentials
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`: what the Lambda
/// service puts in a function's environment for its execution role, valid for the
/// environment's lifetime) and `AWS_ENDPOINT_URL`, from the environment alone.
#[cfg(not(feature = "default-chain"))]
async fn sdk_config(
    http: aws_smithy_runtime_api::client::http::SharedHttpClient,
) -> aws_types::SdkConfig {
    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_credential_types::Credentials;
    use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let region = env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| "us-east-1".to_string());
    let mut config = aws_types::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_types::region::Region::new(region))
        .http_client(http)
        .sleep_impl(aws_smithy_async::rt::sleep::TokioSleep::new())
        .time_source(aws_smithy_async::time::SystemTimeSource::new())
        .retry_config(aws_smithy_types::retry::RetryConfig::standard());
    if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        let credentials =
            Credentials::new(id, secret, env("AWS_SESSION_TOKEN"), None, "environment");
        config = config.credentials_provider(SharedCredentialsProvider::new(credentials));
    }
    if let Some(url) = env("AWS_ENDPOINT_URL") {
        config = config.endpoint_url(url);
    }
    config.build()
}

/// The SDK clients, built once and cloned cheaply: S3 and SQS only in builds with the
/// features `s3` and `sqs`.
#[derive(Clone, Debug)]
pub struct Clients {
    /// Region, credentials and endpoint, as the clients were built with.
    pub sdk_config: std::sync::Arc<aws_types::SdkConfig>,
    pub dynamodb: aws_sdk_dynamodb::Client,
    #[cfg(feature = "s3")]
    pub s3: aws_sdk_s3::Client,
    #[cfg(feature = "sqs")]
    pub sqs: aws_sdk_sqs::Client,
}

impl Clients {
    /// Loads region, credentials and `AWS_ENDPOINT_URL` from the environment, with a
    /// rustls (ring) HTTPS client (no aws-lc C build).
    pub async fn load() -> Clients {
        Self::load_recording(None).await
    }

    /// Like [`Clients::load`]; with `metrics`, every client records the IAM actions its
    /// operations need.
    pub async fn load_recording(metrics: Option<std::sync::Arc<crate::Metrics>>) -> Clients {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let shared = sdk_config(http).await;
        let record = |m: &std::sync::Arc<crate::Metrics>| crate::metrics::RecordActions(m.clone());
        let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(&shared);
        if let Some(m) = &metrics {
            dynamodb = dynamodb.interceptor(record(m));
        }
        #[cfg(feature = "s3")]
        let s3 = {
            let path_style = std::env::var("AWS_ENDPOINT_URL").is_ok_and(|v| !v.is_empty());
            let mut s3 = aws_sdk_s3::config::Builder::from(&shared).force_path_style(path_style);
            if let Some(m) = &metrics {
                s3 = s3.interceptor(record(m));
            }
            aws_sdk_s3::Client::from_conf(s3.build())
        };
        #[cfg(feature = "sqs")]
        let sqs = {
            let mut sqs = aws_sdk_sqs::config::Builder::from(&shared);
            if let Some(m) = &metrics {
                sqs = sqs.interceptor(record(m));
            }
            aws_sdk_sqs::Client::from_conf(sqs.build())
        };
        Clients {
            sdk_config: std::sync::Arc::new(shared),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
            #[cfg(feature = "s3")]
            s3,
            #[cfg(feature = "sqs")]
            sqs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn config_names_the_missing_variable() {
        let env: HashMap<&str, &str> = [("TABLE_NAME", "t"), ("BUCKET_NAME", "b")].into();
        let err = AwsConfig::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap_err();
        assert!(err.0.contains("PLAN_QUEUE_URL"));
    }

    #[test]
    fn config_reads_every_name_once() {
        let env: HashMap<&str, &str> = [
            ("TABLE_NAME", "t"),
            ("BUCKET_NAME", "b"),
            ("PLAN_QUEUE_URL", "p"),
            ("ACCOUNT_QUEUE_URL", "a"),
            ("RUN_SHARDS", "4"),
        ]
        .into();
        let c = AwsConfig::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(c.shards, 4);
        assert_eq!(c.document_queue_url, None);
        let bad: HashMap<&str, &str> = [("RUN_SHARDS", "0")].into();
        assert!(
            AwsConfig::from_lookup(|k| bad.get(k).or(env.get(k)).map(|v| v.to_string())).is_err()
        );
    }
}
