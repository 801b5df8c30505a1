//! The command-line import, shared by the `sensor_ingest` binary and
//! `delos sensors import`: the same ingest as `POST /api/v1/readings`, straight
//! into the database, with a progress bar on stderr and a summary per file.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use common::config::ServiceSettings;
use futures_util::StreamExt;

use crate::Settings;
use crate::ingest::{self, Counting, Format, IngestOptions, Summary};

/// Arguments of an import.
#[derive(clap::Args, Debug, Clone)]
pub struct ImportArgs {
    /// Files to import (`-` reads standard input).
    #[arg(required = true)]
    pub files: Vec<String>,
    /// Device of wide CSV files, and of NDJSON/CSV rows that name none.
    #[arg(long)]
    pub device: Option<String>,
    /// json (the original shape), ndjson, csv, csv-long or csv-wide; default from the extension.
    #[arg(long)]
    pub format: Option<String>,
    /// Store nothing from a file with any bad row.
    #[arg(long)]
    pub strict: bool,
    /// Offset to read timestamps written without one in (`+02:00`, `-09:30`, `Z`);
    /// without it such rows are refused, except in wide CSV (read as UTC).
    #[arg(long, allow_hyphen_values = true, value_name = "OFFSET")]
    pub assume_offset: Option<String>,
    /// Postgres server URL (default: the sensor_api settings, postgres://postgres@127.0.0.1:5432).
    #[arg(long, env = "DELOS__PG__URL")]
    pub pg_url: Option<String>,
    /// Database name (default `sensors`).
    #[arg(long)]
    pub database: Option<String>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Files imported at once, each in its own transaction (default: the number of
    /// cores). Summaries are printed in the order the files were given.
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
}

/// Attempts per file when Postgres ends its transaction as a deadlock victim
/// (two files locking the same series in different orders).
const ATTEMPTS: u32 = 5;

/// Errors printed per file; the rest are counted.
const PRINTED_ERRORS: usize = 20;

/// Runs the import; the exit code is 0 when every row was good, 1 when some
/// rows were rejected (the good ones stored), 2 when a file stored nothing
/// because of an error or strict mode.
pub async fn import(args: ImportArgs) -> anyhow::Result<u8> {
    let mut settings = Settings::load()?;
    if let Some(url) = &args.pg_url {
        settings.pg.url.clone_from(url);
    }
    if let Some(db) = &args.database {
        settings.pg.database.clone_from(db);
    }
    let pool = common::db::connect(&settings.pg, &crate::MIGRATOR)
        .await
        .with_context(|| {
            format!(
                "connecting to {} (database {})",
                settings.pg.url, settings.pg.database
            )
        })?;
    crate::storage::upgrade(&pool).await?;
    let forced =
        match &args.format {
            Some(f) => Some(Format::parse(f).ok_or_else(|| {
                anyhow::anyhow!("--format {f:?}: use json, ndjson, csv, csv-long or csv-wide")
            })?),
            None => None,
        };
    let assume_offset = args
        .assume_offset
        .as_deref()
        .map(crate::domain::parse_offset)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--assume-offset {e}"))?;
    let mut code = 0u8;
    let mut total = Summary::default();
    let started = Instant::now();
    let mut files = Vec::with_capacity(args.files.len());
    for path in &args.files {
        let format = forced
            .or_else(|| Format::from_path(path))
            .ok_or_else(|| anyhow::anyhow!("{path}: cannot tell the format from the name; give --format"))?;
        let size = if path == "-" {
            None
        } else {
            Some(
                std::fs::metadata(path)
                    .with_context(|| format!("opening {path}"))?
                    .len(),
            )
        };
        let opts = IngestOptions {
            format,
            device: args.device.clone(),
            strict: args.strict,
            assume_offset,
        };
        files.push((path.clone(), opts, size, Arc::new(AtomicU64::new(0))));
    }
    let label = match files.as_slice() {
        [(path, ..)] => path.clone(),
        many => format!("{} files", many.len()),
    };
    let size = files.iter().map(|f| f.2).sum::<Option<u64>>();
    let counts: Vec<_> = files.iter().map(|f| f.3.clone()).collect();
    let bar = (!args.quiet && std::io::stderr().is_terminal()).then(|| {
        let counts = counts.clone();
        let label = label.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                let done = counts.iter().map(|c| c.load(Ordering::Relaxed)).sum();
                eprint!("\r{}", progress_line(&label, done, size, started));
            }
        })
    });
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    let pool = &pool;
    let mut results = futures_util::stream::iter(files)
        .map(|(path, opts, _, count)| async move {
            let result = import_file(pool, &path, opts, &count).await;
            (path, result)
        })
        .buffered(jobs);
    while let Some((path, result)) = results.next().await {
        if bar.is_some() {
            // Clears the progress line for the summary.
            eprint!("\r{:width$}\r", "", width = label.len() + 60);
        }
        match result {
            Ok((summary, took)) => {
                print_summary(&path, &summary, took);
                if !summary.committed {
                    code = 2;
                } else if summary.rejected > 0 {
                    code = code.max(1);
                }
                total.read += summary.read;
                total.stored += summary.stored;
                total.duplicates += summary.duplicates;
                total.rejected += summary.rejected;
            }
            Err(e) => {
                eprintln!("{path}: nothing stored: {e}");
                code = 2;
            }
        }
    }
    drop(results);
    if let Some(bar) = bar {
        bar.abort();
        let done = counts.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        eprintln!("\r{}", progress_line(&label, done, size, started));
    }
    if args.files.len() > 1 {
        println!(
            "total: read {}, stored {}, duplicates skipped {}, rejected {} in {:.1} s",
            total.read,
            total.stored,
            total.duplicates,
            total.rejected,
            started.elapsed().as_secs_f64()
        );
    }
    pool.close().await;
    Ok(code)
}

/// Imports one file (or standard input), again from its start when Postgres
/// picked its transaction as a deadlock victim (nothing of it was stored).
async fn import_file(
    pool: &sqlx::PgPool,
    path: &str,
    opts: IngestOptions,
    count: &Arc<AtomicU64>,
) -> anyhow::Result<(Summary, Duration)> {
    let started = Instant::now();
    let mut attempt = 1;
    loop {
        count.store(0, Ordering::Relaxed);
        let result = if path == "-" {
            ingest::run(pool, Counting::new(std::io::stdin(), count.clone()), opts.clone()).await
        } else {
            let file = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
            ingest::run(pool, Counting::new(file, count.clone()), opts.clone()).await
        };
        match result {
            Ok(summary) => return Ok((summary, started.elapsed())),
            Err(ingest::IngestError::Db(e)) if path != "-" && attempt < ATTEMPTS && is_deadlock(&e) => {
                attempt += 1;
                tracing::info!(
                    path,
                    attempt,
                    "deadlock with another file's import; importing again"
                );
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn is_deadlock(e: &sqlx::Error) -> bool {
    e.as_database_error().and_then(|d| d.code()).as_deref() == Some("40P01")
}

// Display arithmetic only: a rounded float is what a progress bar shows.
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
/// `data.json [#########.........]  52%  2.1/4.0 MB  3.2 MB/s`
fn progress_line(label: &str, done: u64, size: Option<u64>, started: Instant) -> String {
    let mb = |b: u64| b as f64 / 1e6;
    let rate = mb(done) / started.elapsed().as_secs_f64().max(0.001);
    match size.filter(|s| *s > 0) {
        Some(size) => {
            let frac = (done as f64 / size as f64).min(1.0);
            let filled = (frac * 30.0).round() as usize;
            format!(
                "{label} [{}{}] {:>3.0}%  {:.1}/{:.1} MB  {rate:.1} MB/s ",
                "#".repeat(filled),
                ".".repeat(30usize.saturating_sub(filled)),
                frac * 100.0,
                mb(done),
                mb(size)
            )
        }
        None => format!("{label} {:.1} MB  {rate:.1} MB/s ", mb(done)),
    }
}

#[allow(clippy::cast_precision_loss)] // a rate for people to read
fn print_summary(path: &str, s: &Summary, took: Duration) {
    let secs = took.as_secs_f64().max(0.001);
    println!(
        "{path}: read {}, stored {}, duplicates skipped {}, rejected {}{}{}{} in {secs:.1} s ({:.0} readings/s)",
        s.read,
        s.stored,
        s.duplicates,
        s.rejected,
        if s.empty_cells > 0 {
            format!(", empty cells {}", s.empty_cells)
        } else {
            String::new()
        },
        match &s.assumed_offset {
            Some(o) => format!(", {} read with the assumed offset {o}", s.offset_assumed),
            None => String::new(),
        },
        if s.committed {
            ""
        } else {
            " — strict mode: nothing stored"
        },
        s.read as f64 / secs
    );
    for e in s.errors.iter().take(PRINTED_ERRORS) {
        println!("  {}: {}", e.position, e.reason);
    }
    let more = s.rejected.saturating_sub(PRINTED_ERRORS as u64);
    if more > 0 {
        println!("  … and {more} more");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        import: super::ImportArgs,
    }

    #[test]
    fn a_negative_offset_to_assume_is_a_value_not_a_flag() {
        let cli = Cli::try_parse_from(["x", "--assume-offset", "-09:30", "f.ndjson"]).unwrap();
        assert_eq!(cli.import.assume_offset.as_deref(), Some("-09:30"));
        assert_eq!(cli.import.files, ["f.ndjson"]);
    }
}
