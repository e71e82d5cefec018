//! Timestamps in responses: RFC 3339 in UTC with `Z` and as many fractional
//! digits as the value needs, exactly chrono's own serde format. chrono's
//! `Serialize` hands serde_json a `Display` that it escapes a character at a
//! time; a favorited-by page has 40 timestamps, and that adapter was 8 % of
//! the server's CPU on it. The same text is written here into a buffer on
//! the stack and handed over whole. Fields use
//! `#[serde(serialize_with = "…")]`.

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde::Serializer;

/// `at` as chrono serializes it, written in one piece.
pub fn rfc3339<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut text = *b"0000-00-00T00:00:00.000000000Z";
    match write_rfc3339(at, &mut text) {
        Some(text) => serializer.serialize_str(text),
        None => serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
    }
}

/// What chrono's `to_rfc3339_opts(AutoSi, true)` writes, for the years
/// 0 to 9999: the digits put one by one into `text`, a template with every
/// separator in place (chrono's formatter goes through `fmt::Write` a piece
/// at a time, about 3 % of the server's CPU on a favorited-by page). `None`
/// for the years chrono writes with a sign.
fn write_rfc3339<'t>(at: &DateTime<Utc>, text: &'t mut [u8; 30]) -> Option<&'t str> {
    // The fields of the UTC time itself, read once: each of `DateTime`'s
    // own accessors converts it to local time first.
    let at = at.naive_utc();
    let year = u32::try_from(at.year()).ok().filter(|year| *year <= 9999)?;
    // A leap second is the 60th second, with the nanoseconds past 10⁹.
    let (second, nanos) = match at.nanosecond() {
        nanos @ 1_000_000_000.. => (60, nanos - 1_000_000_000),
        nanos => (at.second(), nanos),
    };
    let mut put = |start: usize, mut value: u32, digits: u32| {
        for place in (start..start + digits as usize).rev() {
            text[place] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, year, 4);
    put(5, at.month(), 2);
    put(8, at.day(), 2);
    put(11, at.hour(), 2);
    put(14, at.minute(), 2);
    put(17, second, 2);
    // As many fractional digits as the value needs: none, 3, 6 or 9.
    let digits = match nanos {
        0 => 0,
        _ if nanos % 1_000_000 == 0 => 3,
        _ if nanos % 1_000 == 0 => 6,
        _ => 9,
    };
    put(20, nanos / 10u32.pow(9 - digits), digits);
    let end = if digits == 0 {
        19
    } else {
        20 + digits as usize
    };
    text[end] = b'Z';
    std::str::from_utf8(&text[..=end]).ok()
}

/// [`rfc3339`], or `null`.
pub fn rfc3339_or_null<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => rfc3339(at, serializer),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, NaiveDate, Utc};
    use serde::Serialize;

    #[derive(Serialize)]
    struct Ours {
        #[serde(serialize_with = "super::rfc3339")]
        at: DateTime<Utc>,
        #[serde(serialize_with = "super::rfc3339_or_null")]
        maybe: Option<DateTime<Utc>>,
    }

    #[derive(Serialize)]
    struct Chronos {
        at: DateTime<Utc>,
        maybe: Option<DateTime<Utc>>,
    }

    #[test]
    fn writes_what_chrono_writes() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let times = [
            day.and_hms_opt(0, 0, 0).unwrap(),
            day.and_hms_milli_opt(5, 6, 7, 120).unwrap(),
            day.and_hms_micro_opt(23, 59, 59, 307_524).unwrap(),
            day.and_hms_nano_opt(12, 0, 1, 5).unwrap(),
            // A leap second, which chrono writes as :60.
            day.and_hms_milli_opt(23, 59, 59, 1_500).unwrap(),
            NaiveDate::from_ymd_opt(1, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap(),
            // Years chrono writes with a sign: left to chrono.
            NaiveDate::from_ymd_opt(10_000, 1, 1)
                .unwrap()
                .and_hms_micro_opt(0, 0, 0, 1)
                .unwrap(),
            NaiveDate::from_ymd_opt(-1, 12, 31)
                .unwrap()
                .and_hms_opt(23, 59, 59)
                .unwrap(),
        ];
        // Every count of fractional digits, and dates across the range.
        let spread = (0..2_000_i64).map(|i| {
            DateTime::from_timestamp(
                i * 5_003_419_117 % 253_402_300_799,
                (i * 7_919) as u32 % 1_000_000_000,
            )
            .unwrap()
            .naive_utc()
        });
        let rounded = (0..40_u32).map(|i| day.and_hms_nano_opt(1, 2, 3, i * 25_000_000).unwrap());
        let micros = (0..40_u32).map(|i| day.and_hms_nano_opt(1, 2, 3, i * 25_001_000).unwrap());
        for time in times.into_iter().chain(spread).chain(rounded).chain(micros) {
            let at = time.and_utc();
            for maybe in [Some(at), None] {
                let ours = serde_json::to_string(&Ours { at, maybe }).unwrap();
                let chronos = serde_json::to_string(&Chronos { at, maybe }).unwrap();
                assert_eq!(ours, chronos);
            }
        }
    }
}
