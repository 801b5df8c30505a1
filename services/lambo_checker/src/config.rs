//! lambo_checker settings (`DELOS_LAMBO_CHECKER__…`).

use common::auth::{ApiKeys, JwtSettings};
use common::config::{CommonSettings, HttpSettings, PgSettings, RedisSettings};
use common::rate_limit::RateLimitSettings;
use rust_decimal::Decimal;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::providers::ProviderKind;

/// Base URLs of the price-history APIs (tests point them at wiremock).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ProviderUrls {
    /// Kraken API root.
    pub kraken: String,
    /// Binance API root.
    pub binance: String,
    /// CoinGecko API root.
    pub coingecko: String,
}

impl Default for ProviderUrls {
    fn default() -> Self {
        Self {
            kraken: "https://api.kraken.com".into(),
            binance: "https://api.binance.com".into(),
            coingecko: "https://api.coingecko.com".into(),
        }
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
    /// Providers asked for history, in order; empty means stored and bundled data only.
    /// A list, or one comma-separated string so that `DELOS_LAMBO_CHECKER__PROVIDERS=kraken,binance`
    /// (or `=""` for none) works from the environment.
    #[serde(deserialize_with = "provider_list")]
    #[schema(value_type = Vec<String>)]
    pub providers: Vec<ProviderKind>,
    pub provider_urls: ProviderUrls,
    /// Price of one Lamborghini, in `lambo_currency` (a decimal string: "200000").
    pub lambo_price: Decimal,
    /// Currency of `lambo_price` and of every price (the candles are USD).
    pub lambo_currency: String,
    /// Seconds an answer stays in the Redis cache; 0 turns the cache off.
    pub cache_ttl_secs: u64,
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
    #[schema(value_type = Object)]
    pub jobs: crate::jobs::JobSettings,
    /// Browser origins allowed cross-origin (`DELOS_LAMBO_CHECKER__CORS__ALLOWED_ORIGINS`); default none.
    #[schema(value_type = Object)]
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
            providers: vec![
                ProviderKind::Kraken,
                ProviderKind::Binance,
                ProviderKind::CoinGecko,
            ],
            provider_urls: ProviderUrls::default(),
            lambo_price: Decimal::from(200_000),
            lambo_currency: "USD".into(),
            cache_ttl_secs: 30,
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

impl Settings {
    /// Loads defaults → `DELOS_CONFIG` file → environment.
    pub fn load() -> anyhow::Result<Self> {
        common::config::load("lambo_checker")
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

/// Provider kinds from a list or from one comma-separated string.
fn provider_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ProviderKind>, D::Error> {
    struct Kinds;

    impl<'de> Visitor<'de> for Kinds {
        type Value = Vec<ProviderKind>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of providers or a comma-separated string such as \"kraken,binance\"")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            text.split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(|name| {
                    ProviderKind::deserialize(de::value::StrDeserializer::<E>::new(
                        &name.to_ascii_lowercase(),
                    ))
                })
                .collect()
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut kinds = Vec::new();
            while let Some(k) = seq.next_element::<ProviderKind>()? {
                kinds.push(k);
            }
            Ok(kinds)
        }
    }

    d.deserialize_any(Kinds)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn providers_parse_from_a_list_or_a_comma_separated_string() {
        let from = |v: serde_json::Value| -> Settings {
            serde_json::from_value(serde_json::json!({ "providers": v })).unwrap()
        };
        assert_eq!(
            from(serde_json::json!("Kraken, coingecko")).providers,
            [ProviderKind::Kraken, ProviderKind::CoinGecko]
        );
        assert_eq!(
            from(serde_json::json!(["binance"])).providers,
            [ProviderKind::Binance]
        );
        assert!(from(serde_json::json!("")).providers.is_empty());
        assert!(serde_json::from_value::<Settings>(serde_json::json!({ "providers": "nope" })).is_err());
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
