//! `loadgen`: N closed-loop clients send one request after another for a fixed
//! time; prints throughput, latency percentiles and status counts (text or JSON).
//! Closed-loop like pgbench, so the two are compared on equal terms.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Parser, Debug, Clone)]
#[command(about = "Closed-loop HTTP load generator")]
struct Args {
    /// Target URL; `{n}` is replaced by a per-request counter.
    #[arg(long)]
    url: String,
    #[arg(long, default_value = "GET")]
    method: String,
    /// JSON body; `{n}` is replaced by a per-request counter.
    #[arg(long)]
    body: Option<String>,
    /// Extra header `Name: value` (repeatable).
    #[arg(long = "header")]
    headers: Vec<String>,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Unmeasured seconds first (connections, caches).
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

struct Sample {
    latencies: Vec<Duration>,
    statuses: BTreeMap<u16, u64>,
    errors: u64,
}

async fn worker(
    args: Arc<Args>,
    client: reqwest::Client,
    id: usize,
    warm_until: Instant,
    stop_at: Instant,
) -> Sample {
    let mut s = Sample {
        latencies: Vec::with_capacity(4096),
        statuses: BTreeMap::new(),
        errors: 0,
    };
    let method = reqwest::Method::from_bytes(args.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut n: u64 = 0;
    loop {
        let now = Instant::now();
        if now >= stop_at {
            return s;
        }
        n += 1;
        let tag = format!("{id}-{n}");
        let mut rb = client.request(method.clone(), args.url.replace("{n}", &tag));
        for h in &args.headers {
            if let Some((k, v)) = h.split_once(':') {
                rb = rb.header(k.trim(), v.trim());
            }
        }
        if let Some(body) = &args.body {
            rb = rb
                .header("content-type", "application/json")
                .body(body.replace("{n}", &tag));
        }
        let result = rb.send().await;
        let status = match result {
            Ok(res) => {
                let status = res.status().as_u16();
                let _ = res.bytes().await;
                Some(status)
            }
            Err(_) => None,
        };
        if now >= warm_until {
            s.latencies.push(now.elapsed());
            match status {
                Some(code) => *s.statuses.entry(code).or_default() += 1,
                None => s.errors += 1,
            }
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Arc::new(Args::parse());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        .build()?;
    let start = Instant::now();
    let warm_until = start + Duration::from_secs(args.warmup);
    let stop_at = warm_until + Duration::from_secs(args.duration);
    let tasks: Vec<_> = (0..args.concurrency)
        .map(|i| tokio::spawn(worker(args.clone(), client.clone(), i, warm_until, stop_at)))
        .collect();
    let mut latencies = Vec::new();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let mut errors = 0;
    for t in tasks {
        let s = t.await?;
        latencies.extend(s.latencies);
        for (k, v) in s.statuses {
            *statuses.entry(k).or_default() += v;
        }
        errors += s.errors;
    }
    latencies.sort_unstable();
    #[allow(clippy::cast_precision_loss)]
    let rps = latencies.len() as f64 / args.duration as f64;
    let (p50, p90, p99) = (
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.90),
        percentile(&latencies, 0.99),
    );
    let max = latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    if args.json {
        let statuses: serde_json::Map<String, serde_json::Value> = statuses
            .iter()
            .map(|(k, v)| (k.to_string(), (*v).into()))
            .collect();
        let out = serde_json::json!({
            "url": args.url, "concurrency": args.concurrency, "seconds": args.duration,
            "requests": latencies.len(), "rps": rps, "p50_ms": p50, "p90_ms": p90, "p99_ms": p99, "max_ms": max,
            "statuses": statuses, "errors": errors,
        });
        println!("{out}");
    } else {
        println!(
            "{} {} c={} {}s: {} requests, {rps:.0} req/s, p50 {p50:.2} ms, p90 {p90:.2} ms, p99 {p99:.2} ms, max {max:.2} ms, statuses {statuses:?}, errors {errors}",
            args.method,
            args.url,
            args.concurrency,
            args.duration,
            latencies.len()
        );
    }
    Ok(())
}
