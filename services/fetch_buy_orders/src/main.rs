//! fetch_buy_orders as its own process.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::telemetry::init();
    let settings = fetch_buy_orders::Settings::load()?;
    settings.common.require_token()?;
    let handle = fetch_buy_orders::build(settings).await?;
    tracing::info!(port = handle.port, "fetch_buy_orders listening");
    handle.wait().await?;
    Ok(())
}
