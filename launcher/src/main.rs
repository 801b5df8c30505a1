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
    /// Check that Postgres and Redis can be reached, then exit.
    Check {
        #[arg(long, env = "DELOS__PG__URL")]
        pg_url: Option<String>,
        #[arg(long, env = "DELOS__REDIS__URL")]
        redis_url: Option<String>,
    },
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
    // health_check's port may be configured elsewhere (DELOS_HEALTH_CHECK__HTTP__PORT).
    let status = stack
        .url("health_check")
        .unwrap_or_else(|| "http://127.0.0.1:8050".to_string());
    println!("Status page: {status}/   Ctrl-C stops everything.");
    stack.wait().await
}
