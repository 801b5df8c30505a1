//! Streaming ingest of readings in four formats, shared by `POST /api/v1/readings`
//! and the CLI.
//!
//! A parser runs on a blocking thread over any `Read`, validates each reading and
//! hands batches over a bounded channel to the loader, which resolves series (and
//! their learned type), rejects type conflicts and bulk-loads the rest with `COPY`
//! (see [`crate::storage::Loader`]). Memory is bounded by two batches, whatever the
//! size of the input. One import is one transaction: it either ends with a
//! summary (good rows stored, bad rows listed with their position) or stores
//! nothing; in strict mode any bad row makes it store nothing.

mod parse;

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::domain::Kind;
pub use crate::domain::{Pos, Rejection, Row};
use crate::storage::Loader;

/// Readings per batch handed from the parser to the loader (one `COPY` each).
pub const BATCH_ROWS: usize = 20_000;

/// Rejections listed in a summary; more are counted but not listed.
pub const MAX_LISTED_ERRORS: usize = 1000;

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// The original file: `{"<device>": [{"parameter","timestamp","value","type"}]}`.
    Json,
    /// One JSON reading per line, each with a `device` (or the default device).
    Ndjson,
    /// CSV, long or wide, told apart by its header.
    Csv,
    /// CSV `device,parameter,timestamp,value[,type]`.
    CsvLong,
    /// CSV `time,<param>,<param>,…` of one device (named by the caller).
    CsvWide,
}

impl Format {
    /// Parses a format name (`json`, `ndjson`, `csv`, `csv-long`, `csv-wide`).
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s.to_ascii_lowercase().as_str() {
            "json" => Format::Json,
            "ndjson" | "jsonl" => Format::Ndjson,
            "csv" => Format::Csv,
            "csv-long" | "long" => Format::CsvLong,
            "csv-wide" | "wide" => Format::CsvWide,
            _ => return None,
        })
    }

    /// The format a file name suggests.
    pub fn from_path(path: &str) -> Option<Format> {
        let lower = path.to_ascii_lowercase();
        let ext = lower.rsplit('.').next()?;
        Some(match ext {
            "json" => Format::Json,
            "ndjson" | "jsonl" => Format::Ndjson,
            "csv" => Format::Csv,
            _ => return None,
        })
    }

    /// The format a `Content-Type` suggests.
    pub fn from_content_type(ct: &str) -> Option<Format> {
        let essence = ct.split(';').next()?.trim().to_ascii_lowercase();
        Some(match essence.as_str() {
            "application/json" => Format::Json,
            "application/x-ndjson" | "application/ndjson" | "application/jsonl" | "application/x-jsonl" => {
                Format::Ndjson
            }
            "text/csv" | "application/csv" => Format::Csv,
            _ => return None,
        })
    }
}

/// How to read one input.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub format: Format,
    /// Device of wide CSV rows, and of NDJSON/CSV rows that name none.
    pub device: Option<String>,
    /// Store nothing when any row is bad.
    pub strict: bool,
    /// Offset (seconds east) to read timestamps written without one in. `None`
    /// refuses them (a row error), except in wide CSV, whose times carry no
    /// offset and are read as UTC.
    pub assume_offset: Option<i32>,
}

/// What the parser sends: rows, rejections, and the series first seen in it.
#[derive(Debug, Default)]
pub struct Batch {
    /// `(device, parameter, kind of the first reading)` for series indexes
    /// `first_new_series..`.
    pub new_series: Vec<(String, String, Kind)>,
    pub rows: Vec<Row>,
    pub rejected: Vec<Rejection>,
    /// Rejections beyond the listed ones.
    pub rejected_unlisted: u64,
    /// Wide-CSV cells left empty (no reading, nothing lost).
    pub empty_cells: u64,
    /// Readings whose timestamp had no offset and were read in the assumed one.
    pub offset_assumed: u64,
    /// The input stopped being readable as its format here; the rest is unread.
    pub stopped: Option<Rejection>,
}

/// The outcome of one import.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Summary {
    /// Readings read (stored + duplicates + rejected).
    pub read: u64,
    /// New readings stored.
    pub stored: u64,
    /// Readings already stored (same device, parameter and timestamp).
    pub duplicates: u64,
    /// Bad readings (listed in `errors`, up to 1000).
    pub rejected: u64,
    /// Empty wide-CSV cells (no reading).
    pub empty_cells: u64,
    /// Readings whose timestamp carried no offset and were read in
    /// `assumed_offset` (the caller's `assume_offset`, or UTC for wide CSV).
    #[serde(default)]
    pub offset_assumed: u64,
    /// The offset those readings were read in (`+02:00`); absent when none was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assumed_offset: Option<String>,
    /// False when the input broke off (malformed document); `errors` says where.
    pub complete: bool,
    /// True when the import was committed; false in strict mode with bad rows.
    pub committed: bool,
    /// Bad rows with position and reason.
    pub errors: Vec<Rejection>,
}

impl Summary {
    fn add_rejections(&mut self, list: Vec<Rejection>, unlisted: u64) {
        self.rejected += u64::try_from(list.len()).unwrap_or(0) + unlisted;
        let room = MAX_LISTED_ERRORS.saturating_sub(self.errors.len());
        self.errors.extend(list.into_iter().take(room));
    }
}

/// Why an import stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The options do not fit the input (e.g. wide CSV without a device).
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// The input could not be read (client gone, too large, disk error).
    #[error("reading the input failed: {0}")]
    Input(std::io::Error),
    /// Postgres failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// A `Read` that counts the bytes read (for progress bars).
pub struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R> Counting<R> {
    /// Wraps `inner`; `count` grows as it is read.
    pub fn new(inner: R, count: Arc<AtomicU64>) -> Self {
        Self { inner, count }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Imports everything `reader` holds.
pub async fn run<R: Read + Send + 'static>(
    pool: &PgPool,
    reader: R,
    opts: IngestOptions,
) -> Result<Summary, IngestError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(2);
    let parse_opts = opts.clone();
    let parser = tokio::task::spawn_blocking(move || parse::parse(reader, &parse_opts, &tx));
    let mut summary = Summary {
        complete: true,
        ..Summary::default()
    };
    let mut loader = Loader::begin(pool).await?;
    let mut failed: Option<IngestError> = None;
    while let Some(batch) = rx.recv().await {
        summary.read +=
            u64::try_from(batch.rows.len() + batch.rejected.len()).unwrap_or(0) + batch.rejected_unlisted;
        summary.empty_cells += batch.empty_cells;
        summary.offset_assumed += batch.offset_assumed;
        summary.add_rejections(batch.rejected, batch.rejected_unlisted);
        if let Some(stop) = batch.stopped {
            summary.complete = false;
            summary.add_rejections(vec![stop], 0);
        }
        loader.add_series(batch.new_series);
        // In strict mode a bad row already decided the outcome; keep reading so
        // every bad row (type conflicts too) is reported, but stop writing.
        let write = !(opts.strict && summary.rejected > 0);
        match loader.load(batch.rows, write).await {
            Ok(outcome) => {
                summary.stored += outcome.stored;
                summary.duplicates += outcome.duplicates;
                summary.add_rejections(outcome.rejected, 0);
            }
            Err(e) => {
                failed = Some(e.into());
                break;
            }
        }
    }
    // Dropping the receiver stops a parser still running (its sends fail).
    drop(rx);
    let parsed = parser
        .await
        .map_err(|e| IngestError::Input(std::io::Error::other(e)))?;
    if let Some(e) = failed {
        return Err(e);
    }
    parsed?;
    if summary.offset_assumed > 0 {
        summary.assumed_offset = Some(crate::domain::format_offset(parse::assumed_offset(&opts)));
    }
    if opts.strict && summary.rejected > 0 {
        loader.rollback().await?;
        summary.stored = 0;
        summary.duplicates = 0;
        summary.committed = false;
    } else {
        loader.commit().await?;
        summary.committed = true;
    }
    Ok(summary)
}
