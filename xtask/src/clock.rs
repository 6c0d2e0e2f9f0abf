//! Time as the pipeline writes and reads it, with no date crate: civil dates
//! (image labels, the audit database's date) and RFC 3339 (labels, release
//! records, the API's lease times).

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since 1970-01-01, UTC.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Days since 1970-01-01 to a civil date (H. Hinnant's algorithm), no date crate needed.
pub fn utc_date(timestamp: i64) -> String {
    let z = timestamp.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `2026-01-02T03:04:05Z`.
pub fn rfc3339(secs: i64) -> String {
    let t = secs.rem_euclid(86_400);
    format!("{}T{:02}:{:02}:{:02}Z", utc_date(secs), t / 3600, t % 3600 / 60, t % 60)
}

/// Now, as release records write it.
pub fn now_rfc3339() -> String {
    rfc3339(now() as i64)
}

/// `2026-11-27T05:00:00Z` or with fractional seconds (`.123456Z`) → Unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let (date, time) = s.strip_suffix('Z')?.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.split('.').next()?;
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()
}

#[cfg(test)]
#[path = "clock_tests.rs"]
mod tests;
