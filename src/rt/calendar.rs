//! [`UtcTime`]: a time since the Unix epoch (what
//! [`Runtime::unix_time`](super::Runtime::unix_time) gives) as a UTC
//! calendar date and time, for a server's `Date` header and for logs.

use std::time::Duration;

/// A UTC date and time, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    /// The year (1970 and later).
    pub year: i64,
    /// The month, 1 to 12.
    pub month: u8,
    /// The day of the month, 1 to 31.
    pub day: u8,
    /// 0 to 23.
    pub hour: u8,
    /// 0 to 59.
    pub minute: u8,
    /// 0 to 59.
    pub second: u8,
    /// The day of the week, 0 for Monday to 6 for Sunday.
    pub weekday: u8,
}

impl UtcTime {
    /// The calendar date and time `since_epoch` after 1970-01-01 00:00 UTC.
    pub fn from_unix(since_epoch: Duration) -> UtcTime {
        let secs = since_epoch.as_secs();
        let days = (secs / 86_400) as i64;
        // Howard Hinnant's days-to-civil, for days since 1970-01-01.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z.rem_euclid(146_097);
        let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let mp = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        UtcTime {
            year: year_of_era + era * 400 + i64::from(month <= 2),
            month: month as u8,
            day: day as u8,
            hour: (secs / 3600 % 24) as u8,
            minute: (secs / 60 % 60) as u8,
            second: (secs % 60) as u8,
            // 1970-01-01 was a Thursday.
            weekday: ((days + 3) % 7) as u8,
        }
    }

    /// The month's English abbreviation: `"Jan"` to `"Dec"`.
    pub fn month_name(&self) -> &'static str {
        const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        MONTHS[usize::from(self.month - 1)]
    }

    /// The weekday's English abbreviation: `"Mon"` to `"Sun"`.
    pub fn weekday_name(&self) -> &'static str {
        const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        DAYS[usize::from(self.weekday)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        let epoch = UtcTime::from_unix(Duration::ZERO);
        assert_eq!((epoch.year, epoch.month, epoch.day, epoch.weekday_name()), (1970, 1, 1, "Thu"));
        let leap = UtcTime::from_unix(Duration::from_secs(951_782_400));
        assert_eq!((leap.year, leap.month_name(), leap.day, leap.weekday_name()), (2000, "Feb", 29, "Tue"));
        let late = UtcTime::from_unix(Duration::from_secs(1_795_305_599));
        assert_eq!((late.year, late.month, late.day, late.hour, late.minute, late.second), (2026, 11, 21, 23, 59, 59));
        assert_eq!(late.weekday_name(), "Sat");
    }
}
