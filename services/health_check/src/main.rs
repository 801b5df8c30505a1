//! health_check as its own process.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = health_check::Settings::load()?;
    // `--healthcheck`: probe the running instance's /readyz and exit (container healthchecks).
    common::healthcheck::exit_if_requested(&settings.http);
    common::telemetry::init();
    let handle = health_check::build(settings).await?;
    tracing::info!(port = handle.port, "health_check listening");
    handle.wait().await?;
    Ok(())
}
