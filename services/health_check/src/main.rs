//! health_check as its own process.

use common::config::ServiceSettings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `--help` and `--version` answer and exit; any other argument is refused.
    let healthcheck = common::handle_args!();
    let settings = health_check::Settings::load()?;
    // `--healthcheck`: probe the running instance's /readyz and exit (container healthchecks).
    common::readiness_probe::exit_if_requested(healthcheck, &settings.http);
    common::telemetry::init();
    let handle = health_check::build(settings).await?;
    tracing::info!(port = handle.port, "health_check listening");
    handle.wait().await?;
    Ok(())
}
