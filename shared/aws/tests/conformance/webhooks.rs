//! Webhook endpoints and deliveries on every backend: an endpoint written once per
//! version (of two writers of one version, the first wins), listed in id order; a
//! delivery created once, moved on one version at a time, and listed under its
//! endpoint in creation order from a position.

use super::at;
use crate::common::Backend;
use billrun_app::model::events::RunEventType;
use billrun_app::model::webhooks::*;
use billrun_domain::ids::{RunId, WebhookEndpointId};

fn endpoint(id: &str, version: u64) -> WebhookEndpoint {
    WebhookEndpoint {
        id: WebhookEndpointId::parse(id).unwrap(),
        url: format!("https://hooks.example.com/{id}"),
        events: vec![EventPattern::All],
        enabled: true,
        description: Some("ledger".into()),
        secrets: vec![SigningSecret {
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
            created_at: at("2026-02-01T10:00:00Z"),
            expires_at: None,
        }],
        disabled_reason: None,
        failing_since: None,
        created_at: at("2026-02-01T10:00:00Z"),
        updated_at: at("2026-02-01T10:00:00Z"),
        deleted_at: None,
        version,
    }
}

fn delivery(endpoint: &WebhookEndpointId, created: &str) -> WebhookDelivery {
    let event = uuid::Uuid::new_v4();
    WebhookDelivery {
        id: WebhookDelivery::id_of(event, endpoint),
        endpoint_id: endpoint.clone(),
        event_id: event,
        event_type: RunEventType::Posted,
        run_id: RunId(uuid::Uuid::new_v4()),
        payload: r#"{"type":"run.posted"}"#.into(),
        status: WebhookDeliveryStatus::Pending,
        attempts: vec![],
        round_start: 0,
        next_attempt_at: at(created),
        lease_until: None,
        error: None,
        created_at: at(created),
        version: 1,
    }
}

pub(super) async fn webhook_endpoints_and_deliveries_are_written_once_per_version(b: Backend) {
    let store = &b.app.webhooks;
    let b_endpoint = endpoint("b", 1);
    assert!(store.save_endpoint(&b_endpoint, None).await.unwrap());
    assert!(
        !store.save_endpoint(&b_endpoint, None).await.unwrap(),
        "created once"
    );
    assert!(store.save_endpoint(&endpoint("a", 1), None).await.unwrap());
    let mut changed = b_endpoint.clone();
    changed.version = 2;
    changed.enabled = false;
    let mut other = changed.clone();
    other.url = "https://elsewhere.example.com/".into();
    // A change's audit entry is written with it, or not at all. The racing writer's
    // entry has an id of its own here, so that its absence shows it was not written.
    let entry = |e: &billrun_app::model::webhooks::WebhookEndpoint, who: &str| {
        use billrun_app::model::audit::{ConfigChange, ResourceKind};
        let mut entry = ConfigChange::between(
            ResourceKind::WebhookEndpoint,
            e.id.to_string(),
            Some(&b_endpoint),
            Some(e),
        )
        .entry(Some(e.version), Some(who.into()), chrono::Utc::now());
        entry.id = uuid::Uuid::new_v4();
        entry
    };
    assert!(store
        .save_endpoint(&changed, Some(&entry(&changed, "ann")))
        .await
        .unwrap());
    assert!(
        !store
            .save_endpoint(&other, Some(&entry(&other, "bob")))
            .await
            .unwrap(),
        "a second writer of the same version writes nothing"
    );
    let trail = b
        .app
        .audit
        .audit_events(
            &billrun_app::model::audit::AuditFilter {
                resource: Some(b_endpoint.id.to_string()),
                actor: None,
                since: chrono::Utc::now() - chrono::TimeDelta::hours(1),
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(
        trail.iter().map(|e| e.actor.clone()).collect::<Vec<_>>(),
        [Some("ann".to_string())],
        "the winner's entry alone"
    );
    assert!(
        !store.save_endpoint(&endpoint("c", 2), None).await.unwrap(),
        "no version 2 of nothing"
    );
    assert_eq!(
        store.get_endpoint(&b_endpoint.id).await.unwrap(),
        Some(changed.clone())
    );
    let ids: Vec<String> = store
        .list_endpoints()
        .await
        .unwrap()
        .iter()
        .map(|e| e.id.to_string())
        .collect();
    assert_eq!(ids, ["a", "b"]);

    let id = b_endpoint.id.clone();
    let d1 = delivery(&id, "2026-02-01T10:00:01Z");
    let d2 = delivery(&id, "2026-02-01T10:00:02Z");
    let d3 = delivery(&id, "2026-02-01T10:00:03Z");
    let elsewhere = delivery(
        &WebhookEndpointId::parse("a").unwrap(),
        "2026-02-01T10:00:00Z",
    );
    for d in [&d2, &d1, &d3, &elsewhere] {
        assert!(store.create_delivery(d).await.unwrap());
    }
    assert!(!store.create_delivery(&d1).await.unwrap(), "made once");
    let mut sent = d1.clone();
    sent.version = 2;
    sent.status = WebhookDeliveryStatus::Delivered;
    sent.attempts.push(WebhookAttempt {
        at: at("2026-02-01T10:00:05Z"),
        status_code: Some(204),
        latency_ms: 12,
        error: None,
        response: None,
    });
    let mut racing = sent.clone();
    racing.status = WebhookDeliveryStatus::Failed;
    assert!(store.save_delivery(&sent).await.unwrap());
    assert!(!store.save_delivery(&racing).await.unwrap());
    assert!(!store.save_delivery(&d1).await.unwrap(), "no going back");
    assert_eq!(store.get_delivery(d1.id).await.unwrap(), Some(sent.clone()));

    // The endpoint's deliveries in creation order, in pages from a position (the index
    // may lag behind a write on DynamoDB: read until all three are seen).
    let mut listed = Vec::new();
    for _ in 0..50 {
        listed = store.list_deliveries(&id, None, 10).await.unwrap();
        if listed.len() == 3 && listed[0].status == WebhookDeliveryStatus::Delivered {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let order: Vec<_> = listed.iter().map(|d| d.id).collect();
    assert_eq!(order, [d1.id, d2.id, d3.id]);
    let first = store.list_deliveries(&id, None, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    let rest = store
        .list_deliveries(&id, Some(&DeliveryPosition::of(&first[1])), 2)
        .await
        .unwrap();
    assert_eq!(rest.iter().map(|d| d.id).collect::<Vec<_>>(), [d3.id]);
}
