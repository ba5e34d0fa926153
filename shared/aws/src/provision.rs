//! Creates the table (with its GSIs), the bucket and the four queues (with DLQs and redrive
//! policies) on whatever endpoint the environment names. Idempotent.

use crate::config::{AwsConfig, Clients, DEFAULT_SHARDS};
use crate::dynamo::{Index, PK, SK, TTL};
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

/// Names to create: `<prefix>-table`, `<prefix>-documents`, `<prefix>-plan` ...
#[derive(Debug, Clone)]
pub struct Names {
    pub prefix: String,
    /// Receives of one message before SQS moves it to the DLQ.
    pub max_receive_count: u32,
    pub visibility_timeout_seconds: u32,
}

impl Names {
    pub fn new(prefix: impl Into<String>) -> Self {
        Names {
            prefix: prefix.into(),
            max_receive_count: 5,
            visibility_timeout_seconds: 30,
        }
    }
}

fn fail(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

fn key(name: &str, t: KeyType) -> Result<KeySchemaElement, String> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(t)
        .build()
        .map_err(|e| fail("key schema", e))
}

fn gsi(name: &str, pk: &str, sk: &str) -> Result<GlobalSecondaryIndex, String> {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(pk, KeyType::Hash)?)
        .key_schema(key(sk, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(|e| fail("index", e))
}

/// Creates what is missing and returns the configuration that names it.
pub async fn provision(clients: &Clients, names: &Names) -> Result<AwsConfig, String> {
    let table = format!("{}-table", names.prefix);
    let mut create = clients
        .dynamodb
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?);
    let mut attrs = vec![PK, SK];
    for index in Index::ALL {
        create = create.global_secondary_indexes(gsi(index.name(), index.pk(), index.sk())?);
        attrs.extend([index.pk(), index.sk()]);
    }
    for attr in attrs {
        create = create.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attr)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| fail("attribute", e))?,
        );
    }
    match create.send().await {
        // A new table expires items by their `ttl` (a preview's), as template.yaml's
        // does; an existing one was set up when it was created.
        Ok(_) => {
            clients
                .dynamodb
                .update_time_to_live()
                .table_name(&table)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .enabled(true)
                        .attribute_name(TTL)
                        .build()
                        .map_err(|e| fail("time to live", e))?,
                )
                .send()
                .await
                .map_err(|e| fail("time to live", DisplayErrorContext(&e)))?;
        }
        Err(e) if e.code() == Some("ResourceInUseException") => {}
        Err(e) => return Err(fail("create table", DisplayErrorContext(&e))),
    }
    let bucket = format!("{}-documents", names.prefix);
    match clients.s3.create_bucket().bucket(&bucket).send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error().is_some_and(|s| {
                s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
            }) => {}
        Err(e) => {
            return Err(fail(
                "create bucket",
                aws_sdk_s3::error::DisplayErrorContext(&e),
            ))
        }
    }
    let mut urls = Vec::new();
    for q in ["plan", "account", "document", "delivery", "webhook"] {
        let dlq = format!("{}-{q}-dlq", names.prefix);
        let dlq_url = clients
            .sqs
            .create_queue()
            .queue_name(&dlq)
            .send()
            .await
            .map_err(|e| fail("create DLQ", aws_sdk_sqs::error::DisplayErrorContext(&e)))?
            .queue_url()
            .unwrap_or_default()
            .to_string();
        let attrs = clients
            .sqs
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| {
                fail(
                    "DLQ attributes",
                    aws_sdk_sqs::error::DisplayErrorContext(&e),
                )
            })?;
        let arn = attrs
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .ok_or("the DLQ has no ARN")?;
        let redrive = serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": names.max_receive_count.to_string()})
            .to_string();
        let url = clients
            .sqs
            .create_queue()
            .queue_name(format!("{}-{q}", names.prefix))
            .attributes(QueueAttributeName::RedrivePolicy, redrive)
            .attributes(
                QueueAttributeName::VisibilityTimeout,
                names.visibility_timeout_seconds.to_string(),
            )
            .send()
            .await
            .map_err(|e| fail("create queue", aws_sdk_sqs::error::DisplayErrorContext(&e)))?
            .queue_url()
            .unwrap_or_default()
            .to_string();
        urls.push(url);
    }
    let [plan, account, document, delivery, webhook]: [String; 5] = urls
        .try_into()
        .map_err(|_| "queue URLs missing".to_string())?;
    Ok(AwsConfig {
        table,
        bucket,
        plan_queue_url: plan,
        account_queue_url: account,
        document_queue_url: Some(document),
        // The queue exists; delivery stays off until a sender (a verified SES identity)
        // is configured.
        delivery_queue_url: Some(delivery),
        webhook_queue_url: Some(webhook),
        event_bus_name: None,
        bus_document_events: false,
        maker_checker: false,
        sender: None,
        ses_configuration_set: None,
        ses_send_interval: None,
        shards: DEFAULT_SHARDS,
        endpoint_url: std::env::var("AWS_ENDPOINT_URL").ok(),
    })
}

impl AwsConfig {
    /// `export NAME=value` lines for a shell.
    pub fn exports(&self) -> String {
        let mut s = format!(
            "export TABLE_NAME={}\nexport BUCKET_NAME={}\nexport PLAN_QUEUE_URL={}\nexport ACCOUNT_QUEUE_URL={}\n",
            self.table, self.bucket, self.plan_queue_url, self.account_queue_url
        );
        if let Some(d) = &self.document_queue_url {
            s.push_str(&format!("export DOCUMENT_QUEUE_URL={d}\n"));
        }
        if let Some(d) = &self.delivery_queue_url {
            s.push_str(&format!("export DELIVERY_QUEUE_URL={d}\n"));
        }
        if let Some(w) = &self.webhook_queue_url {
            s.push_str(&format!("export WEBHOOK_QUEUE_URL={w}\n"));
        }
        s
    }
}
