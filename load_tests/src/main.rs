//! `loadgen`: N closed-loop clients send one request after another for a fixed
//! time; prints throughput, latency percentiles and status counts (text or JSON).
//! Closed-loop like pgbench, so the two are compared on equal terms.
//!
//! Also the machine's CPU per request: busy time of all cores over the measured
//! window (from `/proc/stat`) divided by the requests in it, so a route's cost
//! counts every process it wakes (services, Postgres, Redis, this client), and
//! the same figure split by process name (`/proc/<pid>/stat`), and the server's
//! share: the machine's less this generator's own CPU.

use std::collections::{BTreeMap, HashMap};
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

/// CPU time in clock ticks: the whole machine's, and per process name.
struct CpuSnapshot {
    busy: u64,
    total: u64,
    cpus: u64,
    by_name: HashMap<u32, (String, u64)>,
}

/// Reads `/proc`; `None` off Linux, where the CPU figures are left out.
fn cpu_snapshot() -> Option<CpuSnapshot> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let first = stat.lines().next()?;
    let ticks: Vec<u64> = first
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    let cpus = stat
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .count() as u64;
    let mut by_name = HashMap::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        // Threads are summed in the process's line; the name ends at the last ')'.
        let Ok(line) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (line.find('('), line.rfind(')')) else {
            continue;
        };
        let name = line[open + 1..close].to_string();
        let fields: Vec<&str> = line[close + 1..].split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        let used = fields.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
            + fields.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        by_name.insert(pid, (name, used));
    }
    Some(CpuSnapshot {
        busy: total - idle,
        total,
        cpus: cpus.max(1),
        by_name,
    })
}

/// Machine CPU microseconds per request over the window, in total and by process name
/// (processes alive at both ends; names merged, e.g. every `postgres` backend).
#[allow(clippy::cast_precision_loss)]
fn cpu_per_request(a: &CpuSnapshot, b: &CpuSnapshot, wall_secs: f64, requests: usize) -> serde_json::Value {
    let ticks = (b.total - a.total).max(1) as f64;
    // A tick's length follows from the window: total ticks = cores × seconds × HZ.
    let secs_per_tick = b.cpus as f64 * wall_secs / ticks;
    let per_req = |t: u64| t as f64 * secs_per_tick * 1e6 / requests.max(1) as f64;
    let mut names: BTreeMap<String, u64> = BTreeMap::new();
    for (pid, (name, used)) in &b.by_name {
        if let Some((_, before)) = a.by_name.get(pid) {
            *names.entry(name.clone()).or_default() += used.saturating_sub(*before);
        }
    }
    let mut named: Vec<(String, u64)> = names.into_iter().filter(|(_, t)| *t > 0).collect();
    named.sort_by_key(|n| std::cmp::Reverse(n.1));
    let by_process: serde_json::Map<String, serde_json::Value> = named
        .into_iter()
        .take(8)
        .map(|(n, t)| (n, ((per_req(t) * 10.0).round() / 10.0).into()))
        .collect();
    // This generator's own CPU (its rusage, from /proc/self), so that the server's
    // share does not depend on how heavy the load generator is.
    let me = std::process::id();
    let own = match (a.by_name.get(&me), b.by_name.get(&me)) {
        (Some((_, before)), Some((_, after))) => after.saturating_sub(*before),
        _ => 0,
    };
    let busy = b.busy - a.busy;
    serde_json::json!({
        "machine_busy_fraction": busy as f64 / ticks,
        "cpu_us_per_request": (per_req(busy) * 10.0).round() / 10.0,
        "server_cpu_us_per_request": (per_req(busy.saturating_sub(own)) * 10.0).round() / 10.0,
        "loadgen_cpu_us_per_request": (per_req(own) * 10.0).round() / 10.0,
        "cpu_us_per_request_by_process": by_process,
    })
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
// A binary may pick the process's TLS provider (the services' clients get theirs
// from common::tls); https targets then work too.
#[allow(clippy::disallowed_methods)]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
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
    // Snapshots at both ends of the measured window, off the runtime's threads.
    let cpu = tokio::spawn(async move {
        tokio::time::sleep_until(warm_until.into()).await;
        let a = tokio::task::spawn_blocking(cpu_snapshot).await.ok().flatten();
        let from = Instant::now();
        tokio::time::sleep_until(stop_at.into()).await;
        let b = tokio::task::spawn_blocking(cpu_snapshot).await.ok().flatten();
        a.zip(b).map(|(a, b)| (a, b, from.elapsed().as_secs_f64()))
    });
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
    let cpu = cpu
        .await?
        .map(|(a, b, wall)| cpu_per_request(&a, &b, wall, latencies.len()));
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
            "statuses": statuses, "errors": errors, "cpu": cpu,
        });
        println!("{out}");
    } else {
        let cpu_text = cpu
            .as_ref()
            .and_then(|c| c["cpu_us_per_request"].as_f64())
            .map_or(String::new(), |us| format!(", machine CPU {us:.0} µs/request"));
        println!(
            "{} {} c={} {}s: {} requests, {rps:.0} req/s, p50 {p50:.2} ms, p90 {p90:.2} ms, p99 {p99:.2} ms, max {max:.2} ms, statuses {statuses:?}, errors {errors}{cpu_text}",
            args.method,
            args.url,
            args.concurrency,
            args.duration,
            latencies.len()
        );
    }
    Ok(())
}
