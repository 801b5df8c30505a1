//! Test helpers (feature `test-utils`): a fresh database per test, a Redis key
//! prefix per test, a known service token, reporting off.

use crate::config::{CommonSettings, PgSettings, RedisSettings, Secret};

/// The token test services share.
pub const TEST_TOKEN: &str = "test-service-token";

/// Installs a subscriber once when `TEST_LOG` is set (quiet otherwise).
pub fn init_tracing() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var("TEST_LOG").is_ok() {
            crate::telemetry::init();
        }
    });
}

/// Settings for a database no other test uses (`test_<prefix>_<uuid>`).
pub fn pg_settings(prefix: &str) -> PgSettings {
    let mut s =
        PgSettings::for_database(&format!("test_{prefix}_{}", uuid::Uuid::new_v4().simple()));
    if let Ok(url) = std::env::var("DELOS_TEST_PG_URL") {
        s.url = url;
    }
    s
}

/// Redis settings with a key prefix no other test uses.
pub fn redis_settings() -> RedisSettings {
    RedisSettings {
        key_prefix: format!("test:{}:", uuid::Uuid::new_v4().simple()),
        ..RedisSettings::default()
    }
}

/// Common settings with the test token and reporting off.
pub fn common_settings() -> CommonSettings {
    let mut s = CommonSettings {
        service_token: Secret::new(TEST_TOKEN),
        ..CommonSettings::default()
    };
    s.reporter.url = String::new();
    s
}

/// An address nothing listens on (a port bound and released), for "dependency down" tests.
pub fn dead_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(9);
    format!("http://127.0.0.1:{port}")
}
