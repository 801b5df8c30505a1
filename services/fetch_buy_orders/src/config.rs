//! Settings of fetch_buy_orders (`DELOS_FETCH_BUY_ORDERS__…`).

use common::config::{CommonSettings, HttpSettings, RedisSettings};
use common::rate_limit::RateLimitSettings;
use serde::{Deserialize, Serialize};

/// fetch_buy_orders settings (`DELOS_FETCH_BUY_ORDERS__…`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Settings {
    pub http: HttpSettings,
    pub redis: RedisSettings,
    pub rate_limit: RateLimitSettings,
    pub common: CommonSettings,
    /// Base URL of db_proxy.
    pub db_proxy_url: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings::on_port(8020),
            redis: RedisSettings::default(),
            rate_limit: RateLimitSettings::default(),
            common: CommonSettings::default(),
            db_proxy_url: "http://127.0.0.1:8010".into(),
        }
    }
}

common::service_settings!(Settings, "fetch_buy_orders", [redis]);
