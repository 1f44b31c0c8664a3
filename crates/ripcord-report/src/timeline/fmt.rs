//! Small formatting helpers shared by the timeline renderers.

use chrono::{DateTime, Utc};

/// An RFC 3339 timestamp as microseconds since the epoch. The journal's own form
/// (`2025-03-01T02:00:00.123456Z`) takes a fast path; anything else goes through chrono.
pub(super) fn parse_us(ts: &str) -> Option<i64> {
    journal_ts(ts).or_else(|| {
        DateTime::parse_from_rfc3339(ts)
            .ok()
            .map(|t| t.with_timezone(&Utc).timestamp_micros())
    })
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` exactly.
fn journal_ts(ts: &str) -> Option<i64> {
    let b = ts.as_bytes();
    if b.len() != 27
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
        || b[26] != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter().try_fold(0i64, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    let date =
        chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)? as u32, num(8..10)? as u32)?;
    let (h, m, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = date
        .signed_duration_since(chrono::NaiveDate::default())
        .num_days();
    let epoch_days = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?
        .signed_duration_since(chrono::NaiveDate::default())
        .num_days();
    Some(((days - epoch_days) * 86_400 + h * 3600 + m * 60 + s) * 1_000_000 + num(20..26)?)
}

/// A backup's time: RFC 3339, `YYYYMMDD-HHMMSS` (the DR plan's backup naming) or
/// `YYYYMMDDTHHMMSSZ`.
pub(super) fn parse_backup_time(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Some(us) = parse_us(t) {
        return Some(us);
    }
    ["%Y%m%d-%H%M%S", "%Y%m%dT%H%M%SZ", "%Y-%m-%d %H:%M:%S"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(t, f).ok())
        .map(|t| t.and_utc().timestamp_micros())
}

/// A duration for people: `640ms`, `1.6s`, `2m 5s`, `1h 2m 3s`.
pub(super) fn human(us: i64) -> String {
    if us < 0 {
        return format!("-{}", human(-us));
    }
    if us < 1_000_000 {
        // Sub-millisecond steps are common (a `sleep 0`); say so rather than "0ms".
        if us < 1000 && us > 0 {
            return "<1ms".into();
        }
        return format!("{}ms", us / 1000);
    }
    if us < 60_000_000 {
        return format!("{:.1}s", us as f64 / 1e6);
    }
    let secs = us / 1_000_000;
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h "));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m "));
    }
    out.push_str(&format!("{s}s"));
    out
}

/// A signed difference: `+1.2s`, `-300ms`, `±0` (under a millisecond).
pub(super) fn delta(us: i64) -> String {
    match us {
        -999..=999 => "±0".into(),
        d if d > 0 => format!("+{}", human(d)),
        d => format!("-{}", human(-d)),
    }
}

/// `+1.6s` from the run's start.
pub(super) fn offset(us: i64) -> String {
    format!("+{}", human(us))
}

/// `+4.436s` / `+2m 5.123s` from the run's start: millisecond precision, for event lists.
pub(super) fn offset_ms(us: i64) -> String {
    let us = us.max(0);
    let ms = us / 1000;
    if ms < 60_000 {
        return format!("+{}.{:03}s", ms / 1000, ms % 1000);
    }
    let secs = ms / 1000;
    let (h, m) = (secs / 3600, (secs % 3600) / 60);
    let rest = format!("{}.{:03}s", secs % 60, ms % 1000);
    if h > 0 {
        format!("+{h}h {m}m {rest}")
    } else {
        format!("+{m}m {rest}")
    }
}

/// Wall-clock time of day with milliseconds (`22:13:27.957`); the date too when it differs
/// from `day_of` (the run's start).
pub(super) fn clock(ts: &str, day_of: &str) -> String {
    let date = ts.get(..10).unwrap_or("");
    let time = ts.get(11..23).unwrap_or(ts);
    if date == day_of.get(..10).unwrap_or("") {
        time.to_owned()
    } else {
        format!("{date} {time}")
    }
}

/// A timestamp as shown in headers: `2026-11-25 22:13:27.957 UTC`.
pub(super) fn stamp(ts: &str) -> String {
    match (ts.get(..10), ts.get(11..23)) {
        (Some(d), Some(t)) => format!("{d} {t} UTC"),
        _ => ts.to_owned(),
    }
}

/// A table cell of Markdown: pipes escaped, line breaks shown as ` ⏎ `.
pub(super) fn md_cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace("\r\n", "\n")
        .trim_end_matches('\n')
        .replace('\n', " ⏎ ")
}

/// Inline code in Markdown that survives backticks in the text.
pub(super) fn md_code(s: &str) -> String {
    if s.contains('`') {
        format!("`` {s} ``")
    } else {
        format!("`{s}`")
    }
}

/// Text for HTML element content and attribute values.
pub(super) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(human(0), "0ms");
        assert_eq!(human(400), "<1ms");
        assert_eq!(human(640_123), "640ms");
        assert_eq!(human(1_612_814), "1.6s");
        assert_eq!(human(125_000_000), "2m 5s");
        assert_eq!(human(3_723_000_000), "1h 2m 3s");
        assert_eq!(delta(-300_000), "-300ms");
        assert_eq!(delta(0), "±0");
        assert_eq!(offset_ms(4_436_123), "+4.436s");
        assert_eq!(offset_ms(125_000_000), "+2m 5.000s");
    }

    #[test]
    fn the_fast_path_agrees_with_chrono() {
        for ts in [
            "2026-11-25T22:13:27.957396Z",
            "1999-12-31T23:59:59.999999Z",
            "2024-02-29T00:00:00.000001Z",
        ] {
            let slow = DateTime::parse_from_rfc3339(ts).unwrap().timestamp_micros();
            assert_eq!(journal_ts(ts), Some(slow), "{ts}");
        }
        assert_eq!(
            parse_us("2026-11-25T22:13:27Z"),
            Some(1_795_644_807_000_000)
        );
        assert_eq!(journal_ts("2026-13-25T22:13:27.957396Z"), None);
    }

    #[test]
    fn backup_times_in_the_dr_plans_naming_parse() {
        let a = parse_backup_time("20240110-020000").unwrap();
        let b = parse_backup_time("2024-01-10T02:00:00Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(parse_backup_time("20240110T020000Z"), Some(a));
        assert_eq!(parse_backup_time("yesterday"), None);
    }

    #[test]
    fn cells_escape() {
        assert_eq!(md_cell("a|b\nc\n"), "a\\|b ⏎ c");
        assert_eq!(
            html_escape("<a href=\"x\">&</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
    }
}
