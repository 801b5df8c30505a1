//! Test helpers (feature `test-utils`): a fresh database per test, a Redis key
//! prefix per test, a known service token, reporting off.

use crate::config::{CommonSettings, PgSettings, RedisSettings, Secret, ServiceSettings};

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

/// A service's settings for a test instance: a free loopback port, a database no
/// other test uses (named after the service), a Redis key prefix of its own, the
/// test token and reporting off. Each service's `testing::spawn` starts from these.
pub fn service_settings<S: ServiceSettings>() -> S {
    let mut s = S::default();
    let http = s.http_mut();
    http.port = 0;
    http.host = "127.0.0.1".into();
    *s.common_mut() = common_settings();
    if let Some(pg) = s.pg_mut() {
        *pg = pg_settings(S::SERVICE);
    }
    if let Some(redis) = s.redis_mut() {
        *redis = redis_settings();
    }
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

/// An OTLP/HTTP collector for tests: keeps every span POSTed to `/v1/traces`
/// (JSON encoding, as [`crate::telemetry::Tracer`] sends), decoded.
pub struct OtlpReceiver {
    /// What to set as `common.telemetry.otlp_endpoint`.
    pub endpoint: String,
    spans: std::sync::Arc<std::sync::Mutex<Vec<crate::telemetry::otlp::ReceivedSpan>>>,
    server: actix_web::dev::ServerHandle,
}

impl OtlpReceiver {
    /// Listens on a free loopback port.
    #[allow(clippy::unwrap_used)]
    pub async fn start() -> Self {
        use actix_web::{App, HttpResponse, HttpServer, web};
        let spans = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = spans.clone();
        let server = HttpServer::new(move || {
            let kept = kept.clone();
            App::new().route(
                "/v1/traces",
                web::post().to(move |body: web::Json<serde_json::Value>| {
                    let kept = kept.clone();
                    async move {
                        kept.lock()
                            .unwrap()
                            .extend(crate::telemetry::otlp::decode_spans(&body));
                        HttpResponse::Ok().json(serde_json::json!({}))
                    }
                }),
            )
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            spans,
            server: handle,
        }
    }

    /// The spans of `trace_id` once `enough` holds for them (at most 10 s).
    #[allow(clippy::unwrap_used)]
    pub async fn trace(
        &self,
        trace_id: &str,
        enough: impl Fn(&[crate::telemetry::otlp::ReceivedSpan]) -> bool,
    ) -> Vec<crate::telemetry::otlp::ReceivedSpan> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let spans: Vec<_> = self
                .spans
                .lock()
                .unwrap()
                .iter()
                .filter(|s| s.trace_id == trace_id)
                .cloned()
                .collect();
            if enough(&spans) || std::time::Instant::now() > deadline {
                return spans;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        drop(self.server.stop(false));
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
    let origin = res.url().origin().ascii_serialization();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], code, "{case}: {body}");
    assert_eq!(body["status"], status.as_u16(), "{case}");
    for field in ["type", "title", "detail"] {
        assert!(body[field].is_string(), "{case}: missing {field}");
    }
    assert_type_listed(&origin, &body, case).await;
    body
}

/// Asserts that a problem's `type` is what its code calls for and, unless it is
/// `about:blank`, that the service which answered lists it (`/problems/<code>`
/// resolves against `origin`): every problem a test provokes also checks the
/// service's catalogue, so a code it emits but does not list fails its tests.
#[allow(clippy::unwrap_used)] // a test assertion: failing loudly is the point
pub async fn assert_type_listed(origin: &str, problem: &serde_json::Value, case: &str) {
    let code = problem["code"].as_str().unwrap_or_default();
    let type_ = problem["type"].as_str().unwrap_or_default();
    if crate::problem::BLANK.contains(&code) {
        assert_eq!(type_, "about:blank", "{case}: {problem}");
        return;
    }
    assert_eq!(type_, crate::problem::type_uri(code), "{case}: {problem}");
    let res = client()
        .get(format!("{origin}{type_}"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "{case}: {origin} does not list the problem type {code}"
    );
    let listed: serde_json::Value = res.json().await.unwrap();
    assert_eq!(listed["code"], code, "{case}");
}

/// A plain HTTP client for tests (TLS as the services have it).
#[allow(clippy::expect_used)]
pub fn client() -> reqwest::Client {
    crate::tls::client_builder().build().expect("a test client")
}

/// Asserts that `/problems` of the service at `base` lists exactly `codes`.
#[allow(clippy::unwrap_used)] // a test assertion: failing loudly is the point
pub async fn assert_problem_catalogue(base: &str, codes: &[&str]) {
    let list: Vec<serde_json::Value> = crate::testing::client()
        .get(format!("{base}/problems"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut served: Vec<&str> = list.iter().filter_map(|t| t["code"].as_str()).collect();
    let mut want = codes.to_vec();
    served.sort_unstable();
    want.sort_unstable();
    assert_eq!(served, want, "{base}/problems");
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

/// What the `RateLimit` field of one answer says is left (`"default";r=N;t=S`).
#[allow(clippy::unwrap_used, clippy::panic)] // a test assertion: failing loudly is the point
pub fn rate_limit_remaining(res: &reqwest::Response) -> u32 {
    let field = res
        .headers()
        .get("ratelimit")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no RateLimit field on {} {}", res.status(), res.url()));
    let r = field.split(';').find_map(|p| p.strip_prefix("r=")).unwrap();
    r.parse().unwrap()
}

/// Asserts how a public service counts clients behind a proxy: `url` (a rate-limited
/// route) is called twice as client A and once as client B, each named only by
/// `X-Forwarded-For`, with no API key. Started with the test's address (127.0.0.1)
/// among `rate_limit.trusted_proxies`, A and B have budgets of their own; started
/// without it, the field is ignored and all three requests count against the peer.
#[allow(clippy::unwrap_used)] // a test assertion: failing loudly is the point
pub async fn assert_forwarded_for_budgets(url: &str, behind_trusted_proxy: bool) {
    within_one_rate_window(std::time::Duration::from_secs(5)).await;
    let client = client();
    let mut left = Vec::new();
    for who in ["203.0.113.7", "203.0.113.7", "198.51.100.9"] {
        let res = client
            .get(url)
            .header("x-forwarded-for", who)
            .send()
            .await
            .unwrap();
        left.push(rate_limit_remaining(&res));
    }
    let (a1, a2, b) = (left[0], left[1], left[2]);
    assert_eq!(
        a2 + 1,
        a1,
        "{url}: client A's second request counts against A: {left:?}"
    );
    if behind_trusted_proxy {
        assert_eq!(
            b, a1,
            "{url}: client B behind the trusted proxy has a budget of its own: {left:?}"
        );
    } else {
        assert_eq!(
            b + 2,
            a1,
            "{url}: X-Forwarded-For from an untrusted peer is ignored: {left:?}"
        );
    }
}

/// Asserts that `doc` (a served `/openapi.json`) says `method path` needs `scheme`,
/// and declares every security scheme any of its operations names.
#[allow(clippy::unwrap_used)] // a test assertion: failing loudly is the point
pub fn assert_security_documented(doc: &serde_json::Value, method: &str, path: &str, scheme: &str) {
    let required = doc["paths"][path][method]["security"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        required.iter().any(|r| r.get(scheme).is_some()),
        "{method} {path} does not declare {scheme}: {required:?}"
    );
    let declared = &doc["components"]["securitySchemes"];
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            for req in op["security"].as_array().into_iter().flatten() {
                for name in req.as_object().unwrap().keys() {
                    assert!(
                        declared[name].is_object(),
                        "scheme {name} is used but not declared"
                    );
                }
            }
        }
    }
}

/// Keys generated at test time (nothing secret is checked in) and tokens signed
/// with them, for the bearer-token tests of every service.
pub mod jwt {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    use rsa::traits::PublicKeyParts;

    /// Issuer and audience the test verifiers expect.
    pub const ISSUER: &str = "https://securetoken.google.com/delos-test";
    pub const AUDIENCE: &str = "delos-test";
    /// The HS256 secret the test verifiers share.
    pub const HS256_SECRET: &str = "test-hs256-secret-of-at-least-32-bytes!";

    /// An RSA and an EC key pair, their JWKS, and the RSA public key as PEM.
    pub struct TestKeys {
        rsa_pem: String,
        ec_pkcs8: Vec<u8>,
        /// `{"keys": [...]}` with kids `rsa-1` and `ec-1`.
        pub jwks: serde_json::Value,
        /// The RSA public key (SubjectPublicKeyInfo PEM), for the alg-confusion case.
        pub rsa_public_pem: String,
    }

    impl TestKeys {
        /// Fresh keys (RSA 2048, P-256).
        #[allow(clippy::expect_used)]
        pub fn generate() -> Self {
            let rsa = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("rsa keygen");
            let rsa_pem = rsa.to_pkcs8_pem(LineEnding::LF).expect("pkcs8").to_string();
            let public = rsa.to_public_key();
            let rsa_public_pem = public.to_public_key_pem(LineEnding::LF).expect("spki");
            let n = URL_SAFE_NO_PAD.encode(public.n().to_bytes_be());
            let e = URL_SAFE_NO_PAD.encode(public.e().to_bytes_be());
            let rng = ring::rand::SystemRandom::new();
            let ec_pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .expect("ec keygen")
                .as_ref()
                .to_vec();
            let ec = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &ec_pkcs8, &rng).expect("ec");
            let point = ec.public_key().as_ref();
            let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
            let y = URL_SAFE_NO_PAD.encode(&point[33..65]);
            let jwks = serde_json::json!({ "keys": [
                { "kty": "RSA", "kid": "rsa-1", "alg": "RS256", "use": "sig", "n": n, "e": e },
                { "kty": "EC", "kid": "ec-1", "alg": "ES256", "use": "sig", "crv": "P-256", "x": x, "y": y },
            ]});
            Self {
                rsa_pem,
                ec_pkcs8,
                jwks,
                rsa_public_pem,
            }
        }

        /// Writes the JWKS to a temporary file; returns its path.
        #[allow(clippy::expect_used)]
        pub fn jwks_file(&self) -> String {
            let path =
                std::env::temp_dir().join(format!("delos-jwks-{}.json", uuid::Uuid::new_v4().simple()));
            std::fs::write(&path, self.jwks.to_string()).expect("write jwks");
            path.to_string_lossy().into_owned()
        }

        /// JWT settings trusting these keys (file JWKS + HS256), with the test issuer and audience.
        pub fn settings(&self) -> crate::auth::JwtSettings {
            crate::auth::JwtSettings {
                hs256_secret: crate::config::Secret::new(HS256_SECRET),
                jwks_file: self.jwks_file(),
                issuer: ISSUER.into(),
                audience: AUDIENCE.into(),
                leeway_secs: 5,
                ..crate::auth::JwtSettings::default()
            }
        }

        /// An RS256 token with kid `rsa-1`.
        pub fn rs256(&self, claims: &serde_json::Value) -> String {
            let mut h = Header::new(Algorithm::RS256);
            h.kid = Some("rsa-1".into());
            sign(&h, claims, EncodingKey::from_rsa_pem(self.rsa_pem.as_bytes()))
        }

        /// An ES256 token with kid `ec-1`.
        pub fn es256(&self, claims: &serde_json::Value) -> String {
            let mut h = Header::new(Algorithm::ES256);
            h.kid = Some("ec-1".into());
            sign(&h, claims, Ok(EncodingKey::from_ec_der(&self.ec_pkcs8)))
        }

        /// An HS256 token signed with the RSA public key as the secret (alg confusion).
        pub fn hs256_with_public_key(&self, claims: &serde_json::Value) -> String {
            let mut h = Header::new(Algorithm::HS256);
            h.kid = Some("rsa-1".into());
            sign(
                &h,
                claims,
                Ok(EncodingKey::from_secret(self.rsa_public_pem.as_bytes())),
            )
        }
    }

    /// An HS256 token signed with `secret`.
    pub fn hs256(secret: &str, claims: &serde_json::Value) -> String {
        sign(
            &Header::new(Algorithm::HS256),
            claims,
            Ok(EncodingKey::from_secret(secret.as_bytes())),
        )
    }

    /// A token with `alg: none` and no signature.
    pub fn alg_none(claims: &serde_json::Value) -> String {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let c = URL_SAFE_NO_PAD.encode(claims.to_string());
        format!("{h}.{c}.")
    }

    #[allow(clippy::expect_used)]
    fn sign(
        h: &Header,
        claims: &serde_json::Value,
        key: jsonwebtoken::errors::Result<EncodingKey>,
    ) -> String {
        jsonwebtoken::encode(h, claims, &key.expect("encoding key")).expect("sign")
    }

    /// Now, Unix seconds.
    pub fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    /// Claims of a valid token for `sub`: right issuer and audience, valid for 10 minutes.
    pub fn claims(sub: &str) -> serde_json::Value {
        serde_json::json!({ "sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now(), "exp": now() + 600 })
    }

    /// The table every restricted route is tested against: (case, token); each must get 401.
    pub fn refused_tokens(keys: &TestKeys) -> Vec<(&'static str, String)> {
        let with = |k: &str, v: serde_json::Value| {
            let mut c = claims("alice");
            c[k] = v;
            c
        };
        let mut no_exp = claims("alice");
        if let Some(o) = no_exp.as_object_mut() {
            o.remove("exp");
        }
        vec![
            ("expired", keys.rs256(&with("exp", (now() - 3600).into()))),
            ("not yet valid", keys.rs256(&with("nbf", (now() + 3600).into()))),
            (
                "wrong issuer",
                keys.rs256(&with("iss", "https://evil.example".into())),
            ),
            ("wrong audience", keys.rs256(&with("aud", "someone-else".into()))),
            ("no exp", keys.rs256(&no_exp)),
            ("wrong key", TestKeys::generate().rs256(&claims("alice"))),
            (
                "wrong hs256 secret",
                hs256("another-secret-that-is-32-bytes-long!!", &claims("alice")),
            ),
            ("alg none", alg_none(&claims("alice"))),
            ("alg confusion", keys.hs256_with_public_key(&claims("alice"))),
            ("garbage", "not-a-jwt".into()),
            ("three garbage parts", "a.b.c".into()),
            ("empty", String::new()),
        ]
    }
}

/// One Server-Sent Event as a test reads it.
#[derive(Debug)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

/// Reads the events of a `text/event-stream` response (comments skipped).
pub struct SseEvents {
    res: reqwest::Response,
    buf: String,
}

#[allow(clippy::expect_used)] // a test reader: failing loudly is the point
impl SseEvents {
    /// Reads `res`, after checking it is a 200 event stream.
    pub fn new(res: reqwest::Response) -> Self {
        assert_eq!(res.status(), 200, "{res:?}");
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        Self {
            res,
            buf: String::new(),
        }
    }

    /// The next event; the 60 s limit is a deadlock guard, not a timing assertion.
    pub async fn next(&mut self) -> SseEvent {
        tokio::time::timeout(std::time::Duration::from_secs(60), self.read())
            .await
            .expect("no event within 60 s")
    }

    async fn read(&mut self) -> SseEvent {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut e = SseEvent {
                    id: None,
                    event: None,
                    data: String::new(),
                };
                let mut any = false;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        e.id = Some(v.into());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        e.event = Some(v.into());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        e.data.push_str(v);
                    } else {
                        continue;
                    }
                    any = true;
                }
                if any {
                    return e;
                }
                continue;
            }
            let chunk = self
                .res
                .chunk()
                .await
                .expect("the stream broke")
                .expect("the stream ended");
            self.buf.push_str(std::str::from_utf8(&chunk).expect("utf-8"));
        }
    }
}
