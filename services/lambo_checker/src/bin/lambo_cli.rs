//! `lambo_cli BTC 500`: asks lambo_checker's gRPC server the question and prints
//! the answer (`--addr` for another server, `--json` for the raw message).

use clap::Parser;
use lambo_checker::grpc::{self, pb};

#[derive(Parser)]
#[command(
    name = "lambo_cli",
    about = "Could I buy a Lamborghini now? Asks lambo_checker over gRPC."
)]
struct Args {
    /// Coin symbol (BTC, eth, XBT, BTC-USD, ...).
    symbol: String,
    /// Whole USD invested at the start.
    investment: i32,
    /// gRPC server.
    #[arg(long, env = "LAMBO_GRPC_ADDR", default_value = "http://127.0.0.1:50051")]
    addr: String,
    /// Print the message JSON instead of a sentence.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(&args).await {
        Ok(text) => {
            println!("{text}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lambo_cli: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}

async fn run(args: &Args) -> anyhow::Result<String> {
    let mut client = grpc::client(&args.addr)?;
    let res = client
        .process_request(pb::ApiRequest {
            symbol: args.symbol.clone(),
            investment: args.investment,
        })
        .await
        .map_err(|s| anyhow::anyhow!("{}: {}", s.code(), s.message()))?
        .into_inner();
    if args.json {
        return Ok(res.message);
    }
    // The proto's message carries the original keys only; the REST answer has the rest.
    let m: lambo_checker::answer::Message = serde_json::from_str(&res.message)?;
    Ok(format!(
        "{} USD of {}: {} coins, profit {:.2} USD (growth factor {:.4}), {:.6} Lamborghinis from the profit",
        m.investment, m.symbol, m.number_coins, m.profit, m.growth_factor, m.lambos,
    ))
}
