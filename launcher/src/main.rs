//! `delos`: run every Delos service in one process.

use clap::{Parser, Subcommand};
use delos::{Stack, StackOptions};

#[derive(Parser)]
#[command(name = "delos", about = "Run the Delos services in one process", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start every service on its usual port (Ctrl-C stops them).
    Up {
        /// Postgres server URL (default postgres://postgres@127.0.0.1:5432).
        #[arg(long, env = "DELOS__PG__URL")]
        pg_url: Option<String>,
        /// Redis URL (default redis://127.0.0.1:6379).
        #[arg(long, env = "DELOS__REDIS__URL")]
        redis_url: Option<String>,
        /// Use the simulated price provider (no internet needed; orders are marked simulated).
        #[arg(long)]
        offline: bool,
    },
    /// Sensor data (sensor_api's database).
    Sensors {
        #[command(subcommand)]
        command: SensorsCommand,
    },
    /// Check that Postgres and Redis can be reached, then exit.
    Check {
        #[arg(long, env = "DELOS__PG__URL")]
        pg_url: Option<String>,
        #[arg(long, env = "DELOS__REDIS__URL")]
        redis_url: Option<String>,
    },
}

#[derive(Subcommand)]
enum SensorsCommand {
    /// Import readings files (original JSON, NDJSON, CSV) with a progress bar and a summary.
    Import(sensor_api::cli::ImportArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::telemetry::init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up {
            pg_url,
            redis_url,
            offline,
        } => {
            let opts = StackOptions {
                pg_url,
                redis_url,
                offline,
                ..StackOptions::default()
            };
            run(opts).await
        }
        // Its own exit code: 1 when rows were rejected, 2 when a file stored nothing.
        Command::Sensors {
            command: SensorsCommand::Import(args),
        } => match sensor_api::cli::import(args).await {
            Ok(code) => return std::process::ExitCode::from(code),
            Err(e) => Err(e),
        },
        Command::Check { pg_url, redis_url } => {
            let opts = StackOptions {
                pg_url,
                redis_url,
                ..StackOptions::default()
            };
            delos::check_dependencies(&opts)
                .await
                .map(|()| println!("Postgres and Redis are reachable."))
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("delos: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run(opts: StackOptions) -> anyhow::Result<()> {
    let stack = Stack::start(&opts).await?;
    println!(
        "Delos is up{}:",
        if opts.offline {
            " (offline: simulated prices)"
        } else {
            ""
        }
    );
    for s in &stack.services {
        println!("  {:<18} http://127.0.0.1:{}  (docs: /docs/)", s.name, s.port);
    }
    println!("Status page: http://127.0.0.1:8050/   Ctrl-C stops everything.");
    stack.wait().await
}
