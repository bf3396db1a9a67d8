//! The `Date` header value, formatted at most once a second per thread.
//!
//! Each worker thread keeps the last second it formatted: a response costs one
//! `SystemTime::now()` and a compare, and no thread ever waits on another.

use std::cell::Cell;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use httpdate::HttpDate;

/// `Fri, 31 Dec 9999 23:59:59 GMT`: httpdate formats no later second.
const LAST_SECOND: u64 = 253_402_300_799;

thread_local! {
    /// The second since the epoch last formatted (`u64::MAX`: none yet), and its date.
    static CACHE: Cell<(u64, [u8; 29])> = const { Cell::new((u64::MAX, [0; 29])) };
}

/// The current time as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, 29 bytes).
pub fn http_date() -> [u8; 29] {
    // A clock before 1970 says 1970 rather than failing a response.
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
    CACHE.with(|cache| {
        let (second, date) = cache.get();
        if second == now {
            return date;
        }
        let date = format(now);
        cache.set((now, date));
        date
    })
}

fn format(second: u64) -> [u8; 29] {
    let time = UNIX_EPOCH + Duration::from_secs(second.min(LAST_SECOND));
    let mut date = [0; 29];
    write!(&mut date[..], "{}", HttpDate::from(time)).expect("an IMF-fixdate is 29 bytes");
    date
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_imf_fixdate() {
        assert_eq!(&format(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&format(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(&format(LAST_SECOND), b"Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(&format(u64::MAX), b"Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn http_date_is_now() {
        let before = SystemTime::now() - Duration::from_secs(1);
        let date = http_date();
        let after = SystemTime::now();
        let parsed = httpdate::parse_http_date(std::str::from_utf8(&date).unwrap()).unwrap();
        assert!(before <= parsed && parsed <= after, "{parsed:?} not between {before:?} and {after:?}");
    }

    #[test]
    fn the_same_second_is_not_formatted_again() {
        // Retried in case the second turns between the two reads of the clock.
        let cached = (0..3).any(|_| {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
            CACHE.with(|cache| cache.set((now, *b"not formatted again: cached..")));
            &http_date() == b"not formatted again: cached.."
        });
        assert!(cached);
    }

    #[test]
    fn the_cache_is_refreshed_when_the_second_changes() {
        CACHE.with(|cache| cache.set((0, *b"Thu, 01 Jan 1970 00:00:00 GMT")));
        assert_ne!(&http_date(), b"Thu, 01 Jan 1970 00:00:00 GMT");
    }
}
