//! `load`: the goose load test of Delos, then the invariant checks.
//!
//! Every goose option works as goose documents it (`--users`, `--hatch-rate`,
//! `--run-time`, `--report-file`, `--scenarios` …). On top:
//! - `--weight NAME=N` (repeatable): the weight of scenario `orders`, `paging`,
//!   `health`, `lambo`, `sensors` or `cap_edge` (0 leaves it out; `cap_edge` is 0
//!   unless set);
//! - `--cap-edge`: run only the `cap_edge` scenario (big orders beside normal ones and
//!   capacity reads) and check that the cap was reached: at least one order refused
//!   with 409 `btc_cap_exceeded`;
//! - `--cap-unreached`: check that no order was refused for the cap (a run whose
//!   201s are meant to measure placing orders, under a cap set above what it places);
//! - `--faults`: faults are being injected, so 503 (with `Retry-After`) is an expected
//!   answer and requests without an answer are allowed; 500 never is;
//! - `--summary FILE`: the figures and checks as JSON.
//!
//! Where the stack is comes from the environment (`scripts/load` sets it):
//! `LOAD_CREATE_URL`, `LOAD_FETCH_URL`, `LOAD_HEALTH_URL`, `LOAD_LAMBO_URL` and
//! `LOAD_SENSOR_URL` (unset: those scenarios are left out), `LOAD_API_KEY`,
//! `LOAD_SERVICE_TOKEN`, `LOAD_ORDERS_DB` (Postgres URL of db_proxy's database),
//! `LOAD_CAP_SATOSHIS` (db_proxy's `cap_satoshis`; default 100 BTC, as db_proxy's).
//!
//! After the load the checks read Postgres and page through the API: stored BTC ≤
//! the cap and equal to the state row and to the sum of the orders answered 201; every
//! 201 stored once; nothing stored that was answered with an error unless its
//! idempotent retry returns it; no idempotency key with two orders; no 5xx; pages
//! consistent; with `--cap-edge` or `--cap-unreached`, the cap reached or not. The
//! figures count 201s and 409s apart, per second, in total and per route. The exit
//! status is 1 when one broke.

mod checks;
mod record;
mod scenarios;

use std::collections::HashMap;
use std::process::ExitCode;

use checks::CapExpectation;
use goose::config::GooseConfiguration;
use goose::prelude::*;
use gumdrop::Options;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// Our flags out of the command line; the rest is goose's.
struct Flags {
    weights: HashMap<String, usize>,
    faults: bool,
    cap: CapExpectation,
    summary: Option<String>,
    goose: Vec<String>,
}

fn parse_flags(args: Vec<String>) -> anyhow::Result<Flags> {
    let mut f = Flags {
        weights: HashMap::new(),
        faults: false,
        cap: CapExpectation::Any,
        summary: None,
        goose: Vec::new(),
    };
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--weight" => {
                let v = it
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--weight needs NAME=N"))?;
                let (name, n) = v
                    .split_once('=')
                    .ok_or_else(|| anyhow::anyhow!("--weight {v}: expected NAME=N"))?;
                f.weights.insert(name.to_string(), n.parse()?);
            }
            "--faults" => f.faults = true,
            "--cap-edge" | "--cap-unreached" if f.cap != CapExpectation::Any => {
                anyhow::bail!("give one of --cap-edge and --cap-unreached, once")
            }
            "--cap-edge" => f.cap = CapExpectation::Reached,
            "--cap-unreached" => f.cap = CapExpectation::NotReached,
            "--summary" => f.summary = it.next(),
            _ => f.goose.push(a),
        }
    }
    Ok(f)
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("load: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> anyhow::Result<bool> {
    // The process's TLS provider for our reqwest clients (goose's own is on ring too).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let flags = parse_flags(std::env::args().skip(1).collect())?;
    let target = scenarios::Target {
        create_url: env("LOAD_CREATE_URL", "http://127.0.0.1:8001"),
        fetch_url: env("LOAD_FETCH_URL", "http://127.0.0.1:8020"),
        health_url: env("LOAD_HEALTH_URL", "http://127.0.0.1:8050"),
        lambo_url: env("LOAD_LAMBO_URL", ""),
        sensor_url: env("LOAD_SENSOR_URL", ""),
        api_key: env("LOAD_API_KEY", "load"),
        service_token: env("LOAD_SERVICE_TOKEN", ""),
        faults: flags.faults,
        run_id: format!(
            "{:x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_millis()
        ),
    };
    scenarios::set_target(target.clone());
    let config = GooseConfiguration::parse_args_default(&flags.goose)
        .map_err(|e| anyhow::anyhow!("goose options: {e}"))?;
    let edge_only = flags.cap == CapExpectation::Reached;
    let weights = |name: &str, default: usize| match (edge_only, name) {
        (true, "cap_edge") => flags.weights.get(name).copied().unwrap_or(1).max(1),
        (true, _) => 0,
        (false, _) => flags.weights.get(name).copied().unwrap_or(default),
    };
    let mut attack = GooseAttack::initialize_with_config(config)?;
    for s in scenarios::scenarios(&weights)? {
        attack = attack.register_scenario(s);
    }
    // Every request names its own host; goose still wants a default one.
    let metrics = attack
        .set_default(GooseDefault::Host, target.create_url.as_str())?
        .execute()
        .await?;
    let db = env("LOAD_ORDERS_DB", "postgres://postgres@127.0.0.1:5432/orders");
    let cap: i64 = env("LOAD_CAP_SATOSHIS", "10000000000").parse()?;
    let outcome = checks::run(&target, &db, cap, flags.cap, &metrics).await?;
    println!("{}", outcome.text());
    if let Some(path) = flags.summary {
        std::fs::write(&path, serde_json::to_string_pretty(&outcome.json())?)?;
    }
    Ok(outcome.passed())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn cap_flags_set_what_the_checks_expect_and_exclude_each_other() {
        let f = parse_flags(args(&["--cap-edge", "--users", "4"])).unwrap();
        assert_eq!(f.cap, CapExpectation::Reached);
        assert_eq!(f.goose, args(&["--users", "4"]));
        let f = parse_flags(args(&["--cap-unreached"])).unwrap();
        assert_eq!(f.cap, CapExpectation::NotReached);
        assert_eq!(parse_flags(Vec::new()).unwrap().cap, CapExpectation::Any);
        assert!(parse_flags(args(&["--cap-edge", "--cap-unreached"])).is_err());
    }
}
