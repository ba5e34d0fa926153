//! The delivery store on every backend: requests and their counters, the exactly-once
//! claim of a (request, document) (a compare-and-set of its result), and each
//! document's latest delivery.

use super::at;
use crate::common::Backend;
use billrun_app::model::deliveries::{
    DeliveryCounters, DeliveryRequest, DeliveryResult, DeliveryState, DeliveryStatus,
    DeliveryTrigger, Feedback, FeedbackStep, SkipReason,
};
use billrun_app::StoreError;
use billrun_domain::ids::{DeliveryRequestId, DocumentId, RunId};
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;

fn request(run: RunId, requested: u64, created_at: &str) -> DeliveryRequest {
    DeliveryRequest {
        id: DeliveryRequestId(uuid::Uuid::new_v4()),
        run_id: run,
        requested,
        email_zero_amount_invoices: false,
        only_unsent: false,
        template_id: "T-1".into(),
        trigger: DeliveryTrigger::Api,
        created_at: at(created_at),
    }
}

fn new_run() -> RunId {
    RunId(uuid::Uuid::new_v4())
}

fn new_document() -> DocumentId {
    DocumentId(uuid::Uuid::new_v4())
}

fn result(r: &DeliveryRequest, doc: DocumentId, state: DeliveryState) -> DeliveryResult {
    let t = match &state {
        DeliveryState::Sending { since, .. } => *since,
        DeliveryState::Sent { at, .. } => *at,
        _ => at("2026-02-01T10:00:00Z"),
    };
    DeliveryResult {
        request_id: r.id,
        document_id: doc,
        state,
        at: t,
    }
}

fn sending(since: DateTime<Utc>, attempt: u32) -> DeliveryState {
    DeliveryState::Sending { since, attempt }
}

fn sent(when: DateTime<Utc>) -> DeliveryState {
    DeliveryState::Sent {
        at: when,
        provider_id: Some("provider-1".into()),
    }
}

fn failed(attempt: u32) -> DeliveryState {
    DeliveryState::Failed {
        reason: "550 mailbox unavailable for billing@example.com".into(),
        attempt,
    }
}

async fn counters(b: &Backend, r: &DeliveryRequest) -> DeliveryCounters {
    b.deliveries
        .get_delivery_request(r.id)
        .await
        .unwrap()
        .expect("the request is stored")
        .1
}

/// Neither a result of (request, document) nor a delivery of the document is stored.
async fn assert_nothing_recorded(b: &Backend, r: &DeliveryRequest, doc: DocumentId) {
    assert_eq!(b.deliveries.delivery_result(r.id, doc).await.unwrap(), None);
    assert_eq!(b.deliveries.document_delivery(doc).await.unwrap(), None);
}

/// Records `states` one after the other for (request, document), each expecting the one
/// before; the last result.
async fn record_all(
    b: &Backend,
    r: &DeliveryRequest,
    doc: DocumentId,
    states: Vec<DeliveryState>,
) -> DeliveryResult {
    let mut before: Option<DeliveryResult> = None;
    for state in states {
        let next = result(r, doc, state);
        b.deliveries
            .record_delivery(before.as_ref(), &next)
            .await
            .unwrap();
        before = Some(next);
    }
    before.expect("at least one state")
}

/// A claim at `when` and its send at `when`.
async fn send(b: &Backend, r: &DeliveryRequest, doc: DocumentId, when: DateTime<Utc>) {
    record_all(b, r, doc, vec![sending(when, 1), sent(when)]).await;
}

pub(super) async fn delivery_requests_are_created_once_and_the_last_created_is_the_runs_latest(
    b: Backend,
) {
    let run = new_run();
    assert_eq!(
        b.deliveries.latest_delivery_request(run).await.unwrap(),
        None
    );
    let first = request(run, 3, "2026-02-01T09:00:00Z");
    b.deliveries.create_delivery_request(&first).await.unwrap();
    let read = b.deliveries.get_delivery_request(first.id).await.unwrap();
    let zero = DeliveryCounters {
        requested: 3,
        ..DeliveryCounters::default()
    };
    assert_eq!(read, Some((first.clone(), zero)));
    assert_eq!(
        b.deliveries.latest_delivery_request(run).await.unwrap(),
        Some(first.id)
    );
    // The same id again, even with other content: refused, and the stored one stays.
    let mut again = first.clone();
    again.requested = 9;
    let err = b
        .deliveries
        .create_delivery_request(&again)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(
        b.deliveries.get_delivery_request(first.id).await.unwrap(),
        read
    );
    let second = request(run, 2, "2026-02-02T09:00:00Z");
    b.deliveries.create_delivery_request(&second).await.unwrap();
    assert_eq!(
        b.deliveries.latest_delivery_request(run).await.unwrap(),
        Some(second.id)
    );
    let unknown = DeliveryRequestId(uuid::Uuid::new_v4());
    assert!(b
        .deliveries
        .get_delivery_request(unknown)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        b.deliveries
            .latest_delivery_request(new_run())
            .await
            .unwrap(),
        None
    );
}

pub(super) async fn a_delivery_claim_then_a_send_counts_one_sent_and_shows_on_the_document(
    b: Backend,
) {
    let r = request(new_run(), 2, "2026-02-01T09:00:00Z");
    b.deliveries.create_delivery_request(&r).await.unwrap();
    let doc = new_document();
    assert_nothing_recorded(&b, &r, doc).await;
    let t0 = at("2026-02-01T10:00:00.123456789Z");
    let claim = result(&r, doc, sending(t0, 1));
    b.deliveries.record_delivery(None, &claim).await.unwrap();
    // A claim is no result: nothing counted yet, the document is queued.
    assert_eq!(counters(&b, &r).await.sent, 0);
    assert_eq!(
        b.deliveries.delivery_result(r.id, doc).await.unwrap(),
        Some(claim.clone())
    );
    let queued = b.deliveries.document_delivery(doc).await.unwrap().unwrap();
    assert_eq!(
        (queued.status, queued.request_id, queued.last_sent_at),
        (DeliveryStatus::Queued, r.id, None)
    );
    let t1 = t0 + Duration::seconds(2);
    let done = result(&r, doc, sent(t1));
    b.deliveries
        .record_delivery(Some(&claim), &done)
        .await
        .unwrap();
    let c = counters(&b, &r).await;
    assert_eq!(
        c,
        DeliveryCounters {
            requested: 2,
            sent: 1,
            last_sent_at: Some(t1),
            ..DeliveryCounters::default()
        }
    );
    assert_eq!(
        b.deliveries.delivery_result(r.id, doc).await.unwrap(),
        Some(done)
    );
    let shown = b.deliveries.document_delivery(doc).await.unwrap().unwrap();
    assert_eq!(
        (shown.status, shown.reason, shown.last_sent_at, shown.at),
        (DeliveryStatus::Sent, None, Some(t1), t1)
    );
}

pub(super) async fn a_stale_expected_delivery_result_is_a_conflict_that_writes_nothing(b: Backend) {
    let r = request(new_run(), 1, "2026-02-01T09:00:00Z");
    b.deliveries.create_delivery_request(&r).await.unwrap();
    let doc = new_document();
    let t0 = at("2026-02-01T10:00:00Z");
    let claim = result(&r, doc, sending(t0, 1));
    // Expecting a result where there is none.
    let err = b
        .deliveries
        .record_delivery(Some(&claim), &result(&r, doc, sent(t0)))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_nothing_recorded(&b, &r, doc).await;
    let done = record_all(
        &b,
        &r,
        doc,
        vec![sending(t0, 1), sent(t0 + Duration::seconds(1))],
    )
    .await;
    let before = (
        counters(&b, &r).await,
        b.deliveries.document_delivery(doc).await.unwrap(),
    );
    let late = t0 + Duration::seconds(600);
    // A sender whose claim was taken over (it expects its own Sending) and a sender
    // that expects nothing: both refused.
    for expected in [Some(&claim), None] {
        for next in [failed(1), sending(late, 2), sent(late)] {
            let err = b
                .deliveries
                .record_delivery(expected, &result(&r, doc, next))
                .await
                .unwrap_err();
            assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        }
    }
    assert_eq!(
        b.deliveries.delivery_result(r.id, doc).await.unwrap(),
        Some(done)
    );
    let after = (
        counters(&b, &r).await,
        b.deliveries.document_delivery(doc).await.unwrap(),
    );
    assert_eq!(after, before);
    assert_eq!(after.0.sent, 1);
}

pub(super) async fn concurrent_delivery_claims_of_one_document_have_exactly_one_winner(b: Backend) {
    let r = request(new_run(), 5, "2026-02-01T09:00:00Z");
    b.deliveries.create_delivery_request(&r).await.unwrap();
    let t0 = at("2026-02-01T10:00:00Z");
    for i in 0..5 {
        let doc = new_document();
        let one = result(&r, doc, sending(t0, 1));
        let other = result(&r, doc, sending(t0 + Duration::milliseconds(1), 1));
        let (a, b2) = tokio::join!(
            b.deliveries.record_delivery(None, &one),
            b.deliveries.record_delivery(None, &other)
        );
        let winner = match (a, b2) {
            (Ok(()), Err(StoreError::Conflict(_))) => one,
            (Err(StoreError::Conflict(_)), Ok(())) => other,
            outcome => panic!("trial {i}: expected one claim and one conflict, got {outcome:?}"),
        };
        assert_eq!(
            b.deliveries.delivery_result(r.id, doc).await.unwrap(),
            Some(winner.clone()),
            "trial {i}"
        );
        // Only the winner may record the send.
        let loser_view = result(&r, doc, sending(t0 + Duration::seconds(9), 1));
        let err = b
            .deliveries
            .record_delivery(Some(&loser_view), &result(&r, doc, sent(t0)))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        b.deliveries
            .record_delivery(Some(&winner), &result(&r, doc, sent(t0)))
            .await
            .unwrap();
    }
    assert_eq!(counters(&b, &r).await.sent, 5);
}

pub(super) async fn a_retried_delivery_failure_that_is_sent_moves_from_failed_to_sent(b: Backend) {
    let r = request(new_run(), 2, "2026-02-01T09:00:00Z");
    b.deliveries.create_delivery_request(&r).await.unwrap();
    let (retried, again) = (new_document(), new_document());
    let t0 = at("2026-02-01T10:00:00Z");
    let first = record_all(&b, &r, retried, vec![sending(t0, 1), failed(1)]).await;
    let c = counters(&b, &r).await;
    assert_eq!((c.sent, c.failed), (0, 1));
    let shown = b
        .deliveries
        .document_delivery(retried)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shown.status, DeliveryStatus::Failed);
    assert_eq!(
        shown.reason.as_deref(),
        Some("550 mailbox unavailable for billing@example.com")
    );
    // The retry claims the failed result: in flight again, no longer counted failed.
    let reclaim = result(&r, retried, sending(t0 + Duration::seconds(60), 2));
    b.deliveries
        .record_delivery(Some(&first), &reclaim)
        .await
        .unwrap();
    let c = counters(&b, &r).await;
    assert_eq!((c.sent, c.failed), (0, 0));
    let t1 = t0 + Duration::seconds(61);
    b.deliveries
        .record_delivery(Some(&reclaim), &result(&r, retried, sent(t1)))
        .await
        .unwrap();
    // A failure recorded again over its own failure counts once.
    let failure = record_all(&b, &r, again, vec![sending(t0, 1), failed(1)]).await;
    b.deliveries
        .record_delivery(Some(&failure), &result(&r, again, failed(2)))
        .await
        .unwrap();
    let c = counters(&b, &r).await;
    assert_eq!(
        (c.sent, c.failed, c.skipped, c.last_sent_at),
        (1, 1, 0, Some(t1))
    );
    assert_eq!(
        b.deliveries
            .document_delivery(retried)
            .await
            .unwrap()
            .unwrap()
            .status,
        DeliveryStatus::Sent
    );
}

pub(super) async fn skipped_deliveries_count_by_reason(b: Backend) {
    let r = request(new_run(), 4, "2026-02-01T09:00:00Z");
    b.deliveries.create_delivery_request(&r).await.unwrap();
    let no_address = DeliveryState::Skipped {
        reason: SkipReason::NoAddress,
    };
    let zero = DeliveryState::Skipped {
        reason: SkipReason::ZeroAmount,
    };
    let docs: Vec<DocumentId> = (0..4).map(|_| new_document()).collect();
    for (doc, state) in docs.iter().zip([no_address.clone(), no_address, zero]) {
        record_all(&b, &r, *doc, vec![state]).await;
    }
    let t0 = at("2026-02-01T10:00:00Z");
    send(&b, &r, docs[3], t0).await;
    let c = counters(&b, &r).await;
    assert_eq!(
        c,
        DeliveryCounters {
            requested: 4,
            sent: 1,
            skipped: 3,
            failed: 0,
            bounced: 0,
            complained: 0,
            skipped_reasons: BTreeMap::from([
                (SkipReason::NoAddress, 2),
                (SkipReason::ZeroAmount, 1)
            ]),
            last_sent_at: Some(t0),
        }
    );
    assert_eq!(
        c.status(),
        billrun_app::model::deliveries::DeliveryRequestStatus::Completed
    );
    let shown = b
        .deliveries
        .document_delivery(docs[2])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (shown.status, shown.reason.as_deref()),
        (
            DeliveryStatus::Skipped,
            Some(SkipReason::ZeroAmount.describe())
        )
    );
}

pub(super) async fn a_later_delivery_requests_skip_keeps_the_documents_last_send(b: Backend) {
    let run = new_run();
    let (first, second) = (
        request(run, 1, "2026-02-01T09:00:00Z"),
        request(run, 1, "2026-02-03T09:00:00Z"),
    );
    b.deliveries.create_delivery_request(&first).await.unwrap();
    b.deliveries.create_delivery_request(&second).await.unwrap();
    let doc = new_document();
    let t0 = at("2026-02-01T10:00:00.5Z");
    send(&b, &first, doc, t0).await;
    let claim = result(&second, doc, sending(t0 + Duration::days(2), 1));
    b.deliveries.record_delivery(None, &claim).await.unwrap();
    let queued = b.deliveries.document_delivery(doc).await.unwrap().unwrap();
    assert_eq!(
        (queued.status, queued.request_id, queued.last_sent_at),
        (DeliveryStatus::Queued, second.id, Some(t0))
    );
    let skip = result(
        &second,
        doc,
        DeliveryState::Skipped {
            reason: SkipReason::NoAddress,
        },
    );
    b.deliveries
        .record_delivery(Some(&claim), &skip)
        .await
        .unwrap();
    let shown = b.deliveries.document_delivery(doc).await.unwrap().unwrap();
    assert_eq!(
        (shown.status, shown.request_id, shown.last_sent_at),
        (DeliveryStatus::Skipped, second.id, Some(t0))
    );
    // Each request counts its own results.
    assert_eq!(counters(&b, &first).await.sent, 1);
    let c = counters(&b, &second).await;
    assert_eq!((c.sent, c.skipped, c.last_sent_at), (0, 1, None));
}

pub(super) async fn the_runs_last_delivery_is_the_latest_send_of_its_requests(b: Backend) {
    let run = new_run();
    assert_eq!(b.deliveries.run_last_sent(run).await.unwrap(), None);
    let (first, second) = (
        request(run, 9, "2026-02-01T09:00:00Z"),
        request(run, 1, "2026-02-03T09:00:00Z"),
    );
    b.deliveries.create_delivery_request(&first).await.unwrap();
    b.deliveries.create_delivery_request(&second).await.unwrap();
    assert_eq!(b.deliveries.run_last_sent(run).await.unwrap(), None);
    // Nine documents (more than a request has counter shards, so two share one) sent
    // latest first: each request keeps its latest send.
    let latest = at("2026-02-05T12:00:00.000000007Z");
    for i in 0..9 {
        let when = latest - Duration::minutes(i);
        send(&b, &first, new_document(), when).await;
    }
    let earlier = at("2026-02-04T08:00:00Z");
    send(&b, &second, new_document(), earlier).await;
    let c = counters(&b, &first).await;
    assert_eq!((c.sent, c.last_sent_at), (9, Some(latest)));
    assert_eq!(counters(&b, &second).await.last_sent_at, Some(earlier));
    assert_eq!(b.deliveries.run_last_sent(run).await.unwrap(), Some(latest));
    // Another run's requests are not this run's.
    let other = new_run();
    let elsewhere = request(other, 1, "2026-02-06T09:00:00Z");
    b.deliveries
        .create_delivery_request(&elsewhere)
        .await
        .unwrap();
    let later = latest + Duration::days(1);
    record_all(&b, &elsewhere, new_document(), vec![sent(later)]).await;
    assert_eq!(b.deliveries.run_last_sent(run).await.unwrap(), Some(latest));
    assert_eq!(
        b.deliveries.run_last_sent(other).await.unwrap(),
        Some(later)
    );
}

pub(super) async fn a_delivery_result_of_an_unknown_request_is_refused_and_writes_nothing(
    b: Backend,
) {
    let r = request(new_run(), 1, "2026-02-01T09:00:00Z");
    let doc = new_document();
    let err = b
        .deliveries
        .record_delivery(
            None,
            &result(&r, doc, sending(at("2026-02-01T10:00:00Z"), 1)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Fatal(_)), "{err:?}");
    assert_nothing_recorded(&b, &r, doc).await;
}

/// The state a feedback makes of `before`'s.
fn after_feedback(before: &DeliveryResult, feedback: Feedback) -> DeliveryResult {
    match feedback.step(&before.state) {
        FeedbackStep::Record(state) => DeliveryResult {
            state,
            ..before.clone()
        },
        other => panic!("{feedback:?} over {:?}: {other:?}", before.state),
    }
}

pub(super) async fn bounces_and_complaints_count_among_the_sent_and_show_on_the_document(
    b: Backend,
) {
    let r = request(new_run(), 3, "2026-02-01T09:00:00Z");
    b.deliveries.create_delivery_request(&r).await.unwrap();
    let (t0, t1) = (at("2026-02-01T10:00:00Z"), at("2026-02-01T10:05:00Z"));
    let docs: Vec<DocumentId> = (0..3).map(|_| new_document()).collect();
    let mut sends = Vec::new();
    for doc in &docs {
        sends.push(record_all(&b, &r, *doc, vec![sending(t0, 1), sent(t0)]).await);
    }
    let bounce = Feedback::Bounce {
        at: t1,
        permanent: true,
        reason: "Permanent bounce (General)".into(),
    };
    let bounced = after_feedback(&sends[0], bounce);
    b.deliveries
        .record_delivery(Some(&sends[0]), &bounced)
        .await
        .unwrap();
    let complaint = Feedback::Complaint {
        at: t1,
        reason: "abuse".into(),
    };
    let complained = after_feedback(&sends[1], complaint.clone());
    b.deliveries
        .record_delivery(Some(&sends[1]), &complained)
        .await
        .unwrap();
    // A complaint after a bounce outranks it.
    let then = after_feedback(&bounced, complaint);
    b.deliveries
        .record_delivery(Some(&bounced), &then)
        .await
        .unwrap();
    let c = counters(&b, &r).await;
    assert_eq!(
        (c.sent, c.bounced, c.complained, c.last_sent_at),
        (3, 0, 2, Some(t0)),
        "{c:?}"
    );
    // The bounce alone, on the third.
    let third = after_feedback(
        &sends[2],
        Feedback::Bounce {
            at: t1,
            permanent: false,
            reason: "Transient bounce (MailboxFull)".into(),
        },
    );
    b.deliveries
        .record_delivery(Some(&sends[2]), &third)
        .await
        .unwrap();
    let c = counters(&b, &r).await;
    assert_eq!((c.sent, c.bounced, c.complained), (3, 1, 2), "{c:?}");
    let shown = b
        .deliveries
        .document_delivery(docs[2])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (shown.status, shown.reason.as_deref(), shown.last_sent_at),
        (
            DeliveryStatus::Bounced,
            Some("Transient bounce (MailboxFull)"),
            Some(t0)
        )
    );
    // A report recorded again over a stale read is the caller's conflict.
    let again = b.deliveries.record_delivery(Some(&sends[2]), &third).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(
        b.deliveries
            .document_delivery(docs[0])
            .await
            .unwrap()
            .unwrap()
            .status,
        DeliveryStatus::Complained
    );
}
