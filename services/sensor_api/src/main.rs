//! sensor_api as its own process.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::telemetry::init();
    let settings = sensor_api::Settings::load()?;
    let handle = sensor_api::build(settings).await?;
    tracing::info!(port = handle.port, "sensor_api listening");
    handle.wait().await?;
    Ok(())
}
