//! db_proxy as its own process.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::telemetry::init();
    let settings = db_proxy::Settings::load()?;
    let handle = db_proxy::build(settings).await?;
    tracing::info!(port = handle.port, "db_proxy listening");
    handle.wait().await?;
    Ok(())
}
