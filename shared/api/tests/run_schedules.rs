//! `/v1/run-schedules`: create, read, replace, pause, resume, delete, and the errors.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::{Method, StatusCode};
use common::TestApi;
use serde_json::json;

fn body() -> String {
    json!({
        "runTemplate": {"name": "Month end", "autoPost": true},
        "recurrence": {"kind": "Monthly", "dayOfMonth": 31, "localTime": "02:30", "timeZone": "Europe/Berlin"},
        "targetDate": {"rule": "OccurrenceDate", "offsetDays": 0},
        "missed": "CatchUpAll",
        "enabled": true
    })
    .to_string()
}

#[tokio::test]
async fn a_run_schedule_is_created_read_paused_resumed_and_deleted() {
    let api = TestApi::new();
    let created = api.put("/v1/run-schedules/month-end", &body()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["id"], "month-end");
    assert_eq!(created.body["recurrence"]["dayOfMonth"], 31);
    assert_eq!(created.body["runTemplate"]["name"], "Month end");
    assert!(created.body["nextOccurrence"]["at"].is_string());
    assert!(created.body["lastOccurrence"].is_null());
    let replaced = api.put("/v1/run-schedules/month-end", &body()).await;
    assert_eq!(replaced.status, StatusCode::OK);
    let got = api.get("/v1/run-schedules/month-end").await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body["missed"], "CatchUpAll");
    let paused = api.post("/v1/run-schedules/month-end/pause", "").await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.text);
    assert_eq!(paused.body["enabled"], false);
    assert!(paused.body["nextOccurrence"].is_null());
    let resumed = api.post("/v1/run-schedules/month-end/resume", "").await;
    assert_eq!(resumed.body["enabled"], true);
    assert!(resumed.body["nextOccurrence"]["at"].is_string());
    let deleted = api
        .call(Method::DELETE, "/v1/run-schedules/month-end", None, &[])
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("/v1/run-schedules/month-end").await.status,
        StatusCode::NOT_FOUND
    );
    let again = api
        .call(Method::DELETE, "/v1/run-schedules/month-end", None, &[])
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(
        api.post("/v1/run-schedules/nope/pause", "").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_invalid_run_schedule_is_refused_with_the_field_path_and_writes_nothing() {
    let api = TestApi::new();
    let mut b: serde_json::Value = serde_json::from_str(&body()).unwrap();
    b["recurrence"]["timeZone"] = json!("Europe/Atlantis");
    let r = api.put("/v1/run-schedules/bad", &b.to_string()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["code"], "validation_failed");
    assert_eq!(r.body["field"], "recurrence.timeZone");
    let mut b: serde_json::Value = serde_json::from_str(&body()).unwrap();
    b["runTemplate"]["targetDate"] = json!("2024-01-01");
    let r = api.put("/v1/run-schedules/bad", &b.to_string()).await;
    assert_eq!(r.body["field"], "runTemplate.targetDate");
    let r = api.put("/v1/run-schedules/bad%23x", &body()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["field"], "id");
    assert_eq!(
        api.get("/v1/run-schedules/bad").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn run_schedules_are_listed_in_id_order_a_page_at_a_time() {
    let api = TestApi::new();
    for id in ["c", "a", "b"] {
        let r = api.put(&format!("/v1/run-schedules/{id}"), &body()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    assert_eq!(
        api.post("/v1/run-schedules/b/pause", "").await.status,
        StatusCode::OK
    );
    let first = api.get("/v1/run-schedules?limit=2").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let ids = |r: &common::Reply| {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&first), ["a", "b"]);
    assert!(first.body["items"][0]["nextOccurrence"]["at"].is_string());
    assert_eq!(first.body["items"][1]["enabled"], false);
    assert!(first.body["items"][1]["nextOccurrence"].is_null());
    let cursor = first.body["nextCursor"].as_str().unwrap();
    let second = api
        .get(&format!("/v1/run-schedules?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(ids(&second), ["c"]);
    assert!(second.body["nextCursor"].is_null());
    let bad = api.get("/v1/run-schedules?cursor=eyJ4IjoxfQ").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["field"], "cursor");
    assert_eq!(
        api.get("/v1/run-schedules?limit=0").await.body["field"],
        "limit"
    );
}

async fn create_only(api: &TestApi) -> common::Reply {
    api.call(
        Method::PUT,
        "/v1/run-schedules/month-end",
        Some(&body()),
        &[("content-type", "application/json"), ("if-none-match", "*")],
    )
    .await
}

#[tokio::test]
async fn a_create_only_put_makes_a_new_schedule_and_refuses_a_taken_id_at_the_id() {
    let api = TestApi::new();
    let made = create_only(&api).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let taken = create_only(&api).await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.text);
    assert_eq!(taken.body["code"], "run_schedule_exists");
    assert_eq!(taken.body["field"], "id");
    let odd = api
        .call(
            Method::PUT,
            "/v1/run-schedules/other",
            Some(&body()),
            &[
                ("content-type", "application/json"),
                ("if-none-match", "\"v1\""),
            ],
        )
        .await;
    assert_eq!(odd.status, StatusCode::BAD_REQUEST, "{}", odd.text);
    assert_eq!(odd.body["field"], "If-None-Match");
    assert_eq!(
        api.get("/v1/run-schedules/other").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn creates_racing_for_one_id_make_one_schedule() {
    let api = TestApi::new();
    let schedules = api.app.schedules();
    let b = body();
    let tries = (0..8).map(|_| schedules.create_run_schedule("race", b.as_bytes()));
    let results = futures_util::future::join_all(tries).await;
    let made = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(made, 1, "{results:?}");
    assert!(results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(|e| matches!(
            e,
            billrun_app::AppError::Conflict {
                code: billrun_app::ConflictCode::RunScheduleExists,
                ..
            }
        )));
}
