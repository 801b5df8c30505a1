//! Clients behind the compose gateway or the Ingress: `X-Forwarded-For` names them,
//! but only from a trusted proxy.

use crate::helpers::spawn_app_with;

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let app = spawn_app_with(
        |_| {},
        |s| s.rate_limit.trusted_proxies = vec!["127.0.0.1".into()],
    )
    .await;
    common::testing::assert_forwarded_for_budgets(&format!("{}/capacity", app.address), true).await;
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = spawn_app_with(|_| {}, |s| s.rate_limit.trusted_proxies = Vec::new()).await;
    common::testing::assert_forwarded_for_budgets(&format!("{}/capacity", app.address), false).await;
}
