//! Bearer-token (JWT) verification, for [`super::Authenticator`].
//!
//! Accepted: RS256 and ES256 signed by a key of a configured JWKS (a file, or a URL
//! fetched, cached and refreshed, e.g. Firebase's public keys), and HS256 with a
//! configured secret. Each algorithm is checked only against its own kind of key, so
//! an HS256 token "signed" with a public RSA key is refused (alg confusion), and
//! `alg: none` never parses. `exp` is required and checked with `nbf` with a small
//! leeway; `iss` and `aud` when configured (and `aud` must be configured with a JWKS:
//! Firebase's key set is shared by every Firebase project). With nothing configured
//! every token is refused: the route fails closed.
//!
//! Failures are 401 problem documents with an RFC 6750 `WWW-Authenticate` challenge.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use super::{AuthProblem, Caller, Method};
use crate::config::Secret;

/// JWT settings (`…__JWT__…`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct JwtSettings {
    /// HS256 shared secret; empty turns HS256 off.
    pub hs256_secret: Secret,
    /// Path of a JWKS file (RS256/ES256 public keys); empty for none.
    pub jwks_file: String,
    /// URL of a JWKS (e.g. Firebase's
    /// `https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com`); empty for none.
    pub jwks_url: String,
    /// How long a fetched JWKS is used before it is fetched again.
    pub jwks_refresh_secs: u64,
    /// Required `iss` (Firebase: `https://securetoken.google.com/<project>`); empty: not checked.
    pub issuer: String,
    /// Required `aud` (Firebase: the project id); mandatory with a JWKS.
    pub audience: String,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
}

impl Default for JwtSettings {
    fn default() -> Self {
        Self {
            hs256_secret: Secret::default(),
            jwks_file: String::new(),
            jwks_url: String::new(),
            jwks_refresh_secs: 3600,
            issuer: String::new(),
            audience: String::new(),
            leeway_secs: 30,
        }
    }
}

/// One verification key from a JWKS.
struct JwksKey {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

struct Fetched {
    keys: Vec<JwksKey>,
    at: Instant,
}

/// Verifies bearer tokens. Cheap to clone.
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    hs256: Option<DecodingKey>,
    file_keys: Vec<JwksKey>,
    url: Option<String>,
    fetched: RwLock<Option<Fetched>>,
    refresh: Duration,
    http: reqwest::Client,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: u64,
}

/// The claims read from a verified token.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: Option<String>,
    iss: Option<String>,
    exp: Option<i64>,
}

/// Parses a JWKS document into keys usable for RS256 or ES256 (others are skipped).
fn parse_jwks(text: &str) -> anyhow::Result<Vec<JwksKey>> {
    let set: JwkSet = serde_json::from_str(text)?;
    let mut out = Vec::new();
    for jwk in &set.keys {
        let alg = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
            _ => continue,
        };
        match DecodingKey::from_jwk(jwk) {
            Ok(key) => out.push(JwksKey {
                kid: jwk.common.key_id.clone(),
                alg,
                key,
            }),
            Err(e) => tracing::warn!(error = %e, "a JWKS key is unusable and skipped"),
        }
    }
    Ok(out)
}

impl JwtVerifier {
    /// Builds the verifier; reads `jwks_file` now (an unreadable file fails the start).
    pub fn new(settings: &JwtSettings, http: reqwest::Client) -> anyhow::Result<Self> {
        let has_jwks = !settings.jwks_file.trim().is_empty() || !settings.jwks_url.trim().is_empty();
        anyhow::ensure!(
            !has_jwks || !settings.audience.trim().is_empty(),
            "jwt.audience must be set with jwt.jwks_file or jwt.jwks_url (a public key set such as \
             Firebase's signs tokens for every project)"
        );
        let hs256 = if settings.hs256_secret.is_empty() {
            None
        } else {
            anyhow::ensure!(
                settings.hs256_secret.expose().len() >= 32,
                "jwt.hs256_secret must be at least 32 bytes"
            );
            Some(DecodingKey::from_secret(
                settings.hs256_secret.expose().as_bytes(),
            ))
        };
        let file_keys = match settings.jwks_file.trim() {
            "" => Vec::new(),
            path => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("cannot read jwt.jwks_file {path}: {e}"))?;
                parse_jwks(&text).map_err(|e| anyhow::anyhow!("jwt.jwks_file {path} is not a JWKS: {e}"))?
            }
        };
        let opt = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        Ok(Self {
            inner: Arc::new(Inner {
                hs256,
                file_keys,
                url: opt(&settings.jwks_url),
                fetched: RwLock::new(None),
                refresh: Duration::from_secs(settings.jwks_refresh_secs.max(1)),
                http,
                issuer: opt(&settings.issuer),
                audience: opt(&settings.audience),
                leeway: settings.leeway_secs,
            }),
        })
    }

    /// True when any key is configured (else every token is refused).
    pub fn is_configured(&self) -> bool {
        self.inner.hs256.is_some() || !self.inner.file_keys.is_empty() || self.inner.url.is_some()
    }

    async fn fetch(&self, url: &str) -> anyhow::Result<Vec<JwksKey>> {
        let text = self
            .inner
            .http
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        parse_jwks(&text)
    }

    /// Refetches the URL's key set when it is older than the refresh period, or
    /// (`force`, for an unknown `kid`) older than 30 s: keys rotate, but a flood of
    /// tokens with made-up kids must not turn into a flood of fetches.
    async fn refresh_if_due(&self, force: bool) {
        let Some(url) = self.inner.url.as_deref() else {
            return;
        };
        let due = |f: &Option<Fetched>| match f {
            None => true,
            Some(f) => {
                let age = f.at.elapsed();
                age >= self.inner.refresh || (force && age >= Duration::from_secs(30))
            }
        };
        if !due(&*self.inner.fetched.read().await) {
            return;
        }
        let mut slot = self.inner.fetched.write().await;
        if !due(&slot) {
            return;
        }
        match self.fetch(url).await {
            Ok(keys) => {
                *slot = Some(Fetched {
                    keys,
                    at: Instant::now(),
                })
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot fetch the JWKS; keeping the keys fetched before");
                if let Some(f) = slot.as_mut() {
                    // Try again after 30 s, not on every token.
                    f.at = Instant::now()
                        .checked_sub(self.inner.refresh.saturating_sub(Duration::from_secs(30)))
                        .unwrap_or_else(Instant::now);
                }
            }
        }
    }

    /// Verifies `token`; the caller it names, or why it was refused.
    pub async fn verify(&self, token: &str) -> Result<Caller, AuthProblem> {
        if !self.is_configured() {
            return Err(AuthProblem::invalid_token(
                "bearer tokens are not accepted here: no signing key is configured",
            ));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthProblem::invalid_token("the token is not a well-formed JWT"))?;
        let alg = header.alg;
        let claims = match alg {
            Algorithm::HS256 => {
                let key = self
                    .inner
                    .hs256
                    .as_ref()
                    .ok_or_else(|| AuthProblem::invalid_token("HS256 tokens are not accepted here"))?;
                self.decode(token, alg, key)?
            }
            Algorithm::RS256 | Algorithm::ES256 => {
                self.decode_jwks(token, alg, header.kid.as_deref()).await?
            }
            _ => {
                return Err(AuthProblem::invalid_token(
                    "the token's algorithm is not accepted",
                ));
            }
        };
        let subject = claims
            .sub
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AuthProblem::invalid_token("the token names no subject (sub)"))?;
        Ok(Caller {
            subject,
            method: Method::BearerJwt,
            algorithm: Some(format!("{alg:?}")),
            issuer: claims.iss,
            key_id: header.kid,
            expires_at: claims.exp,
        })
    }

    async fn decode_jwks(
        &self,
        token: &str,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<Claims, AuthProblem> {
        let matching = |keys: &[JwksKey]| -> Vec<usize> {
            keys.iter()
                .enumerate()
                .filter(|(_, k)| k.alg == alg && (kid.is_none() || k.kid.as_deref() == kid))
                .map(|(i, _)| i)
                .collect()
        };
        // The file's keys first, then the URL's (refreshed if due, or forced for an unknown kid).
        let mut last = AuthProblem::invalid_token("no configured key matches the token's kid and alg");
        for i in matching(&self.inner.file_keys) {
            match self.decode(token, alg, &self.inner.file_keys[i].key) {
                Ok(c) => return Ok(c),
                Err(e) => last = e,
            }
        }
        if self.inner.url.is_some() {
            self.refresh_if_due(false).await;
            let known = {
                let f = self.inner.fetched.read().await;
                f.as_ref().is_some_and(|f| !matching(&f.keys).is_empty())
            };
            if !known {
                self.refresh_if_due(true).await;
            }
            let f = self.inner.fetched.read().await;
            if let Some(f) = f.as_ref() {
                for i in matching(&f.keys) {
                    match self.decode(token, alg, &f.keys[i].key) {
                        Ok(c) => return Ok(c),
                        Err(e) => last = e,
                    }
                }
            }
        }
        Err(last)
    }

    fn decode(&self, token: &str, alg: Algorithm, key: &DecodingKey) -> Result<Claims, AuthProblem> {
        use jsonwebtoken::errors::ErrorKind;
        let mut v = Validation::new(alg);
        v.leeway = self.inner.leeway;
        v.validate_nbf = true;
        v.set_required_spec_claims(&["exp"]);
        match &self.inner.issuer {
            Some(iss) => v.set_issuer(&[iss]),
            None => v.iss = None,
        }
        match &self.inner.audience {
            Some(aud) => v.set_audience(&[aud]),
            None => v.validate_aud = false,
        }
        jsonwebtoken::decode::<Claims>(token, key, &v)
            .map(|d| d.claims)
            .map_err(|e| {
                AuthProblem::invalid_token(match e.kind() {
                    ErrorKind::ExpiredSignature => "the token has expired",
                    ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)",
                    ErrorKind::InvalidIssuer => "the token's issuer is not accepted",
                    ErrorKind::InvalidAudience => "the token's audience is not accepted",
                    ErrorKind::InvalidSignature => "the signature does not verify",
                    ErrorKind::MissingRequiredClaim(_) => {
                        "the token lacks a required claim (exp, iss or aud)"
                    }
                    ErrorKind::InvalidAlgorithm => "the token's algorithm does not match the key",
                    _ => "the token could not be verified",
                })
            })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_jwks_without_an_audience_is_refused_at_start() {
        let s = JwtSettings {
            jwks_url: "http://127.0.0.1:9/jwks".into(),
            ..JwtSettings::default()
        };
        let err = JwtVerifier::new(&s, crate::tls::client_builder().build().unwrap())
            .err()
            .unwrap();
        assert!(err.to_string().contains("audience"), "{err}");
    }

    #[tokio::test]
    async fn with_nothing_configured_every_token_is_refused() {
        let v = JwtVerifier::new(
            &JwtSettings::default(),
            crate::tls::client_builder().build().unwrap(),
        )
        .unwrap();
        assert!(!v.is_configured());
        let e = v.verify("a.b.c").await.unwrap_err();
        assert_eq!(e.problem.status, 401);
        assert!(e.challenge.contains("invalid_token"));
    }
}
