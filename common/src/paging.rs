//! Paging, one way everywhere. Page sizes: absent gives the route's default, anything
//! but a whole number from 1 to the route's maximum is a 422 naming the parameter.
//! Cursors: opaque (base64url of a JSON array), naming the list they continue and
//! its version, so a cursor of another list or order, or of an older layout, is a
//! 422 `cursor` instead of a wrong page; only the canonical spelling is accepted.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use crate::problem::Problem;

/// A route's page-size parameter: its name, default and maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize {
    pub field: &'static str,
    pub default: u32,
    pub max: u32,
}

impl PageSize {
    pub const fn new(field: &'static str, default: u32, max: u32) -> Self {
        Self { field, default, max }
    }

    fn refused(&self) -> Problem {
        Problem::invalid_field(self.field, format!("must be an integer from 1 to {}", self.max))
    }

    /// From query text (`?page_size=10`); surrounding spaces are ignored.
    pub fn parse(&self, raw: Option<&str>) -> Result<u32, Problem> {
        match raw {
            None => Ok(self.default),
            Some(s) => s
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=self.max).contains(n))
                .ok_or_else(|| self.refused()),
        }
    }

    /// From a number the query extractor already parsed.
    pub fn check(&self, value: Option<i64>) -> Result<u32, Problem> {
        match value {
            None => Ok(self.default),
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| (1..=self.max).contains(n))
                .ok_or_else(|| self.refused()),
        }
    }
}

/// One keyset-paged list (a table in one order): the cursors it hands out and takes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyset {
    /// What is paged and in which order (`orders.seq_desc`); lists that page the
    /// same rows in the same order may share one, so their cursors are interchangeable.
    pub list: &'static str,
    /// Bumped when the key changes, so older cursors are refused, not misread.
    pub version: u32,
}

/// Longest cursor looked at; anything longer was not handed out.
const MAX_CURSOR_LEN: usize = 1024;

impl Keyset {
    pub const fn new(list: &'static str, version: u32) -> Self {
        Self { list, version }
    }

    fn tag(&self) -> String {
        format!("{}.v{}", self.list, self.version)
    }

    /// The cursor of the page after the row whose key is `key`.
    pub fn cursor<K: CursorKey>(&self, key: &K) -> String {
        let mut parts = vec![self.tag()];
        key.parts(&mut parts);
        URL_SAFE_NO_PAD.encode(serde_json::to_string(&parts).unwrap_or_default())
    }

    /// Cuts `rows` (fetched with one row more than `size`) to the page and gives the
    /// cursor of the next page, or `None` when this page is the last.
    pub fn next_page<T, K: CursorKey>(
        &self,
        rows: &mut Vec<T>,
        size: u32,
        key: impl Fn(&T) -> K,
    ) -> Option<String> {
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        if rows.len() <= size {
            return None;
        }
        rows.truncate(size);
        rows.last().map(|r| self.cursor(&key(r)))
    }

    /// The key inside `cursor`, or the 422 for a cursor this list did not hand out.
    pub fn key<K: CursorKey>(&self, cursor: &str) -> Result<K, Problem> {
        self.decode(cursor).ok_or_else(Self::refused)
    }

    /// The 422 for a cursor not handed out by this list (or naming a row it never would).
    pub fn refused() -> Problem {
        Problem::invalid_field("cursor", "is not a cursor this service handed out for this list")
    }

    fn decode<K: CursorKey>(&self, cursor: &str) -> Option<K> {
        if cursor.is_empty() || cursor.len() > MAX_CURSOR_LEN {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        let parts: Vec<String> = serde_json::from_slice(&bytes).ok()?;
        let (tag, key) = parts.split_first()?;
        if *tag != self.tag() {
            return None;
        }
        let key = K::from_parts(key)?;
        // Only what this list would have written: "05", "+5" and the like never were.
        (self.cursor(&key) == cursor).then_some(key)
    }
}

/// A key a cursor can carry: written as text parts, read back from exactly those.
pub trait CursorKey: Sized {
    fn parts(&self, out: &mut Vec<String>);
    fn from_parts(parts: &[String]) -> Option<Self>;
}

/// One part of a key.
pub trait CursorPart: Sized {
    fn to_part(&self) -> String;
    fn from_part(part: &str) -> Option<Self>;
}

macro_rules! parsed_part {
    ($($t:ty),*) => {$(
        impl CursorPart for $t {
            fn to_part(&self) -> String {
                self.to_string()
            }
            fn from_part(part: &str) -> Option<Self> {
                part.parse().ok()
            }
        }
        impl CursorKey for $t {
            fn parts(&self, out: &mut Vec<String>) {
                out.push(self.to_part());
            }
            fn from_parts(parts: &[String]) -> Option<Self> {
                match parts {
                    [p] => Self::from_part(p),
                    _ => None,
                }
            }
        }
    )*};
}

parsed_part!(i64, i32, String);

/// An instant, to the microsecond (what Postgres keeps).
impl CursorPart for DateTime<Utc> {
    fn to_part(&self) -> String {
        self.timestamp_micros().to_string()
    }
    fn from_part(part: &str) -> Option<Self> {
        DateTime::from_timestamp_micros(part.parse().ok()?)
    }
}

impl<A: CursorPart, B: CursorPart> CursorKey for (A, B) {
    fn parts(&self, out: &mut Vec<String>) {
        out.extend([self.0.to_part(), self.1.to_part()]);
    }
    fn from_parts(parts: &[String]) -> Option<Self> {
        match parts {
            [a, b] => Some((A::from_part(a)?, B::from_part(b)?)),
            _ => None,
        }
    }
}

impl<A: CursorPart, B: CursorPart, C: CursorPart> CursorKey for (A, B, C) {
    fn parts(&self, out: &mut Vec<String>) {
        out.extend([self.0.to_part(), self.1.to_part(), self.2.to_part()]);
    }
    fn from_parts(parts: &[String]) -> Option<Self> {
        match parts {
            [a, b, c] => Some((A::from_part(a)?, B::from_part(b)?, C::from_part(c)?)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sizes_default_and_refuse_what_is_not_1_to_max() {
        let size = PageSize::new("limit", 20, 100);
        assert_eq!(size.parse(None).unwrap(), 20);
        assert_eq!(size.parse(Some(" 100 ")).unwrap(), 100);
        for bad in ["0", "101", "-1", "1.5", "ten", ""] {
            let p = size.parse(Some(bad)).unwrap_err();
            assert_eq!(p.code, "validation_failed", "{bad}");
            assert!(
                p.detail.starts_with("limit: must be an integer from 1 to 100"),
                "{bad}"
            );
        }
        assert_eq!(size.check(Some(7)).unwrap(), 7);
        assert!(size.check(Some(0)).is_err() && size.check(Some(i64::MAX)).is_err());
    }

    #[test]
    fn cursors_round_trip_and_strangers_are_refused() {
        const IDS: Keyset = Keyset::new("things.id_desc", 1);
        let c = IDS.cursor(&42_i64);
        assert_eq!(IDS.key::<i64>(&c).unwrap(), 42);
        let mut rows = vec![9_i64, 8, 7];
        assert_eq!(IDS.next_page(&mut rows, 2, |r| *r), Some(IDS.cursor(&8_i64)));
        assert_eq!(rows, [9, 8]);
        assert_eq!(IDS.next_page(&mut rows, 2, |r| *r), None);
        let at = DateTime::from_timestamp_micros(1_709_806_927_315_194).unwrap();
        let key = (at, "kra|ken \"x\"".to_string(), 7_i32);
        let c3 = IDS.cursor(&key);
        assert_eq!(IDS.key::<(DateTime<Utc>, String, i32)>(&c3).unwrap(), key);
        // Another list, another version, another key shape, garbage, or a
        // non-canonical spelling of the same key: all refused the same way.
        let json = |s: &str| URL_SAFE_NO_PAD.encode(s);
        for bad in [
            Keyset::new("other.id_desc", 1).cursor(&42_i64),
            Keyset::new("things.id_desc", 2).cursor(&42_i64),
            c3.clone(),
            "garbage!".into(),
            String::new(),
            "A".repeat(2000),
            json(r#"["things.id_desc.v1","042"]"#),
            json(r#"[ "things.id_desc.v1","42"]"#),
            json(r#"["things.id_desc.v1",42]"#),
        ] {
            let p = IDS.key::<i64>(&bad).unwrap_err();
            assert_eq!(p.status, 422, "{bad}");
            assert!(p.detail.starts_with("cursor: is not a cursor"), "{bad}");
        }
    }
}
