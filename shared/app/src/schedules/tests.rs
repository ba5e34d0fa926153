//! The schedules over the memory adapters, on a clock the tests set.
use super::*;
use crate::error::AppError;
use crate::memory::{MemoryQueue, MemoryStore};
use crate::worker::{drain, WorkerConfig};
use crate::App;
use billrun_domain::ids::{RunId, RunScheduleId, ScheduleId};
use billrun_domain::request::RunRequest;
use billrun_domain::request::RunType;
use billrun_domain::run::RunStatus;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde_json::json;
use std::sync::Arc;

struct TestClock(Mutex<DateTime<Utc>>);

impl crate::ports::Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock()
    }
}

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

struct Env {
    app: App,
    queue: Arc<MemoryQueue>,
    clock: Arc<TestClock>,
}

fn env(start: &str) -> Env {
    let queue = Arc::new(MemoryQueue::new());
    let mut app = App::in_memory(
        Arc::new(MemoryStore::new()),
        queue.clone(),
        std::sync::Arc::new(crate::memory::NoRenderer),
    );
    let clock = Arc::new(TestClock(Mutex::new(utc(start))));
    app.clock = clock.clone();
    Env { app, queue, clock }
}

impl Env {
    async fn tick(&self, at: DateTime<Utc>) -> TickReport {
        *self.clock.0.lock() = at;
        self.app.tick(at).await.unwrap()
    }

    async fn drain(&self) {
        drain(
            Arc::new(self.app.clone()),
            self.queue.clone(),
            WorkerConfig::default(),
        )
        .await;
    }

    async fn status(&self, id: RunId) -> RunStatus {
        self.app.queries().get_run(id).await.unwrap().status
    }
}

fn schedule(rec: serde_json::Value, target: serde_json::Value, missed: &str) -> Vec<u8> {
    json!({
        "runTemplate": {"name": "Monthly run"},
        "recurrence": rec,
        "targetDate": target,
        "missed": missed,
        "enabled": true
    })
    .to_string()
    .into_bytes()
}

fn scheduled(at: &str) -> RunRequest {
    let mut r = RunRequest::for_target("2024-02-01".parse().unwrap());
    r.run_type = RunType::Scheduled;
    r.scheduled_at = Some(utc(at));
    r
}

#[tokio::test]
async fn a_scheduled_run_starts_at_its_time_and_not_one_tick_before() {
    let e = env("2024-01-01T00:00:00Z");
    let run = e
        .app
        .pipeline()
        .create_run(scheduled("2024-02-01T06:00:00Z"), None)
        .await
        .unwrap()
        .run()
        .clone();
    assert_eq!(run.status, RunStatus::Pending);
    let before = e.tick(utc("2024-02-01T05:59:59Z")).await;
    assert!(before.started.is_empty());
    assert_eq!(e.status(run.id).await, RunStatus::Pending);
    let at = e.tick(utc("2024-02-01T06:00:00Z")).await;
    assert_eq!(at.started, vec![run.id]);
    assert_eq!(e.status(run.id).await, RunStatus::Processing);
    let again = e.tick(utc("2024-02-01T06:05:00Z")).await;
    assert!(again.started.is_empty());
    e.drain().await;
    assert_eq!(e.status(run.id).await, RunStatus::Completed);
}

#[tokio::test]
async fn a_canceled_scheduled_run_never_starts_and_a_patched_one_starts_at_its_new_time() {
    let e = env("2024-01-01T00:00:00Z");
    let canceled = e
        .app
        .pipeline()
        .create_run(scheduled("2024-02-01T06:00:00Z"), None)
        .await
        .unwrap()
        .run()
        .id;
    e.app.pipeline().cancel_run(canceled).await.unwrap();
    let moved = e
        .app
        .pipeline()
        .create_run(scheduled("2024-02-01T06:00:00Z"), None)
        .await
        .unwrap()
        .run()
        .id;
    e.app
        .pipeline()
        .patch_run(moved, br#"{"scheduledAt": "2024-02-02T06:00:00Z"}"#)
        .await
        .unwrap();
    let first = e.tick(utc("2024-02-01T07:00:00Z")).await;
    assert!(first.started.is_empty(), "{first:?}");
    assert_eq!(e.status(canceled).await, RunStatus::Canceled);
    assert_eq!(e.status(moved).await, RunStatus::Pending);
    let second = e.tick(utc("2024-02-02T06:00:00Z")).await;
    assert_eq!(second.started, vec![moved]);
}

/// Ticks one second before and at each expected instant, running each run to its
/// end in between.
async fn one_run_per_expected_instant(e: &Env, id: &str, expected: &[&str]) {
    let sid = RunScheduleId::parse(id).unwrap();
    for (i, at) in expected.iter().enumerate() {
        let at = utc(at);
        let before = e.tick(at - TimeDelta::seconds(1)).await;
        assert!(before.created.is_empty(), "{id} #{i}: {before:?}");
        let report = e.tick(at).await;
        assert_eq!(report.created.len(), 1, "{id} #{i} at {at}: {report:?}");
        let run = e.app.queries().get_run(report.created[0]).await.unwrap();
        assert_eq!(run.id, occurrence_run_id(&sid, at));
        assert_eq!(run.request.scheduled_at, Some(at));
        e.drain().await;
    }
}

#[tokio::test]
async fn monthly_schedules_at_0230_in_berlin_and_new_york_run_once_a_month_at_the_right_instants() {
    let e = env("2024-01-01T00:00:00Z");
    e.app
        .schedules().put_run_schedule(
            "berlin",
            &schedule(
                json!({"kind": "Monthly", "dayOfMonth": 31, "localTime": "02:30", "timeZone": "Europe/Berlin"}),
                json!({"rule": "OccurrenceDate"}),
                "CatchUpAll",
            ),
        )
        .await
        .unwrap();
    one_run_per_expected_instant(
        &e,
        "berlin",
        &[
            "2024-01-31T01:30:00Z",
            "2024-02-29T01:30:00Z",
            "2024-03-31T01:00:00Z", // the gap: 03:00 CEST
            "2024-04-30T00:30:00Z",
            "2024-05-31T00:30:00Z",
            "2024-06-30T00:30:00Z",
            "2024-07-31T00:30:00Z",
            "2024-08-31T00:30:00Z",
            "2024-09-30T00:30:00Z",
            "2024-10-31T01:30:00Z",
            "2024-11-30T01:30:00Z",
            "2024-12-31T01:30:00Z",
        ],
    )
    .await;
    let e = env("2024-01-01T00:00:00Z");
    e.app
        .schedules().put_run_schedule(
            "new-york",
            &schedule(
                json!({"kind": "Monthly", "dayOfMonth": 10, "localTime": "02:30", "timeZone": "America/New_York"}),
                json!({"rule": "OccurrenceDate"}),
                "CatchUpAll",
            ),
        )
        .await
        .unwrap();
    one_run_per_expected_instant(
        &e,
        "new-york",
        &[
            "2024-01-10T07:30:00Z",
            "2024-02-10T07:30:00Z",
            "2024-03-10T07:00:00Z", // the gap: 03:00 EDT
            "2024-04-10T06:30:00Z",
            "2024-05-10T06:30:00Z",
            "2024-06-10T06:30:00Z",
            "2024-07-10T06:30:00Z",
            "2024-08-10T06:30:00Z",
            "2024-09-10T06:30:00Z",
            "2024-10-10T06:30:00Z",
            "2024-11-10T07:30:00Z",
            "2024-12-10T07:30:00Z",
        ],
    )
    .await;
}

#[tokio::test]
async fn the_berlin_fold_occurrence_creates_one_run_though_0230_happens_twice() {
    let e = env("2024-10-01T00:00:00Z");
    e.app
        .schedules().put_run_schedule(
            "fold",
            &schedule(
                json!({"kind": "Monthly", "dayOfMonth": 27, "localTime": "02:30", "timeZone": "Europe/Berlin"}),
                json!({"rule": "OccurrenceDate"}),
                "CatchUpAll",
            ),
        )
        .await
        .unwrap();
    let first = e.tick(utc("2024-10-27T00:30:00Z")).await;
    assert_eq!(first.created.len(), 1);
    e.drain().await;
    let second = e.tick(utc("2024-10-27T01:30:00Z")).await;
    assert!(second.created.is_empty(), "{second:?}");
}

async fn after_a_three_month_outage(missed: &str) -> (Env, Vec<RunId>) {
    let e = env("2024-01-15T00:00:00Z");
    e.app
        .schedules().put_run_schedule(
            "monthly",
            &schedule(
                json!({"kind": "Monthly", "dayOfMonth": 1, "localTime": "02:30", "timeZone": "Europe/Berlin"}),
                json!({"rule": "LastDayOfPreviousMonth"}),
                missed,
            ),
        )
        .await
        .unwrap();
    let mut runs = Vec::new();
    let now = utc("2024-04-20T00:00:00Z");
    for _ in 0..6 {
        let (a, b) = tokio::join!(e.app.tick(now), e.app.tick(now));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(a.created.len() + b.created.len() <= 1, "{a:?} {b:?}");
        runs.extend(a.created.into_iter().chain(b.created));
        // Never side by side: at most one run of the schedule is Processing.
        let mut processing = 0;
        for r in &runs {
            if e.status(*r).await == RunStatus::Processing {
                processing += 1;
            }
        }
        assert!(processing <= 1);
        e.drain().await;
    }
    (e, runs)
}

#[tokio::test]
async fn catch_up_all_after_a_three_month_outage_runs_three_runs_oldest_first_one_after_another() {
    let (e, runs) = after_a_three_month_outage("CatchUpAll").await;
    let mut targets = Vec::new();
    for r in &runs {
        let run = e.app.queries().get_run(*r).await.unwrap();
        assert_eq!(run.status, RunStatus::Completed);
        targets.push(run.target_date.to_string());
    }
    assert_eq!(targets, ["2024-01-31", "2024-02-29", "2024-03-31"]);
    let view = e
        .app
        .schedules()
        .get_run_schedule(&RunScheduleId::parse("monthly").unwrap())
        .await
        .unwrap();
    assert_eq!(
        view.last_occurrence.unwrap().occurrence.at,
        utc("2024-04-01T00:30:00Z")
    );
    assert_eq!(
        view.next_occurrence.unwrap().at,
        utc("2024-05-01T00:30:00Z")
    );
}

#[tokio::test]
async fn latest_only_after_a_three_month_outage_runs_one_run_for_the_latest_occurrence() {
    let (e, runs) = after_a_three_month_outage("LatestOnly").await;
    assert_eq!(runs.len(), 1);
    let run = e.app.queries().get_run(runs[0]).await.unwrap();
    assert_eq!(run.target_date.to_string(), "2024-03-31");
}

#[tokio::test]
async fn a_paused_schedule_creates_nothing_and_resumes_from_the_next_occurrence() {
    let e = env("2024-01-15T00:00:00Z");
    let id = RunScheduleId::parse("weekly").unwrap();
    e.app
        .schedules().put_run_schedule(
            "weekly",
            &schedule(
                json!({"kind": "Weekly", "weekday": "Monday", "localTime": "09:00", "timeZone": "UTC"}),
                json!({"rule": "OccurrenceDate", "offsetDays": -1}),
                "CatchUpAll",
            ),
        )
        .await
        .unwrap();
    e.app.schedules().pause_run_schedule(&id).await.unwrap();
    assert!(e.tick(utc("2024-02-01T00:00:00Z")).await.created.is_empty());
    let view = e.app.schedules().resume_run_schedule(&id).await.unwrap();
    // 2024-02-05 is a Monday; the Mondays while paused are skipped.
    assert_eq!(
        view.next_occurrence.unwrap().at,
        utc("2024-02-05T09:00:00Z")
    );
    let report = e.tick(utc("2024-02-05T09:00:00Z")).await;
    assert_eq!(report.created.len(), 1);
    let run = e.app.queries().get_run(report.created[0]).await.unwrap();
    assert_eq!(run.target_date.to_string(), "2024-02-04");
    e.app.schedules().delete_run_schedule(&id).await.unwrap();
    assert!(matches!(
        e.app.schedules().get_run_schedule(&id).await,
        Err(AppError::NotFound(_))
    ));
    assert!(matches!(
        e.app.schedules().delete_run_schedule(&id).await,
        Err(AppError::NotFound(_))
    ));
}

#[tokio::test]
async fn an_invoice_schedule_item_is_executed_on_its_date_once_even_with_concurrent_ticks() {
    let e = env("2023-12-01T00:00:00Z");
    e.app
        .reference().import_book(
            br#"{
  "accounts": [{"id": "A-S", "name": "Scheduled", "currency": "USD", "billCycleDay": 1, "taxRate": "0.1"}],
  "subscriptions": [{"id": "S-S", "accountId": "A-S", "productId": "P", "startDate": "2024-01-01", "endDate": "2025-01-01",
"charges": [{"id": "C-S", "type": "Recurring", "price": "99.00", "billingPeriod": "Month"}]}],
  "invoiceSchedules": [{"id": "IS-1", "accountId": "A-S", "subscriptionIds": ["S-S"], "items": [
{"id": "I-1", "invoiceDate": "2024-01-01", "amount": "600.00"},
{"id": "I-2", "invoiceDate": "2024-07-01", "amount": "600.00"}]}]
}"#,
        )
        .await
        .unwrap();
    assert!(e
        .tick(utc("2023-12-31T23:59:59Z"))
        .await
        .executed
        .is_empty());
    let now = utc("2024-01-01T00:00:00Z");
    let (a, b) = tokio::join!(e.app.tick(now), e.app.tick(now));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.executed.len() + b.executed.len(), 1, "{a:?} {b:?}");
    let stored = e
        .app
        .reference()
        .get_schedule(&ScheduleId::parse("IS-1").unwrap())
        .await
        .unwrap();
    assert_eq!(stored.processed.len(), 1);
    assert_eq!(stored.processed[0].item_id.as_str(), "I-1");
    assert!(e
        .tick(utc("2024-06-30T00:00:00Z"))
        .await
        .executed
        .is_empty());
    let july = e.tick(utc("2024-07-01T00:00:00Z")).await;
    assert_eq!(july.executed.len(), 1);
    assert!(e
        .tick(utc("2024-07-02T00:00:00Z"))
        .await
        .executed
        .is_empty());
}
