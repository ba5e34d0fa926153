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
    /// The queue of email deliveries (`DELIVERY_QUEUE_URL`), consumed by
    /// deliver-documents alone.
    pub delivery_queue_url: Option<String>,
    /// The queue of webhook deliveries (`WEBHOOK_QUEUE_URL`).
    pub webhook_queue_url: Option<String>,
    /// The EventBridge bus run events are published on (`EVENT_BUS_NAME`).
    pub event_bus_name: Option<String>,
    /// Whether the per-document events go to the bus too (`BUS_DOCUMENT_EVENTS`,
    /// `true` or `false`, default `false`).
    pub bus_document_events: bool,
    /// Whether a run's poster must differ from its creator (`MAKER_CHECKER`, `true` or
    /// `false`, default `false`; billrun_app::controls).
    pub maker_checker: bool,
    /// The `From` address of every email (`SENDER`: an address of an identity verified in
    /// SES, `billing@example.com` or `Billing <billing@example.com>`). Email delivery is
    /// on exactly when it is set.
    pub sender: Option<String>,
    /// The SES configuration set each email is sent with (`SES_CONFIGURATION_SET`): its
    /// event destinations receive the bounces and complaints.
    pub ses_configuration_set: Option<String>,
    /// The least time between two sends of one environment: `DELIVERY_CONCURRENCY`
    /// environments (default 1) share the account's SES send rate `DELIVERY_SEND_RATE`
    /// (emails a second), so each sends at most its share; `None` without a rate.
    pub ses_send_interval: Option<std::time::Duration>,
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
        let positive = |k: &str| -> Result<Option<u32>, ConfigError> {
            get(k)
                .map(|v| {
                    v.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                        ConfigError(format!("{k} must be a positive integer, got '{v}'"))
                    })
                })
                .transpose()
        };
        let flag = |k: &str| -> Result<bool, ConfigError> {
            match get(k).as_deref() {
                None | Some("false") => Ok(false),
                Some("true") => Ok(true),
                Some(other) => Err(ConfigError(format!(
                    "{k} must be true or false, not {other:?}"
                ))),
            }
        };
        let concurrency = positive("DELIVERY_CONCURRENCY")?.unwrap_or(1);
        let ses_send_interval = positive("DELIVERY_SEND_RATE")?.map(|rate| {
            std::time::Duration::from_secs_f64(f64::from(concurrency) / f64::from(rate))
        });
        Ok(AwsConfig {
            table: need("TABLE_NAME")?,
            bucket: need("BUCKET_NAME")?,
            plan_queue_url: need("PLAN_QUEUE_URL")?,
            account_queue_url: need("ACCOUNT_QUEUE_URL")?,
            document_queue_url: get("DOCUMENT_QUEUE_URL"),
            delivery_queue_url: get("DELIVERY_QUEUE_URL"),
            webhook_queue_url: get("WEBHOOK_QUEUE_URL"),
            event_bus_name: get("EVENT_BUS_NAME"),
            bus_document_events: flag("BUS_DOCUMENT_EVENTS")?,
            maker_checker: flag("MAKER_CHECKER")?,
            sender: get("SENDER").map(checked_sender).transpose()?,
            ses_configuration_set: get("SES_CONFIGURATION_SET"),
            ses_send_interval,
            shards,
            endpoint_url: get("AWS_ENDPOINT_URL"),
        })
    }
}

/// `SENDER` as given, once it looks like one mailbox: a mistyped value stops the function
/// at start instead of failing every message. The value is not quoted in the error (it is
/// an address); the MIME builder parses it fully with each message.
fn checked_sender(v: String) -> Result<String, ConfigError> {
    let address = match v.rsplit_once('<') {
        Some((_, rest)) => rest.strip_suffix('>').unwrap_or_default(),
        None => v.trim(),
    };
    let mailbox = match address.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.contains('@')
                && !address.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if mailbox && !v.chars().any(char::is_control) {
        Ok(v)
    } else {
        Err(ConfigError(
            "SENDER must be one email address (`billing@example.com` or \
             `Billing <billing@example.com>`)"
                .into(),
        ))
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

/// The SDK clients, built once and cloned cheaply: S3, SQS and SES only in builds with
/// the features `s3`, `sqs` and `ses`.
#[derive(Clone, Debug)]
pub struct Clients {
    /// Region, credentials and endpoint, as the clients were built with.
    pub sdk_config: std::sync::Arc<aws_types::SdkConfig>,
    pub dynamodb: aws_sdk_dynamodb::Client,
    #[cfg(feature = "s3")]
    pub s3: aws_sdk_s3::Client,
    #[cfg(feature = "sqs")]
    pub sqs: aws_sdk_sqs::Client,
    #[cfg(feature = "ses")]
    pub ses: aws_sdk_sesv2::Client,
    #[cfg(feature = "eventbridge")]
    pub events: aws_sdk_eventbridge::Client,
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
        #[cfg(feature = "ses")]
        let ses = {
            let mut ses = aws_sdk_sesv2::config::Builder::from(&shared);
            if let Some(m) = &metrics {
                ses = ses.interceptor(record(m));
            }
            aws_sdk_sesv2::Client::from_conf(ses.build())
        };
        #[cfg(feature = "eventbridge")]
        let events = {
            let mut events = aws_sdk_eventbridge::config::Builder::from(&shared);
            if let Some(m) = &metrics {
                events = events.interceptor(record(m));
            }
            aws_sdk_eventbridge::Client::from_conf(events.build())
        };
        Clients {
            sdk_config: std::sync::Arc::new(shared),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
            #[cfg(feature = "s3")]
            s3,
            #[cfg(feature = "sqs")]
            sqs,
            #[cfg(feature = "ses")]
            ses,
            #[cfg(feature = "eventbridge")]
            events,
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
        assert_eq!((c.delivery_queue_url, c.sender), (None, None));
        let bad: HashMap<&str, &str> = [("RUN_SHARDS", "0")].into();
        assert!(
            AwsConfig::from_lookup(|k| bad.get(k).or(env.get(k)).map(|v| v.to_string())).is_err()
        );
    }

    #[test]
    fn config_reads_the_delivery_settings_and_refuses_a_sender_that_is_no_address() {
        let env: HashMap<&str, &str> = [
            ("TABLE_NAME", "t"),
            ("BUCKET_NAME", "b"),
            ("PLAN_QUEUE_URL", "p"),
            ("ACCOUNT_QUEUE_URL", "a"),
            ("DELIVERY_QUEUE_URL", "d"),
            ("SES_CONFIGURATION_SET", "billrun-events"),
            ("DELIVERY_SEND_RATE", "14"),
            ("DELIVERY_CONCURRENCY", "7"),
        ]
        .into();
        for sender in [
            "billing@example.com",
            "Northwind Billing <billing@example.com>",
        ] {
            let c = AwsConfig::from_lookup(|k| match k {
                "SENDER" => Some(sender.to_string()),
                _ => env.get(k).map(|v| v.to_string()),
            })
            .unwrap();
            assert_eq!(c.sender.as_deref(), Some(sender));
            assert_eq!(c.delivery_queue_url.as_deref(), Some("d"));
            assert_eq!(c.ses_configuration_set.as_deref(), Some("billrun-events"));
            // 7 environments share 14 emails a second: 2 each, one every 500 ms.
            assert_eq!(
                c.ses_send_interval,
                Some(std::time::Duration::from_millis(500))
            );
        }
        for bad in [
            "nobody",
            "a@b@example.com",
            "billing@localhost",
            "x <y>",
            "a b@example.com",
            "a@example.com\r\nBcc: c@example.com",
        ] {
            let err = AwsConfig::from_lookup(|k| match k {
                "SENDER" => Some(bad.to_string()),
                _ => env.get(k).map(|v| v.to_string()),
            })
            .unwrap_err();
            assert!(err.0.contains("SENDER"), "{bad}");
            assert!(!err.0.contains(bad), "the value is not quoted");
        }
    }
}
