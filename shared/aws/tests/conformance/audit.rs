//! The audit trail on every backend: an entry is written once (recording it again adds
//! nothing), listed in (time, id) order across months, by resource (a run's listing
//! includes its documents'), by actor and since a time, in pages that resume.

use crate::common::Backend;
use billrun_app::model::audit::{AuditEvent, AuditFilter, FieldChange, ResourceKind};
use billrun_domain::ids::RunId;
use chrono::{DateTime, TimeDelta, Utc};

fn entry(
    n: u128,
    time: DateTime<Utc>,
    actor: Option<&str>,
    run: RunId,
    document: Option<uuid::Uuid>,
) -> AuditEvent {
    AuditEvent {
        id: uuid::Uuid::from_u128(0xA0D1_7000 + n),
        time,
        seq: 0,
        actor: actor.map(str::to_string),
        resource_kind: if document.is_some() {
            ResourceKind::Document
        } else {
            ResourceKind::Run
        },
        resource_id: document.unwrap_or(run.0).to_string(),
        run_id: Some(run),
        action: format!("test.{n}"),
        changes: vec![FieldChange {
            field: "status".into(),
            before: None,
            after: Some(format!("S{n}")),
        }],
    }
}

pub(super) async fn audit_entries_are_written_once_and_listed_in_order_by_filter(b: Backend) {
    let now = Utc::now();
    let (run_a, run_b) = (RunId(uuid::Uuid::new_v4()), RunId(uuid::Uuid::new_v4()));
    let doc = uuid::Uuid::new_v4();
    // Across two months (and in the future of none: the listing reads up to now).
    let entries = [
        entry(1, now - TimeDelta::days(45), Some("ann"), run_a, None),
        entry(2, now - TimeDelta::days(3), None, run_a, None),
        entry(3, now - TimeDelta::days(2), Some("bob"), run_a, Some(doc)),
        entry(4, now - TimeDelta::days(1), Some("ann"), run_b, None),
        entry(5, now - TimeDelta::hours(1), Some("bob"), run_a, None),
        // One write's two changes: listed by their place in it, not by id.
        AuditEvent {
            seq: 2,
            ..entry(6, now - TimeDelta::minutes(1), None, run_a, None)
        },
        AuditEvent {
            seq: 1,
            ..entry(7, now - TimeDelta::minutes(1), None, run_a, None)
        },
    ];
    // Recorded out of order and twice; the second copy of an id changes nothing.
    let mut changed = entries[2].clone();
    changed.actor = Some("mallory".into());
    b.app.audit.record_audit(&entries[2..]).await.unwrap();
    b.app.audit.record_audit(&entries[..3]).await.unwrap();
    b.app.audit.record_audit(&[changed]).await.unwrap();

    let since = now - TimeDelta::days(60);
    let list = |resource: Option<uuid::Uuid>, actor: Option<&str>, since: DateTime<Utc>| {
        let filter = AuditFilter {
            resource: resource.map(|r| r.to_string()),
            actor: actor.map(str::to_string),
            since,
        };
        let b = &b;
        async move {
            // Pages of two, resumed from the last entry of each.
            let mut out = Vec::new();
            let mut after = None;
            loop {
                let page = b
                    .app
                    .audit
                    .audit_events(&filter, after.as_ref(), 2)
                    .await
                    .unwrap();
                let full = page.len() == 2;
                after = page.last().map(AuditEvent::position);
                out.extend(page.into_iter().map(|e| e.action));
                if !full {
                    return out;
                }
            }
        }
    };
    // Another test's entries share the store: keep the ones made here.
    let ours = |v: Vec<String>| -> Vec<String> {
        v.into_iter()
            .filter(|a| {
                a.strip_prefix("test.")
                    .is_some_and(|n| n.parse::<u8>().is_ok_and(|n| (1..=7).contains(&n)))
            })
            .collect()
    };
    let names = |ns: &[u8]| -> Vec<String> { ns.iter().map(|n| format!("test.{n}")).collect() };
    assert_eq!(
        ours(list(None, None, since).await),
        names(&[1, 2, 3, 4, 5, 7, 6])
    );
    assert_eq!(
        list(Some(run_a.0), None, since).await,
        names(&[1, 2, 3, 5, 7, 6])
    );
    assert_eq!(list(Some(doc), None, since).await, names(&[3]));
    assert_eq!(list(Some(run_b.0), None, since).await, names(&[4]));
    assert_eq!(
        list(Some(run_a.0), Some("bob"), since).await,
        names(&[3, 5])
    );
    assert_eq!(
        list(Some(run_a.0), None, now - TimeDelta::days(2)).await,
        names(&[3, 5, 7, 6])
    );
    assert_eq!(ours(list(None, Some("ann"), since).await), names(&[1, 4]));
    let stored = b
        .app
        .audit
        .audit_events(
            &AuditFilter {
                resource: Some(doc.to_string()),
                actor: None,
                since,
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(stored, vec![entries[2].clone()], "the first write stays");
}
