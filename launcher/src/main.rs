//! `delos`: run every Delos service in one process.

use clap::{Parser, Subcommand};
use common::config::ServiceSettings;
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
        /// MQTT broker of sensor_api's ingest (default mqtt://127.0.0.1:1883, or the shared
        /// DELOS__MQTT__BROKER_URL); empty: no MQTT ingest.
        #[arg(long, env = "DELOS_SENSOR_API__MQTT__BROKER_URL")]
        mqtt_url: Option<String>,
    },
    /// lambo_checker's price history.
    Lambo {
        #[command(subcommand)]
        command: LamboCommand,
    },
    /// Sensor data (sensor_api's database).
    Sensors {
        #[command(subcommand)]
        command: SensorsCommand,
    },
    /// Print what every service is, from its code: ports, routes, settings (key, default,
    /// variables, description) and what it calls. Starts nothing.
    Describe {
        /// One JSON document (the default).
        #[arg(long, conflicts_with = "markdown")]
        json: bool,
        /// The settings tables of docs/configuration.md.
        #[arg(long)]
        markdown: bool,
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
enum LamboCommand {
    /// Import monthly BTC/USD candles (`,Open,High,Low,Close,Volume`, month-end dates)
    /// into the `lambo` database; the bundled file when no --file is given. Idempotent.
    Import {
        /// A CSV of the bundled file's format.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
        #[arg(long, env = "DELOS__PG__URL")]
        pg_url: Option<String>,
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
            mqtt_url,
        } => {
            let opts = StackOptions {
                pg_url,
                redis_url,
                offline,
                // As the service's own settings would rank them: its variable, the shared
                // one, then the local broker `scripts/up` starts.
                mqtt_url: Some(
                    mqtt_url
                        .or_else(|| std::env::var("DELOS__MQTT__BROKER_URL").ok())
                        .unwrap_or_else(|| "mqtt://127.0.0.1:1883".to_string()),
                ),
                ..StackOptions::default()
            };
            run(opts).await
        }
        Command::Lambo {
            command: LamboCommand::Import { file, pg_url },
        } => lambo_import(file, pg_url).await,
        // Its own exit code: 1 when rows were rejected, 2 when a file stored nothing.
        Command::Sensors {
            command: SensorsCommand::Import(args),
        } => match sensor_api::cli::import(args).await {
            Ok(code) => return std::process::ExitCode::from(code),
            Err(e) => Err(e),
        },
        Command::Describe { json: _, markdown } => describe(markdown),
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
    if let Some(url) = opts.mqtt_url.as_deref().filter(|u| !u.is_empty())
        && let Err(e) = delos::check_mqtt(url).await
    {
        eprintln!("delos: warning: {e:#}");
    }
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
    match opts.mqtt_url.as_deref() {
        Some("") | None => println!("MQTT ingest: off"),
        Some(url) => println!(
            "MQTT ingest: sensor_api subscribes to {} and {} at {}",
            sensor_api::mqtt::READINGS_FILTER,
            sensor_api::mqtt::INGEST_TOPIC,
            sensor_api::mqtt::Broker::parse(url).map_or_else(|_| url.to_string(), |b| b.display())
        ),
    }
    // health_check's port may be configured elsewhere (DELOS_HEALTH_CHECK__HTTP__PORT).
    let status = stack
        .url("health_check")
        .unwrap_or_else(|| "http://127.0.0.1:8050".to_string());
    println!("Status page: {status}/   Ctrl-C stops everything.");
    stack.wait().await
}

/// `delos describe`: JSON (or the Markdown tables) on stdout.
fn describe(markdown: bool) -> anyhow::Result<()> {
    let d = delos::describe::describe()?;
    if markdown {
        print!("{}", d.to_markdown());
    } else {
        println!("{}", serde_json::to_string_pretty(&d.to_json())?);
    }
    Ok(())
}

/// `delos lambo import`: loads the file into `lambo` with a progress bar on stderr.
async fn lambo_import(file: Option<std::path::PathBuf>, pg_url: Option<String>) -> anyhow::Result<()> {
    let mut settings = lambo_checker::Settings::load()?;
    if let Some(url) = pg_url {
        settings.pg.url = url;
    }
    let (name, text) = match &file {
        Some(path) => (
            path.display().to_string(),
            std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?,
        ),
        None => (
            "btc_usd_monthly_2012_2024.csv (bundled)".to_string(),
            lambo_checker::bundled::BTC_MONTHLY_CSV.to_string(),
        ),
    };
    let pool = common::db::connect(&settings.pg, &lambo_checker::MIGRATOR).await?;
    let done = lambo_checker::bundled::import(&pool, &name, &text, |done, total| {
        let width = 40;
        let filled = (done * width).checked_div(total).unwrap_or(width).min(width);
        eprint!(
            "\r  [{}{}] {done}/{total} candles",
            "#".repeat(filled),
            "-".repeat(width - filled)
        );
    })
    .await?;
    eprintln!();
    if done.already {
        println!("{name}: already imported ({} candles); nothing added.", done.rows);
    } else {
        println!(
            "{name}: {} candles read, {} new, into database {}.",
            done.rows, done.new, settings.pg.database
        );
    }
    Ok(())
}
