//! `sensor_ingest FILE… [--device D] [--format F] [--strict]`: imports sensor
//! readings into the `sensors` database with a progress bar and a summary.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "sensor_ingest",
    about = "Import sensor readings (JSON, NDJSON, CSV) into sensor_api's database"
)]
struct Cli {
    #[command(flatten)]
    import: sensor_api::cli::ImportArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match sensor_api::cli::import(cli.import).await {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("sensor_ingest: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
