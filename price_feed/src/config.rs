//! Which providers there are, and the one config shape of a provider and of a chain.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// An upstream price API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Coinbase spot prices (`/v2/prices/BTC-EUR/spot`); spot only.
    Coinbase,
    /// Kraken public Ticker (spot, last trade) and OHLC (history).
    Kraken,
    /// CoinGecko `simple/price` (spot) and `market_chart` (history, last 365 days, daily).
    CoinGecko,
    /// CoinDesk BPI v1 (the original source; the host is gone, kept for compatibility); spot only.
    CoinDesk,
    /// Binance klines; history only.
    Binance,
    /// Made-up prices for offline runs, every record marked `simulated`; spot only.
    Simulated,
}

/// What a provider is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// BTC in EUR, GBP and USD now (api_updater).
    Spot,
    /// Complete USD candles (lambo_checker).
    History,
}

impl Direction {
    /// The kinds that serve this direction, in declaration order.
    pub fn kinds(self) -> Vec<ProviderKind> {
        ProviderKind::ALL.into_iter().filter(|k| k.serves(self)).collect()
    }

    fn what(self) -> &'static str {
        match self {
            Direction::Spot => "spot prices",
            Direction::History => "price history",
        }
    }
}

impl ProviderKind {
    /// Every provider kind, in declaration order.
    pub const ALL: [ProviderKind; 6] = [
        ProviderKind::Coinbase,
        ProviderKind::Kraken,
        ProviderKind::CoinGecko,
        ProviderKind::CoinDesk,
        ProviderKind::Binance,
        ProviderKind::Simulated,
    ];

    /// The lowercase name used in config, logs, `PriceRecord::source` and stored candles.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Coinbase => "coinbase",
            ProviderKind::Kraken => "kraken",
            ProviderKind::CoinGecko => "coingecko",
            ProviderKind::CoinDesk => "coindesk",
            ProviderKind::Binance => "binance",
            ProviderKind::Simulated => "simulated",
        }
    }

    /// The public API root of this provider (empty for `Simulated`).
    pub fn default_base_url(self) -> &'static str {
        match self {
            ProviderKind::Coinbase => "https://api.coinbase.com",
            ProviderKind::Kraken => "https://api.kraken.com",
            ProviderKind::CoinGecko => "https://api.coingecko.com",
            ProviderKind::CoinDesk => "https://api.coindesk.com",
            ProviderKind::Binance => "https://api.binance.com",
            ProviderKind::Simulated => "",
        }
    }

    /// Whether this provider has a client for `direction`.
    pub fn serves(self, direction: Direction) -> bool {
        match direction {
            Direction::Spot => !matches!(self, ProviderKind::Binance),
            Direction::History => matches!(
                self,
                ProviderKind::Kraken | ProviderKind::Binance | ProviderKind::CoinGecko
            ),
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A provider name that is not one of the known kinds, or not one for the direction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown price provider {name:?}; expected one of {expected}")]
pub struct UnknownProvider {
    /// The name as given.
    pub name: String,
    /// The accepted names, comma-separated.
    pub expected: String,
}

impl UnknownProvider {
    fn new(name: &str, kinds: &[ProviderKind]) -> Self {
        Self {
            name: name.to_owned(),
            expected: kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "),
        }
    }
}

impl FromStr for ProviderKind {
    type Err = UnknownProvider;
    /// Case-insensitive, surrounding spaces ignored (env lists like `"kraken, coinbase"`).
    fn from_str(s: &str) -> Result<Self, UnknownProvider> {
        let name = s.trim();
        ProviderKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownProvider::new(s, &ProviderKind::ALL))
    }
}

/// One provider of a chain: which API, and where. Written as its name (`"kraken"`) or
/// as a table (`{kind = "kraken", base_url = "http://127.0.0.1:9000"}`); a missing or
/// empty `base_url` means the provider's public API root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(from = "RawProviderConfig")]
pub struct ProviderConfig {
    /// Which API: `coinbase`, `kraken`, `coingecko`, `coindesk`, `binance` or `simulated`.
    pub kind: ProviderKind,
    /// API root without a trailing slash, e.g. `https://api.kraken.com`; empty or
    /// missing: the provider's public one (`simulated` calls nothing).
    pub base_url: String,
}

impl ProviderConfig {
    /// A config for `kind` at its default base URL.
    pub fn new(kind: ProviderKind) -> Self {
        Self {
            kind,
            base_url: kind.default_base_url().to_owned(),
        }
    }

    /// A config for `kind` at `base_url`.
    pub fn at(kind: ProviderKind, base_url: impl Into<String>) -> Self {
        Self {
            kind,
            base_url: base_url.into(),
        }
    }

    /// True when the base URL is the provider's public one (none was configured).
    pub fn has_default_base_url(&self) -> bool {
        self.base_url.trim_end_matches('/') == self.kind.default_base_url()
    }
}

impl From<ProviderKind> for ProviderConfig {
    fn from(kind: ProviderKind) -> Self {
        Self::new(kind)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawProviderConfig {
    Name(ProviderKind),
    Full(FullProviderConfig),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FullProviderConfig {
    kind: ProviderKind,
    #[serde(default)]
    base_url: Option<String>,
}

impl From<RawProviderConfig> for ProviderConfig {
    fn from(raw: RawProviderConfig) -> Self {
        match raw {
            RawProviderConfig::Name(kind) => Self::new(kind),
            RawProviderConfig::Full(FullProviderConfig { kind, base_url }) => match base_url {
                Some(url) if !url.trim().is_empty() => Self::at(kind, url.trim()),
                _ => Self::new(kind),
            },
        }
    }
}

/// `deserialize_with` for api_updater's `providers`: a chain of spot providers.
pub fn spot_chain<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ProviderConfig>, D::Error> {
    d.deserialize_any(Chain(Direction::Spot))
}

/// `deserialize_with` for lambo_checker's `providers`: a chain of history providers.
pub fn history_chain<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ProviderConfig>, D::Error> {
    d.deserialize_any(Chain(Direction::History))
}

/// A chain from a list of entries (names or tables) or from one comma-separated string
/// of names (so `DELOS_<SERVICE>__PROVIDERS=kraken,coinbase`, or `=""` for none, works),
/// refusing a kind without a client for the direction.
struct Chain(Direction);

impl Chain {
    fn check<E: de::Error>(&self, cfg: ProviderConfig, name: &str) -> Result<ProviderConfig, E> {
        if cfg.kind.serves(self.0) {
            Ok(cfg)
        } else {
            let unknown = UnknownProvider::new(name, &self.0.kinds());
            Err(E::custom(format!(
                "price provider {name:?} gives no {}; expected one of {}",
                self.0.what(),
                unknown.expected
            )))
        }
    }
}

impl<'de> Visitor<'de> for Chain {
    type Value = Vec<ProviderConfig>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of providers or a comma-separated string such as \"kraken,coingecko\"")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        text.split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| {
                let kind = name
                    .parse::<ProviderKind>()
                    .map_err(|_| E::custom(UnknownProvider::new(name, &self.0.kinds())))?;
                self.check(ProviderConfig::new(kind), name)
            })
            .collect()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut chain = Vec::new();
        while let Some(entry) = seq.next_element::<ProviderConfig>()? {
            let name = entry.kind.as_str();
            chain.push(self.check(entry, name)?);
        }
        Ok(chain)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Spot {
        #[serde(deserialize_with = "spot_chain")]
        providers: Vec<ProviderConfig>,
    }

    #[derive(Debug, Deserialize)]
    struct History {
        #[serde(deserialize_with = "history_chain")]
        providers: Vec<ProviderConfig>,
    }

    fn kinds(chain: &[ProviderConfig]) -> Vec<ProviderKind> {
        chain.iter().map(|p| p.kind).collect()
    }

    #[test]
    fn provider_kinds_parse_and_display_as_lowercase_names() {
        for kind in ProviderKind::ALL {
            assert_eq!(kind.to_string().parse::<ProviderKind>().unwrap(), kind);
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{kind}\""));
            assert_eq!(serde_json::from_str::<ProviderKind>(&json).unwrap(), kind);
        }
        assert_eq!(
            " CoinGecko ".parse::<ProviderKind>().unwrap(),
            ProviderKind::CoinGecko
        );
        assert!("bitstamp".parse::<ProviderKind>().is_err());
        assert!(serde_json::from_str::<ProviderKind>("\"bitstamp\"").is_err());
    }

    #[test]
    fn provider_config_defaults_the_base_url_per_kind() {
        let chain: Vec<ProviderConfig> = serde_json::from_value(json!([
            "coingecko",
            {"kind": "kraken"},
            {"kind": "coinbase", "base_url": "http://localhost:9000/"},
            {"kind": "coindesk", "base_url": ""},
        ]))
        .unwrap();
        assert_eq!(
            chain[0],
            ProviderConfig {
                kind: ProviderKind::CoinGecko,
                base_url: "https://api.coingecko.com".into()
            }
        );
        assert_eq!(chain[1].base_url, "https://api.kraken.com");
        assert_eq!(chain[2].base_url, "http://localhost:9000/");
        assert!(!chain[2].has_default_base_url());
        assert_eq!(chain[3].base_url, ProviderKind::CoinDesk.default_base_url());
        assert!(chain[3].has_default_base_url());
        assert!(serde_json::from_value::<ProviderConfig>(json!({"kind": "kraken", "url": "x"})).is_err());
        // What the defaults serialise to reads back the same (config layering relies on it).
        let again: Vec<ProviderConfig> =
            serde_json::from_value(serde_json::to_value(&chain).unwrap()).unwrap();
        assert_eq!(again, chain);
    }

    #[test]
    fn a_chain_is_a_list_or_a_comma_separated_string_of_the_directions_kinds() {
        let spot: Spot = serde_json::from_value(json!({"providers": " Kraken , coingecko,"})).unwrap();
        assert_eq!(
            kinds(&spot.providers),
            [ProviderKind::Kraken, ProviderKind::CoinGecko]
        );
        let history: History = serde_json::from_value(
            json!({"providers": ["binance", {"kind": "kraken", "base_url": "http://k"}]}),
        )
        .unwrap();
        assert_eq!(
            kinds(&history.providers),
            [ProviderKind::Binance, ProviderKind::Kraken]
        );
        assert_eq!(history.providers[1].base_url, "http://k");
        assert!(
            serde_json::from_value::<History>(json!({"providers": ""}))
                .unwrap()
                .providers
                .is_empty()
        );
        for (bad, name) in [
            (json!("kraken,binance"), "binance"),
            (json!(["binance"]), "binance"),
            (json!("nope"), "nope"),
        ] {
            let err = serde_json::from_value::<Spot>(json!({ "providers": bad })).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
            assert!(err.to_string().contains("coindesk"), "{err}");
        }
        let err = serde_json::from_value::<History>(json!({"providers": "kraken,simulated"})).unwrap_err();
        assert!(
            err.to_string().contains("\"simulated\" gives no price history"),
            "{err}"
        );
    }
}
