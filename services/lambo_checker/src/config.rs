//! lambo_checker settings (`DELOS_LAMBO_CHECKER__…`).

use common::auth::{ApiKeys, JwtSettings};
use common::config::{CommonSettings, HttpSettings, PgSettings, RedisSettings};
use common::rate_limit::RateLimitSettings;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::providers::{ProviderConfig, ProviderKind};

/// The legacy spelling of the providers' base URLs, still accepted
/// (`DELOS_LAMBO_CHECKER__PROVIDER_URLS__KRAKEN=…`): each, when set, is the base URL of
/// the entries of `providers` of that kind that give none of their own. The one shape
/// (shared with api_updater) is an entry `{kind = "kraken", base_url = "…"}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ProviderUrls {
    /// Legacy: Kraken API root for `kraken` entries without a `base_url`; empty: not set.
    pub kraken: String,
    /// Legacy: Binance API root for `binance` entries without a `base_url`; empty: not set.
    pub binance: String,
    /// Legacy: CoinGecko API root for `coingecko` entries without a `base_url`; empty: not set.
    pub coingecko: String,
}

impl ProviderUrls {
    /// The legacy URL set for `kind`, if any.
    fn get(&self, kind: ProviderKind) -> Option<&str> {
        let url = match kind {
            ProviderKind::Kraken => &self.kraken,
            ProviderKind::Binance => &self.binance,
            ProviderKind::CoinGecko => &self.coingecko,
            _ => return None,
        };
        Some(url.trim()).filter(|u| !u.is_empty())
    }
}

/// The gRPC listener.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct GrpcSettings {
    /// Serve gRPC at all.
    pub enabled: bool,
    /// Listen address.
    pub host: String,
    /// 50051 as the original; 0 picks a free port (tests).
    pub port: u16,
    /// Server `GET /api/v1/process_request_grpc` asks; empty means this service's own.
    pub url: String,
}

impl Default for GrpcSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            host: "0.0.0.0".into(),
            port: 50051,
            url: String::new(),
        }
    }
}

/// Everything lambo_checker reads at start.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Settings {
    pub http: HttpSettings,
    pub pg: PgSettings,
    pub redis: RedisSettings,
    pub rate_limit: RateLimitSettings,
    pub common: CommonSettings,
    pub grpc: GrpcSettings,
    /// Providers asked for history, in order (`kraken`, `binance`, `coingecko`); empty
    /// means stored and bundled data only. A list of names or of `{kind = "binance",
    /// base_url = "..."}` entries (the shape api_updater's chain has too), or one
    /// comma-separated string, so that `DELOS_LAMBO_CHECKER__PROVIDERS=kraken,binance`
    /// (or `=""` for none) works from the environment.
    #[serde(deserialize_with = "price_feed::history_chain")]
    pub providers: Vec<ProviderConfig>,
    /// Legacy base URLs per provider kind (before `providers` entries had their own).
    pub provider_urls: ProviderUrls,
    /// Price of one Lamborghini, in `lambo_currency` (a decimal string: "200000").
    pub lambo_price: Decimal,
    /// Currency of `lambo_price` and of every price (the candles are USD).
    pub lambo_currency: String,
    /// Seconds an answer stays in the Redis cache; 0 turns the cache off.
    pub cache_ttl_secs: u64,
    /// Milliseconds each process keeps an answer it saw (in front of Redis; capped
    /// by `cache_ttl_secs`) and the stored history it read; 0: neither. Another
    /// replica's history refresh reaches this process after at most this long.
    pub local_cache_millis: u64,
    /// Seconds `/api/price/current/` answers stay in Redis; 0 turns that cache off.
    pub price_cache_ttl_secs: u64,
    /// A stored series older than this is refreshed from its provider before use.
    pub refresh_secs: u64,
    /// After a provider fails for a series, it is not asked again for this long.
    pub provider_backoff_secs: u64,
    /// Import the bundled BTC history at start (idempotent).
    pub import_bundled: bool,
    /// Ask the providers for the default BTC series in the background at start.
    pub warm_up: bool,
    /// Largest `max_points` a caller may ask for (and the default).
    pub max_points: usize,
    /// API keys admitted to `/api/v1/restricted`, comma-separated (beside bearer JWTs):
    /// the shared key model, `KEY,KEY2`, listed bare (lambo_checker knows no rights).
    pub api_keys: ApiKeys,
    /// Bearer JWTs accepted by `/api/v1/restricted` (`DELOS_LAMBO_CHECKER__JWT__…`).
    pub jwt: JwtSettings,
    /// Background analysis jobs (`/api/v1/analyze_async`).
    pub jobs: crate::jobs::JobSettings,
    /// Browser origins allowed cross-origin (`DELOS_LAMBO_CHECKER__CORS__ALLOWED_ORIGINS`); default none.
    pub cors: common::security_headers::Cors,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings::on_port(8060),
            pg: PgSettings::for_database("lambo"),
            redis: RedisSettings::default(),
            rate_limit: RateLimitSettings::default(),
            common: CommonSettings::default(),
            grpc: GrpcSettings::default(),
            providers: [
                ProviderKind::Kraken,
                ProviderKind::Binance,
                ProviderKind::CoinGecko,
            ]
            .into_iter()
            .map(ProviderConfig::new)
            .collect(),
            provider_urls: ProviderUrls::default(),
            lambo_price: Decimal::from(200_000),
            lambo_currency: "USD".into(),
            cache_ttl_secs: 30,
            local_cache_millis: 2000,
            price_cache_ttl_secs: 60,
            refresh_secs: 3600,
            provider_backoff_secs: 300,
            import_bundled: true,
            warm_up: true,
            max_points: 1000,
            api_keys: ApiKeys::default(),
            jwt: JwtSettings::default(),
            jobs: crate::jobs::JobSettings::default(),
            cors: common::security_headers::Cors::default(),
        }
    }
}

common::service_settings!(Settings, "lambo_checker", [pg, redis]);

impl Settings {
    /// What the checker takes from these settings.
    pub fn checker(&self) -> crate::checker::CheckerSettings {
        crate::checker::CheckerSettings {
            lambo_price: self.lambo_price,
            lambo_currency: self.lambo_currency.clone(),
            cache_ttl_secs: self.cache_ttl_secs,
            local_cache: std::time::Duration::from_millis(self.local_cache_millis),
            price_cache_ttl_secs: self.price_cache_ttl_secs,
            refresh: std::time::Duration::from_secs(self.refresh_secs),
            backoff: std::time::Duration::from_secs(self.provider_backoff_secs),
            max_points: self.max_points,
        }
    }

    /// The chain to build: `providers`, with the legacy `provider_urls` applied to the
    /// entries that give no base URL of their own.
    pub fn provider_chain(&self) -> Vec<ProviderConfig> {
        self.providers
            .iter()
            .map(|p| match self.provider_urls.get(p.kind) {
                Some(url) if p.has_default_base_url() => ProviderConfig::at(p.kind, url),
                _ => p.clone(),
            })
            .collect()
    }

    /// Fails on settings no answer could be computed with.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.lambo_price > Decimal::ZERO,
            "lambo_price must be positive (got {})",
            self.lambo_price
        );
        anyhow::ensure!(
            self.max_points >= 2,
            "max_points must be at least 2 (got {})",
            self.max_points
        );
        self.api_keys.check_rights(&[])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn kinds(s: &Settings) -> Vec<ProviderKind> {
        s.providers.iter().map(|p| p.kind).collect()
    }

    #[test]
    fn providers_parse_from_a_list_or_a_comma_separated_string() {
        let from = |v: serde_json::Value| -> Settings {
            serde_json::from_value(serde_json::json!({ "providers": v })).unwrap()
        };
        assert_eq!(
            kinds(&from(serde_json::json!("Kraken, coingecko"))),
            [ProviderKind::Kraken, ProviderKind::CoinGecko]
        );
        assert_eq!(
            kinds(&from(serde_json::json!(["binance"]))),
            [ProviderKind::Binance]
        );
        assert!(from(serde_json::json!("")).providers.is_empty());
        assert!(serde_json::from_value::<Settings>(serde_json::json!({ "providers": "nope" })).is_err());
        assert!(serde_json::from_value::<Settings>(serde_json::json!({ "providers": "coinbase" })).is_err());
    }

    /// Layers `overrides` on the defaults the way `common::config::load` layers the
    /// environment (a variable's value is a string).
    fn layered(overrides: &[(&str, &str)]) -> Settings {
        overrides
            .iter()
            .fold(
                config::Config::builder().add_source(config::Config::try_from(&Settings::default()).unwrap()),
                |b, (k, v)| b.set_override(*k, *v).unwrap(),
            )
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap()
    }

    #[test]
    fn the_old_environment_spellings_still_work() {
        // DELOS_LAMBO_CHECKER__PROVIDERS=binance,kraken and __PROVIDER_URLS__KRAKEN=...
        let s = layered(&[
            ("providers", "binance,kraken"),
            ("provider_urls.kraken", "http://127.0.0.1:9"),
        ]);
        let chain = s.provider_chain();
        assert_eq!(
            chain,
            [
                ProviderConfig::new(ProviderKind::Binance),
                ProviderConfig::at(ProviderKind::Kraken, "http://127.0.0.1:9"),
            ]
        );
        assert!(layered(&[("providers", "")]).providers.is_empty());
        assert_eq!(layered(&[]).provider_chain(), Settings::default().providers);
    }

    #[test]
    fn entries_take_their_own_base_url_else_the_legacy_provider_urls() {
        let s: Settings = serde_json::from_value(serde_json::json!({
            "providers": ["kraken", {"kind": "binance", "base_url": "http://b:1"}, {"kind": "coingecko"}],
            "provider_urls": {"kraken": "http://k:1", "binance": "http://legacy:1"},
        }))
        .unwrap();
        let chain: Vec<(ProviderKind, String)> = s
            .provider_chain()
            .into_iter()
            .map(|p| (p.kind, p.base_url))
            .collect();
        assert_eq!(
            chain,
            [
                (ProviderKind::Kraken, "http://k:1".to_string()),
                (ProviderKind::Binance, "http://b:1".to_string()),
                (ProviderKind::CoinGecko, "https://api.coingecko.com".to_string()),
            ]
        );
        let defaults = Settings::default().provider_chain();
        assert_eq!(defaults, Settings::default().providers);
        assert_eq!(defaults[1].base_url, "https://api.binance.com");
    }

    #[test]
    fn api_keys_are_a_plain_list_and_a_key_with_a_right_fails_validation() {
        let from = |keys: &str| -> Settings {
            serde_json::from_value(serde_json::json!({ "api_keys": keys })).unwrap()
        };
        let s = from("k1, k2");
        s.validate().unwrap();
        assert!(s.api_keys.rights("k1").is_some() && s.api_keys.rights("k2").is_some());
        let err = from("k1,k2=restricted").validate().unwrap_err().to_string();
        assert!(err.contains("entry 2") && !err.contains("k2"), "{err}");
    }
}
