//! create_buy_order as its own process.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::telemetry::init();
    let settings = create_buy_order::Settings::load()?;
    settings.common.require_token()?;
    let handle = create_buy_order::build(settings).await?;
    tracing::info!(port = handle.port, "create_buy_order listening");
    handle.wait().await?;
    Ok(())
}
