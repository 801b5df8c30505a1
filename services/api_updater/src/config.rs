//! api_updater settings (`DELOS_API_UPDATER__...`).

use common::config::{CommonSettings, HttpSettings};
use price_feed::Direction;
use serde::{Deserialize, Serialize};

use crate::providers::{ProviderConfig, ProviderKind};

/// Longest TTL the cache proxy accepts, in seconds.
const MAX_TTL_SECS: u64 = 86_400;

/// Everything api_updater reads at start.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Settings {
    /// Listener (port 8003).
    pub http: HttpSettings,
    /// Service token, reporter, timeout of provider and cache proxy calls.
    pub common: CommonSettings,
    /// Price providers, tried in order (`coinbase`, `kraken`, `coingecko`, `coindesk`,
    /// `simulated`). A list of names or of `{kind = "coinbase", base_url = "..."}` entries
    /// (the shape lambo_checker's chain has too), or a comma-separated string, so that
    /// `DELOS_API_UPDATER__PROVIDERS=simulated` or `=kraken,coinbase` works.
    #[serde(deserialize_with = "price_feed::spot_chain")]
    pub providers: Vec<ProviderConfig>,
    /// Seconds between two fetches.
    pub refresh_secs: u64,
    /// TTL of a fresh record in the cache; unset means twice `refresh_secs`.
    pub record_ttl_secs: Option<u64>,
    /// Consecutive failed ticks before the last good record is kept alive longer.
    pub failures_before_extend: u32,
    /// TTL given to the last good record then, in seconds.
    pub extend_secs: u64,
    /// Base URL of `api_cache_proxy`.
    pub cache_proxy_url: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings::on_port(8003),
            common: CommonSettings::default(),
            providers: [
                ProviderKind::Coinbase,
                ProviderKind::Kraken,
                ProviderKind::CoinGecko,
            ]
            .into_iter()
            .map(ProviderConfig::new)
            .collect(),
            refresh_secs: 15,
            record_ttl_secs: None,
            failures_before_extend: 3,
            extend_secs: 3600,
            cache_proxy_url: "http://127.0.0.1:8002".into(),
        }
    }
}

common::service_settings!(Settings, "api_updater", []);

impl Settings {
    /// TTL of a fresh record, in seconds.
    pub fn record_ttl(&self) -> u64 {
        self.record_ttl_secs
            .unwrap_or_else(|| self.refresh_secs.saturating_mul(2))
    }

    /// Fails with the setting to fix when the values cannot work together.
    pub fn validate(&self) -> anyhow::Result<()> {
        let var = |key: &str| format!("DELOS_API_UPDATER__{}", key.to_ascii_uppercase());
        if self.providers.is_empty() {
            anyhow::bail!("{} lists no price provider", var("providers"));
        }
        if let Some(p) = self.providers.iter().find(|p| !p.kind.serves(Direction::Spot)) {
            anyhow::bail!(
                "{} lists {}, which gives no spot prices",
                var("providers"),
                p.kind
            );
        }
        if self.refresh_secs == 0 {
            anyhow::bail!("{} must be at least 1", var("refresh_secs"));
        }
        for (key, value) in [
            ("record_ttl_secs", self.record_ttl()),
            ("extend_secs", self.extend_secs),
        ] {
            if !(1..=MAX_TTL_SECS).contains(&value) {
                anyhow::bail!("{} must be 1 to {MAX_TTL_SECS} seconds, not {value}", var(key));
            }
        }
        if self.failures_before_extend == 0 {
            anyhow::bail!("{} must be at least 1", var("failures_before_extend"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn kinds(s: &Settings) -> Vec<ProviderKind> {
        s.providers.iter().map(|p| p.kind).collect()
    }

    /// Layers `overrides` on the defaults the way `common::config::load` does.
    fn layered(key: &str, value: &str) -> Settings {
        config::Config::builder()
            .add_source(config::Config::try_from(&Settings::default()).unwrap())
            .set_override(key, value)
            .unwrap()
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap()
    }

    #[test]
    fn the_default_chain_is_coinbase_kraken_coingecko_and_never_simulated() {
        let s = Settings::default();
        assert_eq!(
            kinds(&s),
            [
                ProviderKind::Coinbase,
                ProviderKind::Kraken,
                ProviderKind::CoinGecko
            ]
        );
        assert_eq!(s.record_ttl(), 30);
        s.validate().unwrap();
    }

    #[test]
    fn an_environment_string_overrides_the_chain_as_a_comma_separated_list() {
        assert_eq!(
            kinds(&layered("providers", "simulated")),
            [ProviderKind::Simulated]
        );
        assert_eq!(
            kinds(&layered("providers", " Kraken , coingecko,")),
            [ProviderKind::Kraken, ProviderKind::CoinGecko]
        );
        let s = layered("refresh_secs", "20");
        assert_eq!((s.refresh_secs, s.record_ttl()), (20, 40));
        assert_eq!(layered("record_ttl_secs", "45").record_ttl(), 45);
    }

    #[test]
    fn a_file_may_list_providers_by_name_or_with_a_base_url() {
        let s: Settings = serde_json::from_value(json!({
            "providers": ["kraken", {"kind": "coinbase", "base_url": "http://127.0.0.1:9"}]
        }))
        .unwrap();
        assert_eq!(kinds(&s), [ProviderKind::Kraken, ProviderKind::Coinbase]);
        assert_eq!(s.providers[1].base_url, "http://127.0.0.1:9");
    }

    #[test]
    fn an_unknown_provider_or_an_empty_chain_is_refused_at_load() {
        let err = serde_json::from_value::<Settings>(json!({"providers": "kraken,binance"})).unwrap_err();
        assert!(err.to_string().contains("binance"), "{err}");
        let empty: Settings = serde_json::from_value(json!({"providers": ""})).unwrap();
        assert!(empty.validate().unwrap_err().to_string().contains("PROVIDERS"));
        let history_only = Settings {
            providers: vec![ProviderKind::Binance.into()],
            ..Settings::default()
        };
        assert!(
            history_only
                .validate()
                .unwrap_err()
                .to_string()
                .contains("binance")
        );
        let zero = Settings {
            extend_secs: 0,
            ..Settings::default()
        };
        assert!(zero.validate().unwrap_err().to_string().contains("EXTEND_SECS"));
    }
}
