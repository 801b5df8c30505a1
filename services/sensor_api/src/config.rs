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
    /// How often the compactor looks for hours to merge into one chunk, in
    /// milliseconds (0: never; queries read unmerged segments just as well, only
    /// more slowly and with more bytes on disk).
    pub compact_every_millis: u64,
    /// How long an hour must have been over, and unwritten, before its segments are
    /// merged into its final chunk, in milliseconds.
    pub compact_quiet_millis: u64,
    /// MQTT ingest (`DELOS_SENSOR_API__MQTT__…`); off while `broker_url` is empty.
    pub mqtt: MqttSettings,
}

/// MQTT ingest: readings published to `delos/sensors/<device>/<parameter>` and
/// `delos/sensors/ingest`, stored by the same parser and loader as an upload.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct MqttSettings {
    /// Broker URL, `mqtt://host[:1883]` (or `tcp://`; `mqtt://user:password@host` to log
    /// in); empty: no MQTT ingest.
    pub broker_url: String,
    /// Client id of this instance: the broker keeps its session (subscriptions and
    /// unacknowledged messages) under it, so it must stay the same across restarts and
    /// differ between instances.
    pub client_id: String,
    /// Most messages committed in one transaction (at most 1000, so that every
    /// rejection of a batch is listed and reported).
    pub batch_max: usize,
    /// How long a batch waits for more messages after its first one, in milliseconds.
    pub batch_wait_millis: u64,
    /// MQTT keep-alive: a broker silent this long (seconds) is taken as gone.
    pub keep_alive_secs: u64,
    /// Longest wait between reconnection attempts, in milliseconds (the wait doubles
    /// from 100 ms up to this).
    pub reconnect_max_millis: u64,
}

impl Default for MqttSettings {
    fn default() -> Self {
        Self {
            broker_url: String::new(),
            client_id: "delos-sensor_api".into(),
            batch_max: 1000,
            batch_wait_millis: 5,
            keep_alive_secs: 30,
            reconnect_max_millis: 5000,
        }
    }
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
            compact_every_millis: 1000,
            compact_quiet_millis: 1000,
            mqtt: MqttSettings::default(),
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
        if !self.mqtt.broker_url.is_empty() {
            Broker::parse(&self.mqtt.broker_url)?;
            anyhow::ensure!(
                !self.mqtt.client_id.is_empty(),
                "mqtt.client_id must not be empty"
            );
            anyhow::ensure!(
                (1..=crate::ingest::MAX_LISTED_ERRORS).contains(&self.mqtt.batch_max),
                "mqtt.batch_max must be 1 to {}",
                crate::ingest::MAX_LISTED_ERRORS
            );
            anyhow::ensure!(
                self.mqtt.keep_alive_secs >= 1,
                "mqtt.keep_alive_secs must be at least 1"
            );
        }
        Ok(())
    }
}

/// Where the broker is, from `mqtt.broker_url`.
#[derive(Debug, Clone)]
pub struct Broker {
    pub host: String,
    pub port: u16,
    pub(crate) login: Option<(String, String)>,
}

impl Broker {
    /// Parses `mqtt://[user:password@]host[:port]` (or `tcp://`).
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let parsed = url::Url::parse(url).map_err(|e| anyhow::anyhow!("mqtt.broker_url {url:?}: {e}"))?;
        anyhow::ensure!(
            matches!(parsed.scheme(), "mqtt" | "tcp"),
            "mqtt.broker_url: the scheme must be mqtt:// or tcp:// (no TLS), not {}://",
            parsed.scheme()
        );
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| anyhow::anyhow!("mqtt.broker_url: no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let login = (!parsed.username().is_empty()).then(|| {
            (
                parsed.username().to_string(),
                parsed.password().unwrap_or_default().to_string(),
            )
        });
        Ok(Self {
            host,
            port: parsed.port().unwrap_or(1883),
            login,
        })
    }

    /// `mqtt://host:port`, without credentials (for logs, `/status` and `/readyz`).
    pub fn display(&self) -> String {
        if self.host.contains(':') {
            format!("mqtt://[{}]:{}", self.host, self.port)
        } else {
            format!("mqtt://{}:{}", self.host, self.port)
        }
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

    #[test]
    fn broker_urls_parse_and_display_without_credentials() {
        let b = Broker::parse("mqtt://user:pw@broker.local").unwrap();
        assert_eq!((b.host.as_str(), b.port), ("broker.local", 1883));
        assert_eq!(b.display(), "mqtt://broker.local:1883");
        assert_eq!(b.login, Some(("user".into(), "pw".into())));
        assert_eq!(Broker::parse("tcp://127.0.0.1:1884").unwrap().port, 1884);
        assert!(Broker::parse("mqtts://h").is_err());
        assert!(Broker::parse("127.0.0.1:1883").is_err());
    }
}
