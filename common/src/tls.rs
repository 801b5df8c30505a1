//! TLS for outgoing HTTP: rustls on ring (AWS-LC, rustls's default, is a C build
//! of over a minute), with the platform's roots.

use std::sync::{Arc, OnceLock};

use rustls_platform_verifier::BuilderVerifierExt;

/// TLS for every client: rustls on ring, with the platform's roots. Built once and
/// handed to each client, so no process-wide provider is installed.
fn tls() -> rustls::ClientConfig {
    static TLS: OnceLock<rustls::ClientConfig> = OnceLock::new();
    TLS.get_or_init(|| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap_or_else(|e| broken("ring's TLS versions", &e));
        match builder.clone().with_platform_verifier() {
            Ok(b) => b.with_no_client_auth(),
            Err(e) => {
                // Without roots every https call fails its certificate check, visibly.
                tracing::error!(error = %e, "no TLS roots: https calls will fail");
                builder
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            }
        }
    })
    .clone()
}

/// For what cannot fail with these fixed settings (ring has every default TLS
/// version; a client with preconfigured TLS always builds).
#[allow(clippy::panic)]
pub(crate) fn broken(what: &str, e: &dyn std::fmt::Display) -> ! {
    panic!("{what}: {e}")
}

/// The start of every `reqwest::Client` in Delos, tests included: reqwest's own
/// constructors would look for a process-wide TLS provider, which is never installed.
#[allow(clippy::disallowed_methods)]
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().use_preconfigured_tls(tls())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn clients_build_and_https_fails_cleanly_without_a_server() {
        // The point: no panic about a missing process-wide provider, and a
        // connection error rather than a TLS setup error.
        let client = client_builder().build().unwrap();
        let err = client.get("https://127.0.0.1:9/").send().await.unwrap_err();
        assert!(err.is_connect(), "{err:?}");
        let config = tls();
        assert!(!config.crypto_provider().cipher_suites.is_empty());
    }
}
