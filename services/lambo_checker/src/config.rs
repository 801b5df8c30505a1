//! lambo_checker settings (`DELOS_LAMBO_CHECKER__…`).

use common::config::{CommonSettings, HttpSettings, PgSettings, RedisSettings, Secret};
use common::jwt::JwtSettings;
use common::rate_limit::RateLimitSettings;
use rust_decimal::Decimal;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::providers::{ProviderKind, ProviderUrls};

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
    /// API keys admitted to `/api/v1/restricted`, comma-separated (beside bearer JWTs).
    pub api_keys: Secret,
    /// Bearer JWTs accepted by `/api/v1/restricted` (`DELOS_LAMBO_CHECKER__JWT__…`).
    #[schema(value_type = Object)]
    pub jwt: JwtSettings,
    /// Background analysis jobs (`/api/v1/analyze_async`).
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
            api_keys: Secret::default(),
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
            price_cache_ttl_secs: self.price_cache_ttl_secs,
            refresh: std::time::Duration::from_secs(self.refresh_secs),
            backoff: std::time::Duration::from_secs(self.provider_backoff_secs),
            max_points: self.max_points,
        }
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
}
