//! Typed, layered configuration: defaults in code → optional file (`DELOS_CONFIG`)
//! → environment. Shared settings come from `DELOS__SECTION__KEY`, a service's own
//! from `DELOS_<SERVICE>__SECTION__KEY` (e.g. `DELOS_HEALTH_CHECK__HTTP__PORT=9000`).

use std::fmt;

use config::{Config, Environment, File};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Prefix of every variable: shared settings are `DELOS__<SECTION>__<KEY>`, a
/// service's own `DELOS_<SERVICE>__<SECTION>__<KEY>`.
pub const ENV_PREFIX: &str = "DELOS";
/// Between the prefix and the key, and between the parts of a key.
pub const ENV_SEPARATOR: &str = "__";
/// Names the optional configuration file (TOML).
pub const CONFIG_FILE_ENV: &str = "DELOS_CONFIG";
/// The documented shorthand for [`SERVICE_TOKEN_KEY`].
pub const SERVICE_TOKEN_ENV: &str = "DELOS__SERVICE_TOKEN";
/// The service token's key (it wins over every other source when set).
pub const SERVICE_TOKEN_KEY: &str = "common.service_token";
/// Keys whose variables are comma-separated lists.
pub const LIST_KEYS: [&str; 2] = ["rate_limit.api_keys", "rate_limit.trusted_proxies"];

/// Loads `T` for `service`. Works with no file and no variables at all.
pub fn load<T: DeserializeOwned + Serialize + Default>(service: &str) -> anyhow::Result<T> {
    let service_prefix = format!("{ENV_PREFIX}_{}", service.to_ascii_uppercase());
    let mut builder = Config::builder().add_source(Config::try_from(&T::default())?);
    if let Ok(path) = std::env::var(CONFIG_FILE_ENV) {
        builder = builder.add_source(File::with_name(&path).required(true));
    }
    let env = |prefix: &str| {
        LIST_KEYS.iter().fold(
            Environment::with_prefix(prefix)
                .prefix_separator(ENV_SEPARATOR)
                .separator(ENV_SEPARATOR)
                .try_parsing(true)
                .list_separator(","),
            |env, key| env.with_list_parse_key(key),
        )
    };
    // `DELOS__SERVICE_TOKEN` is the documented shorthand for `common.service_token`.
    let token = std::env::var(SERVICE_TOKEN_ENV).ok().filter(|t| !t.is_empty());
    let cfg = builder
        .add_source(env(ENV_PREFIX))
        .add_source(env(&service_prefix))
        .set_override_option(SERVICE_TOKEN_KEY, token)?
        .build()?;
    cfg.try_deserialize().map_err(|e| {
        anyhow::anyhow!(
            "invalid configuration for {service}: {e} (set it with DELOS__<SECTION>__<KEY> or {service_prefix}__<SECTION>__<KEY>)"
        )
    })
}

/// What every service's `Settings` has in common: the sections the launcher and the
/// test harness set the same way for every service (the listener, the shared
/// section, and Postgres and Redis where the service uses them), and the loader.
/// Implemented with [`crate::service_settings!`].
pub trait ServiceSettings: DeserializeOwned + Serialize + Default {
    /// The service's name: `DELOS_<NAME>__…` variables, logs, reports.
    const SERVICE: &'static str;
    fn http_mut(&mut self) -> &mut HttpSettings;
    fn common_mut(&mut self) -> &mut CommonSettings;
    /// The Postgres section, in services that own a database.
    fn pg_mut(&mut self) -> Option<&mut PgSettings> {
        None
    }
    /// The Redis section, in services that use Redis.
    fn redis_mut(&mut self) -> Option<&mut RedisSettings> {
        None
    }
    /// Loads defaults → `DELOS_CONFIG` file → environment.
    fn load() -> anyhow::Result<Self> {
        load(Self::SERVICE)
    }
}

/// Implements [`ServiceSettings`] for a service's `Settings` with fields `http` and
/// `common`, plus the listed sections (`pg`, `redis`):
/// `common::service_settings!(Settings, "db_proxy", [pg]);`
#[macro_export]
macro_rules! service_settings {
    ($ty:ty, $service:literal, [$($section:ident),*]) => {
        impl $crate::config::ServiceSettings for $ty {
            const SERVICE: &'static str = $service;
            fn http_mut(&mut self) -> &mut $crate::config::HttpSettings {
                &mut self.http
            }
            fn common_mut(&mut self) -> &mut $crate::config::CommonSettings {
                &mut self.common
            }
            $($crate::service_settings!(@section $section);)*
        }
    };
    (@section pg) => {
        fn pg_mut(&mut self) -> Option<&mut $crate::config::PgSettings> {
            Some(&mut self.pg)
        }
    };
    (@section redis) => {
        fn redis_mut(&mut self) -> Option<&mut $crate::config::RedisSettings> {
            Some(&mut self.redis)
        }
    };
}

/// A secret that never shows in logs or `Debug` output.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// True when no value was configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "Secret(<empty>)"
        } else {
            "Secret(<redacted>)"
        })
    }
}

/// Where and how a service listens.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct HttpSettings {
    /// Listen address.
    pub host: String,
    /// Listen port (0 = any free port).
    pub port: u16,
    /// actix worker threads; keep small, eight services share two cores.
    pub workers: usize,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Time a client has to send a request's head after connecting (slowloris:
    /// a client sending one byte a second is cut off with 408 after this).
    pub client_request_timeout_millis: u64,
    /// Time a closing connection gets to shut down before it is dropped.
    pub client_disconnect_timeout_millis: u64,
    /// How long an idle keep-alive connection is kept open. Longer than the
    /// pooled clients' idle timeout (60 s, `service_client::http_client`): otherwise the
    /// server may close a connection just as a client reuses it.
    pub keep_alive_secs: u64,
    /// Open connections per worker; past it new ones wait in the listen backlog.
    pub max_connections: usize,
}

impl HttpSettings {
    /// Defaults for a service on `port`.
    pub fn on_port(port: u16) -> Self {
        Self {
            host: "0.0.0.0".into(),
            port,
            workers: 1,
            body_limit: 64 * 1024,
            client_request_timeout_millis: 5000,
            client_disconnect_timeout_millis: 1000,
            keep_alive_secs: 75,
            max_connections: 25_000,
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self::on_port(0)
    }
}

/// A Postgres database owned by one service.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct PgSettings {
    /// Server URL without a database name.
    pub url: String,
    /// The service's database (created at start when missing).
    pub database: String,
    /// Pool size.
    pub max_connections: u32,
    /// Seconds to wait for a pooled connection before answering 503.
    pub acquire_timeout_secs: u64,
}

impl PgSettings {
    /// Defaults for `database` on the local server.
    pub fn for_database(database: &str) -> Self {
        Self {
            url: "postgres://postgres@127.0.0.1:5432".into(),
            database: database.into(),
            max_connections: 10,
            acquire_timeout_secs: 3,
        }
    }
}

impl Default for PgSettings {
    fn default() -> Self {
        Self::for_database("postgres")
    }
}

/// Redis connection and the prefix of every key a service writes.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct RedisSettings {
    /// Redis server URL (`rediss://` for TLS; may carry a password).
    pub url: String,
    /// Prefix of every Redis key.
    pub key_prefix: String,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:6379".into(),
            key_prefix: "delos:".into(),
        }
    }
}

/// Where to send health reports.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ReporterSettings {
    /// Base URL of `health_check`; empty disables reporting.
    pub url: String,
    /// This instance's id in health_check (replicas of a service each have
    /// their own); empty: `<host name>:<port>`.
    pub instance: String,
    /// Heartbeat period, in seconds.
    pub heartbeat_secs: u64,
    /// Bounded report queue; reports past it are dropped and counted.
    pub queue_size: usize,
    /// Reports per `POST /report/batch`.
    pub batch_size: usize,
    /// Longest wait before a partial batch is sent, in milliseconds.
    pub flush_millis: u64,
}

impl Default for ReporterSettings {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8050".into(),
            instance: String::new(),
            heartbeat_secs: 10,
            queue_size: 1024,
            batch_size: 100,
            flush_millis: 500,
        }
    }
}

impl ReporterSettings {
    /// The instance id a service reports under: the configured one, else `<host name>:<port>`.
    pub fn instance_id(&self, port: u16) -> String {
        if self.instance.is_empty() {
            default_instance(port)
        } else {
            self.instance.clone()
        }
    }
}

/// `<host name>:<port>`, the same across restarts of one process on one host
/// (in Kubernetes the host name is the pod's). With port 0 (tests), the process
/// id and a counter stand in for the port.
fn default_instance(port: u16) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "localhost".to_string());
    if port == 0 {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{host}:pid{}-{n}", std::process::id())
    } else {
        format!("{host}:{port}")
    }
}

/// The telemetry section of the shared settings ([`crate::telemetry`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct TelemetrySettings {
    /// OTLP/HTTP endpoint spans are exported to (`http://collector:4318`; `/v1/traces` is
    /// appended); empty: no export. Trace context is propagated and logged either way.
    pub otlp_endpoint: String,
    /// Milliseconds a span may wait before its batch is sent.
    pub otlp_flush_millis: u64,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            otlp_endpoint: String::new(),
            otlp_flush_millis: 1000,
        }
    }
}

/// Settings every service has.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct CommonSettings {
    /// Bearer token for internal mutating routes (`DELOS__SERVICE_TOKEN`).
    pub service_token: Secret,
    pub reporter: ReporterSettings,
    /// Timeout of calls to other services and third parties, in milliseconds.
    pub client_timeout_millis: u64,
    pub telemetry: TelemetrySettings,
}

impl Default for CommonSettings {
    fn default() -> Self {
        Self {
            service_token: Secret::default(),
            reporter: ReporterSettings::default(),
            client_timeout_millis: 3000,
            telemetry: TelemetrySettings::default(),
        }
    }
}

impl CommonSettings {
    /// Fails with the variable to set when the service token is missing.
    pub fn require_token(&self) -> anyhow::Result<&Secret> {
        if self.service_token.is_empty() {
            anyhow::bail!("DELOS__SERVICE_TOKEN is not set (internal calls need a shared token)");
        }
        Ok(&self.service_token)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn secret_debug_is_redacted() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(<redacted>)");
    }
}
