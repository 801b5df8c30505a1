//! sensor_api settings (`DELOS_SENSOR_API__…`).

use common::auth::{ApiKeys, JwtSettings};
use common::config::{CommonSettings, HttpSettings, PgSettings, RedisSettings};
use common::rate_limit::RateLimitSettings;
use serde::{Deserialize, Serialize};

/// Everything sensor_api reads at start.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Settings {
    pub http: HttpSettings,
    pub pg: PgSettings,
    /// Redis holds the rate-limit counters only.
    pub redis: RedisSettings,
    pub rate_limit: RateLimitSettings,
    pub common: CommonSettings,
    /// API keys and their rights, `KEY=RIGHT+RIGHT,KEY2=RIGHT` (the shared key model;
    /// a bare `KEY` carries none); rights are `ingest` (POST /api/v1/readings) and
    /// `restricted` (/api/v1/core/restricted).
    pub api_keys: ApiKeys,
    /// Bearer JWTs accepted by `/api/v1/core/restricted` beside API keys
    /// (`DELOS_SENSOR_API__JWT__…`); with no key configured, bearer tokens are refused.
    pub jwt: JwtSettings,
    /// Browser origins allowed cross-origin (`DELOS_SENSOR_API__CORS__ALLOWED_ORIGINS`); default none.
    pub cors: common::security_headers::Cors,
    /// Largest upload `POST /api/v1/readings` accepts, in bytes (413 above it).
    pub max_upload_bytes: u64,
    /// Most buckets one aggregate may answer with (422 naming `bucket` above it).
    pub max_points: i64,
    /// How often newly stored readings are given their stream position (and the
    /// newest read, should a notification be lost), in milliseconds.
    pub stream_sequence_every_millis: u64,
    /// How long `GET /api/v1/readings/stream` can resume from (its log is pruned after).
    pub stream_retention_hours: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings::on_port(8080),
            pg: PgSettings::for_database("sensors"),
            redis: RedisSettings::default(),
            rate_limit: RateLimitSettings::default(),
            common: CommonSettings::default(),
            api_keys: ApiKeys::default(),
            jwt: JwtSettings::default(),
            cors: common::security_headers::Cors::default(),
            max_upload_bytes: 1024 * 1024 * 1024,
            max_points: 10_000,
            stream_sequence_every_millis: 250,
            stream_retention_hours: 24,
        }
    }
}

common::service_settings!(Settings, "sensor_api", [pg, redis]);

/// A right an API key can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Right {
    /// Upload readings.
    Ingest,
    /// Call `/api/v1/core/restricted`.
    Restricted,
}

impl Right {
    /// Every right's word, as `api_keys` may name them.
    pub const NAMES: [&str; 2] = [Right::Ingest.as_str(), Right::Restricted.as_str()];

    /// The word used in configuration.
    pub const fn as_str(self) -> &'static str {
        match self {
            Right::Ingest => "ingest",
            Right::Restricted => "restricted",
        }
    }
}

impl Settings {
    /// Fails on settings that cannot work.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.api_keys.check_rights(&Right::NAMES)?;
        anyhow::ensure!(self.max_points >= 1, "max_points must be at least 1");
        anyhow::ensure!(self.max_upload_bytes >= 1, "max_upload_bytes must be at least 1");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn api_keys_load_with_rights_and_unknown_rights_fail_validation() {
        let from = |keys: &str| -> Settings {
            serde_json::from_value(serde_json::json!({ "api_keys": keys })).unwrap()
        };
        let s = from("a=ingest+restricted, b=ingest");
        s.validate().unwrap();
        let rights = |k: &str| {
            s.api_keys
                .rights(k)
                .map(|r| r.iter().cloned().collect::<Vec<_>>())
        };
        assert_eq!(rights("a"), Some(vec!["ingest".into(), "restricted".into()]));
        assert_eq!(rights("b"), Some(vec!["ingest".into()]));
        let err = from("a=ingest,b=admin").validate().unwrap_err().to_string();
        assert!(err.contains("entry 2") && err.contains("admin"), "{err}");
    }
}
