//! EventBridge set-up the end-to-end tests share: a rule on a bus that routes what it
//! matches to an SQS queue (what a customer adds to billrun's bus, and what the
//! template adds for SES's events).

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use billrun_aws::Clients;
use serde_json::Value;

/// The ARN of the queue at `url`.
pub async fn queue_arn(admin: &Clients, url: &str) -> String {
    admin
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone()
}

/// A new queue named `queue`; its URL.
pub async fn new_queue(admin: &Clients, queue: &str) -> String {
    admin
        .sqs
        .create_queue()
        .queue_name(queue)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string()
}

/// Rule `rule` on `bus` (`None`: the default bus) sending what matches `pattern` to
/// the queue at `queue_url`.
pub async fn rule_to_queue(
    admin: &Clients,
    bus: Option<&str>,
    rule: &str,
    pattern: &Value,
    queue_url: &str,
) {
    let events = aws_sdk_eventbridge::Client::new(&admin.sdk_config);
    events
        .put_rule()
        .name(rule)
        .set_event_bus_name(bus.map(str::to_string))
        .event_pattern(pattern.to_string())
        .send()
        .await
        .unwrap();
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("queue")
        .arn(queue_arn(admin, queue_url).await)
        .build()
        .unwrap();
    events
        .put_targets()
        .rule(rule)
        .set_event_bus_name(bus.map(str::to_string))
        .targets(target)
        .send()
        .await
        .unwrap();
}

/// The bodies of up to ten messages of the queue at `url` (waiting a second for them),
/// taken off it.
pub async fn receive(admin: &Clients, url: &str) -> Vec<String> {
    let out = admin
        .sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    let mut bodies = Vec::new();
    for m in out.messages() {
        bodies.push(m.body().unwrap_or_default().to_string());
        admin
            .sqs
            .delete_message()
            .queue_url(url)
            .receipt_handle(m.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
    }
    bodies
}
