//! sensor_api as its own process.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = sensor_api::Settings::load()?;
    // `--healthcheck`: probe the running instance's /readyz and exit (container healthchecks).
    common::healthcheck::exit_if_requested(&settings.http);
    common::telemetry::init();
    let handle = sensor_api::build(settings).await?;
    tracing::info!(port = handle.port, "sensor_api listening");
    handle.wait().await?;
    Ok(())
}
