//! api_cache_proxy settings (`DELOS_API_CACHE_PROXY__...`).

use common::config::{CommonSettings, HttpSettings, RedisSettings};
use serde::{Deserialize, Serialize};

/// Everything api_cache_proxy reads at start.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Settings {
    /// Listener (port 8002).
    pub http: HttpSettings,
    /// Redis holding the record; `key_prefix` namespaces its key.
    pub redis: RedisSettings,
    /// Service token, reporter, client timeout.
    pub common: CommonSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings::on_port(8002),
            redis: RedisSettings::default(),
            common: CommonSettings::default(),
        }
    }
}

common::service_settings!(Settings, "api_cache_proxy", [redis]);
