//! Unix seconds as a UTC calendar date and time (the civil-from-days algorithm of Howard
//! Hinnant's `date` library): not worth a date crate. Self-contained, because build.rs
//! includes this file too (for the build date).

/// `(year, month, day, hour, minute, second)` in UTC of `unix` seconds since 1970.
pub fn civil(unix: i64) -> (i64, i64, i64, i64, i64, i64) {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, secs / 3600, secs % 3600 / 60, secs % 60)
}
