//! api_updater as its own process.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::telemetry::init();
    let settings = api_updater::Settings::load()?;
    let handle = api_updater::build(settings).await?;
    tracing::info!(port = handle.port, "api_updater listening");
    handle.wait().await?;
    Ok(())
}
