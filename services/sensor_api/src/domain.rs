//! The sensor vocabulary: types of parameters, exact values, timestamps with
//! their offsets, opaque cursors and aggregate buckets. Pure functions only.

use chrono::{DateTime, FixedOffset, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The type of a parameter, learned from its first reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// JSON numbers, stored exactly (`numeric`).
    Numeric,
    /// Strings.
    Text,
}

impl Kind {
    /// The word used in files, the database and answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Numeric => "numeric",
            Kind::Text => "text",
        }
    }

    /// Parses `numeric` or `text`.
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "numeric" => Some(Kind::Numeric),
            "text" => Some(Kind::Text),
            _ => None,
        }
    }
}

/// A value as it goes back to clients: a JSON number with exactly the digits
/// stored, or a string.
#[derive(Debug, Clone)]
pub enum OutValue {
    /// A JSON number, written verbatim.
    Number(Box<RawValue>),
    /// A string.
    Text(String),
}

impl OutValue {
    /// A number from Postgres' text form of a `numeric` (which is valid JSON
    /// number syntax for every finite value; NaN and infinities are never stored).
    pub fn number(text: String) -> Result<Self, String> {
        RawValue::from_string(text)
            .map(OutValue::Number)
            .map_err(|e| e.to_string())
    }
}

impl Serialize for OutValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OutValue::Number(raw) => raw.serialize(s),
            OutValue::Text(t) => s.serialize_str(t),
        }
    }
}

/// Longest device or parameter name accepted.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest text value accepted.
pub const MAX_TEXT_CHARS: usize = 10_000;

/// Checks a device or parameter name.
pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("{what} is longer than {MAX_NAME_CHARS} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("{what} contains control characters"));
    }
    Ok(())
}

/// Checks that `s` is a JSON number Postgres can hold exactly (`numeric`), and
/// returns it as given. The exponent is bounded so that no number expands to
/// thousands of digits.
pub fn check_number(s: &str) -> Result<&str, String> {
    let b = s.as_bytes();
    let mut i = 0;
    let err = || Err(format!("{s:?} is not a JSON number"));
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        _ => return err(),
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return err();
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return err();
        }
        let exp: i64 = s[start..i].parse().unwrap_or(i64::MAX);
        if exp > 300 {
            return Err(format!("{s:?} has an exponent beyond ±300"));
        }
    }
    if i != b.len() {
        return err();
    }
    if s.len() > 120 {
        return Err("number has more than 120 characters".into());
    }
    Ok(s)
}

/// An instant as written: microseconds since the epoch (UTC) and the offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub at: DateTime<Utc>,
    /// Seconds east of UTC.
    pub offset: i32,
}

/// Parses RFC 3339 (`2024-03-07T12:22:07.315194+02:00`, `…Z`); a space may stand
/// for the `T`. A time without an offset is refused: which offset it means cannot
/// be known (see [`parse_timestamp_assuming`]). More than microsecond precision is
/// refused rather than rounded: Postgres keeps microseconds, and nothing may
/// change silently.
pub fn parse_timestamp(s: &str) -> Result<Stamp, String> {
    parse_timestamp_assuming(s, None).map(|(stamp, _)| stamp)
}

/// As [`parse_timestamp`], but a time without an offset is read in `assume`
/// (seconds east) when the caller named one; the flag says it was.
pub fn parse_timestamp_assuming(s: &str, assume: Option<i32>) -> Result<(Stamp, bool), String> {
    let t = s.trim();
    let spaced = t.replacen(' ', "T", 1);
    let (fixed, assumed): (DateTime<FixedOffset>, bool) =
        match DateTime::parse_from_rfc3339(t).or_else(|_| DateTime::parse_from_rfc3339(&spaced)) {
            Ok(fixed) => (fixed, false),
            Err(_) => {
                let naive = NaiveDateTime::parse_from_str(&spaced, "%Y-%m-%dT%H:%M:%S%.f")
                    .map_err(|_| format!("timestamp {s:?} is not RFC 3339"))?;
                let Some(offset) = assume.and_then(FixedOffset::east_opt) else {
                    return Err(format!(
                        "timestamp {s:?} has no UTC offset; write one (Z, +02:00) or name the offset to \
                     assume (assume_offset=+02:00, CLI --assume-offset)"
                    ));
                };
                let fixed = offset
                    .from_local_datetime(&naive)
                    .single()
                    .ok_or_else(|| format!("timestamp {s:?} is out of range"))?;
                (fixed, true)
            }
        };
    if !fixed.timestamp_subsec_nanos().is_multiple_of(1000) {
        return Err(format!("timestamp {s:?} is more precise than a microsecond"));
    }
    let at = fixed.with_timezone(&Utc);
    if !(1..=9999).contains(&chrono::Datelike::year(&at)) {
        return Err(format!("timestamp {s:?} is out of range"));
    }
    Ok((
        Stamp {
            at,
            offset: fixed.offset().local_minus_utc(),
        },
        assumed,
    ))
}

/// Parses an offset to assume: `Z`, `UTC`, `+02:00`, `-0930`, `+05`. A leading
/// space counts as `+`: an unencoded `+` in a query string arrives as a space.
pub fn parse_offset(s: &str) -> Result<i32, String> {
    let err = || format!("{s:?} is not a UTC offset such as Z, +02:00 or -09:30");
    let t = s.trim_end();
    if t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("utc") {
        return Ok(0);
    }
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+' | b' ') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return Err(err()),
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if rest.starts_with(':') || rest.matches(':').count() > 1 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    let (h, m) = match digits.len() {
        2 => (&digits[..2], "00"),
        4 => (&digits[..2], &digits[2..]),
        _ => return Err(err()),
    };
    let (h, m): (i32, i32) = (h.parse().map_err(|_| err())?, m.parse().map_err(|_| err())?);
    // Offsets in use run from -12:00 to +14:00; ±18:00 is RFC 3339's practical bound.
    if m >= 60 || h * 60 + m > 18 * 60 {
        return Err(format!("{s:?}: an offset is at most ±18:00"));
    }
    Ok(sign * (h * 3600 + m * 60))
}

/// Parses a query-string time: RFC 3339, or a date (`2024-03-07`, midnight UTC).
pub fn parse_query_time(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|n| Utc.from_utc_datetime(&n))
            .ok_or_else(|| "not a date".to_string());
    }
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| format!("{s:?} is not an RFC 3339 time (e.g. 2024-03-07T12:00:00Z) or a date"))
}

/// The instant in its original offset, with microseconds.
pub fn format_local(at: DateTime<Utc>, offset: i32) -> String {
    match FixedOffset::east_opt(offset) {
        Some(o) => at.with_timezone(&o).to_rfc3339_opts(SecondsFormat::Micros, false),
        None => format_utc(at),
    }
}

/// The instant in UTC, with microseconds and a `Z`.
pub fn format_utc(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The offset as `+02:00` (or `+05:30:15` for the rare offsets with seconds).
pub fn format_offset(offset: i32) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    let a = offset.unsigned_abs();
    let (h, m, s) = (a / 3600, (a / 60) % 60, a % 60);
    if s == 0 {
        format!("{sign}{h:02}:{m:02}")
    } else {
        format!("{sign}{h:02}:{m:02}:{s:02}")
    }
}

/// Parses a bucket width (`30s`, `15m`, `1h`, `1d`) into seconds.
pub fn parse_bucket(s: &str) -> Result<i64, String> {
    let err = || format!("{s:?} is not a bucket width such as 30s, 15m, 1h or 1d");
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
    let (num, unit) = s.split_at(split);
    let n: i64 = num.parse().map_err(|_| err())?;
    let unit_secs = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(err()),
    };
    let secs = n.checked_mul(unit_secs).ok_or_else(err)?;
    if !(1..=366 * 86_400).contains(&secs) {
        return Err(format!("{s:?}: a bucket is 1 s to 366 days wide"));
    }
    Ok(secs)
}

/// Start of the UTC-aligned bucket (of `width` seconds, counted from the Unix
/// epoch) that holds `at`; the same rule as Postgres' `date_bin` with origin
/// 1970-01-01T00:00:00Z.
pub fn bucket_start(at: DateTime<Utc>, width: i64) -> DateTime<Utc> {
    let t = at.timestamp();
    let start = t - t.rem_euclid(width);
    DateTime::from_timestamp(start, 0).unwrap_or(at)
}

// What ingest hands to storage, here so that neither imports the other.

/// Where a reading was in its input: a line (NDJSON, CSV) or an index in the
/// device's array (the original JSON shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pos {
    /// 1-based line.
    Line(u64),
    /// 0-based index in the device's array.
    Item(u64),
}

impl Pos {
    /// Human- and machine-readable position (`line 12`, `$["device.foo"][17]`).
    pub fn describe(self, device: &str) -> String {
        match self {
            Pos::Line(n) => format!("line {n}"),
            Pos::Item(i) => format!(
                "$[{}][{i}]",
                serde_json::to_string(device).unwrap_or_else(|_| "?".into())
            ),
        }
    }
}

/// A bad row: where it was and why it was refused.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Rejection {
    /// `line N`, or a JSON path such as `$["device.foo"][17]`.
    pub position: String,
    pub reason: String,
}

/// A valid reading on its way to the loader. `series` indexes the batch's
/// series table (names travel once per import, not once per row).
#[derive(Debug, Clone)]
pub struct Row {
    pub pos: Pos,
    /// Index into the import's series (see [`Batch::new_series`]).
    pub series: u32,
    pub at: DateTime<Utc>,
    /// UTC offset as written, in seconds east.
    pub offset: i32,
    pub kind: Kind,
    /// The number exactly as written, or the text.
    pub value: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn timestamps_keep_microseconds_and_offset() {
        let s = parse_timestamp("2024-03-07T12:22:07.315194+02:00").unwrap();
        assert_eq!(s.offset, 7200);
        assert_eq!(format_local(s.at, s.offset), "2024-03-07T12:22:07.315194+02:00");
        assert_eq!(format_utc(s.at), "2024-03-07T10:22:07.315194Z");
        assert_eq!(format_offset(s.offset), "+02:00");
        assert_eq!(format_offset(-19800), "-05:30");
    }

    #[test]
    fn naive_timestamps_are_refused_unless_an_offset_is_assumed() {
        let err = parse_timestamp("2026-01-01T00:00:01.000000").unwrap_err();
        assert!(err.contains("no UTC offset"), "{err}");
        let (s, assumed) = parse_timestamp_assuming("2015-02-04 17:51:00", Some(0)).unwrap();
        assert!(assumed);
        assert_eq!(
            (format_utc(s.at).as_str(), s.offset),
            ("2015-02-04T17:51:00.000000Z", 0)
        );
        let (s, assumed) = parse_timestamp_assuming("2015-02-04T17:51:00.5", Some(20_700)).unwrap();
        assert!(assumed);
        assert_eq!(format_local(s.at, s.offset), "2015-02-04T17:51:00.500000+05:45");
        assert_eq!(format_utc(s.at), "2015-02-04T12:06:00.500000Z");
        // A written offset wins over the assumed one, and is not counted as assumed.
        let (s, assumed) = parse_timestamp_assuming("2015-02-04 17:51:00+01:00", Some(0)).unwrap();
        assert_eq!((s.offset, assumed), (3600, false));
    }

    #[test]
    fn offsets_to_assume_parse_and_are_bounded() {
        for (text, secs) in [
            ("Z", 0),
            ("utc", 0),
            ("+02:00", 7200),
            (" 02:00", 7200),
            ("-09:30", -34_200),
            ("+0545", 20_700),
            ("+14", 50_400),
            ("-00:00", 0),
        ] {
            assert_eq!(parse_offset(text), Ok(secs), "{text}");
        }
        for bad in [
            "",
            "02:00",
            "+2:00",
            "+24:00",
            "+18:30",
            "+02:60",
            "+02:00:00",
            "CET",
            "+:0200",
        ] {
            assert!(parse_offset(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_timestamps_say_why() {
        for bad in [
            "yesterday",
            "2024-13-01T00:00:00Z",
            "2024-03-07T12:22:07.3151945Z",
            "",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn numbers_follow_json_syntax() {
        for ok in ["0", "-0.5", "801.4240531704808", "1e5", "1.5E-7", "-12"] {
            assert_eq!(check_number(ok), Ok(ok));
        }
        for bad in [
            "", "01", "1.", ".5", "NaN", "Infinity", "1e", "+1", "1e999", "0x10", "1 ",
        ] {
            assert!(check_number(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn buckets_parse_and_align_to_utc() {
        assert_eq!(parse_bucket("15m"), Ok(900));
        assert_eq!(parse_bucket("1h"), Ok(3600));
        assert_eq!(parse_bucket("2d"), Ok(172_800));
        for bad in ["", "m", "15", "0m", "1w", "-1h", "999999d"] {
            assert!(parse_bucket(bad).is_err(), "{bad}");
        }
        let at = parse_timestamp("2024-03-07T12:22:07.315194+02:00").unwrap().at;
        assert_eq!(format_utc(bucket_start(at, 900)), "2024-03-07T10:15:00.000000Z");
    }
}
