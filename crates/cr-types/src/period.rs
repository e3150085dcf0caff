//! How long a recording set is kept: a retention period of whole days or calendar years
//! (`retention = "5y"`, `[retention] default = "3650d"`; docs/reference.md §1).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Months, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The unit of a [`Period`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeriodUnit {
    /// Days of 24 hours (`d`).
    Days,
    /// Calendar years (`y`).
    Years,
}

/// A retention period: `N` days or `N` calendar years, `N` at least 1.
///
/// Written `"10y"` or `"90d"`: digits, then the unit, nothing else (no sign, no space,
/// no fraction). At most [`Period::MAX_YEARS`] years or [`Period::MAX_DAYS`] days: a set
/// that must be kept for ever is one whose configuration names no retention at all.
///
/// The expiry of a set is [`Period::expiry`] of its call's start, in UTC: `Nd` adds
/// `N × 24` hours; `Ny` adds `N` calendar years, keeping month, day and time of day, and a
/// call that started on 29 February expires on 28 February of a year that has no
/// 29 February.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use cr_types::Period;
///
/// let p: Period = "5y".parse()?;
/// let start = Utc.with_ymd_and_hms(2028, 2, 29, 9, 30, 0).unwrap();
/// assert_eq!(p.expiry(start), Utc.with_ymd_and_hms(2033, 2, 28, 9, 30, 0).unwrap());
/// assert_eq!(p.to_string(), "5y");
/// assert!("0y".parse::<Period>().is_err());
/// # Ok::<(), cr_types::PeriodError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    count: u32,
    unit: PeriodUnit,
}

/// A period that cannot be parsed or is out of range, with what was given (no secret is
/// ever a period, so it is echoed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodError {
    given: String,
    why: &'static str,
}

impl fmt::Display for PeriodError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a retention period: {} (write whole days or years, e.g. \"90d\" or \"10y\"; at most {}y or {}d)",
            self.given,
            self.why,
            Period::MAX_YEARS,
            Period::MAX_DAYS
        )
    }
}

impl std::error::Error for PeriodError {}

impl Period {
    /// The longest period in years.
    pub const MAX_YEARS: u32 = 100;
    /// The longest period in days (100 years of 365.25 days).
    pub const MAX_DAYS: u32 = 36_525;

    /// `count` days (1 ..= [`MAX_DAYS`](Self::MAX_DAYS)).
    pub fn days(count: u32) -> Result<Self, PeriodError> {
        Self::new(count, PeriodUnit::Days, &format!("{count}d"))
    }

    /// `count` calendar years (1 ..= [`MAX_YEARS`](Self::MAX_YEARS)).
    pub fn years(count: u32) -> Result<Self, PeriodError> {
        Self::new(count, PeriodUnit::Years, &format!("{count}y"))
    }

    fn new(count: u32, unit: PeriodUnit, given: &str) -> Result<Self, PeriodError> {
        let max = match unit {
            PeriodUnit::Days => Self::MAX_DAYS,
            PeriodUnit::Years => Self::MAX_YEARS,
        };
        let err = |why| Err(PeriodError { given: given.to_owned(), why });
        match count {
            0 => err("a period of 0 would expire every set at once"),
            n if n > max => err("too long"),
            _ => Ok(Self { count, unit }),
        }
    }

    /// Parses `"10y"` / `"90d"` (see the type's docs for the exact form).
    pub fn parse(s: &str) -> Result<Self, PeriodError> {
        let err = |why| PeriodError { given: s.to_owned(), why };
        let unit = match s.chars().last() {
            Some('d') => PeriodUnit::Days,
            Some('y') => PeriodUnit::Years,
            None => return Err(err("empty")),
            Some(_) => return Err(err("the unit must be d (days) or y (years), right after the number")),
        };
        let digits = &s[..s.len() - 1];
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("it must be a whole number of days or years, digits only"));
        }
        let count: u32 = digits.parse().map_err(|_| err("too long"))?;
        Self::new(count, unit, s)
    }

    /// The number of days or years.
    pub fn count(self) -> u32 {
        self.count
    }

    /// Days or years.
    pub fn unit(self) -> PeriodUnit {
        self.unit
    }

    /// When a set whose call started at `start` expires (see the type's docs). Saturates
    /// at the latest time chrono can represent (a start near the year 262,000).
    pub fn expiry(self, start: DateTime<Utc>) -> DateTime<Utc> {
        let end = match self.unit {
            PeriodUnit::Days => start.checked_add_signed(Duration::days(i64::from(self.count))),
            // chrono adds calendar months and clamps the day to the month's last one:
            // 29 February + 1 year is 28 February.
            PeriodUnit::Years => start.checked_add_months(Months::new(self.count * 12)),
        };
        end.unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.unit {
            PeriodUnit::Days => 'd',
            PeriodUnit::Years => 'y',
        };
        write!(f, "{}{unit}", self.count)
    }
}

impl FromStr for Period {
    type Err = PeriodError;

    fn from_str(s: &str) -> Result<Self, PeriodError> {
        Self::parse(s)
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn good_periods_parse_and_print_as_written() {
        for (s, count, unit) in [
            ("1d", 1, PeriodUnit::Days),
            ("90d", 90, PeriodUnit::Days),
            ("5y", 5, PeriodUnit::Years),
            ("100y", 100, PeriodUnit::Years),
            ("36525d", 36_525, PeriodUnit::Days),
        ] {
            let p = Period::parse(s).unwrap();
            assert_eq!((p.count(), p.unit()), (count, unit), "{s}");
            assert_eq!(p.to_string(), s);
        }
        assert_eq!(Period::parse("007y").unwrap(), Period::years(7).unwrap());
    }

    // Guards against: hostile or sloppy input taken as some period (or a panic on it).
    #[test]
    fn hostile_periods_are_refused_with_the_input_named() {
        for s in [
            "", "0y", "0d", "-1d", "+1d", "99999999y", "4294967296d", "101y", "36526d", "5 y", " 5y", "5y ",
            "5Y", "5", "y", "d", "5m", "5h", "1.5y", "5yy", "５y", "5y\n", "1e3d", "0x10d", "٣d",
        ] {
            let e = Period::parse(s).unwrap_err();
            let text = e.to_string();
            assert!(text.starts_with(&format!("{s:?} is not a retention period")), "{s:?}: {text}");
        }
        assert!(Period::parse("0y").unwrap_err().to_string().contains("expire every set at once"));
        assert!(Period::parse("99999999y").unwrap_err().to_string().contains("too long"));
        assert!(Period::years(0).is_err() && Period::days(36_526).is_err() && Period::years(101).is_err());
    }

    #[test]
    fn years_are_calendar_years_in_utc() {
        let y = |n| Period::years(n).unwrap();
        assert_eq!(y(5).expiry(at(2026, 11, 26, 9, 30)), at(2031, 11, 26, 9, 30));
        // 29 February of a leap year: the same day where it exists, else 28 February.
        assert_eq!(y(1).expiry(at(2028, 2, 29, 23, 59)), at(2029, 2, 28, 23, 59));
        assert_eq!(y(4).expiry(at(2028, 2, 29, 0, 0)), at(2032, 2, 29, 0, 0));
        // 2100 is not a leap year (divisible by 100, not by 400); 2000 was.
        assert_eq!(y(72).expiry(at(2028, 2, 29, 12, 0)), at(2100, 2, 28, 12, 0));
        assert_eq!(y(100).expiry(at(2000, 2, 29, 12, 0)), at(2100, 2, 28, 12, 0));
        // Seconds and below are kept.
        let start = at(2026, 1, 1, 0, 0) + Duration::milliseconds(1_234);
        assert_eq!(y(1).expiry(start), at(2027, 1, 1, 0, 0) + Duration::milliseconds(1_234));
    }

    #[test]
    fn days_are_24_hours() {
        let d = |n| Period::days(n).unwrap();
        assert_eq!(d(1).expiry(at(2026, 12, 31, 22, 0)), at(2027, 1, 1, 22, 0));
        // 2028 is a leap year: 365 days after 1 Jan 2028 is 31 Dec 2028.
        assert_eq!(d(365).expiry(at(2028, 1, 1, 0, 0)), at(2028, 12, 31, 0, 0));
        assert_eq!(d(30).expiry(at(2027, 2, 1, 8, 0)), at(2027, 3, 3, 8, 0));
    }

    #[test]
    fn the_latest_start_saturates_instead_of_panicking() {
        let p = Period::years(100).unwrap();
        assert_eq!(p.expiry(DateTime::<Utc>::MAX_UTC), DateTime::<Utc>::MAX_UTC);
        assert_eq!(Period::days(36_525).unwrap().expiry(DateTime::<Utc>::MAX_UTC), DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn serde_is_the_written_form() {
        let p: Period = serde_json::from_str("\"10y\"").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"10y\"");
        assert!(serde_json::from_str::<Period>("\"10 y\"").is_err());
        assert!(serde_json::from_str::<Period>("10").is_err());
    }
}
