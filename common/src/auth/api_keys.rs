//! API keys and their rights: the one key model of every service.
//!
//! Configured as one string, `KEY,KEY2=RIGHT+RIGHT,…`: comma-separated entries,
//! each a key with, after `=`, the rights it carries (`+`-separated). A key listed
//! bare carries no right: it is admitted where any known key is
//! ([`super::Authenticator::caller`], lambo_checker's `/api/v1/restricted`) and
//! refused with 403 where a right is asked ([`super::Authenticator::require`]).
//! So lambo_checker's plain list (`KEY,KEY2`) and sensor_api's `KEY=RIGHT+RIGHT`
//! are the same grammar. Keys cannot contain `,` or `=`; the rights a service knows
//! are checked at start ([`ApiKeys::check_rights`]). A key listed twice: the last
//! entry counts.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::Secret;

/// API key → the rights it carries. `Debug` never shows a key.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ApiKeys {
    /// As configured (what `Serialize` gives back).
    text: Secret,
    keys: HashMap<String, Entry>,
}

#[derive(Clone, PartialEq, Eq)]
struct Entry {
    /// 1-based place in the configured list, for messages that must not name the key.
    number: usize,
    rights: BTreeSet<String>,
}

impl ApiKeys {
    /// Parses `KEY,KEY2=RIGHT+RIGHT,…`; an entry without a key names itself (never a key).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut keys = HashMap::new();
        let entries = text.split(',').map(str::trim).filter(|e| !e.is_empty());
        for (n, entry) in entries.enumerate() {
            let (key, rights) = entry.split_once('=').unwrap_or((entry, ""));
            let key = key.trim();
            if key.is_empty() {
                return Err(format!(
                    "api_keys entry {} has no key (KEY or KEY=RIGHT+RIGHT)",
                    n + 1
                ));
            }
            let rights = rights
                .split('+')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect();
            keys.insert(
                key.to_string(),
                Entry {
                    number: n + 1,
                    rights,
                },
            );
        }
        Ok(Self {
            text: Secret::new(text),
            keys,
        })
    }

    /// True when no key is configured (every key is then refused).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The rights of `key`, or `None` for a key that is not configured.
    pub fn rights(&self, key: &str) -> Option<&BTreeSet<String>> {
        self.keys.get(key).map(|e| &e.rights)
    }

    /// Fails, naming the entry (not the key), on a right this service does not know.
    pub fn check_rights(&self, known: &[&str]) -> anyhow::Result<()> {
        let mut entries: Vec<&Entry> = self.keys.values().collect();
        entries.sort_by_key(|e| e.number);
        for e in entries {
            if let Some(r) = e.rights.iter().find(|r| !known.contains(&r.as_str())) {
                let known = if known.is_empty() {
                    "this service knows none: list keys without =RIGHT".to_string()
                } else {
                    known.join(", ")
                };
                anyhow::bail!("api_keys entry {}: unknown right {r:?} ({known})", e.number);
            }
        }
        Ok(())
    }
}

impl FromStr for ApiKeys {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::parse(text)
    }
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeys(<{} redacted>)", self.keys.len())
    }
}

impl Serialize for ApiKeys {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.text.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ApiKeys {
    /// A string, as every source gives it (the environment, a TOML file).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for ApiKeys {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <String as utoipa::PartialSchema>::schema()
    }
}

impl utoipa::ToSchema for ApiKeys {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn rights(keys: &ApiKeys, key: &str) -> Option<Vec<String>> {
        keys.rights(key).map(|r| r.iter().cloned().collect())
    }

    #[test]
    fn a_plain_list_and_keys_with_rights_are_one_grammar() {
        let lambo: ApiKeys = "k1, k2".parse().unwrap();
        assert_eq!(rights(&lambo, "k1"), Some(vec![]));
        assert_eq!(rights(&lambo, "k2"), Some(vec![]));
        assert_eq!(rights(&lambo, "k3"), None);
        lambo.check_rights(&[]).unwrap();

        let sensor: ApiKeys = "a=ingest+restricted, b=ingest,c=,d".parse().unwrap();
        assert_eq!(
            rights(&sensor, "a"),
            Some(vec!["ingest".into(), "restricted".into()])
        );
        assert_eq!(rights(&sensor, "b"), Some(vec!["ingest".into()]));
        assert_eq!(rights(&sensor, "c"), Some(vec![]));
        assert_eq!(rights(&sensor, "d"), Some(vec![]));
        sensor.check_rights(&["ingest", "restricted"]).unwrap();

        assert!(ApiKeys::parse("").unwrap().is_empty());
        assert!(ApiKeys::parse(" , ").unwrap().is_empty());
        assert_eq!(
            rights(&"k=ingest,k".parse().unwrap(), "k"),
            Some(vec![]),
            "the last entry counts"
        );
    }

    #[test]
    fn bad_entries_and_unknown_rights_are_named_without_the_key() {
        let err = ApiKeys::parse("a,=ingest").unwrap_err();
        assert!(err.contains("entry 2") && err.contains("no key"), "{err}");
        let keys: ApiKeys = "secret-a=ingest,secret-b=admin".parse().unwrap();
        let err = keys
            .check_rights(&["ingest", "restricted"])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "api_keys entry 2: unknown right \"admin\" (ingest, restricted)"
        );
        // A key with `=` in a service that knows no rights fails the start, loudly.
        let err = ApiKeys::parse("abc==")
            .unwrap()
            .check_rights(&[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("entry 1") && !err.contains("abc"), "{err}");
    }

    #[test]
    fn it_loads_from_a_string_serializes_back_and_debug_hides_the_keys() {
        let keys: ApiKeys = serde_json::from_value(serde_json::json!("k1=ingest,k2")).unwrap();
        assert_eq!(rights(&keys, "k1"), Some(vec!["ingest".into()]));
        assert_eq!(
            serde_json::to_value(&keys).unwrap(),
            serde_json::json!("k1=ingest,k2")
        );
        assert_eq!(
            serde_json::to_value(ApiKeys::default()).unwrap(),
            serde_json::json!("")
        );
        let debug = format!("{keys:?}");
        assert!(!debug.contains("k1") && !debug.contains("k2"), "{debug}");
        assert!(serde_json::from_value::<ApiKeys>(serde_json::json!("=x")).is_err());
    }
}
