//! Calendar arithmetic for the timestamps images carry (ISO 9660 volume and
//! directory dates, DOS dates in FAT) and for the tools around them: Howard
//! Hinnant's `civil_from_days` / `days_from_civil` over 400-year eras that
//! start on March 1st, proleptic Gregorian, UTC. Written by hand: two
//! formulas of a few lines, needed in `const` contexts, where a date crate
//! would bring time zones and parsing we do not use.

/// Days from 0000-03-01 to 1970-01-01.
const EPOCH_SHIFT: u64 = 719_468;
/// Days in a 400-year era.
const ERA_DAYS: u64 = 146_097;

/// Days since 1970-01-01 → (year, month 1–12, day 1–31).
pub const fn civil_from_days(days: u64) -> (u32, u32, u32) {
    let z = days + EPOCH_SHIFT;
    let era = z / ERA_DAYS;
    let doe = z % ERA_DAYS;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    (year as u32, month as u32, day as u32)
}

/// (year ≥ 1970, month 1–12, day 1–31) → days since 1970-01-01. The caller
/// checks the ranges; a day past the month's end rolls into the next month.
pub const fn days_from_civil(year: u32, month: u32, day: u32) -> u64 {
    let y = (if month <= 2 { year - 1 } else { year }) as u64;
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month as u64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as u64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * ERA_DAYS + doe - EPOCH_SHIFT
}

/// A UTC time of day split out of Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    /// Year, e.g. 2026.
    pub year: u32,
    /// Month, 1–12.
    pub month: u32,
    /// Day of the month, 1–31.
    pub day: u32,
    /// Hour, 0–23.
    pub hour: u32,
    /// Minute, 0–59.
    pub minute: u32,
    /// Second, 0–59.
    pub second: u32,
}

impl Utc {
    /// Unix seconds → calendar date and time of day, UTC.
    pub const fn from_unix(secs: u64) -> Utc {
        let (year, month, day) = civil_from_days(secs / 86_400);
        let rem = secs % 86_400;
        Utc {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem / 60 % 60) as u32,
            second: (rem % 60) as u32,
        }
    }
}

impl std::fmt::Display for Utc {
    /// `2023-11-14 22:13:20 UTC`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29)); // leap day of a 400-year leap
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(47_540), (2100, 2, 28)); // 2100 is no leap year
        assert_eq!(civil_from_days(47_541), (2100, 3, 1));
        assert_eq!(
            Utc::from_unix(1_700_000_000).to_string(),
            "2023-11-14 22:13:20 UTC"
        );
        assert_eq!(Utc::from_unix(0).to_string(), "1970-01-01 00:00:00 UTC");
        assert_eq!(days_from_civil(2026, 11, 28) * 86_400, 1_795_824_000);
    }

    #[test]
    fn days_round_trip() {
        for days in (0..200_000).step_by(7).chain(2_932_000..2_933_000) {
            let (y, m, d) = civil_from_days(days);
            assert!((1..=12).contains(&m) && (1..=31).contains(&d), "{days}");
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn usable_in_const_context() {
        const T: Utc = Utc::from_unix(951_782_401);
        assert_eq!((T.year, T.month, T.day, T.second), (2000, 2, 29, 1));
    }
}
