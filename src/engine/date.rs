//! The `Date` header (RFC 9110 §6.6.1: an origin server with a clock sends
//! one), from the runtime's wall clock, formatted once a second.

use std::cell::RefCell;
use std::time::Duration;

use http::header::{HeaderValue, DATE};
use http::HeaderMap;

use crate::rt::{Runtime, UtcTime};

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
    if let Some(value) = now(rt) {
        headers.insert(DATE, value);
    }
}

/// The `date` value for now, unless the runtime has no wall clock.
pub(crate) fn now<R: Runtime>(rt: &R) -> Option<HeaderValue> {
    let now = rt.unix_time()?;
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
    Some(value)
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` for a time since the Unix epoch.
fn imf_fixdate(since_epoch: Duration) -> String {
    let t = UtcTime::from_unix(since_epoch);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        t.weekday_name(),
        t.day,
        t.month_name(),
        t.year,
        t.hour,
        t.minute,
        t.second
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
