//! Times given on the command line (`--since`, `--until`), always UTC.

use std::time::{SystemTime, UNIX_EPOCH};

/// What `--since` and `--until` accept, for messages and help.
pub const FORMS: &str =
    "2025-11-24T16:00Z, 2025-11-24 16:00:30, 2025-11-24, Unix seconds, or 90m / 6h / 2d before now";

/// Parses a time given relative to the current time.
pub fn parse_now(text: &str) -> Result<i64, String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    parse(text, now)
}

/// Parses one of [`FORMS`] into Unix seconds; relative forms count back from `now`.
pub fn parse(text: &str, now: i64) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a time: expected {FORMS} (UTC)");
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map_err(|_| bad());
    }
    if let Some(unit) = text.chars().last().filter(|c| "smhdw".contains(*c))
        && let Ok(n) = text[..text.len() - 1].parse::<i64>()
    {
        let seconds = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => 604_800,
        };
        return n
            .checked_mul(seconds)
            .and_then(|back| now.checked_sub(back))
            .ok_or_else(bad);
    }
    let text = text.strip_suffix('Z').unwrap_or(text);
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    let numbers = |part: &str, sep: char, len: usize| -> Option<Vec<i64>> {
        let values: Vec<i64> = part
            .split(sep)
            .map(|n| n.parse().ok().filter(|_| !n.is_empty() && n.len() <= 4))
            .collect::<Option<_>>()?;
        (values.len() == len || (sep == ':' && values.len() == 2 && len == 3)).then_some(values)
    };
    let ymd = numbers(date, '-', 3).ok_or_else(bad)?;
    let (year, month, day) = (ymd[0], ymd[1], ymd[2]);
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) {
        return Err(bad());
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(bad());
    }
    let mut seconds = days_from_civil(year, month, day) * 86_400;
    if let Some(time) = time {
        let hms = numbers(time, ':', 3).ok_or_else(bad)?;
        let (hour, minute, second) = (hms[0], hms[1], hms.get(2).copied().unwrap_or(0));
        if hour > 23 || minute > 59 || second > 59 {
            return Err(bad());
        }
        seconds += hour * 3600 + minute * 60 + second;
    }
    Ok(seconds)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_are_utc() {
        assert_eq!(parse("1970-01-01", 0), Ok(0));
        assert_eq!(parse("2023-11-14T22:14Z", 0), Ok(1_700_000_040));
        assert_eq!(parse("2023-11-14 22:14:00", 0), Ok(1_700_000_040));
        assert_eq!(parse("2000-02-29T00:00:00Z", 0), Ok(951_782_400));
        assert_eq!(parse("1700000040", 0), Ok(1_700_000_040));
    }

    #[test]
    fn relative_times_count_back_from_now() {
        assert_eq!(parse("90m", 10_000), Ok(10_000 - 5400));
        assert_eq!(parse("2d", 200_000), Ok(200_000 - 172_800));
    }

    #[test]
    fn impossible_dates_and_other_zones_are_refused() {
        for text in [
            "2023-02-29",
            "2023-13-01",
            "2023-11-14T24:00",
            "2023-11-14T10:00+02:00",
            "yesterday",
            "",
        ] {
            let error = parse(text, 0).unwrap_err();
            assert!(error.contains("is not a time"), "{text}: {error}");
        }
    }
}
