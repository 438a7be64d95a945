//! The retry schedule: how long to wait after each failed attempt, with jitter so that many
//! deliveries failing together (a receiver's outage) do not come back in one burst, and the
//! receiver's `Retry-After` honoured when it asks for longer.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

/// The production schedule: the first retry after 5 s, the last about three days after the
/// first attempt (Standard Webhooks' recommendation).
pub const DEFAULT: &str = "5s 5m 30m 2h 5h 10h 14h 20h 24h";

/// The longest wait a `Retry-After` may impose; a receiver asking for more gets this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Each wait is spread this much either way (a tenth).
const JITTER: f64 = 0.1;

/// The waits before each retry, in order; a delivery is tried `len() + 1` times per round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    steps: Vec<Duration>,
}

impl Schedule {
    /// Parses waits separated by spaces or commas, each a whole number with a unit: `250ms`,
    /// `5s`, `30m`, `2h`. An empty schedule means no retries.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut steps = Vec::new();
        for token in text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
        {
            let digits = token
                .find(|c: char| !c.is_ascii_digit())
                .ok_or_else(|| format!("{token:?} has no unit (ms, s, m or h)"))?;
            let (number, unit) = token.split_at(digits);
            let n: u64 = number
                .parse()
                .map_err(|_| format!("{token:?} does not start with a whole number"))?;
            let ms = match unit {
                "ms" => Some(n),
                "s" => n.checked_mul(1000),
                "m" => n.checked_mul(60_000),
                "h" => n.checked_mul(3_600_000),
                _ => return Err(format!("{token:?}: the unit must be ms, s, m or h")),
            }
            .ok_or_else(|| format!("{token:?} is too long"))?;
            steps.push(Duration::from_millis(ms));
        }
        if steps.len() > 50 {
            return Err("at most 50 retries".into());
        }
        Ok(Self { steps })
    }

    /// How many retries follow the first attempt.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether no retry follows the first attempt.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The wait after failure number `step` of a round (0 for the first attempt's), jittered,
    /// and at least what the receiver's `Retry-After` asked (up to [`MAX_RETRY_AFTER`]); `None`
    /// when the schedule is used up and the delivery goes to the dead letters.
    pub fn next_wait(&self, step: usize, retry_after: Option<Duration>) -> Option<Duration> {
        let planned = jittered(*self.steps.get(step)?);
        Some(match retry_after {
            Some(asked) => planned.max(asked.min(MAX_RETRY_AFTER)),
            None => planned,
        })
    }
}

/// `d` moved randomly by up to a tenth either way.
fn jittered(d: Duration) -> Duration {
    let factor = rand::rng().random_range((1.0 - JITTER)..=(1.0 + JITTER));
    d.mul_f64(factor)
}

/// Reads a `Retry-After` value: delay-seconds, or an HTTP date (taken relative to `now`).
pub fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&Utc) - now).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_default_and_short_schedules() {
        let s = Schedule::parse(DEFAULT).unwrap();
        assert_eq!(s.len(), 9);
        assert_eq!(s.steps[0], Duration::from_secs(5));
        assert_eq!(s.steps[8], Duration::from_secs(24 * 3600));
        let s = Schedule::parse("50ms, 100ms,1s").unwrap();
        assert_eq!(s.steps, [50, 100, 1000].map(Duration::from_millis).to_vec());
        assert!(Schedule::parse("").unwrap().is_empty());
        for bad in ["5", "5 s", "5d", "-5s", "s", "99999999999999999h"] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn waits_are_jittered_within_a_tenth_and_end() {
        let s = Schedule::parse("10s 1m").unwrap();
        for _ in 0..200 {
            let w = s.next_wait(0, None).unwrap();
            assert!(
                w >= Duration::from_secs(9) && w <= Duration::from_secs(11),
                "{w:?}"
            );
        }
        assert!(s.next_wait(1, None).is_some());
        assert_eq!(s.next_wait(2, None), None);
    }

    #[test]
    fn retry_after_wins_only_when_later() {
        let s = Schedule::parse("1s").unwrap();
        let w = s.next_wait(0, Some(Duration::from_secs(30))).unwrap();
        assert_eq!(w, Duration::from_secs(30));
        let w = s.next_wait(0, Some(Duration::from_millis(1))).unwrap();
        assert!(w >= Duration::from_millis(900), "{w:?}");
        let w = s
            .next_wait(0, Some(Duration::from_secs(10 * 86_400)))
            .unwrap();
        assert_eq!(w, MAX_RETRY_AFTER);
    }

    #[test]
    fn reads_retry_after_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2026-03-14T18:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Sat, 14 Mar 2026 18:01:30 GMT", now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(retry_after("Sat, 14 Mar 2026 17:00:00 GMT", now), None);
        assert_eq!(retry_after("soon", now), None);
    }
}
