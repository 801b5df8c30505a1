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

/// The test run's id (`DELOS_TEST_RUN`, set by `scripts/test`): letters and
/// digits, at most 8; empty outside a run.
pub fn run_id() -> String {
    std::env::var("DELOS_TEST_RUN")
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Settings for a database no other test uses: `test_<run>_<prefix>_<uuid>`
/// inside a `scripts/test` run, which drops the run's databases when it ends
/// (however the tests ended), else `test_<prefix>_<uuid>`.
pub fn pg_settings(prefix: &str) -> PgSettings {
    let run = run_id();
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let name = if run.is_empty() {
        format!("test_{prefix}_{unique}")
    } else {
        format!("test_{run}_{prefix}_{}", &unique[..20])
    };
    let mut s = PgSettings::for_database(&name);
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

/// A TCP forwarder in front of a real dependency (Postgres, Redis, a service),
/// so a test can take the dependency "down" and bring it back without touching
/// the shared server: while down it refuses new connections and cuts open ones.
pub struct TcpProxy {
    pub port: u16,
    down: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Starts forwarding a free local port to `target` (`host:port`).
    pub async fn start(target: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (tx, _) = tokio::sync::watch::channel(false);
        let down = std::sync::Arc::new(tx);
        let target = target.to_string();
        let flag = down.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if *flag.borrow() {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let mut watch = flag.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = watch.wait_for(|d| *d) => {}
                    }
                });
            }
        });
        Ok(Self { port, down, task })
    }

    /// `host:port` of the proxy.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Takes the dependency down (true) or brings it back (false).
    pub fn set_down(&self, down: bool) {
        self.down.send_replace(down);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Asserts a problem+json answer with `status` and `code`; returns its body.
#[allow(clippy::unwrap_used)] // a test assertion: failing loudly is the point
pub async fn assert_problem(
    res: reqwest::Response,
    status: reqwest::StatusCode,
    code: &str,
    case: &str,
) -> serde_json::Value {
    assert_eq!(res.status(), status, "{case}");
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        ct.starts_with(crate::problem::PROBLEM_JSON),
        "{case}: content-type {ct}"
    );
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], code, "{case}: {body}");
    assert_eq!(body["status"], status.as_u16(), "{case}");
    for field in ["type", "title", "detail"] {
        assert!(body[field].is_string(), "{case}: missing {field}");
    }
    body
}

/// Waits, if need be, until the current rate-limit window has at least `left`
/// to run, so a test counting requests within one window never straddles the
/// reset. The condition is the wall clock itself, so this sleeps (at most `left`).
pub async fn within_one_rate_window(left: std::time::Duration) {
    let (_, reset_secs) = crate::rate_limit::current_window();
    let remaining = std::time::Duration::from_secs(reset_secs);
    if remaining < left {
        tokio::time::sleep(remaining + std::time::Duration::from_millis(50)).await;
    }
}
