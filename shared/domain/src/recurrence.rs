//! Recurring run schedules: a run template, a recurrence at a local time in an
//! IANA time zone, a target-date rule and a missed-occurrence policy. Pure: the caller
//! passes every instant, so the same rules run in a Lambda tick, in `billrun-local serve`
//! and in tests.
//!
//! - **Monthly** on day `D` (1..=31); in a month shorter than `D`, its last day.
//! - **Weekly** on a weekday.
//! - **EveryNDays**: every `intervalDays` days from `anchorDate` (the first occurrence is
//!   on the anchor date; none before it).
//!
//! A local time that does not exist on a date (a DST gap) resolves to the next valid
//! instant, the first minute after the gap; one that exists twice (a DST fold) resolves
//! once, to the earlier instant.

use crate::calendar::{check_date, days_in_month};
use crate::error::{path_error, FieldError, SUBFIELD_MARK};
use crate::request::{InvoiceDateType, RunRequest, RunType};
use crate::zone::Zone;
use chrono::offset::LocalResult;
use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeDelta, Utc, Weekday};
use serde::{Deserialize, Serialize};

/// Longest `intervalDays` of an EveryNDays recurrence (ten years).
pub const MAX_INTERVAL_DAYS: u32 = 3660;
/// Largest `offsetDays` of a target-date rule, either way.
pub const MAX_OFFSET_DAYS: i32 = 366;
/// Most occurrences [`RunScheduleSpec::due_occurrences`] returns in one call; the rest
/// come on the next call (from the last one materialized).
pub const MAX_DUE: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecurrenceKind {
    Monthly,
    Weekly,
    EveryNDays,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WeekdayName {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl WeekdayName {
    pub fn weekday(self) -> Weekday {
        match self {
            WeekdayName::Monday => Weekday::Mon,
            WeekdayName::Tuesday => Weekday::Tue,
            WeekdayName::Wednesday => Weekday::Wed,
            WeekdayName::Thursday => Weekday::Thu,
            WeekdayName::Friday => Weekday::Fri,
            WeekdayName::Saturday => Weekday::Sat,
            WeekdayName::Sunday => Weekday::Sun,
        }
    }
}

/// Which local dates a schedule occurs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    Monthly {
        day_of_month: u32,
    },
    Weekly {
        weekday: WeekdayName,
    },
    EveryNDays {
        interval_days: u32,
        anchor_date: NaiveDate,
    },
}

/// The recurrence as sent and shown: flat, `kind` saying which fields belong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RecurrenceWire {
    kind: RecurrenceKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    day_of_month: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    weekday: Option<WeekdayName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    interval_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    anchor_date: Option<NaiveDate>,
    local_time: String,
    time_zone: String,
}

/// When a schedule occurs: a cadence of local dates at a local time in a time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RecurrenceWire", into = "RecurrenceWire")]
pub struct Recurrence {
    pub cadence: Cadence,
    pub local_time: NaiveTime,
    pub time_zone: Zone,
}

/// `"@field: message"`: names a sub-field of the value a deserializer rejects.
fn sub(field: &str, message: impl std::fmt::Display) -> String {
    format!("{SUBFIELD_MARK}{field}: {message}")
}

/// Parses `"HH:MM"` (24-hour, two digits each).
pub fn parse_local_time(s: &str) -> Result<NaiveTime, String> {
    let b = s.as_bytes();
    let ok = b.len() == 5 && b[2] == b':' && [0, 1, 3, 4].iter().all(|&i| b[i].is_ascii_digit());
    let parsed = ok
        .then(|| {
            let h = u32::from(b[0] - b'0') * 10 + u32::from(b[1] - b'0');
            let m = u32::from(b[3] - b'0') * 10 + u32::from(b[4] - b'0');
            NaiveTime::from_hms_opt(h, m, 0)
        })
        .flatten();
    parsed.ok_or_else(|| format!("must be a local time \"HH:MM\" (00:00..23:59), got '{s}'"))
}

impl TryFrom<RecurrenceWire> for Recurrence {
    type Error = String;

    fn try_from(w: RecurrenceWire) -> Result<Self, String> {
        let local_time = parse_local_time(&w.local_time).map_err(|m| sub("localTime", m))?;
        let time_zone = Zone::named(&w.time_zone).ok_or_else(|| {
            sub(
                "timeZone",
                format!("unknown IANA time zone '{}'", w.time_zone),
            )
        })?;
        let only = |present: bool, field: &str, kind: &str| {
            if present {
                Err(sub(field, format!("is not allowed when kind is {kind}")))
            } else {
                Ok(())
            }
        };
        let cadence = match w.kind {
            RecurrenceKind::Monthly => {
                only(w.weekday.is_some(), "weekday", "Monthly")?;
                only(w.interval_days.is_some(), "intervalDays", "Monthly")?;
                only(w.anchor_date.is_some(), "anchorDate", "Monthly")?;
                let d = w
                    .day_of_month
                    .ok_or_else(|| sub("dayOfMonth", "is required when kind is Monthly"))?;
                if !(1..=31).contains(&d) {
                    return Err(sub("dayOfMonth", format!("must be 1..=31, got {d}")));
                }
                Cadence::Monthly { day_of_month: d }
            }
            RecurrenceKind::Weekly => {
                only(w.day_of_month.is_some(), "dayOfMonth", "Weekly")?;
                only(w.interval_days.is_some(), "intervalDays", "Weekly")?;
                only(w.anchor_date.is_some(), "anchorDate", "Weekly")?;
                let weekday = w
                    .weekday
                    .ok_or_else(|| sub("weekday", "is required when kind is Weekly"))?;
                Cadence::Weekly { weekday }
            }
            RecurrenceKind::EveryNDays => {
                only(w.day_of_month.is_some(), "dayOfMonth", "EveryNDays")?;
                only(w.weekday.is_some(), "weekday", "EveryNDays")?;
                let n = w
                    .interval_days
                    .ok_or_else(|| sub("intervalDays", "is required when kind is EveryNDays"))?;
                if !(1..=MAX_INTERVAL_DAYS).contains(&n) {
                    return Err(sub(
                        "intervalDays",
                        format!("must be 1..={MAX_INTERVAL_DAYS}, got {n}"),
                    ));
                }
                let anchor = w
                    .anchor_date
                    .ok_or_else(|| sub("anchorDate", "is required when kind is EveryNDays"))?;
                check_date(anchor).map_err(|m| sub("anchorDate", m))?;
                Cadence::EveryNDays {
                    interval_days: n,
                    anchor_date: anchor,
                }
            }
        };
        Ok(Recurrence {
            cadence,
            local_time,
            time_zone,
        })
    }
}

impl From<Recurrence> for RecurrenceWire {
    fn from(r: Recurrence) -> Self {
        let mut w = RecurrenceWire {
            kind: RecurrenceKind::Monthly,
            day_of_month: None,
            weekday: None,
            interval_days: None,
            anchor_date: None,
            local_time: r.local_time.format("%H:%M").to_string(),
            time_zone: r.time_zone.name().to_string(),
        };
        match r.cadence {
            Cadence::Monthly { day_of_month } => w.day_of_month = Some(day_of_month),
            Cadence::Weekly { weekday } => {
                w.kind = RecurrenceKind::Weekly;
                w.weekday = Some(weekday);
            }
            Cadence::EveryNDays {
                interval_days,
                anchor_date,
            } => {
                w.kind = RecurrenceKind::EveryNDays;
                w.interval_days = Some(interval_days);
                w.anchor_date = Some(anchor_date);
            }
        }
        w
    }
}

/// The instant of local `time` on `date` in `tz`: in a DST gap the first minute after
/// the gap, in a DST fold the earlier of the two instants.
pub fn resolve_local(tz: Zone, date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
    let rules = tz.rules()?;
    let mut local = date.and_time(time);
    // A gap is at most a day long (Pacific/Apia skipped 2011-12-30); look two days on.
    for _ in 0..=(48 * 60) {
        match rules.from_local(local)? {
            LocalResult::Single(t) => return Some(t),
            LocalResult::Ambiguous(a, b) => return Some(a.min(b)),
            LocalResult::None => local = local.checked_add_signed(TimeDelta::minutes(1))?,
        }
    }
    None
}

fn add_days(d: NaiveDate, n: u64) -> Option<NaiveDate> {
    d.checked_add_days(Days::new(n))
}

impl Recurrence {
    /// The first occurrence date on or after `d`.
    pub fn first_date_on_or_after(&self, d: NaiveDate) -> Option<NaiveDate> {
        match self.cadence {
            Cadence::Monthly { day_of_month } => {
                let (mut y, mut m) = (d.year(), d.month());
                for _ in 0..2 {
                    let day = day_of_month.min(days_in_month(y, m));
                    let candidate = NaiveDate::from_ymd_opt(y, m, day)?;
                    if candidate >= d {
                        return Some(candidate);
                    }
                    (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                }
                None
            }
            Cadence::Weekly { weekday } => {
                let ahead = (7 + weekday.weekday().num_days_from_monday()
                    - d.weekday().num_days_from_monday())
                    % 7;
                add_days(d, u64::from(ahead))
            }
            Cadence::EveryNDays {
                interval_days,
                anchor_date,
            } => {
                if d <= anchor_date {
                    return Some(anchor_date);
                }
                let since = (d - anchor_date).num_days().unsigned_abs();
                let n = u64::from(interval_days);
                add_days(anchor_date, since.div_ceil(n) * n)
            }
        }
    }

    /// The instant of the occurrence on local date `d` (an occurrence date).
    pub fn instant_on(&self, d: NaiveDate) -> Option<DateTime<Utc>> {
        resolve_local(self.time_zone, d, self.local_time)
    }

    /// The first occurrence strictly after `after`: its local date and instant. `None`
    /// past the supported calendar (the year 2999).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<(NaiveDate, DateTime<Utc>)> {
        let local = self.time_zone.rules()?.local(after)?.date();
        // A day earlier: a gap can move a date's instant past midnight of the next day.
        let mut d = self.first_date_on_or_after(local.pred_opt()?)?;
        loop {
            check_date(d).ok()?;
            let at = self.instant_on(d)?;
            if at > after {
                return Some((d, at));
            }
            d = self.first_date_on_or_after(d.succ_opt()?)?;
        }
    }
}

/// Which target date a schedule's run gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TargetDateWire", into = "TargetDateWire")]
pub enum TargetDateRule {
    /// The occurrence's local date plus `offset_days` (may be negative).
    OccurrenceDate { offset_days: i32 },
    /// The last day of the month before the occurrence's local date.
    LastDayOfPreviousMonth,
}

impl Default for TargetDateRule {
    fn default() -> Self {
        TargetDateRule::OccurrenceDate { offset_days: 0 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum TargetDateRuleKind {
    OccurrenceDate,
    LastDayOfPreviousMonth,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TargetDateWire {
    rule: TargetDateRuleKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    offset_days: Option<i32>,
}

impl TryFrom<TargetDateWire> for TargetDateRule {
    type Error = String;

    fn try_from(w: TargetDateWire) -> Result<Self, String> {
        match w.rule {
            TargetDateRuleKind::OccurrenceDate => {
                let offset_days = w.offset_days.unwrap_or(0);
                if offset_days.abs() > MAX_OFFSET_DAYS {
                    return Err(sub(
                        "offsetDays",
                        format!(
                            "must be -{MAX_OFFSET_DAYS}..={MAX_OFFSET_DAYS}, got {offset_days}"
                        ),
                    ));
                }
                Ok(TargetDateRule::OccurrenceDate { offset_days })
            }
            TargetDateRuleKind::LastDayOfPreviousMonth => match w.offset_days {
                None | Some(0) => Ok(TargetDateRule::LastDayOfPreviousMonth),
                Some(_) => Err(sub(
                    "offsetDays",
                    "is only allowed when rule is OccurrenceDate",
                )),
            },
        }
    }
}

impl From<TargetDateRule> for TargetDateWire {
    fn from(r: TargetDateRule) -> Self {
        match r {
            TargetDateRule::OccurrenceDate { offset_days } => TargetDateWire {
                rule: TargetDateRuleKind::OccurrenceDate,
                offset_days: Some(offset_days),
            },
            TargetDateRule::LastDayOfPreviousMonth => TargetDateWire {
                rule: TargetDateRuleKind::LastDayOfPreviousMonth,
                offset_days: None,
            },
        }
    }
}

impl TargetDateRule {
    /// The target date of an occurrence on local date `d`; `None` outside the
    /// supported calendar.
    pub fn target(self, d: NaiveDate) -> Option<NaiveDate> {
        let t = match self {
            TargetDateRule::OccurrenceDate { offset_days } => {
                d.checked_add_signed(TimeDelta::days(i64::from(offset_days)))?
            }
            TargetDateRule::LastDayOfPreviousMonth => d.with_day(1)?.pred_opt()?,
        };
        check_date(t).ok()
    }
}

/// What a schedule does with occurrences that fell due while nothing ran (an outage,
/// a tick that came late).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum MissedPolicy {
    /// One run per missed occurrence, oldest first, one after another.
    #[default]
    CatchUpAll,
    /// Only the latest due occurrence runs; earlier ones are skipped.
    LatestOnly,
}

/// One occurrence of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Occurrence {
    /// When it falls due.
    pub at: DateTime<Utc>,
    /// Its date in the schedule's time zone.
    pub local_date: NaiveDate,
    /// The target date of its run.
    pub target_date: NaiveDate,
}

/// The request fields a schedule sets (its run type and every date); a run template
/// may not carry them.
pub const TEMPLATE_SET_FIELDS: [&str; 9] = {
    let d = RunRequest::DATE_FIELDS;
    ["runType", d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]
};

/// A canonical run request without dates (the schedule sets them), validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunTemplate(RunRequest);

const PLACEHOLDER_TARGET: &str = "2000-01-01";

impl RunTemplate {
    /// Parses a template from a JSON object, naming the offending field.
    pub fn from_value(value: serde_json::Value) -> Result<RunTemplate, FieldError> {
        let serde_json::Value::Object(mut map) = value else {
            return Err(FieldError::new("$", "must be a JSON object"));
        };
        if let Some(f) = TEMPLATE_SET_FIELDS.iter().find(|f| map.contains_key(**f)) {
            return Err(FieldError::new(
                *f,
                "is set by the schedule; a run template has no dates",
            ));
        }
        map.insert("targetDate".into(), PLACEHOLDER_TARGET.into());
        let request: RunRequest = serde_path_to_error::deserialize(serde_json::Value::Object(map))
            .map_err(|err| {
                let path = err.path().to_string();
                path_error(path, err.inner())
            })?;
        if request.invoice_date_type != InvoiceDateType::TargetDate {
            return Err(FieldError::new(
                "invoiceDateType",
                "must be TargetDate in a run template",
            ));
        }
        Ok(RunTemplate(request.validated()?))
    }

    /// The run request of an occurrence: the template with its target date, a
    /// Scheduled run at the occurrence's instant.
    pub fn request_for(&self, occurrence: &Occurrence) -> Result<RunRequest, FieldError> {
        let mut r = self.0.clone();
        r.target_date = Some(occurrence.target_date);
        r.run_type = RunType::Scheduled;
        r.scheduled_at = Some(occurrence.at);
        r.validated()
    }

    fn to_value(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(&self.0).unwrap_or_default();
        if let serde_json::Value::Object(m) = &mut v {
            for f in TEMPLATE_SET_FIELDS {
                m.remove(f);
            }
            m.retain(|_, v| !v.is_null());
        }
        v
    }
}

impl Serialize for RunTemplate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for RunTemplate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        RunTemplate::from_value(value).map_err(|e| {
            serde::de::Error::custom(if e.field == "$" {
                e.message
            } else {
                sub(&e.field, e.message)
            })
        })
    }
}

fn default_enabled() -> bool {
    true
}

/// A recurring run schedule as `PUT /v1/run-schedules/{id}` takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunScheduleSpec {
    pub run_template: RunTemplate,
    pub recurrence: Recurrence,
    #[serde(default)]
    pub target_date: TargetDateRule,
    #[serde(default)]
    pub missed: MissedPolicy,
    #[serde(default = "default_enabled")]
    pub enabled: bool,
}

impl RunScheduleSpec {
    /// Parses and validates a schedule; the first problem is reported with its path
    /// (`recurrence.dayOfMonth`, `runTemplate.filters.currencies[1]`).
    pub fn parse(bytes: &[u8]) -> Result<RunScheduleSpec, FieldError> {
        crate::error::parse_json(bytes)
    }

    /// The first occurrence strictly after `after`.
    pub fn next_occurrence(&self, after: DateTime<Utc>) -> Option<Occurrence> {
        let (local_date, at) = self.recurrence.next_after(after)?;
        Some(Occurrence {
            at,
            local_date,
            target_date: self.target_date.target(local_date)?,
        })
    }

    /// The occurrences due by `now` (at or before it) and strictly after `after` (the
    /// last occurrence already materialized, or the instant the schedule was created
    /// or resumed), oldest first: every one (at most [`MAX_DUE`]) under CatchUpAll,
    /// only the latest under LatestOnly.
    pub fn due_occurrences(&self, after: DateTime<Utc>, now: DateTime<Utc>) -> Vec<Occurrence> {
        let mut out: Vec<Occurrence> = Vec::new();
        let mut from = after;
        while let Some(o) = self.next_occurrence(from) {
            if o.at > now {
                break;
            }
            from = o.at;
            match self.missed {
                MissedPolicy::LatestOnly => {
                    out.clear();
                    out.push(o);
                }
                MissedPolicy::CatchUpAll => {
                    out.push(o);
                    if out.len() == MAX_DUE {
                        break;
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
