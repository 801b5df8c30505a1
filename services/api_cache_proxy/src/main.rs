//! api_cache_proxy as its own process.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::telemetry::init();
    let settings = api_cache_proxy::Settings::load()?;
    let handle = api_cache_proxy::build(settings).await?;
    tracing::info!(port = handle.port, "api_cache_proxy listening");
    handle.wait().await?;
    Ok(())
}
