//! Who is calling: the one place that reads credentials.
//!
//! - [`service_token`]: the shared service token on internal mutating routes
//!   ([`ServiceAuth`]).
//! - [`Authenticator`], for the restricted public routes: a bearer JWT
//!   ([`jwt`]) or an API key (`X-API-Key`, read by [`api_key`] and nowhere else)
//!   of the one key model ([`api_keys`]: key → rights). When a request sends
//!   `Authorization: Bearer`, the token decides, whatever key it also sends.
//!
//! A refusal is a problem document: 401 with an RFC 6750 `WWW-Authenticate`
//! challenge ([`AuthProblem`]), or 403 `forbidden` naming the missing `right`.

pub mod api_keys;
pub mod jwt;
pub mod service_token;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;

pub use api_keys::ApiKeys;
pub use jwt::{JwtSettings, JwtVerifier};
pub use service_token::ServiceAuth;

use crate::problem::Problem;

/// How a caller proved who it is.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// A verified `Authorization: Bearer` JWT.
    BearerJwt,
    /// A configured `X-API-Key`.
    ApiKey,
    /// The shared service token (internal routes).
    ServiceToken,
}

/// Who called, as verified credentials say (the `caller` object of the restricted routes).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Caller {
    /// `sub` of the token (or the API key's label).
    pub subject: String,
    /// `bearer_jwt`, `api_key` or `service_token`.
    pub method: Method,
    /// The token's algorithm, issuer and key id (JWT only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// `exp`, Unix seconds (JWT only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl Caller {
    fn plain(subject: String, method: Method) -> Self {
        Self {
            subject,
            method,
            algorithm: None,
            issuer: None,
            key_id: None,
            expires_at: None,
        }
    }

    /// A caller that presented an API key: named by a hash prefix, never the key itself.
    pub fn api_key(key: &str) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(key.as_bytes());
        let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        Self::plain(format!("api-key:{hex}"), Method::ApiKey)
    }

    /// A caller that presented the shared service token (another Delos service).
    pub fn service_token() -> Self {
        Self::plain("service".into(), Method::ServiceToken)
    }
}

/// A 401 (or 403, 503) problem with its `WWW-Authenticate` challenge.
#[derive(Debug, Clone)]
pub struct AuthProblem {
    pub problem: Problem,
    pub challenge: String,
}

impl AuthProblem {
    /// 401 with `error="invalid_token"` and a description (no secrets in it).
    pub fn invalid_token(description: &str) -> Self {
        Self {
            problem: Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                format!("the bearer token was refused: {description}"),
            ),
            challenge: format!(
                "Bearer realm=\"delos\", error=\"invalid_token\", error_description=\"{}\"",
                description.replace('"', "'")
            ),
        }
    }

    /// 401 for a request with no credentials at all (RFC 6750 §3: no error code).
    pub fn missing(detail: &str) -> Self {
        Self {
            problem: Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail),
            challenge: "Bearer realm=\"delos\"".into(),
        }
    }
}

impl From<Problem> for AuthProblem {
    /// Any other problem of an auth check (403, 503 …); a 401 gets the bare challenge.
    fn from(problem: Problem) -> Self {
        Self {
            problem,
            challenge: "Bearer realm=\"delos\"".into(),
        }
    }
}

impl std::fmt::Display for AuthProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.problem.fmt(f)
    }
}

impl ResponseError for AuthProblem {
    fn status_code(&self) -> StatusCode {
        self.problem.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = self.problem.error_response();
        if self.problem.status != 401 {
            return res;
        }
        if let Ok(v) = HeaderValue::from_str(&self.challenge) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        res
    }
}

/// The `X-API-Key` of `req`, trimmed: `None` when the header is absent, `Some("")`
/// when it is empty or not text. The only reader of the header (the rate limiter
/// names clients by it too).
pub fn api_key(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get("x-api-key")
        .map(|v| v.to_str().unwrap_or_default().trim())
}

/// The bearer token of `req`, if it sends one.
pub fn bearer(req: &HttpRequest) -> Option<String> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    // `Bearer` with nothing after it is a (bad) bearer token, not "no credentials".
    let (scheme, token) = v.split_once(' ').unwrap_or((v, ""));
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

const NO_CREDENTIALS: &str = "credentials are required: Authorization: Bearer <JWT>, or X-API-Key";

/// Checks the credentials of restricted routes: bearer JWTs and API keys.
/// With neither a signing key nor an API key configured, everyone is refused.
pub struct Authenticator {
    jwt: JwtVerifier,
    keys: ApiKeys,
}

impl Authenticator {
    /// Builds it from a service's `jwt` and `api_keys` settings (see [`JwtVerifier::new`]).
    pub fn new(jwt: &JwtSettings, keys: ApiKeys, http: reqwest::Client) -> anyhow::Result<Self> {
        Ok(Self {
            jwt: JwtVerifier::new(jwt, http)?,
            keys,
        })
    }

    /// A bearer JWT, or any configured API key (with or without rights); 401 for
    /// neither, a token that does not verify, or an unknown key.
    pub async fn caller(&self, req: &HttpRequest) -> Result<Caller, AuthProblem> {
        if let Some(token) = bearer(req) {
            return self.jwt.verify(&token).await;
        }
        match api_key(req).filter(|k| !k.is_empty()) {
            Some(k) if self.keys.rights(k).is_some() => Ok(Caller::api_key(k)),
            Some(_) => Err(AuthProblem::from(Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this API key is not admitted to restricted routes",
            ))),
            None => Err(AuthProblem::missing(NO_CREDENTIALS)),
        }
    }

    /// A bearer JWT, or an API key carrying `right`: as [`Self::caller`], but a
    /// sent key must pass [`Self::require`] (401 unknown, 403 without the right).
    pub async fn caller_with(&self, req: &HttpRequest, right: &str) -> Result<Caller, AuthProblem> {
        if let Some(token) = bearer(req) {
            return self.jwt.verify(&token).await;
        }
        if api_key(req).is_none() {
            return Err(AuthProblem::missing(NO_CREDENTIALS));
        }
        Ok(self.require(req, right)?)
    }

    /// An API key carrying `right` (no JWT): 401 without a known key, 403 with a
    /// key that lacks the right (`right` names it).
    pub fn require(&self, req: &HttpRequest, right: &str) -> Result<Caller, Problem> {
        let key = api_key(req).filter(|k| !k.is_empty());
        let Some((key, rights)) = key.and_then(|k| Some((k, self.keys.rights(k)?))) else {
            return Err(Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid API key is required (X-API-Key)",
            ));
        };
        if !rights.contains(right) {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this API key lacks the {right:?} right"),
            )
            .with("right", right));
        }
        Ok(Caller::api_key(key))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use actix_web::body::MessageBody;
    use actix_web::test::TestRequest;

    use super::*;

    const SECRET: &str = "unit-test-hs256-secret-of-32-bytes-or-more";

    fn auth(keys: &str) -> Authenticator {
        let jwt = JwtSettings {
            hs256_secret: crate::config::Secret::new(SECRET),
            ..JwtSettings::default()
        };
        Authenticator::new(
            &jwt,
            keys.parse().unwrap(),
            crate::tls::client_builder().build().unwrap(),
        )
        .unwrap()
    }

    fn token(sub: &str) -> String {
        let exp = chrono::Utc::now().timestamp() + 600;
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &serde_json::json!({ "sub": sub, "exp": exp }),
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    }

    fn req(key: Option<&str>, bearer: Option<&str>) -> HttpRequest {
        let mut r = TestRequest::default();
        if let Some(k) = key {
            r = r.insert_header(("x-api-key", k));
        }
        if let Some(t) = bearer {
            r = r.insert_header(("authorization", format!("Bearer {t}")));
        }
        r.to_http_request()
    }

    /// Status, `code`, `detail` and `WWW-Authenticate` of a refusal.
    fn seen(e: &AuthProblem) -> (u16, String, String, Option<String>) {
        let res = e.error_response();
        let challenge = res
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string());
        let status = res.status().as_u16();
        let body = res.into_body().try_into_bytes().unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let text = |k: &str| body[k].as_str().unwrap_or_default().to_string();
        (status, text("code"), text("detail"), challenge)
    }

    #[tokio::test]
    async fn require_refuses_unknown_keys_with_401_and_keys_without_the_right_with_403() {
        let a = auth("full=ingest+restricted,read=,bare");
        for key in [None, Some(""), Some("wrong")] {
            let e = a.require(&req(key, None), "ingest").unwrap_err();
            assert_eq!((e.status, e.code.as_str()), (401, "unauthorized"), "{key:?}");
        }
        for key in ["read", "bare"] {
            let e = AuthProblem::from(a.require(&req(Some(key), None), "ingest").unwrap_err());
            let (status, code, detail, challenge) = seen(&e);
            assert_eq!((status, code.as_str()), (403, "forbidden"), "{key}");
            assert_eq!(detail, "this API key lacks the \"ingest\" right");
            assert_eq!(challenge, None, "403 has no challenge");
        }
        let c = a.require(&req(Some(" full "), None), "ingest").unwrap();
        assert_eq!(c, Caller::api_key("full"));
        assert_eq!(c.method, Method::ApiKey);
        assert!(!c.subject.contains("full"), "the key itself is never shown");
    }

    #[tokio::test]
    async fn caller_admits_any_listed_key_and_a_token_and_refuses_with_a_challenge() {
        let a = auth("k1,k2=ingest");
        for key in ["k1", "k2"] {
            assert_eq!(
                a.caller(&req(Some(key), None)).await.unwrap(),
                Caller::api_key(key)
            );
        }
        let (status, code, detail, challenge) = seen(&a.caller(&req(Some("other"), None)).await.unwrap_err());
        assert_eq!((status, code.as_str()), (401, "unauthorized"));
        assert_eq!(detail, "this API key is not admitted to restricted routes");
        assert_eq!(challenge.as_deref(), Some("Bearer realm=\"delos\""));
        for key in [None, Some(" ")] {
            let (status, code, detail, challenge) = seen(&a.caller(&req(key, None)).await.unwrap_err());
            assert_eq!((status, code.as_str()), (401, "unauthorized"), "{key:?}");
            assert_eq!(detail, NO_CREDENTIALS);
            assert_eq!(challenge.as_deref(), Some("Bearer realm=\"delos\""));
        }
        let c = a.caller(&req(None, Some(&token("alice")))).await.unwrap();
        assert_eq!((c.subject.as_str(), c.method), ("alice", Method::BearerJwt));
        assert_eq!(
            serde_json::to_value(&c).unwrap()["method"],
            serde_json::json!("bearer_jwt")
        );
        let (status, code, _, challenge) = seen(&a.caller(&req(None, Some("nope"))).await.unwrap_err());
        assert_eq!((status, code.as_str()), (401, "invalid_token"));
        assert!(challenge.unwrap().contains("error=\"invalid_token\""));
    }

    #[tokio::test]
    async fn caller_with_a_right_checks_a_sent_key_for_it() {
        let a = auth("full=restricted,read=ingest");
        let ok = a
            .caller_with(&req(Some("full"), None), "restricted")
            .await
            .unwrap();
        assert_eq!(ok.method, Method::ApiKey);
        let (status, code, _, challenge) = seen(
            &a.caller_with(&req(Some("read"), None), "restricted")
                .await
                .unwrap_err(),
        );
        assert_eq!((status, code.as_str(), challenge), (403, "forbidden", None));
        for key in ["wrong", ""] {
            let (status, code, detail, challenge) = seen(
                &a.caller_with(&req(Some(key), None), "restricted")
                    .await
                    .unwrap_err(),
            );
            assert_eq!((status, code.as_str()), (401, "unauthorized"), "{key:?}");
            assert_eq!(detail, "a valid API key is required (X-API-Key)");
            assert_eq!(challenge.as_deref(), Some("Bearer realm=\"delos\""));
        }
        let (_, _, detail, _) = seen(&a.caller_with(&req(None, None), "restricted").await.unwrap_err());
        assert_eq!(detail, NO_CREDENTIALS);
    }

    #[tokio::test]
    async fn a_bearer_token_is_preferred_when_a_key_is_sent_too() {
        let a = auth("full=restricted");
        let good = token("bob");
        for c in [
            a.caller(&req(Some("full"), Some(&good))).await.unwrap(),
            a.caller_with(&req(Some("full"), Some(&good)), "restricted")
                .await
                .unwrap(),
        ] {
            assert_eq!((c.subject.as_str(), c.method), ("bob", Method::BearerJwt));
        }
        // A refused token is not rescued by a good key.
        let e = a.caller(&req(Some("full"), Some("bad"))).await.unwrap_err();
        assert_eq!(e.problem.code, "invalid_token");
        let e = a
            .caller_with(&req(Some("full"), Some("bad")), "restricted")
            .await
            .unwrap_err();
        assert_eq!(e.problem.code, "invalid_token");
    }

    #[test]
    fn the_key_header_is_read_trimmed_and_absent_is_not_empty() {
        assert_eq!(api_key(&req(None, None)), None);
        assert_eq!(api_key(&req(Some("  k "), None)), Some("k"));
        assert_eq!(api_key(&req(Some(""), None)), Some(""));
    }
}
