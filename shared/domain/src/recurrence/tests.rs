//! The recurrence rules' cases: each with the dates it must give.

use super::*;
use serde_json::json;

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn spec(recurrence: serde_json::Value) -> RunScheduleSpec {
    spec_with(recurrence, json!({"rule": "OccurrenceDate"}), "CatchUpAll")
}

fn spec_with(
    recurrence: serde_json::Value,
    target: serde_json::Value,
    missed: &str,
) -> RunScheduleSpec {
    let body = json!({
        "runTemplate": {"name": "Nightly", "autoPost": true},
        "recurrence": recurrence,
        "targetDate": target,
        "missed": missed,
    });
    RunScheduleSpec::parse(body.to_string().as_bytes()).unwrap()
}

fn monthly(day: u32, time: &str, tz: &str) -> RunScheduleSpec {
    spec(json!({"kind": "Monthly", "dayOfMonth": day, "localTime": time, "timeZone": tz}))
}

/// The instants of the first `n` occurrences after `after`.
fn instants(s: &RunScheduleSpec, after: &str, n: usize) -> Vec<DateTime<Utc>> {
    let mut out = vec![];
    let mut from = utc(after);
    for _ in 0..n {
        let o = s.next_occurrence(from).unwrap();
        out.push(o.at);
        from = o.at;
    }
    out
}

fn all(xs: &[&str]) -> Vec<DateTime<Utc>> {
    xs.iter().map(|x| utc(x)).collect()
}

fn parse_err(body: serde_json::Value) -> FieldError {
    RunScheduleSpec::parse(body.to_string().as_bytes()).unwrap_err()
}

#[test]
fn day_31_falls_on_the_last_day_of_february_in_leap_and_common_years() {
    let s = monthly(31, "12:00", "UTC");
    assert_eq!(
        instants(&s, "2024-01-31T12:00:00Z", 2),
        all(&["2024-02-29T12:00:00Z", "2024-03-31T12:00:00Z"])
    );
    assert_eq!(
        instants(&s, "2023-01-31T12:00:00Z", 3),
        all(&[
            "2023-02-28T12:00:00Z",
            "2023-03-31T12:00:00Z",
            "2023-04-30T12:00:00Z"
        ])
    );
}

#[test]
fn a_monthly_schedule_at_0230_in_berlin_runs_once_a_month_across_both_dst_changes() {
    // CET is UTC+1, CEST UTC+2. 2024-03-31 02:30 does not exist (02:00 CET jumps to
    // 03:00 CEST = 01:00Z): the occurrence runs at 03:00 CEST.
    let s = monthly(31, "02:30", "Europe/Berlin");
    assert_eq!(
        instants(&s, "2024-01-01T00:00:00Z", 12),
        all(&[
            "2024-01-31T01:30:00Z",
            "2024-02-29T01:30:00Z",
            "2024-03-31T01:00:00Z",
            "2024-04-30T00:30:00Z",
            "2024-05-31T00:30:00Z",
            "2024-06-30T00:30:00Z",
            "2024-07-31T00:30:00Z",
            "2024-08-31T00:30:00Z",
            "2024-09-30T00:30:00Z",
            "2024-10-31T01:30:00Z",
            "2024-11-30T01:30:00Z",
            "2024-12-31T01:30:00Z",
        ])
    );
}

#[test]
fn the_berlin_spring_forward_gap_at_0230_runs_at_the_next_valid_instant() {
    let s = monthly(31, "02:30", "Europe/Berlin");
    let o = s.next_occurrence(utc("2024-03-01T00:00:00Z")).unwrap();
    assert_eq!(o.at, utc("2024-03-31T01:00:00Z")); // 03:00 CEST
    assert_eq!(o.local_date, date("2024-03-31"));
    assert_eq!(o.target_date, date("2024-03-31"));
}

#[test]
fn the_berlin_fall_back_fold_at_0230_runs_once_at_the_earlier_instant() {
    // 2024-10-27 02:30 happens at 00:30Z (CEST) and again at 01:30Z (CET).
    let s = monthly(27, "02:30", "Europe/Berlin");
    let o = s.next_occurrence(utc("2024-10-01T00:00:00Z")).unwrap();
    assert_eq!(o.at, utc("2024-10-27T00:30:00Z"));
    // The second 02:30 is not another occurrence: next is November's.
    let next = s.next_occurrence(o.at).unwrap();
    assert_eq!(next.at, utc("2024-11-27T01:30:00Z"));
    let due = s.due_occurrences(utc("2024-10-26T00:00:00Z"), utc("2024-10-27T03:00:00Z"));
    assert_eq!(due.len(), 1);
}

#[test]
fn a_monthly_schedule_at_0230_in_new_york_runs_once_a_month_across_both_dst_changes() {
    // EST is UTC-5, EDT UTC-4. 2024-03-10 02:30 does not exist (02:00 EST jumps to
    // 03:00 EDT = 07:00Z); on 2024-11-03 the fold is 01:00-02:00, so 02:30 is EST.
    let s = monthly(10, "02:30", "America/New_York");
    assert_eq!(
        instants(&s, "2024-01-01T00:00:00Z", 12),
        all(&[
            "2024-01-10T07:30:00Z",
            "2024-02-10T07:30:00Z",
            "2024-03-10T07:00:00Z",
            "2024-04-10T06:30:00Z",
            "2024-05-10T06:30:00Z",
            "2024-06-10T06:30:00Z",
            "2024-07-10T06:30:00Z",
            "2024-08-10T06:30:00Z",
            "2024-09-10T06:30:00Z",
            "2024-10-10T06:30:00Z",
            "2024-11-10T07:30:00Z",
            "2024-12-10T07:30:00Z",
        ])
    );
    let fold = monthly(3, "01:30", "America/New_York");
    let o = fold.next_occurrence(utc("2024-11-01T00:00:00Z")).unwrap();
    assert_eq!(o.at, utc("2024-11-03T05:30:00Z")); // 01:30 EDT, not 01:30 EST
    assert_eq!(
        fold.next_occurrence(o.at).unwrap().at,
        utc("2024-12-03T06:30:00Z")
    );
}

#[test]
fn a_weekly_schedule_keeps_its_local_time_across_dst() {
    let s = spec(
        json!({"kind": "Weekly", "weekday": "Sunday", "localTime": "02:30", "timeZone": "Europe/Berlin"}),
    );
    assert_eq!(
        instants(&s, "2024-03-20T00:00:00Z", 3),
        all(&[
            "2024-03-24T01:30:00Z",
            "2024-03-31T01:00:00Z",
            "2024-04-07T00:30:00Z"
        ])
    );
    assert_eq!(
        instants(&s, "2024-10-15T00:00:00Z", 3),
        all(&[
            "2024-10-20T00:30:00Z",
            "2024-10-27T00:30:00Z",
            "2024-11-03T01:30:00Z"
        ])
    );
}

#[test]
fn a_weekly_schedule_on_its_own_weekday_after_its_time_waits_a_week() {
    let s = spec(
        json!({"kind": "Weekly", "weekday": "Monday", "localTime": "09:00", "timeZone": "UTC"}),
    );
    // 2024-04-01 is a Monday.
    assert_eq!(
        instants(&s, "2024-04-01T08:59:00Z", 2),
        all(&["2024-04-01T09:00:00Z", "2024-04-08T09:00:00Z"])
    );
    assert_eq!(
        instants(&s, "2024-04-01T09:00:00Z", 1),
        all(&["2024-04-08T09:00:00Z"])
    );
}

#[test]
fn every_n_days_starts_on_its_anchor_and_counts_from_it() {
    let s = spec(
        json!({"kind": "EveryNDays", "intervalDays": 10, "anchorDate": "2024-02-25", "localTime": "09:00", "timeZone": "UTC"}),
    );
    assert_eq!(
        instants(&s, "2024-01-01T00:00:00Z", 3),
        all(&[
            "2024-02-25T09:00:00Z",
            "2024-03-06T09:00:00Z",
            "2024-03-16T09:00:00Z"
        ])
    );
    assert_eq!(
        instants(&s, "2024-03-07T00:00:00Z", 1),
        all(&["2024-03-16T09:00:00Z"])
    );
    let berlin = spec(
        json!({"kind": "EveryNDays", "intervalDays": 5, "anchorDate": "2024-03-21", "localTime": "02:30", "timeZone": "Europe/Berlin"}),
    );
    assert_eq!(
        instants(&berlin, "2024-03-20T00:00:00Z", 4),
        all(&[
            "2024-03-21T01:30:00Z",
            "2024-03-26T01:30:00Z",
            "2024-03-31T01:00:00Z",
            "2024-04-05T00:30:00Z"
        ])
    );
}

#[test]
fn catch_up_all_returns_every_missed_occurrence_oldest_first_with_its_own_target_date() {
    let s = spec_with(
        json!({"kind": "Monthly", "dayOfMonth": 1, "localTime": "02:30", "timeZone": "Europe/Berlin"}),
        json!({"rule": "LastDayOfPreviousMonth"}),
        "CatchUpAll",
    );
    let due = s.due_occurrences(utc("2024-01-01T01:30:00Z"), utc("2024-04-20T00:00:00Z"));
    assert_eq!(
        due,
        vec![
            Occurrence {
                at: utc("2024-02-01T01:30:00Z"),
                local_date: date("2024-02-01"),
                target_date: date("2024-01-31")
            },
            Occurrence {
                at: utc("2024-03-01T01:30:00Z"),
                local_date: date("2024-03-01"),
                target_date: date("2024-02-29")
            },
            Occurrence {
                at: utc("2024-04-01T00:30:00Z"),
                local_date: date("2024-04-01"),
                target_date: date("2024-03-31")
            },
        ]
    );
}

#[test]
fn latest_only_returns_just_the_latest_due_occurrence() {
    let s = spec_with(
        json!({"kind": "Monthly", "dayOfMonth": 1, "localTime": "02:30", "timeZone": "Europe/Berlin"}),
        json!({"rule": "OccurrenceDate", "offsetDays": -1}),
        "LatestOnly",
    );
    let due = s.due_occurrences(utc("2024-01-01T01:30:00Z"), utc("2024-04-20T00:00:00Z"));
    assert_eq!(
        due,
        vec![Occurrence {
            at: utc("2024-04-01T00:30:00Z"),
            local_date: date("2024-04-01"),
            target_date: date("2024-03-31")
        }]
    );
}

#[test]
fn an_occurrence_is_due_at_its_instant_and_not_a_second_before() {
    let s = monthly(1, "00:00", "UTC");
    let after = utc("2024-01-15T00:00:00Z");
    assert!(s
        .due_occurrences(after, utc("2024-01-31T23:59:59Z"))
        .is_empty());
    assert_eq!(
        s.due_occurrences(after, utc("2024-02-01T00:00:00Z")).len(),
        1
    );
}

#[test]
fn nothing_is_due_again_once_the_last_occurrence_is_materialized() {
    let s = monthly(1, "00:00", "UTC");
    assert!(s
        .due_occurrences(utc("2024-02-01T00:00:00Z"), utc("2024-02-20T00:00:00Z"))
        .is_empty());
}

#[test]
fn catch_up_is_bounded_per_call() {
    let s = spec(
        json!({"kind": "EveryNDays", "intervalDays": 1, "anchorDate": "2000-01-01", "localTime": "00:00", "timeZone": "UTC"}),
    );
    let due = s.due_occurrences(utc("1999-12-31T00:00:00Z"), utc("2024-01-01T00:00:00Z"));
    assert_eq!(due.len(), MAX_DUE);
    assert_eq!(due[0].at, utc("2000-01-01T00:00:00Z"));
}

#[test]
fn target_date_rules_give_the_occurrence_date_an_offset_or_the_previous_month_end() {
    let d = date("2024-03-01");
    assert_eq!(TargetDateRule::default().target(d), Some(d));
    assert_eq!(
        TargetDateRule::OccurrenceDate { offset_days: 5 }.target(d),
        Some(date("2024-03-06"))
    );
    assert_eq!(
        TargetDateRule::LastDayOfPreviousMonth.target(d),
        Some(date("2024-02-29"))
    );
    assert_eq!(
        TargetDateRule::LastDayOfPreviousMonth.target(date("2024-01-15")),
        Some(date("2023-12-31"))
    );
}

#[test]
fn the_run_request_of_an_occurrence_is_the_template_scheduled_at_its_instant() {
    let s = monthly(1, "02:30", "Europe/Berlin");
    let o = s.next_occurrence(utc("2024-01-15T00:00:00Z")).unwrap();
    let r = s.run_template.request_for(&o).unwrap();
    assert_eq!(r.run_type, RunType::Scheduled);
    assert_eq!(r.scheduled_at, Some(utc("2024-02-01T01:30:00Z")));
    assert_eq!(r.target_date, Some(date("2024-02-01")));
    assert_eq!(r.name.as_deref(), Some("Nightly"));
    assert!(r.auto_post);
}

#[test]
fn a_schedule_round_trips_through_json() {
    let s = spec_with(
        json!({"kind": "EveryNDays", "intervalDays": 7, "anchorDate": "2024-01-01", "localTime": "23:05", "timeZone": "Asia/Kolkata"}),
        json!({"rule": "LastDayOfPreviousMonth"}),
        "LatestOnly",
    );
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v["recurrence"]["localTime"], "23:05");
    assert_eq!(v["recurrence"]["timeZone"], "Asia/Kolkata");
    assert_eq!(
        v["runTemplate"],
        json!({"name": "Nightly", "autoPost": true, "invoiceDateType": "TargetDate", "filters": {"accountIds": [], "batches": [], "billCycleDays": [], "productIds": [], "locationIds": [], "currencies": []}, "chargeTypesExcluded": [], "grouping": "Account", "suppressZeroInvoices": false, "autoApprove": false, "renewSubscriptions": false, "autoEmail": false, "emailZeroAmountInvoices": true})
    );
    let back = RunScheduleSpec::parse(v.to_string().as_bytes()).unwrap();
    assert_eq!(back, s);
}

#[test]
fn defaults_are_occurrence_date_catch_up_all_and_enabled() {
    let s = RunScheduleSpec::parse(
        br#"{"runTemplate": {}, "recurrence": {"kind": "Weekly", "weekday": "Friday", "localTime": "18:00", "timeZone": "UTC"}}"#,
    )
    .unwrap();
    assert_eq!(
        s.target_date,
        TargetDateRule::OccurrenceDate { offset_days: 0 }
    );
    assert_eq!(s.missed, MissedPolicy::CatchUpAll);
    assert!(s.enabled);
}

#[test]
fn invalid_schedules_are_rejected_with_the_field_path() {
    let rec = json!({"kind": "Monthly", "dayOfMonth": 1, "localTime": "02:30", "timeZone": "Europe/Berlin"});
    let with = |k: &str, v: serde_json::Value| {
        let mut body = json!({"runTemplate": {}, "recurrence": rec.clone()});
        body[k] = v;
        parse_err(body).field
    };
    let rec_with = |k: &str, v: serde_json::Value| {
        let mut r = rec.clone();
        r[k] = v;
        parse_err(json!({"runTemplate": {}, "recurrence": r})).field
    };
    assert_eq!(with("bogus", json!(1)), "bogus");
    assert_eq!(rec_with("dayOfMonth", json!(32)), "recurrence.dayOfMonth");
    assert_eq!(rec_with("dayOfMonth", json!(0)), "recurrence.dayOfMonth");
    assert_eq!(
        rec_with("localTime", json!("24:00")),
        "recurrence.localTime"
    );
    assert_eq!(rec_with("localTime", json!("2:30")), "recurrence.localTime");
    assert_eq!(
        rec_with("timeZone", json!("Mars/Olympus")),
        "recurrence.timeZone"
    );
    assert_eq!(rec_with("weekday", json!("Monday")), "recurrence.weekday");
    assert_eq!(rec_with("every", json!(2)), "recurrence.every");
    assert_eq!(rec_with("kind", json!("Yearly")), "recurrence.kind");
    assert_eq!(
        parse_err(json!({"runTemplate": {}, "recurrence": {"kind": "Weekly", "localTime": "02:30", "timeZone": "UTC"}})).field,
        "recurrence.weekday"
    );
    assert_eq!(
        parse_err(json!({"runTemplate": {}, "recurrence": {"kind": "EveryNDays", "intervalDays": 0, "anchorDate": "2024-01-01", "localTime": "02:30", "timeZone": "UTC"}})).field,
        "recurrence.intervalDays"
    );
    assert_eq!(
        parse_err(json!({"runTemplate": {}, "recurrence": {"kind": "EveryNDays", "intervalDays": 3, "localTime": "02:30", "timeZone": "UTC"}})).field,
        "recurrence.anchorDate"
    );
    assert_eq!(
        with(
            "targetDate",
            json!({"rule": "LastDayOfPreviousMonth", "offsetDays": 2})
        ),
        "targetDate.offsetDays"
    );
    assert_eq!(
        with(
            "targetDate",
            json!({"rule": "OccurrenceDate", "offsetDays": 400})
        ),
        "targetDate.offsetDays"
    );
    assert_eq!(
        with("targetDate", json!({"rule": "Tomorrow"})),
        "targetDate.rule"
    );
    assert_eq!(with("missed", json!("Sometimes")), "missed");
    assert_eq!(
        with("runTemplate", json!({"targetDate": "2024-01-01"})),
        "runTemplate.targetDate"
    );
    assert_eq!(
        with("runTemplate", json!({"runType": "Immediate"})),
        "runTemplate.runType"
    );
    assert_eq!(
        with("runTemplate", json!({"bogus": true})),
        "runTemplate.bogus"
    );
    assert_eq!(
        with(
            "runTemplate",
            json!({"filters": {"currencies": ["USD", "XXQ"]}})
        ),
        "runTemplate.filters.currencies[1]"
    );
    assert_eq!(
        with(
            "runTemplate",
            json!({"invoiceDateType": "ReadyForInvoiceDate"})
        ),
        "runTemplate.invoiceDateType"
    );
    assert_eq!(
        parse_err(json!({"recurrence": rec.clone()})).field,
        "runTemplate"
    );
}
