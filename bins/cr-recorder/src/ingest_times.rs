//! The times of an ingested call, checked against the clock and the legs' audio before
//! anything is sealed: a set must not certify a call that cannot have happened then.
//! Time is passed in (`now`), never read here.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The limits (`[pbx.api] max_age`, `clock_skew`).
#[derive(Debug, Clone, Copy)]
pub struct TimeLimits {
    /// Oldest `started_at` accepted, before `now`.
    pub max_age: Duration,
    /// How far past `now` a time may lie.
    pub clock_skew: Duration,
}

/// Fixed part of the tolerance between `ended_at - started_at` and the audio's length.
pub const DURATION_SLACK: Duration = Duration::from_secs(2);
/// Proportional part of that tolerance, in percent of the audio's length.
pub const DURATION_SLACK_PERCENT: u32 = 1;

/// An impossible time; `field` is the request field it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct TimeError {
    /// `started_at` or `ended_at`.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

fn err(field: &'static str, reason: String) -> TimeError {
    TimeError { field, reason }
}

fn secs(d: chrono::Duration) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

/// Checks `started_at`, `ended_at` (if given) and `audio` (the longest leg's length)
/// against each other and `now`; returns the call's end (given, or start + audio).
pub fn check_times(
    started_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    audio: Duration,
    now: DateTime<Utc>,
    limits: TimeLimits,
) -> Result<DateTime<Utc>, TimeError> {
    let skew = chrono::Duration::from_std(limits.clock_skew).unwrap_or(chrono::Duration::MAX);
    let max_age = chrono::Duration::from_std(limits.max_age).unwrap_or(chrono::Duration::MAX);
    let audio_c = chrono::Duration::from_std(audio).unwrap_or(chrono::Duration::MAX);
    let latest = now.checked_add_signed(skew).unwrap_or(DateTime::<Utc>::MAX_UTC);
    if started_at > latest {
        return Err(err(
            "started_at",
            format!("lies {:.0} s in the future", secs(started_at - now)),
        ));
    }
    if let Some(oldest) = now.checked_sub_signed(max_age)
        && started_at < oldest
    {
        return Err(err(
            "started_at",
            format!(
                "is older than [pbx.api] max_age ({} s before now)",
                limits.max_age.as_secs()
            ),
        ));
    }
    let Some(ended_at) = ended_at else {
        let end = started_at
            .checked_add_signed(audio_c)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        if end > latest {
            return Err(err(
                "started_at",
                format!(
                    "plus the legs' {:.1} s of audio lies {:.0} s in the future",
                    audio.as_secs_f64(),
                    secs(end - now)
                ),
            ));
        }
        return Ok(end);
    };
    if ended_at < started_at {
        return Err(err("ended_at", "is before started_at".to_owned()));
    }
    if ended_at > latest {
        return Err(err(
            "ended_at",
            format!("lies {:.0} s in the future", secs(ended_at - now)),
        ));
    }
    let call = ended_at - started_at;
    let slack = DURATION_SLACK.as_secs_f64() + audio.as_secs_f64() * f64::from(DURATION_SLACK_PERCENT) / 100.0;
    let diff = secs(call) - audio.as_secs_f64();
    if diff.abs() > slack {
        return Err(err(
            "ended_at",
            format!(
                "ended_at - started_at is {:.1} s but the legs hold {:.1} s of audio (tolerance ±{slack:.1} s)",
                secs(call),
                audio.as_secs_f64()
            ),
        ));
    }
    Ok(ended_at)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const LIMITS: TimeLimits = TimeLimits {
        max_age: Duration::from_secs(7 * 86400),
        clock_skew: Duration::from_secs(10),
    };

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap()
    }

    fn at(s: i64) -> DateTime<Utc> {
        now() + chrono::Duration::seconds(s)
    }

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn a_plausible_call_passes_and_gets_its_end() {
        assert_eq!(check_times(at(-120), None, MIN, now(), LIMITS).unwrap(), at(-60));
        assert_eq!(
            check_times(at(-120), Some(at(-59)), MIN, now(), LIMITS).unwrap(),
            at(-59)
        );
        // Just inside: 2 s + 1 % of 60 s = 2.6 s.
        assert!(
            check_times(
                at(-120),
                Some(at(-62) - chrono::Duration::milliseconds(500)),
                MIN,
                now(),
                LIMITS
            )
            .is_ok()
        );
        // A call that ends now (within the skew).
        assert!(check_times(at(-55), None, MIN, now(), LIMITS).is_ok());
    }

    // Guards against: a set dated years back (issue 11: `started_at` in 2001).
    #[test]
    fn start_older_than_max_age_names_started_at() {
        let e = check_times(
            Utc.with_ymd_and_hms(2001, 1, 1, 0, 0, 0).unwrap(),
            None,
            MIN,
            now(),
            LIMITS,
        )
        .unwrap_err();
        assert_eq!(e.field, "started_at");
        assert!(e.reason.contains("max_age"), "{e}");
    }

    // Guards against: a call that ends before it starts.
    #[test]
    fn end_before_start_names_ended_at() {
        let e = check_times(at(-60), Some(at(-120)), MIN, now(), LIMITS).unwrap_err();
        assert_eq!(e.field, "ended_at");
        assert!(e.reason.contains("before started_at"), "{e}");
    }

    // Guards against: times in the future.
    #[test]
    fn future_times_are_refused() {
        assert_eq!(
            check_times(at(3600), None, MIN, now(), LIMITS).unwrap_err().field,
            "started_at"
        );
        assert_eq!(
            check_times(at(-30), None, MIN, now(), LIMITS).unwrap_err().field,
            "started_at"
        );
        assert_eq!(
            check_times(at(-60), Some(at(30)), Duration::from_secs(90), now(), LIMITS)
                .unwrap_err()
                .field,
            "ended_at"
        );
    }

    // Guards against: an hour-long call sealed from ten seconds of audio, and the reverse.
    #[test]
    fn call_length_must_match_the_audio() {
        let e = check_times(at(-3600), Some(at(-60)), Duration::from_secs(10), now(), LIMITS).unwrap_err();
        assert_eq!(e.field, "ended_at");
        assert!(e.reason.contains("10.0 s of audio"), "{e}");
        assert!(check_times(at(-100), Some(at(-97)), Duration::from_secs(60), now(), LIMITS).is_err());
        assert!(check_times(at(-120), Some(at(-63)), MIN, now(), LIMITS).is_err());
    }
}
