//! The desk's calendar: a time zone (IANA, the database compiled in by `jiff`, whose rules we
//! would not want to keep by hand), working hours, weekends and holidays. It decides whose week
//! of the on-call rota it is and says times as the people involved read them.

use std::collections::BTreeSet;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Working hours: 09:00 to 17:00 local time, Monday to Friday, holidays off.
const WORK_STARTS: i8 = 9;
const WORK_ENDS: i8 = 17;

#[derive(Debug, Clone)]
pub struct Calendar {
    zone: TimeZone,
    holidays: BTreeSet<Date>,
}

impl Calendar {
    /// `zone` is an IANA name (`Europe/Berlin`); `holidays` are dates (`2026-12-25`).
    pub fn new(zone: &str, holidays: &[String]) -> Result<Calendar, String> {
        let zone = TimeZone::get(zone).map_err(|e| format!("time zone {zone:?}: {e}"))?;
        let holidays = holidays
            .iter()
            .map(|d| d.parse::<Date>().map_err(|e| format!("holiday {d:?} is not a date (YYYY-MM-DD): {e}")))
            .collect::<Result<_, _>>()?;
        Ok(Calendar { zone, holidays })
    }

    pub fn utc() -> Calendar {
        Calendar { zone: TimeZone::UTC, holidays: BTreeSet::new() }
    }

    fn local(&self, unix_ms: u64) -> jiff::Zoned {
        Timestamp::from_millisecond(unix_ms as i64).unwrap_or(Timestamp::UNIX_EPOCH).to_zoned(self.zone.clone())
    }

    pub fn is_business_day(&self, date: Date) -> bool {
        !matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday) && !self.holidays.contains(&date)
    }

    pub fn is_working_time(&self, unix_ms: u64) -> bool {
        let local = self.local(unix_ms);
        self.is_business_day(local.date()) && (WORK_STARTS..WORK_ENDS).contains(&local.hour())
    }

    /// The first working moment at or after `unix_ms`.
    pub fn next_working_time(&self, unix_ms: u64) -> u64 {
        if self.is_working_time(unix_ms) {
            return unix_ms;
        }
        let local = self.local(unix_ms);
        let mut date = local.date();
        if local.hour() >= WORK_STARTS || !self.is_business_day(date) {
            date = date.tomorrow().expect("a date before 9999");
        }
        while !self.is_business_day(date) {
            date = date.tomorrow().expect("a date before 9999");
        }
        let start = date.at(WORK_STARTS, 0, 0, 0).to_zoned(self.zone.clone()).expect("09:00 exists in every zone");
        start.timestamp().as_millisecond() as u64
    }

    /// The ISO week (year * 100 + week) of `unix_ms`, local time: the rota turns weekly.
    pub fn week(&self, unix_ms: u64) -> u32 {
        let week = self.local(unix_ms).date().iso_week_date();
        week.year() as u32 * 100 + week.week() as u32
    }

    /// `Fri 2026-12-24 18:00 CET`.
    pub fn describe(&self, unix_ms: u64) -> String {
        self.local(unix_ms).strftime("%a %Y-%m-%d %H:%M %Z").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> u64 {
        text.parse::<jiff::Zoned>().unwrap().timestamp().as_millisecond() as u64
    }

    #[test]
    fn a_friday_evening_before_a_holiday_monday_waits_for_tuesday_morning() {
        let calendar = Calendar::new("Europe/Berlin", &["2027-03-29".into()]).unwrap();
        let friday_evening = ms("2027-03-26T18:30[Europe/Berlin]");
        assert!(!calendar.is_working_time(friday_evening));
        let next = calendar.next_working_time(friday_evening);
        assert_eq!(calendar.describe(next), "Tue 2027-03-30 09:00 CEST", "and across the change to summer time");
        assert_eq!((next - friday_evening) / 3_600_000, 85);
        let wednesday_noon = ms("2027-03-31T12:00[Europe/Berlin]");
        assert_eq!(calendar.next_working_time(wednesday_noon), wednesday_noon);
        assert_eq!(
            calendar.describe(calendar.next_working_time(ms("2027-03-31T07:00[Europe/Berlin]"))),
            "Wed 2027-03-31 09:00 CEST"
        );
    }

    #[test]
    fn bad_zones_and_dates_are_refused_by_name() {
        assert!(Calendar::new("Mars/Olympus", &[]).unwrap_err().contains("Mars/Olympus"));
        assert!(Calendar::new("UTC", &["2027-02-30".into()]).unwrap_err().contains("2027-02-30"));
    }
}
