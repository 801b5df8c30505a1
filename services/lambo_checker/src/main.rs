//! lambo_checker as its own process.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = lambo_checker::Settings::load()?;
    // `--healthcheck`: probe the running instance's /readyz and exit (container healthchecks).
    common::healthcheck::exit_if_requested(&settings.http);
    common::telemetry::init();
    let handle = lambo_checker::build(settings).await?;
    tracing::info!(port = handle.port, "lambo_checker listening");
    handle.wait().await?;
    Ok(())
}
