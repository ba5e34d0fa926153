//! `dispatch-events` on moto, fed the JSON Lambda hands it: stream records of a run's
//! writes (`functions/events/dynamodb-stream-run.json`) put exactly the run's events on
//! the EventBridge bus, where a rule (source `billrun`) routes them to an SQS queue; a
//! duplicate invocation makes no second webhook delivery; a webhook delivery's message
//! from the webhook queue is attempted (and refused: its endpoint points at a private
//! address, so nothing leaves loopback); every SDK call stays inside the function's
//! policy in template.yaml.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
#[path = "template.rs"]
#[allow(dead_code)]
mod template;

use billrun_app::model::webhooks::{EventPattern, SigningSecret, WebhookEndpoint};

use billrun_aws::provision::{provision, Names};
use billrun_aws::Clients;
use billrun_domain::ids::{RunId, WebhookEndpointId};
use billrun_lambda::Runtime;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const STREAM_EVENT: &str = include_str!("../../events/dynamodb-stream-run.json");
const SQS_EVENT: &str = include_str!("../../events/sqs-account.json");

/// The stream record of a write of `run`'s record from version `old` (none: created) to
/// `new`, as Lambda hands it.
fn stream_record(run: RunId, old: Option<u64>, new: u64, sequence: u64) -> Value {
    let mut r: Value = serde_json::from_str::<Value>(STREAM_EVENT).unwrap()["Records"][0].clone();
    let pk = format!("RUN#{run}");
    let d = &mut r["dynamodb"];
    d["Keys"]["pk"]["S"] = pk.clone().into();
    d["NewImage"]["pk"]["S"] = pk.clone().into();
    d["NewImage"]["ver"]["N"] = new.to_string().into();
    d["SequenceNumber"] = sequence.to_string().into();
    match old {
        Some(v) => {
            d["OldImage"]["pk"]["S"] = pk.into();
            d["OldImage"]["ver"]["N"] = v.to_string().into();
        }
        None => {
            d.as_object_mut().unwrap().remove("OldImage");
            r["eventName"] = "INSERT".into();
        }
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_writes_from_the_stream_reach_an_eventbridge_rule_exactly_once_inside_the_policy() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL is not set: run the tests with ./infra/test.sh, which starts a moto server");
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "tests only talk to loopback"
    );
    let admin = Clients::load().await;
    let prefix = format!("v{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut names = Names::new(prefix.clone());
    names.visibility_timeout_seconds = 2;
    let mut config = provision(&admin, &names).await.unwrap();

    // The bus and a customer's rule on it, targeting a queue.
    let events = aws_sdk_eventbridge::Client::new(&admin.sdk_config);
    let bus = format!("{prefix}-events");
    events.create_event_bus().name(&bus).send().await.unwrap();
    let target = support::new_queue(&admin, &format!("{prefix}-bus-target")).await;
    support::rule_to_queue(
        &admin,
        Some(&bus),
        &format!("{prefix}-all"),
        &json!({"source": ["billrun"]}),
        &target,
    )
    .await;
    config.event_bus_name = Some(bus.clone());

    let runtime = Runtime::new(config.clone(), 5, dispatch_events::adapters).await;
    let app = dispatch_events::compose(&runtime).unwrap();
    // What the other functions write (the run's changes), by clients of their own, so
    // that `runtime` records only the function's calls.
    let others = Runtime::new(config.clone(), 5, dispatch_events::adapters).await;
    let setup = &others.app;

    // An endpoint on a private address, written straight to the table (the API would
    // refuse it): its delivery is attempted and refused without a connection.
    let now = chrono::Utc::now();
    let hook = WebhookEndpoint {
        id: WebhookEndpointId::parse("internal").unwrap(),
        url: "https://10.0.0.1/hook".into(),
        events: vec![EventPattern::All],
        enabled: true,
        description: None,
        secrets: vec![SigningSecret {
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
            created_at: now,
            expires_at: None,
        }],
        disabled_reason: None,
        failing_since: None,
        created_at: now - chrono::TimeDelta::minutes(1),
        updated_at: now,
        deleted_at: None,
        version: 1,
    };
    assert!(setup.webhooks.save_endpoint(&hook, None).await.unwrap());

    // A run created, then canceled and deleted: three events over two writes seen by
    // the stream (the cancel's and the delete's records collapsed into one, as a batch
    // may).
    let run = setup
        .pipeline()
        .create_run(manual_request(), None)
        .await
        .unwrap()
        .run()
        .clone();
    let created = run.version;
    setup.pipeline().cancel_run(run.id).await.unwrap();
    setup.pipeline().delete_run(run.id).await.unwrap();
    let stored = setup.runs.get_run(run.id).await.unwrap().unwrap();
    let batch = json!({"Records": [
        stream_record(run.id, None, created, 1),
        stream_record(run.id, Some(created), stored.version, 2),
    ]});
    let answer = dispatch_events::handle(&app, batch.clone(), 5)
        .await
        .unwrap();
    assert_eq!(answer, json!({"batchItemFailures": []}));

    // Exactly the run's events reach the rule's queue, once each.
    let want: Vec<String> = stored.events.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(
        stored
            .events
            .iter()
            .map(|e| billrun_domain::export::wire_name(&e.event_type))
            .collect::<Vec<_>>(),
        ["run.created", "run.canceled", "run.deleted"]
    );
    let mut got: BTreeMap<String, Value> = BTreeMap::new();
    let mut copies = 0;
    for _ in 0..20 {
        for body in support::receive(&admin, &target).await {
            let entry: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(entry["source"], "billrun");
            assert_eq!(entry["detail-type"], entry["detail"]["type"]);
            copies += 1;
            got.insert(entry["detail"]["id"].as_str().unwrap().to_string(), entry);
        }
        if got.len() >= want.len() {
            break;
        }
    }
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(got.keys().cloned().collect::<Vec<_>>(), want_sorted);
    assert_eq!(copies, want.len(), "one entry per event");
    assert_eq!(got[&want[2]]["detail"]["data"]["runId"], run.id.to_string());

    // The same batch again (a retried invocation) makes no second delivery.
    dispatch_events::handle(&app, batch, 5).await.unwrap();
    let id = WebhookEndpointId::parse("internal").unwrap();
    let deliveries = setup
        .webhooks
        .list_deliveries(&id, None, 100)
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 3);

    // The webhook queue's messages through the handler: each attempt is refused.
    let queue = config.webhook_queue_url.clone().unwrap();
    let template: Value = serde_json::from_str::<Value>(SQS_EVENT).unwrap()["Records"][0].clone();
    for _ in 0..10 {
        let out = admin
            .sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        if out.messages().is_empty() {
            break;
        }
        let records: Vec<Value> = out
            .messages()
            .iter()
            .map(|m| {
                let mut r = template.clone();
                r["messageId"] = m.message_id().unwrap().into();
                r["receiptHandle"] = m.receipt_handle().unwrap().into();
                r["body"] = m.body().unwrap().into();
                r
            })
            .collect();
        let answer = dispatch_events::handle(&app, json!({"Records": records}), 5)
            .await
            .unwrap();
        assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
        for m in out.messages() {
            admin
                .sqs
                .delete_message()
                .queue_url(&queue)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    let deliveries = setup
        .webhooks
        .list_deliveries(&id, None, 100)
        .await
        .unwrap();
    for d in &deliveries {
        let first = d.attempts.first().expect("an attempt");
        assert!(
            first
                .error
                .as_deref()
                .is_some_and(|e| e.contains("refused")),
            "{first:?}"
        );
        assert_eq!(first.status_code, None);
    }

    let recorded = runtime.metrics.actions();
    let granted = template::granted("DispatchEventsFunction");
    let beyond: Vec<_> = recorded.difference(&granted).collect();
    assert!(beyond.is_empty(), "calls outside the policy: {beyond:?}");
    assert!(recorded.contains("events:PutEvents"), "{recorded:?}");
}

fn manual_request() -> billrun_domain::request::RunRequest {
    billrun_domain::request::RunRequest {
        run_type: billrun_domain::request::RunType::Manual,
        ..billrun_domain::request::RunRequest::for_target(
            chrono::NaiveDate::from_ymd_opt(2024, 2, 1).unwrap(),
        )
    }
    .validated()
    .unwrap()
}
