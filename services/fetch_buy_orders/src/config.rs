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
    /// Base URL of api_cache_proxy (the latest price, for the orders page).
    pub cache_proxy_url: String,
    /// `GET /orders/stream`.
    pub stream: StreamSettings,
}

/// Settings of `GET /orders/stream` (`DELOS_FETCH_BUY_ORDERS__STREAM__…`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct StreamSettings {
    /// The newest orders this replica keeps for its streams; a consumer that
    /// falls further behind than this gets `event: overflow` and is closed.
    pub ring_orders: usize,
    /// Events waiting for one consumer, at most.
    pub buffer_events: usize,
    /// A heartbeat comment this often on an idle stream.
    pub heartbeat_secs: u64,
    /// A consumer that takes nothing for this long is dropped.
    pub send_timeout_secs: u64,
    /// How long one poll of db_proxy waits for new orders (at most 5000).
    pub poll_wait_ms: u64,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            ring_orders: 4096,
            buffer_events: 256,
            heartbeat_secs: 15,
            send_timeout_secs: 30,
            poll_wait_ms: 5000,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings::on_port(8020),
            redis: RedisSettings::default(),
            rate_limit: RateLimitSettings::default(),
            common: CommonSettings::default(),
            db_proxy_url: "http://127.0.0.1:8010".into(),
            cache_proxy_url: "http://127.0.0.1:8002".into(),
            stream: StreamSettings::default(),
        }
    }
}

common::service_settings!(Settings, "fetch_buy_orders", [redis]);
