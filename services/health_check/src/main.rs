//! health_check as its own process.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::telemetry::init();
    let settings = health_check::Settings::load()?;
    let handle = health_check::build(settings).await?;
    tracing::info!(port = handle.port, "health_check listening");
    handle.wait().await?;
    Ok(())
}
