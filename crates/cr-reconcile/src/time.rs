//! Times as the PBXs write them: `YYYY-MM-DD HH:MM:SS` in the PBX's local zone (Asterisk,
//! FreeSWITCH), seconds since 1970 UTC (CUCM), or RFC 3339 with an offset (any CSV).

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Why a time field could not be read (the field's content is never repeated).
pub(crate) type TimeProblem = &'static str;

/// Reads `s`: seconds since 1970 (digits only), RFC 3339, or a local
/// `YYYY-MM-DD HH:MM:SS[.fff]` in `zone`. `Ok(None)` for an empty field.
pub(crate) fn parse_time(s: &str, zone: Option<Tz>) -> Result<Option<DateTime<Utc>>, TimeProblem> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = s.parse().map_err(|_| "not a number of seconds")?;
        return DateTime::from_timestamp(secs, 0).map(Some).ok_or("seconds out of range");
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f"))
        .map_err(|_| "not a time (YYYY-MM-DD HH:MM:SS, RFC 3339 or seconds since 1970)")?;
    let zone = zone.ok_or("a time without a zone: give --tz or set installation.timezone")?;
    // A time in the hour repeated when clocks go back is read as its first occurrence; one
    // in the hour skipped when they go forward does not exist.
    zone.from_local_datetime(&naive)
        .earliest()
        .map(|t| Some(t.with_timezone(&Utc)))
        .ok_or("a local time that does not exist in the zone (clocks went forward)")
}

/// Reads a whole number of seconds; empty is `None`.
pub(crate) fn parse_secs(s: &str) -> Result<Option<i64>, TimeProblem> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    match s.parse::<i64>() {
        Ok(v) if v >= 0 => Ok(Some(v)),
        _ => Err("not a whole number of seconds"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_need_a_zone_and_follow_it() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap_or(Tz::UTC);
        let t = parse_time("2026-11-26 10:00:00", Some(berlin)).ok().flatten();
        assert_eq!(t.map(|t| t.to_rfc3339()), Some("2026-11-26T09:00:00+00:00".to_owned()));
        assert!(parse_time("2026-11-26 10:00:00", None).is_err());
        assert_eq!(parse_time("1795683600", None).ok().flatten().map(|t| t.timestamp()), Some(1_795_683_600));
        assert_eq!(parse_time("", None), Ok(None));
        assert!(parse_time("2026-03-29 02:30:00", Some(berlin)).is_err(), "skipped hour");
        assert!(parse_time("yesterday", Some(berlin)).is_err());
        assert!(parse_secs("-1").is_err());
    }
}
