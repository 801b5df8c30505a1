//! api_cache_proxy as its own process.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = api_cache_proxy::Settings::load()?;
    // `--healthcheck`: probe the running instance's /readyz and exit (container healthchecks).
    common::healthcheck::exit_if_requested(&settings.http);
    common::telemetry::init();
    let handle = api_cache_proxy::build(settings).await?;
    tracing::info!(port = handle.port, "api_cache_proxy listening");
    handle.wait().await?;
    Ok(())
}
