//! sensor_api settings (`DELOS_SENSOR_API__…`).

use std::collections::HashMap;

use common::config::{CommonSettings, HttpSettings, PgSettings, RedisSettings, Secret};
use common::jwt::JwtSettings;
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
    /// API keys and their rights, `KEY=RIGHT+RIGHT,KEY2=RIGHT`; rights are
    /// `ingest` (POST /api/v1/readings) and `restricted` (/api/v1/core/restricted).
    pub api_keys: Secret,
    /// Bearer JWTs accepted by `/api/v1/core/restricted` beside API keys
    /// (`DELOS_SENSOR_API__JWT__…`); with no key configured, bearer tokens are refused.
    #[schema(value_type = Object)]
    pub jwt: JwtSettings,
    /// Browser origins allowed cross-origin (`DELOS_SENSOR_API__CORS__ALLOWED_ORIGINS`); default none.
    #[schema(value_type = Object)]
    pub cors: common::security_headers::Cors,
    /// Largest upload `POST /api/v1/readings` accepts, in bytes (413 above it).
    pub max_upload_bytes: u64,
    /// Most buckets one aggregate may answer with (422 naming `bucket` above it).
    pub max_points: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings::on_port(8080),
            pg: PgSettings::for_database("sensors"),
            redis: RedisSettings::default(),
            rate_limit: RateLimitSettings::default(),
            common: CommonSettings::default(),
            api_keys: Secret::default(),
            jwt: JwtSettings::default(),
            cors: common::security_headers::Cors::default(),
            max_upload_bytes: 1024 * 1024 * 1024,
            max_points: 10_000,
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
    /// The word used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Right::Ingest => "ingest",
            Right::Restricted => "restricted",
        }
    }
}

impl Settings {
    /// Parses `api_keys`; a malformed entry names itself (without the key).
    pub fn key_rights(&self) -> anyhow::Result<HashMap<String, Vec<Right>>> {
        let mut out = HashMap::new();
        for (n, entry) in self
            .api_keys
            .expose()
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let (key, rights) = entry
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("api_keys entry {} is not KEY=RIGHT+RIGHT", n + 1))?;
            let rights = rights
                .split('+')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(|r| match r {
                    "ingest" => Ok(Right::Ingest),
                    "restricted" => Ok(Right::Restricted),
                    other => Err(anyhow::anyhow!(
                        "api_keys entry {}: unknown right {other:?} (ingest, restricted)",
                        n + 1
                    )),
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            out.insert(key.trim().to_string(), rights);
        }
        Ok(out)
    }

    /// Fails on settings that cannot work.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.key_rights()?;
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
    fn api_keys_parse_with_rights_and_bad_entries_are_named() {
        let s = Settings {
            api_keys: Secret::new("a=ingest+restricted, b=ingest"),
            ..Settings::default()
        };
        let k = s.key_rights().unwrap();
        assert_eq!(k["a"], vec![Right::Ingest, Right::Restricted]);
        assert_eq!(k["b"], vec![Right::Ingest]);
        let bad = Settings {
            api_keys: Secret::new("a=ingest,b=admin"),
            ..Settings::default()
        };
        let err = bad.key_rights().unwrap_err().to_string();
        assert!(err.contains("entry 2") && err.contains("admin"), "{err}");
    }
}
