//! The `Date` header (RFC 9110 §6.6.1: an origin server with a clock sends
//! one), from the runtime's wall clock, formatted once a second.

use std::cell::RefCell;
use std::time::Duration;

use http::header::{HeaderValue, DATE};
use http::HeaderMap;

use crate::rt::Runtime;

thread_local! {
    /// The second last formatted, and its header value.
    static LAST: RefCell<(u64, Option<HeaderValue>)> = const { RefCell::new((0, None)) };
}

/// Adds `date` to a response's headers, unless the handler set one or the
/// runtime has no wall clock.
pub(crate) fn stamp<R: Runtime>(rt: &R, headers: &mut HeaderMap) {
    if headers.contains_key(DATE) {
        return;
    }
    let Some(now) = rt.unix_time() else { return };
    let second = now.as_secs();
    let value = LAST.with(|last| {
        let mut last = last.borrow_mut();
        match &last.1 {
            Some(value) if last.0 == second => value.clone(),
            _ => {
                let value = HeaderValue::from_str(&imf_fixdate(now))
                    .expect("an IMF-fixdate is a valid header value");
                *last = (second, Some(value.clone()));
                value
            }
        }
    });
    headers.insert(DATE, value);
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` for a time since the Unix epoch.
fn imf_fixdate(since_epoch: Duration) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let secs = since_epoch.as_secs();
    let days = secs / 86_400;
    let (hour, minute, second) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
    // Howard Hinnant's days-to-civil, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {hour:02}:{minute:02}:{second:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_dates() {
        assert_eq!(imf_fixdate(Duration::ZERO), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(imf_fixdate(Duration::from_secs(784_111_777)), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(imf_fixdate(Duration::from_secs(951_782_400)), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(imf_fixdate(Duration::from_secs(1_795_305_599)), "Sat, 21 Nov 2026 23:59:59 GMT");
    }
}
