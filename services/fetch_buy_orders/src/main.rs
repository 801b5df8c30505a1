//! fetch_buy_orders as its own process.

use common::config::ServiceSettings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `--help` and `--version` answer and exit; any other argument is refused.
    let healthcheck = common::handle_args!();
    let settings = fetch_buy_orders::Settings::load()?;
    // `--healthcheck`: probe the running instance's /readyz and exit (container healthchecks).
    common::readiness_probe::exit_if_requested(healthcheck, &settings.http);
    common::telemetry::init();
    settings.common.require_token()?;
    let handle = fetch_buy_orders::build(settings).await?;
    tracing::info!(port = handle.port, "fetch_buy_orders listening");
    handle.wait().await?;
    Ok(())
}
