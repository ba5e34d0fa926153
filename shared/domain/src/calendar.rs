//! The billing calendar: bill-cycle-day boundaries, the fixed grid of a recurring charge,
//! and day counts. Periods are half-open `[start, end)` on calendar dates.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// Earliest and latest calendar dates the book may use. Bounding them keeps every date
/// computation (a period end, `T + 1 day`) inside chrono's range.
pub const MIN_YEAR: i32 = 1900;
pub const MAX_YEAR: i32 = 2999;

pub fn check_date(d: NaiveDate) -> Result<NaiveDate, String> {
    if (MIN_YEAR..=MAX_YEAR).contains(&d.year()) {
        Ok(d)
    } else {
        Err(format!("{d} is outside the years {MIN_YEAR}..={MAX_YEAR}"))
    }
}

/// A bill cycle day, 1..=31.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct BillCycleDay(u8);

impl BillCycleDay {
    pub fn new(day: u8) -> Result<Self, String> {
        if (1..=31).contains(&day) {
            Ok(Self(day))
        } else {
            Err(format!("bill cycle day must be 1..=31, got {day}"))
        }
    }
    pub fn get(self) -> u8 {
        self.0
    }
}

impl<'de> Deserialize<'de> for BillCycleDay {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = i64::deserialize(d)?;
        u8::try_from(v)
            .map_err(|_| format!("bill cycle day must be 1..=31, got {v}"))
            .and_then(BillCycleDay::new)
            .map_err(serde::de::Error::custom)
    }
}

/// The length of a recurring charge's period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BillingPeriod {
    Month,
    Quarter,
    SemiAnnual,
    Annual,
}

impl BillingPeriod {
    pub fn months(self) -> i32 {
        match self {
            BillingPeriod::Month => 1,
            BillingPeriod::Quarter => 3,
            BillingPeriod::SemiAnnual => 6,
            BillingPeriod::Annual => 12,
        }
    }
}

pub fn days_in_month(year: i32, month: u32) -> u32 {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    match (
        NaiveDate::from_ymd_opt(year, month, 1),
        NaiveDate::from_ymd_opt(ny, nm, 1),
    ) {
        (Some(a), Some(b)) => (b - a).num_days() as u32,
        _ => 30,
    }
}

/// Months since year 0, so that month arithmetic is integer arithmetic.
fn month_index(d: NaiveDate) -> i32 {
    d.year() * 12 + d.month0() as i32
}

/// The boundary in the month with index `mi`: day `min(BCD, days_in_month)`.
pub fn boundary(mi: i32, bcd: BillCycleDay) -> NaiveDate {
    let year = mi.div_euclid(12);
    let month = mi.rem_euclid(12) as u32 + 1;
    let day = u32::from(bcd.get()).min(days_in_month(year, month));
    NaiveDate::from_ymd_opt(year, month, day).unwrap_or(NaiveDate::MAX)
}

/// Days in `[start, end)`.
pub fn days(start: NaiveDate, end: NaiveDate) -> i64 {
    (end - start).num_days()
}

/// The fixed grid of a recurring charge: its first full period starts at the first
/// boundary on or after the subscription's start, and every period ends at the boundary
/// `N` months later. The grid extends backwards too, so the stub before the first
/// boundary lies inside grid period -1.
#[derive(Debug, Clone, Copy)]
pub struct Grid {
    bcd: BillCycleDay,
    months: i32,
    first: i32,
}

impl Grid {
    pub fn new(subscription_start: NaiveDate, bcd: BillCycleDay, period: BillingPeriod) -> Self {
        let mi = month_index(subscription_start);
        let first = if boundary(mi, bcd) >= subscription_start {
            mi
        } else {
            mi + 1
        };
        Grid {
            bcd,
            months: period.months(),
            first,
        }
    }

    /// Boundary `k` of the grid (`k = 0` is the first full period's start).
    pub fn boundary(&self, k: i32) -> NaiveDate {
        boundary(self.first + k * self.months, self.bcd)
    }

    /// The grid period `[start, end)` that contains `d`.
    pub fn period_containing(&self, d: NaiveDate) -> (NaiveDate, NaiveDate) {
        let mut k = (month_index(d) - self.first).div_euclid(self.months);
        // The month estimate is off by at most one period either way.
        while self.boundary(k) > d {
            k -= 1;
        }
        while self.boundary(k + 1) <= d {
            k += 1;
        }
        (self.boundary(k), self.boundary(k + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }
    fn bcd(d: u8) -> BillCycleDay {
        BillCycleDay::new(d).unwrap()
    }

    #[test]
    fn bcd_31_boundaries_follow_month_lengths_in_a_leap_year() {
        let g = Grid::new(date("2024-01-31"), bcd(31), BillingPeriod::Month);
        let got: Vec<_> = (0..4).map(|k| g.boundary(k)).collect();
        assert_eq!(
            got,
            vec![
                date("2024-01-31"),
                date("2024-02-29"),
                date("2024-03-31"),
                date("2024-04-30")
            ]
        );
    }

    #[test]
    fn bcd_31_boundaries_follow_month_lengths_in_a_common_year() {
        let g = Grid::new(date("2023-01-31"), bcd(31), BillingPeriod::Month);
        assert_eq!(g.boundary(1), date("2023-02-28"));
        assert_eq!(g.boundary(2), date("2023-03-31"));
    }

    #[test]
    fn first_boundary_is_on_or_after_start() {
        // Start on the boundary: no stub.
        let g = Grid::new(date("2024-03-05"), bcd(5), BillingPeriod::Month);
        assert_eq!(g.boundary(0), date("2024-03-05"));
        // Start after the boundary: first boundary next month.
        let g = Grid::new(date("2024-03-06"), bcd(5), BillingPeriod::Month);
        assert_eq!(g.boundary(0), date("2024-04-05"));
        assert_eq!(
            g.period_containing(date("2024-03-06")),
            (date("2024-03-05"), date("2024-04-05"))
        );
    }

    #[test]
    fn quarterly_grid_steps_three_months() {
        let g = Grid::new(date("2024-01-15"), bcd(1), BillingPeriod::Quarter);
        assert_eq!(g.boundary(0), date("2024-02-01"));
        assert_eq!(g.boundary(1), date("2024-05-01"));
        assert_eq!(g.boundary(-1), date("2023-11-01"));
        assert_eq!(
            g.period_containing(date("2024-04-30")),
            (date("2024-02-01"), date("2024-05-01"))
        );
        assert_eq!(
            g.period_containing(date("2024-05-01")),
            (date("2024-05-01"), date("2024-08-01"))
        );
    }

    #[test]
    fn day_counts_are_half_open() {
        assert_eq!(days(date("2024-02-01"), date("2024-03-01")), 29);
        assert_eq!(days(date("2023-02-01"), date("2023-03-01")), 28);
    }
}
