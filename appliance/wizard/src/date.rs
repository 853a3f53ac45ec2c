//! Calendar dates and times of day as the wizard reads them (no time zone
//! arithmetic: that is the system's job once the zone is set).

use serde::{Deserialize, Serialize};

/// A proleptic Gregorian date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Date {
    /// Year, 1970–9999.
    pub year: u16,
    /// Month, 1–12.
    pub month: u8,
    /// Day of the month.
    pub day: u8,
}

/// Why text is not a date. The message completes "… is not a date: ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// Not `YYYY-MM-DD`.
    #[error("write it as YYYY-MM-DD, e.g. 2027-03-31")]
    Format,
    /// Year out of range.
    #[error("the year must be between 1970 and 9999")]
    Year,
    /// Month not 1–12.
    #[error("the month must be between 01 and 12")]
    Month,
    /// No such day in that month.
    #[error("that month has only {0} days")]
    Day(u8),
}

/// Days in `month` of `year`.
pub fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn digits(s: &str, n: usize) -> Option<u32> {
    if s.len() == n && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

impl Date {
    /// Reads `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Result<Date, DateError> {
        let mut parts = text.split('-');
        let (Some(y), Some(m), Some(d), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(DateError::Format);
        };
        let (Some(y), Some(m), Some(d)) = (digits(y, 4), digits(m, 2), digits(d, 2)) else {
            return Err(DateError::Format);
        };
        if !(1970..=9999).contains(&y) {
            return Err(DateError::Year);
        }
        if !(1..=12).contains(&m) {
            return Err(DateError::Month);
        }
        let max = days_in_month(y as u16, m as u8);
        if d == 0 || d > u32::from(max) {
            return Err(DateError::Day(max));
        }
        Ok(Date {
            year: y as u16,
            month: m as u8,
            day: d as u8,
        })
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl TryFrom<String> for Date {
    type Error = String;
    fn try_from(s: String) -> Result<Date, String> {
        Date::parse(&s).map_err(|e| format!("{s:?} is not a date: {e}"))
    }
}

impl From<Date> for String {
    fn from(d: Date) -> String {
        d.to_string()
    }
}

/// A time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TimeOfDay {
    /// 0–23.
    pub hour: u8,
    /// 0–59.
    pub minute: u8,
    /// 0–59 (no leap seconds typed by hand).
    pub second: u8,
}

impl TimeOfDay {
    /// Reads `HH:MM` or `HH:MM:SS` (24-hour clock); `None` if it is not one.
    pub fn parse(text: &str) -> Option<TimeOfDay> {
        let parts: Vec<&str> = text.split(':').collect();
        if !(2..=3).contains(&parts.len()) {
            return None;
        }
        let hour = digits(parts[0], 2)?;
        let minute = digits(parts[1], 2)?;
        let second = match parts.get(2) {
            Some(s) => digits(s, 2)?,
            None => 0,
        };
        (hour < 24 && minute < 60 && second < 60).then_some(TimeOfDay {
            hour: hour as u8,
            minute: minute as u8,
            second: second as u8,
        })
    }
}

impl std::fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}:{:02}", self.hour, self.minute, self.second)
    }
}
