//! lambo_checker as its own process.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::telemetry::init();
    let settings = lambo_checker::Settings::load()?;
    let handle = lambo_checker::build(settings).await?;
    tracing::info!(port = handle.port, "lambo_checker listening");
    handle.wait().await?;
    Ok(())
}
