//! create_buy_order settings (`DELOS_CREATE_BUY_ORDER__...`).

use common::config::{CommonSettings, HttpSettings, RedisSettings};
use common::rate_limit::RateLimitSettings;
use serde::{Deserialize, Serialize};

/// Everything create_buy_order reads at start.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Settings {
    pub http: HttpSettings,
    pub redis: RedisSettings,
    pub rate_limit: RateLimitSettings,
    pub common: CommonSettings,
    /// Base URL of db_proxy.
    pub db_proxy_url: String,
    /// Base URL of api_cache_proxy.
    pub cache_proxy_url: String,
    /// Oldest price quote an order is placed at, in seconds: about twice
    /// api_updater's refresh period (15 s), so one missed refresh is tolerated
    /// and two are not.
    pub max_quote_age_secs: u64,
    /// How long a price record read from api_cache_proxy is reused, in
    /// milliseconds (0 asks for every order). Its age is still checked against
    /// `max_quote_age_secs` at every order.
    pub price_cache_millis: u64,
    /// Longest time an idempotency key counts as "in flight" (409 to a second
    /// request with it), in seconds; covers a crash while holding it.
    pub in_flight_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings::on_port(8001),
            redis: RedisSettings::default(),
            rate_limit: RateLimitSettings::default(),
            common: CommonSettings::default(),
            db_proxy_url: "http://127.0.0.1:8010".into(),
            cache_proxy_url: "http://127.0.0.1:8002".into(),
            max_quote_age_secs: 30,
            price_cache_millis: 1000,
            in_flight_secs: 30,
        }
    }
}

common::service_settings!(Settings, "create_buy_order", [redis]);

impl Settings {
    /// Fails with the setting to fix when values cannot work.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.max_quote_age_secs >= 1,
            "DELOS_CREATE_BUY_ORDER__MAX_QUOTE_AGE_SECS must be at least 1"
        );
        anyhow::ensure!(
            self.price_cache_millis < self.max_quote_age_secs.saturating_mul(1000),
            "DELOS_CREATE_BUY_ORDER__PRICE_CACHE_MILLIS must be shorter than the quote age limit"
        );
        // The hold must outlast the calls made while holding it (price, then db_proxy).
        anyhow::ensure!(
            self.in_flight_secs.saturating_mul(1000) > self.common.client_timeout_millis.saturating_mul(2),
            "DELOS_CREATE_BUY_ORDER__IN_FLIGHT_SECS must be longer than two client timeouts ({} ms each)",
            self.common.client_timeout_millis
        );
        Ok(())
    }
}
