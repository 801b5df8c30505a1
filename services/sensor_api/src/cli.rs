//! The command-line import, shared by the `sensor_ingest` binary and
//! `delos sensors import`: the same ingest as `POST /api/v1/readings`, straight
//! into the database, with a progress bar on stderr and a summary per file.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use common::config::ServiceSettings;

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
}

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
    for path in &args.files {
        let format = forced
            .or_else(|| Format::from_path(path))
            .ok_or_else(|| anyhow::anyhow!("{path}: cannot tell the format from the name; give --format"))?;
        let opts = IngestOptions {
            format,
            device: args.device.clone(),
            strict: args.strict,
            assume_offset,
        };
        let count = Arc::new(AtomicU64::new(0));
        let result = if path == "-" {
            let reader = Counting::new(std::io::stdin(), count.clone());
            run_with_progress(&pool, reader, opts, &count, None, path, args.quiet).await
        } else {
            let file = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
            let size = file.metadata().map(|m| m.len()).ok();
            let reader = Counting::new(file, count.clone());
            run_with_progress(&pool, reader, opts, &count, size, path, args.quiet).await
        };
        match result {
            Ok((summary, took)) => {
                print_summary(path, &summary, took);
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

async fn run_with_progress<R: std::io::Read + Send + 'static>(
    pool: &sqlx::PgPool,
    reader: R,
    opts: IngestOptions,
    count: &Arc<AtomicU64>,
    size: Option<u64>,
    path: &str,
    quiet: bool,
) -> Result<(Summary, Duration), ingest::IngestError> {
    let started = Instant::now();
    let show = !quiet && std::io::stderr().is_terminal();
    let bar = show.then(|| {
        let count = count.clone();
        let label = path.to_string();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                eprint!(
                    "\r{}",
                    progress_line(&label, count.load(Ordering::Relaxed), size, started)
                );
            }
        })
    });
    let result = ingest::run(pool, reader, opts).await;
    if let Some(bar) = bar {
        bar.abort();
        eprintln!(
            "\r{}",
            progress_line(path, count.load(Ordering::Relaxed), size, started)
        );
    }
    result.map(|s| (s, started.elapsed()))
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
