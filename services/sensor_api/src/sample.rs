//! A generated stand-in for the original service's seed file.
//!
//! The Flask service this crate replaces served one static JSON file of 20,000
//! readings. That file is not part of the project (it may not be committed), yet
//! the tests, the benchmarks and demos need data of the same shape and the same
//! difficulty. This module makes it, deterministically (a fixed seed and a small
//! splitmix64 generator, no dependency), so every clone has the same readings:
//!
//! - the original's shape `{"<device>": [{"parameter", "timestamp", "value",
//!   "type"}, …]}`, two devices (`device.foo`, `device.bar`) with 17 parameters
//!   each (9 numeric, 8 text), 589 instants a minute apart per device (newest
//!   first), every parameter of a device at each instant except the oldest one,
//!   which has only the first four: 10,000 distinct readings per device;
//! - timestamps with microseconds, each instant written in one of several UTC
//!   offsets ([`OFFSETS`]: `+02:00`, `Z`, `+00:00`, `-05:00`, `+05:30`); one
//!   instant is never written in two offsets, so a reading's key is unambiguous;
//! - numbers of 15 to 17 significant digits: mostly the shortest round-trip
//!   literal of an `f64` (`801.4240531704808`, as in the original), some that no
//!   `f64` prints (17 digits ending in zeros, or 17 digits no `f64` round-trips
//!   to), so only an exact store gives them back; no exponents, so the text
//!   Postgres' `numeric` gives back is the text sent;
//! - text values of 3 to 20 random ASCII letters;
//! - a few exact copies of readings ([`DUPLICATES_PER_DEVICE`] per device), some in
//!   the same loader batch as their original and some in the next one
//!   ([`crate::ingest::BATCH_ROWS`]), which an import counts as duplicates.
//!
//! [`seed_like_json`] gives the file's text; [`seed_like`] the readings.

use std::fmt::Write as _;

use chrono::{DateTime, FixedOffset, Offset, Utc};

use crate::domain::Kind;

/// The seed of [`seed_like`].
pub const SEED: u64 = 0x5EED_2024_0307_1222;

/// Instants per device (one minute apart); the oldest has only [`OLDEST_READINGS`] readings.
pub const INSTANTS: usize = 589;

/// Readings at the oldest instant of each device (the first parameters).
pub const OLDEST_READINGS: usize = 4;

/// Exact copies of readings added to each device's array.
pub const DUPLICATES_PER_DEVICE: usize = 6;

/// The newest instant of every device: 2024-03-07T10:22:07.315194Z.
pub const NEWEST_MICROS: i64 = 1_709_806_927_315_194;

/// How each instant may be written: the suffix and its offset in seconds east,
/// with a weight (out of the sum of the weights).
pub const OFFSETS: [(&str, i32, u64); 5] = [
    ("+02:00", 7200, 4),
    ("Z", 0, 1),
    ("+00:00", 0, 1),
    ("-05:00", -18_000, 2),
    ("+05:30", 19_800, 2),
];

/// The devices and their parameters, in the order readings are written. Even
/// positions are numeric, odd ones text.
pub const DEVICES: [(&str, [&str; 17]); 2] = [
    (
        "device.foo",
        [
            "parameter.foo",
            "parameter.bar",
            "parameter.corge",
            "parameter.batch",
            "tenantB.datasourceA.bfaz",
            "tenantA.deviceFoo.datasourceA.foo",
            "tenantA.deviceFoo.datasourceA.bar",
            "tenantA.deviceFoo.datasourceA.corge",
            "tenantA.deviceFoo.datasourceB.batch",
            "tenantA.deviceFoo.datasourceB.grault",
            "tenantA.deviceFoo.datasourceB.garply",
            "tenantA.deviceFoo.datasourceC.waldo",
            "tenantA.deviceFoo.datasourceC.xyzzy",
            "tenantA.deviceFoo.datasourceC.ipsum.plugh",
            "tenantA.deviceFoo.datasourceC.ipsum.thud",
            "tenantA.deviceFoo.datasourceD.ipsum.baz",
            "tenantA.deviceFoo.datasourceD.ipsum.qux",
        ],
    ),
    (
        "device.bar",
        [
            "parameter.baz",
            "parameter.qux",
            "parameter.waldo",
            "parameter.cat",
            "tenantB.datasourceA.baz",
            "tenantB.deviceBar.datasourceA.baz",
            "tenantB.deviceBar.datasourceA.qux",
            "tenantB.deviceBar.datasourceA.waldo",
            "tenantB.deviceBar.datasourceB.cat",
            "tenantB.deviceBar.datasourceB.dog",
            "tenantB.deviceBar.datasourceB.mouse",
            "tenantB.deviceBar.datasourceC.rabbit",
            "tenantB.deviceBar.datasourceC.horse",
            "tenantB.deviceBar.datasourceC.cow",
            "tenantB.deviceBar.datasourceC.ipsum.pig",
            "tenantB.deviceBar.datasourceD.ipsum.chicken.licken",
            "tenantB.deviceBar.datasourceD.ipsum.sheep",
        ],
    ),
];

/// A value as written in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A JSON number, its exact text.
    Number(String),
    /// A string (ASCII letters only).
    Text(String),
}

/// One reading as written in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    pub parameter: &'static str,
    /// RFC 3339 with microseconds and the instant's offset.
    pub timestamp: String,
    pub value: Value,
}

impl Reading {
    /// `numeric` or `text`, as the file's `type` says.
    pub fn kind(&self) -> Kind {
        match self.value {
            Value::Number(_) => Kind::Numeric,
            Value::Text(_) => Kind::Text,
        }
    }
}

/// One device's readings, in file order (newest instant first, duplicates included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub device: &'static str,
    pub readings: Vec<Reading>,
}

/// splitmix64 (Steele, Lea, Flood 2014): tiny, fast and the same everywhere.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`; the modulo bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn index(&mut self, n: usize) -> usize {
        usize::try_from(self.below(n as u64)).unwrap_or(0)
    }

    /// Uniform in `[0, 1)`, 52 random bits.
    fn unit(&mut self) -> f64 {
        f64::from_bits(0x3FF0_0000_0000_0000 | (self.next() >> 12)) - 1.0
    }

    fn digit(&mut self) -> char {
        char::from(b'0' + u8::try_from(self.below(10)).unwrap_or(0))
    }

    fn nonzero_digit(&mut self) -> char {
        char::from(b'1' + u8::try_from(self.below(9)).unwrap_or(0))
    }
}

/// Significant digits of a plain decimal literal, trailing zeros included
/// (they were written, so they count).
pub fn significant_digits(number: &str) -> usize {
    number
        .trim_start_matches('-')
        .chars()
        .filter(char::is_ascii_digit)
        .skip_while(|&c| c == '0')
        .count()
}

/// True when `number` is exactly how Rust (shortest round trip) prints the
/// `f64` nearest to it: a float store would give it back unchanged.
pub fn is_shortest_f64(number: &str) -> bool {
    number.parse::<f64>().is_ok_and(|f| f.to_string() == number)
}

/// A numeric value: 88 % shortest `f64` literals in `[0, 1000)` with 15-17
/// significant digits, 6 % 17 digits ending in 1-3 zeros, 6 % 17 digits that
/// no `f64` prints.
fn number(rng: &mut SplitMix64) -> String {
    let kind = rng.below(100);
    if kind < 88 {
        loop {
            let s = (rng.unit() * 1000.0).to_string();
            if (15..=17).contains(&significant_digits(&s)) {
                return s;
            }
        }
    }
    loop {
        let int = (1 + rng.below(999)).to_string();
        let frac_len = 17 - int.len();
        let mut s = int;
        s.push('.');
        if kind < 94 {
            let zeros = 1 + rng.index(3);
            for _ in 0..frac_len - zeros - 1 {
                s.push(rng.digit());
            }
            s.push(rng.nonzero_digit());
            s.extend(std::iter::repeat_n('0', zeros));
        } else {
            for _ in 0..frac_len - 1 {
                s.push(rng.digit());
            }
            s.push(rng.nonzero_digit());
        }
        if !is_shortest_f64(&s) {
            return s;
        }
    }
}

/// 3 to 20 random ASCII letters.
fn text(rng: &mut SplitMix64) -> String {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let len = 3 + rng.index(18);
    (0..len)
        .map(|_| char::from(LETTERS[rng.index(LETTERS.len())]))
        .collect()
}

/// An instant written with microseconds in one of [`OFFSETS`].
fn timestamp(micros: i64, suffix: &str, offset: i32) -> String {
    let at = DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or_default();
    let zone = FixedOffset::east_opt(offset).unwrap_or_else(|| Utc.fix());
    let mut s = at
        .with_timezone(&zone)
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string();
    s.push_str(suffix);
    s
}

fn offset(rng: &mut SplitMix64) -> (&'static str, i32) {
    let total: u64 = OFFSETS.iter().map(|o| o.2).sum();
    let mut pick = rng.below(total);
    for (suffix, secs, weight) in OFFSETS {
        if pick < weight {
            return (suffix, secs);
        }
        pick -= weight;
    }
    ("Z", 0)
}

/// The readings of one device, without duplicates.
fn device_readings(rng: &mut SplitMix64, parameters: &[&'static str; 17]) -> Vec<Reading> {
    let mut out = Vec::with_capacity(INSTANTS * parameters.len());
    for i in 0..INSTANTS {
        // A minute apart, newest first, each instant up to a second late.
        let step = i64::try_from(i).unwrap_or(0) * 60_000_000;
        let jitter = i64::try_from(rng.below(1_000_000)).unwrap_or(0);
        let micros = NEWEST_MICROS - step + jitter;
        let (suffix, secs) = offset(rng);
        let stamp = timestamp(micros, suffix, secs);
        let n = if i + 1 == INSTANTS {
            OLDEST_READINGS
        } else {
            parameters.len()
        };
        for (p, parameter) in parameters.iter().enumerate().take(n) {
            let value = if p % 2 == 0 {
                Value::Number(number(rng))
            } else {
                Value::Text(text(rng))
            };
            out.push(Reading {
                parameter,
                timestamp: stamp.clone(),
                value,
            });
        }
    }
    out
}

/// Inserts a copy of a reading of `parameter` (any when `None`) somewhere after it.
fn duplicate(rng: &mut SplitMix64, readings: &mut Vec<Reading>, parameter: Option<&str>) {
    let candidates: Vec<usize> = (0..readings.len())
        .filter(|&i| parameter.is_none_or(|p| readings[i].parameter == p))
        .collect();
    let source = candidates[rng.index(candidates.len())];
    let at = source + 1 + rng.index(readings.len() - source);
    let copy = readings[source].clone();
    readings.insert(at, copy);
}

/// The readings of [`seed_like_json`], device by device.
pub fn seed_like() -> Vec<Device> {
    generate(SEED)
}

/// Seed-like readings from any seed (same counts, parameters and rules).
///
/// Duplicates: `device.foo` gets copies of a `parameter.foo` (numeric) and a
/// `parameter.bar` (text) reading plus four others, each a little after its
/// original (so in the same loader batch); `device.bar` gets three such copies
/// and, at the very end of the file, copies of three of its first readings, which
/// an import reads in its second batch.
pub fn generate(seed: u64) -> Vec<Device> {
    let mut rng = SplitMix64(seed);
    let mut out = Vec::with_capacity(DEVICES.len());
    for (d, (device, parameters)) in DEVICES.iter().enumerate() {
        let mut readings = device_readings(&mut rng, parameters);
        if d == 0 {
            duplicate(&mut rng, &mut readings, Some(parameters[0]));
            duplicate(&mut rng, &mut readings, Some(parameters[1]));
            for _ in 2..DUPLICATES_PER_DEVICE {
                duplicate(&mut rng, &mut readings, None);
            }
        } else {
            let late = DUPLICATES_PER_DEVICE / 2;
            for _ in late..DUPLICATES_PER_DEVICE {
                duplicate(&mut rng, &mut readings, None);
            }
            for _ in 0..late {
                let early = rng.index(parameters.len() * 10);
                readings.push(readings[early].clone());
            }
        }
        out.push(Device { device, readings });
    }
    out
}

/// The devices as the original file's JSON, one reading per line.
pub fn to_json(devices: &[Device]) -> String {
    let mut s = String::with_capacity(devices.iter().map(|d| d.readings.len() * 120).sum());
    s.push_str("{\n");
    for (d, device) in devices.iter().enumerate() {
        let _ = writeln!(s, "  {}: [", json_string(device.device));
        for (i, r) in device.readings.iter().enumerate() {
            let value = match &r.value {
                Value::Number(n) => n.clone(),
                Value::Text(t) => json_string(t),
            };
            let _ = write!(
                s,
                "    {{\"parameter\": {}, \"timestamp\": {}, \"value\": {value}, \"type\": \"{}\"}}",
                json_string(r.parameter),
                json_string(&r.timestamp),
                r.kind().as_str()
            );
            s.push_str(if i + 1 < device.readings.len() {
                ",\n"
            } else {
                "\n"
            });
        }
        s.push_str(if d + 1 < devices.len() { "  ],\n" } else { "  ]\n" });
    }
    s.push_str("}\n");
    s
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The generated seed file: `{"device.foo": [...], "device.bar": [...]}`,
/// 20,012 readings (20,000 distinct), always the same text.
pub fn seed_like_json() -> String {
    to_json(&seed_like())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::cast_precision_loss)]
    use std::collections::{HashMap, HashSet};

    use super::*;
    use crate::domain::{check_number, parse_timestamp};
    use crate::ingest::BATCH_ROWS;

    fn all(devices: &[Device]) -> impl Iterator<Item = (&'static str, &Reading)> {
        devices
            .iter()
            .flat_map(|d| d.readings.iter().map(move |r| (d.device, r)))
    }

    fn numbers(devices: &[Device]) -> Vec<&str> {
        all(devices)
            .filter_map(|(_, r)| match &r.value {
                Value::Number(n) => Some(n.as_str()),
                Value::Text(_) => None,
            })
            .collect()
    }

    #[test]
    fn it_is_the_same_every_time_and_differs_by_seed() {
        let a = seed_like_json();
        assert_eq!(a, seed_like_json());
        assert_ne!(seed_like(), generate(SEED + 1));
        // Pinned, so that a change of the generator is a visible decision.
        let first = a.lines().nth(2).unwrap();
        assert_eq!(
            first,
            r#"    {"parameter": "parameter.foo", "timestamp": "2024-03-07T12:22:07.333050+02:00", "value": 360.12226237080205, "type": "numeric"},"#
        );
    }

    #[test]
    fn the_json_has_the_original_shape() {
        let parsed: HashMap<String, Vec<serde_json::Value>> =
            serde_json::from_str(&seed_like_json()).unwrap();
        let devices = seed_like();
        assert_eq!(parsed.len(), 2);
        for d in &devices {
            let items = &parsed[d.device];
            assert_eq!(items.len(), d.readings.len());
            for (item, r) in items.iter().zip(&d.readings) {
                let obj = item.as_object().unwrap();
                assert_eq!(obj.len(), 4);
                assert_eq!(obj["parameter"], r.parameter);
                assert_eq!(obj["timestamp"], r.timestamp.as_str());
                assert_eq!(obj["type"], r.kind().as_str());
                match &r.value {
                    Value::Number(_) => assert!(obj["value"].is_number()),
                    Value::Text(t) => assert_eq!(obj["value"], t.as_str()),
                }
            }
        }
        // Numbers are written as their exact text.
        let text = seed_like_json();
        for n in numbers(&devices).iter().take(500) {
            assert!(text.contains(&format!("\"value\": {n}, ")), "{n}");
        }
    }

    #[test]
    fn two_devices_34_parameters_of_one_type_each_and_20000_distinct_readings() {
        let devices = seed_like();
        assert_eq!(
            devices.iter().map(|d| d.device).collect::<Vec<_>>(),
            ["device.foo", "device.bar"]
        );
        let mut names = HashSet::new();
        for (d, (device, parameters)) in devices.iter().zip(&DEVICES) {
            assert_eq!(d.device, *device);
            let mut kinds: HashMap<&str, HashSet<Kind>> = HashMap::new();
            let mut counts: HashMap<&str, usize> = HashMap::new();
            for r in &d.readings {
                kinds.entry(r.parameter).or_default().insert(r.kind());
                *counts.entry(r.parameter).or_default() += 1;
                names.insert((d.device, r.parameter));
            }
            assert_eq!(kinds.len(), 17);
            assert!(kinds.values().all(|k| k.len() == 1), "one type per parameter");
            let numeric = parameters
                .iter()
                .filter(|p| kinds[*p].contains(&Kind::Numeric))
                .count();
            assert_eq!(numeric, 9);
            assert_eq!(d.readings.len(), 10_000 + DUPLICATES_PER_DEVICE);
            let distinct: HashSet<(&str, &str)> = d
                .readings
                .iter()
                .map(|r| (r.parameter, r.timestamp.as_str()))
                .collect();
            assert_eq!(distinct.len(), 10_000);
            // 589 readings of the first four parameters, 588 of the others (plus copies).
            assert!(
                counts
                    .values()
                    .all(|&c| (588..=589 + DUPLICATES_PER_DEVICE).contains(&c))
            );
            assert!(counts[parameters[0]] > 589, "a copy of the first parameter");
        }
        assert_eq!(names.len(), 34);
        let total = all(&devices).count();
        let numeric = numbers(&devices).len();
        assert_eq!(total, 20_000 + 2 * DUPLICATES_PER_DEVICE);
        let share = numeric as f64 / total as f64;
        assert!((0.52..0.54).contains(&share), "{share}");
    }

    #[test]
    fn timestamps_have_microseconds_several_offsets_and_one_offset_per_instant() {
        let devices = seed_like();
        let mut suffixes: HashMap<&str, usize> = HashMap::new();
        for d in &devices {
            // Instant (UTC µs) → how it is written; every parameter shares it.
            let mut written: HashMap<i64, &str> = HashMap::new();
            let mut per_instant: HashMap<i64, usize> = HashMap::new();
            for r in &d.readings {
                let stamp = parse_timestamp(&r.timestamp).unwrap();
                let micros = stamp.at.timestamp_micros();
                assert_eq!(*written.entry(micros).or_insert(&r.timestamp), r.timestamp);
                *per_instant.entry(micros).or_default() += 1;
                let (_, frac) = r.timestamp.split_once('.').unwrap();
                assert!(frac[..6].bytes().all(|b| b.is_ascii_digit()), "{}", r.timestamp);
                let suffix = &frac[6..];
                let (_, secs, _) = OFFSETS.iter().find(|o| o.0 == suffix).unwrap();
                assert_eq!(stamp.offset, *secs, "{}", r.timestamp);
                *suffixes.entry(suffix).or_default() += 1;
            }
            assert_eq!(written.len(), INSTANTS);
            assert!(per_instant.values().filter(|&&n| n >= 17).count() >= INSTANTS - 1);
            let newest = written.keys().max().unwrap();
            assert!((NEWEST_MICROS..NEWEST_MICROS + 1_000_000).contains(newest));
        }
        assert_eq!(suffixes.len(), OFFSETS.len(), "{suffixes:?}");
        assert!(suffixes.values().all(|&n| n > 1000), "{suffixes:?}");
    }

    #[test]
    fn numbers_have_15_to_17_digits_and_some_are_no_f64_literal() {
        let devices = seed_like();
        let nums = numbers(&devices);
        let mut digits: HashMap<usize, usize> = HashMap::new();
        let (mut trailing_zeros, mut not_f64) = (0, 0);
        for n in &nums {
            assert_eq!(check_number(n), Ok(*n), "the service accepts {n}");
            assert!(!n.contains(['e', 'E', '-']), "{n}");
            *digits.entry(significant_digits(n)).or_default() += 1;
            if !is_shortest_f64(n) {
                not_f64 += 1;
                assert_eq!(significant_digits(n), 17, "{n}");
                if n.ends_with('0') {
                    trailing_zeros += 1;
                }
            }
        }
        assert!(digits.keys().all(|d| (15..=17).contains(d)), "{digits:?}");
        assert!(digits.values().all(|&c| c > 300), "{digits:?}");
        let shortest = nums.len() - not_f64;
        assert!(shortest * 100 > nums.len() * 85, "{shortest} of {}", nums.len());
        assert!(
            trailing_zeros > 300 && not_f64 - trailing_zeros > 300,
            "{trailing_zeros} {not_f64}"
        );
        assert_eq!(significant_digits("0.00120"), 3);
        assert!(is_shortest_f64("801.4240531704808") && !is_shortest_f64("801.42405317048080"));
    }

    #[test]
    fn texts_are_3_to_20_ascii_letters() {
        let mut lengths = HashSet::new();
        for (_, r) in all(&seed_like()) {
            if let Value::Text(t) = &r.value {
                assert!(t.bytes().all(|b| b.is_ascii_alphabetic()), "{t}");
                lengths.insert(t.len());
            }
        }
        assert_eq!(lengths, (3..=20).collect());
    }

    #[test]
    fn duplicates_are_exact_copies_in_the_same_and_in_the_next_loader_batch() {
        let devices = seed_like();
        // File order, as the loader batches it.
        let mut first_seen: HashMap<(&str, &str, &str), (usize, &Reading)> = HashMap::new();
        let (mut same_batch, mut next_batch) = (0, 0);
        let mut copied: HashSet<(&str, &str)> = HashSet::new();
        for (i, (device, r)) in all(&devices).enumerate() {
            match first_seen.get(&(device, r.parameter, r.timestamp.as_str())) {
                None => {
                    first_seen.insert((device, r.parameter, r.timestamp.as_str()), (i, r));
                }
                Some((j, original)) => {
                    assert_eq!(*original, r, "a duplicate is an exact copy");
                    copied.insert((device, r.parameter));
                    if j / BATCH_ROWS == i / BATCH_ROWS {
                        same_batch += 1;
                    } else {
                        next_batch += 1;
                    }
                }
            }
        }
        assert_eq!(same_batch + next_batch, 2 * DUPLICATES_PER_DEVICE);
        assert!(same_batch >= 3 && next_batch >= 3, "{same_batch} {next_batch}");
        assert!(copied.contains(&("device.foo", "parameter.foo")));
        assert!(copied.contains(&("device.foo", "parameter.bar")));
    }
}
