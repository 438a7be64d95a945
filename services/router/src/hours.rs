//! Business hours: a weekly schedule of local intervals plus closed days, read in the
//! rooftop's time zone (so a daylight-saving change moves the UTC instants, not the hours).

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use showroom_proto::routing::{Hours, OpenInterval};

/// One interval as stored: ISO weekday, minutes since local midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// 1 = Monday … 7 = Sunday.
    pub weekday: u8,
    /// Opening minute of the day (0..1440).
    pub opens_min: u16,
    /// Closing minute of the day (1..=1440).
    pub closes_min: u16,
}

/// A department's hours in its rooftop's zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The rooftop's zone.
    pub tz: Tz,
    /// Weekly intervals.
    pub intervals: Vec<Interval>,
    /// Closed local days.
    pub closures: Vec<NaiveDate>,
}

impl Schedule {
    /// Whether the department takes chats at `at`.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.tz);
        let day = local.date_naive();
        if self.closures.contains(&day) {
            return false;
        }
        let weekday = local.weekday().number_from_monday() as u8;
        let minute = (local.hour() * 60 + local.minute()) as u16;
        self.intervals
            .iter()
            .any(|i| i.weekday == weekday && i.opens_min <= minute && minute < i.closes_min)
    }

    /// The next instant after `at` the department opens, looking two weeks ahead.
    pub fn next_open(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.is_open(at) {
            return Some(at);
        }
        let today = at.with_timezone(&self.tz).date_naive();
        let mut best: Option<DateTime<Utc>> = None;
        for offset in 0..15u64 {
            let day = today.checked_add_days(Days::new(offset))?;
            if self.closures.contains(&day) {
                continue;
            }
            let weekday = day.weekday().number_from_monday() as u8;
            for i in self.intervals.iter().filter(|i| i.weekday == weekday) {
                let Some(start) = self.instant(day, i.opens_min) else {
                    continue;
                };
                if start > at && best.is_none_or(|b| start < b) {
                    best = Some(start);
                }
            }
            if best.is_some() {
                return best;
            }
        }
        None
    }

    /// The UTC instant of a local day and minute; a minute skipped by a daylight-saving jump
    /// reads as the first minute after it.
    fn instant(&self, day: NaiveDate, minute: u16) -> Option<DateTime<Utc>> {
        let mut m = minute as u32;
        while m < 24 * 60 {
            let time = NaiveTime::from_hms_opt(m / 60, m % 60, 0)?;
            if let Some(t) = self.tz.from_local_datetime(&day.and_time(time)).earliest() {
                return Some(t.with_timezone(&Utc));
            }
            m += 1;
        }
        None
    }
}

/// Parses `HH:MM` (00:00 to 24:00) into minutes since midnight.
pub fn parse_minute(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 60 + m)
}

/// Formats minutes since midnight as `HH:MM`.
pub fn format_minute(m: u16) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// Checks the intervals of `hours` and converts them, or says what is wrong.
pub fn intervals(hours: &Hours) -> Result<Vec<Interval>, String> {
    let mut out: Vec<Interval> = Vec::with_capacity(hours.intervals.len());
    for (
        n,
        OpenInterval {
            weekday,
            opens,
            closes,
        },
    ) in hours.intervals.iter().enumerate()
    {
        let field = format!("hours.intervals[{n}]");
        if !(1..=7).contains(weekday) {
            return Err(format!("{field}.weekday must be 1 (Monday) to 7 (Sunday)"));
        }
        let o = parse_minute(opens).filter(|m| *m < 1440).ok_or(format!(
            "{field}.opens must be a time HH:MM from 00:00 to 23:59"
        ))?;
        let c = parse_minute(closes).filter(|m| *m > 0).ok_or(format!(
            "{field}.closes must be a time HH:MM from 00:01 to 24:00"
        ))?;
        if o >= c {
            return Err(format!("{field} closes before it opens"));
        }
        let i = Interval {
            weekday: *weekday,
            opens_min: o,
            closes_min: c,
        };
        if out.iter().any(|x| {
            x.weekday == i.weekday && x.opens_min < i.closes_min && i.opens_min < x.closes_min
        }) {
            return Err(format!("{field} overlaps another interval of the same day"));
        }
        out.push(i);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn weekdays_9_to_17(tz: Tz) -> Schedule {
        Schedule {
            tz,
            intervals: (1..=5)
                .map(|d| Interval {
                    weekday: d,
                    opens_min: 9 * 60,
                    closes_min: 17 * 60,
                })
                .collect(),
            closures: vec![NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()],
        }
    }

    #[test]
    fn the_same_instant_is_open_in_one_zone_and_closed_in_another() {
        // Monday 2026-11-23 15:30 UTC = 09:30 in Chicago, 07:30 in Los Angeles.
        let at = utc("2026-11-23T15:30:00Z");
        assert!(weekdays_9_to_17(chrono_tz::America::Chicago).is_open(at));
        assert!(!weekdays_9_to_17(chrono_tz::America::Los_Angeles).is_open(at));
        let next = weekdays_9_to_17(chrono_tz::America::Los_Angeles).next_open(at);
        assert_eq!(next, Some(utc("2026-11-23T17:00:00Z")));
    }

    #[test]
    fn closes_at_the_closing_minute_and_on_holidays_and_weekends() {
        let s = weekdays_9_to_17(chrono_tz::America::New_York);
        assert!(s.is_open(utc("2026-11-23T21:59:00Z"))); // 16:59
        assert!(!s.is_open(utc("2026-11-23T22:00:00Z"))); // 17:00
        assert!(!s.is_open(utc("2026-11-26T15:00:00Z"))); // Thanksgiving, 10:00
        assert!(!s.is_open(utc("2026-11-28T15:00:00Z"))); // Saturday
        // After Wednesday's close the next opening skips the holiday to Friday 09:00.
        assert_eq!(
            s.next_open(utc("2026-11-25T23:00:00Z")),
            Some(utc("2026-11-27T14:00:00Z"))
        );
    }

    #[test]
    fn several_intervals_a_day_and_midnight() {
        let s = Schedule {
            tz: chrono_tz::Europe::Madrid,
            intervals: vec![
                Interval {
                    weekday: 1,
                    opens_min: 9 * 60,
                    closes_min: 14 * 60,
                },
                Interval {
                    weekday: 1,
                    opens_min: 16 * 60,
                    closes_min: 1440,
                },
            ],
            closures: vec![],
        };
        // Madrid is UTC+1 in November.
        assert!(s.is_open(utc("2026-11-23T12:00:00Z"))); // 13:00
        assert!(!s.is_open(utc("2026-11-23T14:00:00Z"))); // 15:00, the lunch break
        assert!(s.is_open(utc("2026-11-23T22:59:00Z"))); // 23:59
        assert!(!s.is_open(utc("2026-11-23T23:00:00Z"))); // Tuesday 00:00
    }

    #[test]
    fn daylight_saving_moves_the_utc_instant_not_the_local_hour() {
        let s = weekdays_9_to_17(chrono_tz::America::Chicago);
        // 09:00 Chicago is 14:00 UTC in summer and 15:00 UTC in winter.
        assert!(s.is_open(utc("2026-07-06T14:00:00Z")));
        assert!(!s.is_open(utc("2026-11-23T14:30:00Z")));
    }

    #[test]
    fn intervals_are_checked() {
        let bad = |opens: &str, closes: &str, weekday: u8| {
            intervals(&Hours {
                intervals: vec![OpenInterval {
                    weekday,
                    opens: opens.into(),
                    closes: closes.into(),
                }],
                closures: vec![],
            })
            .unwrap_err()
        };
        assert!(bad("9:00", "17:00", 1).contains("opens"));
        assert!(bad("09:00", "24:01", 1).contains("closes"));
        assert!(bad("17:00", "09:00", 1).contains("closes before it opens"));
        assert!(bad("09:00", "17:00", 8).contains("weekday"));
        let ok = intervals(&Hours {
            intervals: vec![OpenInterval {
                weekday: 7,
                opens: "00:00".into(),
                closes: "24:00".into(),
            }],
            closures: vec![],
        })
        .unwrap();
        assert_eq!(ok[0].closes_min, 1440);
        assert_eq!(format_minute(ok[0].closes_min), "24:00");
    }
}
