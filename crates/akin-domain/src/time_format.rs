//! authentik's datetime wire format: ISO 8601 in UTC with `Z`, microseconds when not zero;
//! read from any ISO 8601 form its clients send.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// `2026-01-02T03:04:05Z`, or `2026-01-02T03:04:05.123456Z`.
pub fn format_datetime(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    match t.microsecond() {
        0 => format!("{base}Z"),
        micros => format!("{base}.{micros:06}Z"),
    }
}

/// `…+00:00`, `…Z`, `….000000+0000`, or naive (taken as UTC, authentik's time zone).
pub fn parse_datetime(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t);
    }
    if text.len() > 5 && text.is_char_boundary(text.len() - 5) {
        let (head, tail) = text.split_at(text.len() - 5);
        if (tail.starts_with('+') || tail.starts_with('-'))
            && tail[1..].bytes().all(|b| b.is_ascii_digit())
        {
            let fixed = format!("{head}{}:{}", &tail[..3], &tail[3..]);
            if let Ok(t) = OffsetDateTime::parse(&fixed, &Rfc3339) {
                return Some(t);
            }
        }
    }
    let naive = format_description!(
        version = 2,
        "[year]-[month]-[day][first [T] [ ]][hour]:[minute][optional [:[second][optional [.[subsecond]]]]]"
    );
    PrimitiveDateTime::parse(text, &naive)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// authentik's duration syntax: `hours=1;minutes=30` (`,` also separates).
pub fn parse_duration(text: &str) -> time::Duration {
    let mut total = time::Duration::ZERO;
    for part in text.split([';', ',']) {
        let Some((unit, amount)) = part.trim().split_once('=') else {
            continue;
        };
        let Ok(amount) = amount.trim().parse::<f64>() else {
            continue;
        };
        let seconds = match unit.trim() {
            "weeks" => amount * 604_800.0,
            "days" => amount * 86_400.0,
            "hours" => amount * 3_600.0,
            "minutes" => amount * 60.0,
            "seconds" => amount,
            "milliseconds" => amount / 1_000.0,
            "microseconds" => amount / 1_000_000.0,
            _ => 0.0,
        };
        total += time::Duration::seconds_f64(seconds);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn writes_z_and_drops_zero_micros() {
        assert_eq!(
            format_datetime(datetime!(2026-01-02 03:04:05 UTC)),
            "2026-01-02T03:04:05Z"
        );
        assert_eq!(
            format_datetime(datetime!(2026-01-02 05:04:05.123456 +02:00)),
            "2026-01-02T03:04:05.123456Z"
        );
    }

    #[test]
    fn reads_what_the_python_client_sends() {
        let expected = datetime!(2026-01-02 03:04:05 UTC);
        for text in [
            "2026-01-02T03:04:05+00:00",
            "2026-01-02T03:04:05Z",
            "2026-01-02T03:04:05.000000+0000",
            "2026-01-02T03:04:05",
            "2026-01-02 03:04:05",
        ] {
            assert_eq!(parse_datetime(text), Some(expected), "{text}");
        }
        assert_eq!(parse_datetime("yesterday"), None);
        assert_eq!(parse_datetime("ééééééé"), None);
    }

    #[test]
    fn durations_in_authentiks_syntax() {
        use time::Duration;
        assert_eq!(parse_duration("seconds=0"), Duration::ZERO);
        assert_eq!(parse_duration("hours=1;minutes=30"), Duration::minutes(90));
        assert_eq!(parse_duration("days=1,hours=2"), Duration::hours(26));
        assert_eq!(parse_duration("nonsense"), Duration::ZERO);
    }
}
