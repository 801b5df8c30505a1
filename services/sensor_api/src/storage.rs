//! All SQL of sensor_api. Readings are kept per series and UTC hour in chunks
//! (see [`crate::chunk`]): ingest writes one segment per series and hour it
//! touched, the compactor merges a finished hour's segments into one chunk, and
//! queries decode only the hours they touch. The series counters, the hourly
//! roll-up and the readings stream's log are maintained from what ingest
//! actually added, in the same statement.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row, Transaction};

use crate::chunk::{self, Tally, Value};
use crate::domain::{Kind, OutValue, Rejection, Row as InRow};

/// A UTC hour in microseconds: the chunk width.
const HOUR_US: i64 = 3_600_000_000;

/// Bounds for walks without `from`/`to`, inside Postgres' `timestamptz` range and
/// beyond any year a timestamp can be written with (0000–9999).
const EARLIEST_US: i64 = -100_000_000_000 * 1_000_000;
const LATEST_US: i64 = 300_000_000_000 * 1_000_000;

/// Level-0 segments of one hour that make the compactor merge them before the
/// hour is over (a live feed writes one per batch).
const MERGE_SEGMENTS: i64 = 32;

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn instant(us: i64) -> Result<DateTime<Utc>, sqlx::Error> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| corrupt("instant", us))
}

fn hour_of(us: i64) -> i64 {
    us - us.rem_euclid(HOUR_US)
}

fn corrupt(what: &str, value: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::Decode(format!("unexpected {what} {value}").into())
}

fn bad_chunk(e: chunk::Corrupt) -> sqlx::Error {
    sqlx::Error::Decode(e.to_string().into())
}

/// One decoded reading of a series.
#[derive(Debug, Clone)]
struct Entry {
    at: i64,
    offset: i32,
    value: Value,
}

/// The readings a segment row holds (`n`).
fn row_len(row: &PgRow) -> Result<usize, sqlx::Error> {
    usize::try_from(row.try_get::<i32, _>("n")?).map_err(|_| corrupt("chunk size", "< 0"))
}

/// Decodes a segment row (`n`, `ats`, `offsets`, `vals`).
fn decode_row(row: &PgRow, kind: Kind) -> Result<Vec<Entry>, sqlx::Error> {
    let n = row_len(row)?;
    let ats = chunk::decode_times(row.try_get("ats")?, n).map_err(bad_chunk)?;
    let offsets = chunk::decode_offsets(row.try_get("offsets")?, n).map_err(bad_chunk)?;
    let values = chunk::decode_values(row.try_get("vals")?, n, kind == Kind::Numeric).map_err(bad_chunk)?;
    Ok(ats
        .into_iter()
        .zip(offsets)
        .zip(values)
        .map(|((at, offset), value)| Entry { at, offset, value })
        .collect())
}

/// New segments, one per series and hour, in the column arrays of the insert.
#[derive(Default)]
struct Segments {
    series: Vec<i32>,
    bucket: Vec<DateTime<Utc>>,
    first: Vec<DateTime<Utc>>,
    last: Vec<DateTime<Utc>>,
    n: Vec<i32>,
    ats: Vec<Vec<u8>>,
    offsets: Vec<Vec<u8>>,
    vals: Vec<Vec<u8>>,
}

impl Segments {
    /// Adds `entries` (ascending, distinct instants, all of one hour).
    fn push(&mut self, series: i32, entries: &[Entry]) -> Result<(), sqlx::Error> {
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            return Ok(());
        };
        let ats: Vec<i64> = entries.iter().map(|e| e.at).collect();
        let offsets: Vec<i32> = entries.iter().map(|e| e.offset).collect();
        self.series.push(series);
        self.bucket.push(instant(hour_of(first.at))?);
        self.first.push(instant(first.at)?);
        self.last.push(instant(last.at)?);
        self.n
            .push(i32::try_from(entries.len()).map_err(|_| corrupt("chunk size", entries.len()))?);
        self.ats.push(chunk::encode_times(&ats));
        self.offsets.push(chunk::encode_offsets(&offsets));
        self.vals
            .push(chunk::encode_values(entries.iter().map(|e| &e.value)));
        Ok(())
    }

    /// Adds `entries` (ascending, distinct) cut at hour boundaries.
    fn push_hours(&mut self, series: i32, entries: &[Entry]) -> Result<(), sqlx::Error> {
        for hour in entries.chunk_by(|a, b| hour_of(a.at) == hour_of(b.at)) {
            self.push(series, hour)?;
        }
        Ok(())
    }

    const INSERT: &'static str = "insert into reading_chunks (series_id, bucket, first_at, last_at, n, ats, offsets, vals, level)
        select s, b, f, l, n, a, o, v, $9 from unnest($1::int4[], $2::timestamptz[], $3::timestamptz[],
            $4::timestamptz[], $5::int4[], $6::bytea[], $7::bytea[], $8::bytea[]) as u(s, b, f, l, n, a, o, v)";

    async fn insert(&self, tx: &mut Transaction<'static, Postgres>, level: i16) -> Result<(), sqlx::Error> {
        if self.series.is_empty() {
            return Ok(());
        }
        sqlx::query(Self::INSERT)
            .bind(&self.series)
            .bind(&self.bucket)
            .bind(&self.first)
            .bind(&self.last)
            .bind(&self.n)
            .bind(&self.ats)
            .bind(&self.offsets)
            .bind(&self.vals)
            .bind(level)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

/// A series as the loader knows it.
struct Slot {
    id: i32,
    kind: Kind,
    device: String,
    parameter: String,
}

/// What loading one batch did.
#[derive(Debug, Default)]
pub struct LoadOutcome {
    pub stored: u64,
    pub duplicates: u64,
    /// Type conflicts with the series' learned type.
    pub rejected: Vec<Rejection>,
}

/// One import's transaction: series resolved once per import, readings loaded
/// batch by batch.
pub struct Loader {
    tx: Transaction<'static, Postgres>,
    slots: Vec<Slot>,
    pending: Vec<(String, String, Kind)>,
}

/// Writes what one batch added, in one statement: its segments, the hourly
/// roll-up (sums computed here when exact in 128 bits, else by Postgres from the
/// values), the readings stream's log and the series counters. Rows are ordered
/// so that concurrent imports lock roll-up rows in the same order.
const WRITE_BATCH: &str = "with seg as (
    insert into reading_chunks (series_id, bucket, first_at, last_at, n, ats, offsets, vals)
    select * from unnest($1::int4[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[], $5::int4[],
                         $6::bytea[], $7::bytea[], $8::bytea[])
), roll as (
    insert into rollup_hourly as r (series_id, bucket, n, total, lo, hi)
    select * from (
        select s, b, n, t::numeric, l::numeric, h::numeric
        from unnest($9::int4[], $10::timestamptz[], $11::int8[], $12::text[], $13::text[], $14::text[])
            as u(s, b, n, t, l, h)
        union all
        select s, b, count(*), sum(v), min(v), max(v)
        from unnest($15::int4[], $16::timestamptz[], $17::text[]::numeric[]) as u(s, b, v) group by s, b
    ) x order by 1, 2
    on conflict (series_id, bucket) do update set n = r.n + excluded.n, total = r.total + excluded.total,
        lo = least(r.lo, excluded.lo), hi = greatest(r.hi, excluded.hi)
), logged as (
    insert into reading_log (series_id, ats)
    select id, ($18::timestamptz[])[lo:lo + n - 1]
    from unnest($19::int4[], $20::int8[], $21::int4[]) as u(id, n, lo) order by id
), counted as (
    update series s set readings = s.readings + u.n,
        first_at = least(s.first_at, u.f), last_at = greatest(s.last_at, u.l)
    from unnest($19::int4[], $20::int8[], $22::timestamptz[], $23::timestamptz[]) as u(id, n, f, l)
    where s.id = u.id
)
select 1";

/// The roll-up rows of one batch.
#[derive(Default)]
struct Rollup {
    series: Vec<i32>,
    bucket: Vec<DateTime<Utc>>,
    n: Vec<i64>,
    total: Vec<String>,
    lo: Vec<String>,
    hi: Vec<String>,
    // Hours whose numbers Postgres sums: one entry per reading.
    raw_series: Vec<i32>,
    raw_bucket: Vec<DateTime<Utc>>,
    raw_value: Vec<String>,
}

impl Rollup {
    /// Adds the readings of one series and hour.
    fn push(&mut self, series: i32, hour: &[Entry]) -> Result<(), sqlx::Error> {
        let Some(first) = hour.first() else {
            return Ok(());
        };
        let bucket = instant(hour_of(first.at))?;
        let mut tally = Tally::default();
        for e in hour {
            tally.add(&e.value);
        }
        match tally.result() {
            Some((total, lo, hi)) => {
                self.series.push(series);
                self.bucket.push(bucket);
                self.n.push(tally.count);
                self.total.push(total);
                self.lo.push(lo);
                self.hi.push(hi);
            }
            None => {
                for e in hour {
                    self.raw_series.push(series);
                    self.raw_bucket.push(bucket);
                    self.raw_value.push(e.value.to_text());
                }
            }
        }
        Ok(())
    }
}

impl Loader {
    /// Opens the import's transaction.
    pub async fn begin(pool: &PgPool) -> Result<Self, sqlx::Error> {
        Ok(Self {
            tx: pool.begin().await?,
            slots: Vec::new(),
            pending: Vec::new(),
        })
    }

    /// Series first seen by the parser, in index order.
    pub fn add_series(&mut self, new: Vec<(String, String, Kind)>) {
        self.pending.extend(new);
    }

    /// Creates the pending series (the kind of their first reading) unless they
    /// exist, and learns the ids and kinds the database holds.
    async fn resolve(&mut self) -> Result<(), sqlx::Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let devices: Vec<&str> = pending.iter().map(|p| p.0.as_str()).collect();
        let params: Vec<&str> = pending.iter().map(|p| p.1.as_str()).collect();
        let kinds: Vec<&str> = pending.iter().map(|p| p.2.as_str()).collect();
        sqlx::query(
            "insert into series (device, parameter, kind)
             select * from unnest($1::text[], $2::text[], $3::text[]) as u(d, p, k) order by d, p
             on conflict (device, parameter) do nothing",
        )
        .bind(&devices)
        .bind(&params)
        .bind(&kinds)
        .execute(&mut *self.tx)
        .await?;
        let rows = sqlx::query(
            "select u.i, s.id, s.kind from unnest($1::text[], $2::text[]) with ordinality as u(d, p, i)
             join series s on s.device = u.d and s.parameter = u.p order by u.i",
        )
        .bind(&devices)
        .bind(&params)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut found: Vec<Option<(i32, Kind)>> = vec![None; pending.len()];
        for row in rows {
            let i: i64 = row.try_get(0)?;
            let kind: String = row.try_get(2)?;
            let kind = Kind::parse(&kind).ok_or_else(|| corrupt("series kind", &kind))?;
            if let Some(slot) = usize::try_from(i - 1).ok().and_then(|i| found.get_mut(i)) {
                *slot = Some((row.try_get(1)?, kind));
            }
        }
        for ((device, parameter, _), f) in pending.into_iter().zip(found) {
            let (id, kind) = f.ok_or_else(|| corrupt("series", &device))?;
            self.slots.push(Slot {
                id,
                kind,
                device,
                parameter,
            });
        }
        Ok(())
    }

    /// Rejects readings whose type conflicts with their series and, when `write`,
    /// stores the rest that are not stored yet.
    pub async fn load(&mut self, rows: Vec<InRow>, write: bool) -> Result<LoadOutcome, sqlx::Error> {
        self.resolve().await?;
        let mut out = LoadOutcome::default();
        let mut good: Vec<(i32, Entry)> = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(slot) = usize::try_from(row.series).ok().and_then(|i| self.slots.get(i)) else {
                return Err(corrupt("series index", row.series));
            };
            if slot.kind != row.kind {
                out.rejected.push(Rejection {
                    position: row.pos.describe(&slot.device),
                    reason: format!(
                        "parameter {:?} of device {:?} is {} (learned from its first reading); this value is {}",
                        slot.parameter,
                        slot.device,
                        slot.kind.as_str(),
                        row.kind.as_str()
                    ),
                });
                continue;
            }
            if !write {
                continue;
            }
            let value = match row.kind {
                Kind::Numeric => Value::number(&row.value),
                Kind::Text => Value::Text(row.value),
            };
            good.push((
                slot.id,
                Entry {
                    at: micros(row.at),
                    offset: row.offset,
                    value,
                },
            ));
        }
        if good.is_empty() {
            return Ok(out);
        }
        let read = u64::try_from(good.len()).unwrap_or(0);
        // Stable: of two readings of one instant in a batch, the first is kept.
        good.sort_by_key(|(s, e)| (*s, e.at));
        good.dedup_by_key(|(s, e)| (*s, e.at));
        let added = self.without_stored(good).await?;
        let stored = u64::try_from(added.len()).unwrap_or(0);
        self.write(added).await?;
        out.stored = stored;
        out.duplicates = read - stored;
        Ok(out)
    }

    /// Drops the readings (sorted by series and instant) that are stored already.
    /// The batch's series rows are locked first, in id order, so that no other
    /// import or the compactor changes them until this import ends; a batch that
    /// only appends to its series (the usual case) reads no chunk.
    async fn without_stored(&mut self, good: Vec<(i32, Entry)>) -> Result<Vec<(i32, Entry)>, sqlx::Error> {
        let mut ids: Vec<i32> = good.iter().map(|(s, _)| *s).collect();
        ids.dedup();
        let rows = sqlx::query("select id, last_at from series where id = any($1) order by id for update")
            .bind(&ids)
            .fetch_all(&mut *self.tx)
            .await?;
        let last: HashMap<i32, i64> = rows
            .iter()
            .filter_map(|r| {
                let at: Option<DateTime<Utc>> = r.try_get("last_at").ok()?;
                Some((r.try_get("id").ok()?, micros(at?)))
            })
            .collect();
        let (mut q_series, mut q_lo, mut q_hi) = (Vec::new(), Vec::new(), Vec::new());
        for run in good.chunk_by(|a, b| a.0 == b.0) {
            let (Some(first), Some(newest)) = (run.first(), last.get(&run[0].0)) else {
                continue;
            };
            let hi = run.last().map_or(first.1.at, |l| l.1.at).min(*newest);
            if first.1.at <= hi {
                q_series.push(first.0);
                q_lo.push(instant(first.1.at)?);
                q_hi.push(instant(hi)?);
            }
        }
        if q_series.is_empty() {
            return Ok(good);
        }
        let rows = sqlx::query(
            "select c.series_id, c.n, c.ats from unnest($1::int4[], $2::timestamptz[], $3::timestamptz[]) as q(s, lo, hi)
             join reading_chunks c on c.series_id = q.s
               and c.bucket >= date_bin(interval '1 hour', q.lo, timestamptz '1970-01-01 00:00:00+00')
               and c.bucket <= q.hi and c.last_at >= q.lo and c.first_at <= q.hi",
        )
        .bind(&q_series)
        .bind(&q_lo)
        .bind(&q_hi)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut stored: HashMap<i32, Vec<i64>> = HashMap::new();
        for row in &rows {
            let ats = chunk::decode_times(row.try_get("ats")?, row_len(row)?).map_err(bad_chunk)?;
            stored.entry(row.try_get("series_id")?).or_default().extend(ats);
        }
        for ats in stored.values_mut() {
            ats.sort_unstable();
        }
        Ok(good
            .into_iter()
            .filter(|(s, e)| stored.get(s).is_none_or(|ats| ats.binary_search(&e.at).is_err()))
            .collect())
    }

    /// Writes the readings (sorted by series and instant, none stored yet).
    async fn write(&mut self, added: Vec<(i32, Entry)>) -> Result<(), sqlx::Error> {
        if added.is_empty() {
            return Ok(());
        }
        let mut segments = Segments::default();
        let mut rollup = Rollup::default();
        // The stream's log: every added instant in one array, each series' run a slice of it.
        let mut log_at = Vec::with_capacity(added.len());
        let (mut c_id, mut c_n, mut c_lo, mut c_first, mut c_last) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut entries: Vec<Entry> = Vec::new();
        let mut rest = added.into_iter().peekable();
        while let Some((id, e)) = rest.next() {
            entries.clear();
            entries.push(e);
            while let Some((_, e)) = rest.next_if(|(s, _)| *s == id) {
                entries.push(e);
            }
            let numeric = !matches!(entries[0].value, Value::Text(_));
            for hour in entries.chunk_by(|a, b| hour_of(a.at) == hour_of(b.at)) {
                segments.push(id, hour)?;
                if numeric {
                    rollup.push(id, hour)?;
                }
            }
            c_lo.push(i32::try_from(log_at.len() + 1).map_err(|_| corrupt("batch size", log_at.len()))?);
            for e in &entries {
                log_at.push(instant(e.at)?);
            }
            c_id.push(id);
            c_n.push(i64::try_from(entries.len()).unwrap_or(i64::MAX));
            c_first.push(instant(entries[0].at)?);
            c_last.push(instant(entries[entries.len() - 1].at)?);
        }
        sqlx::query(WRITE_BATCH)
            .bind(&segments.series)
            .bind(&segments.bucket)
            .bind(&segments.first)
            .bind(&segments.last)
            .bind(&segments.n)
            .bind(&segments.ats)
            .bind(&segments.offsets)
            .bind(&segments.vals)
            .bind(&rollup.series)
            .bind(&rollup.bucket)
            .bind(&rollup.n)
            .bind(&rollup.total)
            .bind(&rollup.lo)
            .bind(&rollup.hi)
            .bind(&rollup.raw_series)
            .bind(&rollup.raw_bucket)
            .bind(&rollup.raw_value)
            .bind(&log_at)
            .bind(&c_id)
            .bind(&c_n)
            .bind(&c_lo)
            .bind(&c_first)
            .bind(&c_last)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Makes the import visible.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    /// Drops everything the import wrote.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

/// Merges the segments ingest wrote into one chunk per series and hour: an hour
/// `quiet` after it ended and after its last segment was written, or, while it
/// is still being written, every [`MERGE_SEGMENTS`] segments into one (so that a
/// live feed neither leaves thousands of rows nor rewrites the growing hour on
/// every batch). A series an import holds is skipped until the next round.
/// Returns how many hours were merged.
pub async fn compact(pool: &PgPool, quiet: Duration) -> Result<u64, sqlx::Error> {
    let due = sqlx::query(
        "select series_id, bucket,
                bucket + interval '1 hour' + $1::interval < now()
                  and max(added_at) + $1::interval < now() as final
         from reading_chunks where level < 2 group by series_id, bucket
         having (bucket + interval '1 hour' + $1::interval < now()
                 and max(added_at) + $1::interval < now())
             or count(*) filter (where level = 0) >= $2
         order by series_id, bucket limit 1000",
    )
    .bind(quiet)
    .bind(MERGE_SEGMENTS)
    .fetch_all(pool)
    .await?;
    let mut merged = 0;
    for row in &due {
        let series: i32 = row.try_get("series_id")?;
        let bucket: DateTime<Utc> = row.try_get("bucket")?;
        let last = row.try_get("final")?;
        if merge_hour(pool, series, bucket, last).await? {
            merged += 1;
        }
    }
    Ok(merged)
}

/// Segments not merged into their hour's final chunk yet.
pub async fn unmerged_segments(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select count(*) from reading_chunks where level < 2")
        .fetch_one(pool)
        .await
}

/// Merges the segments of one series and hour (all of them into a final chunk,
/// or the level-0 ones into a level-1 segment); false when an import holds the
/// series.
async fn merge_hour(
    pool: &PgPool,
    series: i32,
    bucket: DateTime<Utc>,
    last: bool,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let kind: Option<String> =
        sqlx::query_scalar("select kind from series where id = $1 for update skip locked")
            .bind(series)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(kind) = kind else {
        return Ok(false);
    };
    let kind = Kind::parse(&kind).ok_or_else(|| corrupt("series kind", &kind))?;
    let rows = sqlx::query(
        "delete from reading_chunks where series_id = $1 and bucket = $2 and ($3 or level = 0)
         returning n, ats, offsets, vals",
    )
    .bind(series)
    .bind(bucket)
    .bind(last)
    .fetch_all(&mut *tx)
    .await?;
    let mut entries = Vec::new();
    for row in &rows {
        entries.extend(decode_row(row, kind)?);
    }
    entries.sort_unstable_by_key(|e| e.at);
    let mut merged = Segments::default();
    merged.push(series, &entries)?;
    merged.insert(&mut tx, if last { 2 } else { 1 }).await?;
    tx.commit().await?;
    Ok(true)
}

/// Moves the readings of a database from before the chunks (the `readings` row
/// table) into segments, 100,000 at a time, each step in its own transaction, and
/// drops the table once empty. The series counters, roll-up and stream log stay
/// as they are: they describe the same readings. Safe to run from several
/// processes at once (an advisory lock serialises the steps) and to interrupt.
/// Returns how many readings were moved.
pub async fn upgrade(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let mut moved = 0u64;
    loop {
        let mut tx = pool.begin().await?;
        sqlx::query("select pg_advisory_xact_lock(hashtext('delos sensor_api: readings into chunks'))")
            .execute(&mut *tx)
            .await?;
        let present: bool = sqlx::query_scalar("select to_regclass('readings') is not null")
            .fetch_one(&mut *tx)
            .await?;
        if !present {
            tx.commit().await?;
            return Ok(moved);
        }
        let rows = sqlx::query(
            "with step as (select series_id, at from readings order by series_id, at limit 100000),
             gone as (delete from readings r using step where r.series_id = step.series_id and r.at = step.at
                      returning r.series_id, r.at, r.utc_offset, r.num::text as num, r.txt)
             select * from gone order by series_id, at",
        )
        .persistent(false)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            sqlx::query("drop table readings").execute(&mut *tx).await?;
            tx.commit().await?;
            if moved > 0 {
                tracing::info!(moved, "readings moved into chunks; the row table is dropped");
            }
            return Ok(moved);
        }
        let mut segments = Segments::default();
        let mut entries: Vec<Entry> = Vec::new();
        let mut current = None;
        for row in &rows {
            let series: i32 = row.try_get("series_id")?;
            if current != Some(series) {
                if let Some(id) = current {
                    segments.push_hours(id, &entries)?;
                }
                entries.clear();
                current = Some(series);
            }
            let num: Option<String> = row.try_get("num")?;
            entries.push(Entry {
                at: micros(row.try_get("at")?),
                offset: row.try_get("utc_offset")?,
                value: match num {
                    // Postgres' own text of the numeric reads back as itself.
                    Some(n) => Value::number(&n),
                    None => Value::Text(row.try_get::<Option<String>, _>("txt")?.unwrap_or_default()),
                },
            });
        }
        if let Some(id) = current {
            segments.push_hours(id, &entries)?;
        }
        segments.insert(&mut tx, 0).await?;
        tx.commit().await?;
        moved += u64::try_from(rows.len()).unwrap_or(0);
        tracing::info!(moved, "moving readings into chunks");
    }
}

/// Bucket widths are at most 366 days, exactly representable as `f64`.
fn secs_f64(width: i64) -> f64 {
    f64::from(i32::try_from(width).unwrap_or(i32::MAX))
}

/// A series of a device.
#[derive(Debug, Clone)]
pub struct Series {
    pub id: i32,
    pub device: String,
    pub parameter: String,
    /// Learned from its first reading.
    pub kind: Kind,
    /// Readings stored.
    pub readings: i64,
    pub first_at: Option<DateTime<Utc>>,
    pub last_at: Option<DateTime<Utc>>,
}

fn series_from_row(row: &PgRow) -> Result<Series, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    Ok(Series {
        id: row.try_get("id")?,
        device: row.try_get("device")?,
        parameter: row.try_get("parameter")?,
        kind: Kind::parse(&kind).ok_or_else(|| corrupt("series kind", &kind))?,
        readings: row.try_get("readings")?,
        first_at: row.try_get("first_at")?,
        last_at: row.try_get("last_at")?,
    })
}

/// A device and what it holds.
#[derive(Debug, Clone)]
pub struct DeviceStats {
    pub device: String,
    pub parameters: i64,
    pub readings: i64,
    pub first_at: Option<DateTime<Utc>>,
    pub last_at: Option<DateTime<Utc>>,
}

/// Devices after `after` (by name), at most `limit`.
pub async fn devices(
    pool: &PgPool,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<DeviceStats>, sqlx::Error> {
    let rows = sqlx::query(
        "select device, count(*) as parameters, sum(readings)::bigint as readings,
                min(first_at) as first_at, max(last_at) as last_at
         from series where readings > 0 and ($1::text is null or device > $1)
         group by device order by device limit $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(DeviceStats {
                device: r.try_get("device")?,
                parameters: r.try_get("parameters")?,
                readings: r.try_get("readings")?,
                first_at: r.try_get("first_at")?,
                last_at: r.try_get("last_at")?,
            })
        })
        .collect()
}

/// Every series of `device`, by parameter name, after `after`, at most `limit`.
pub async fn series_of(
    pool: &PgPool,
    device: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Series>, sqlx::Error> {
    let rows = sqlx::query(
        "select id, device, parameter, kind, readings, first_at, last_at from series
         where device = $1 and readings > 0 and ($2::text is null or parameter > $2)
         order by parameter limit $3",
    )
    .bind(device)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(series_from_row).collect()
}

/// One series by name.
pub async fn series(pool: &PgPool, device: &str, parameter: &str) -> Result<Option<Series>, sqlx::Error> {
    let row = sqlx::query(
        "select id, device, parameter, kind, readings, first_at, last_at from series
         where device = $1 and parameter = $2 and readings > 0",
    )
    .bind(device)
    .bind(parameter)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(series_from_row).transpose()
}

/// Whether any reading of `device` is stored.
pub async fn device_exists(pool: &PgPool, device: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists(select 1 from series where device = $1 and readings > 0)")
        .bind(device)
        .fetch_one(pool)
        .await
}

/// A stored reading.
#[derive(Debug, Clone)]
pub struct Stored {
    pub series_id: i32,
    /// The instant.
    pub at: DateTime<Utc>,
    /// The UTC offset it was written with, in seconds east.
    pub offset: i32,
    /// Exactly as ingested.
    pub value: OutValue,
}

impl Stored {
    fn new(series_id: i32, e: Entry) -> Result<Self, sqlx::Error> {
        let value = match e.value {
            Value::Text(t) => OutValue::Text(t),
            v => OutValue::number(v.into_text()).map_err(|e| corrupt("number", e))?,
        };
        Ok(Stored {
            series_id,
            at: instant(e.at)?,
            offset: e.offset,
            value,
        })
    }
}

/// Which readings, in which order, from where.
#[derive(Debug, Clone)]
pub struct ReadingsQuery {
    /// Series (all of one device's, or one) with their kinds.
    pub series: Vec<(i32, Kind)>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub ascending: bool,
    /// Keyset position: strictly after this `(at, series_id)` in the order.
    pub after: Option<(DateTime<Utc>, i32)>,
    pub limit: i64,
}

/// Reads hour after hour of one series (ascending or descending), at most
/// `limit` readings in `[lo, hi)` that `keep` accepts. The first round reads one
/// hour, each next one four times as many (the newest 1,000 of a series that
/// reads once a second is one round).
#[allow(clippy::too_many_arguments)]
async fn walk(
    pool: &PgPool,
    series: i32,
    kind: Kind,
    lo: i64,
    hi: i64,
    ascending: bool,
    limit: usize,
    keep: impl Fn(i64) -> bool,
) -> Result<Vec<Entry>, sqlx::Error> {
    let sql = if ascending {
        "with k as (select distinct bucket from reading_chunks
                    where series_id = $1 and bucket >= $2 and bucket < $3 order by bucket limit $4)
         select c.bucket, c.n, c.ats, c.offsets, c.vals from reading_chunks c join k on k.bucket = c.bucket
         where c.series_id = $1"
    } else {
        "with k as (select distinct bucket from reading_chunks
                    where series_id = $1 and bucket >= $2 and bucket < $3 order by bucket desc limit $4)
         select c.bucket, c.n, c.ats, c.offsets, c.vals from reading_chunks c join k on k.bucket = c.bucket
         where c.series_id = $1"
    };
    let (mut lo_bucket, mut hi_bucket) = (hour_of(lo), hi);
    let mut hours: i64 = 1;
    let mut out = Vec::new();
    while out.len() < limit && lo_bucket < hi_bucket {
        let rows = sqlx::query(sql)
            .bind(series)
            .bind(instant(lo_bucket)?)
            .bind(instant(hi_bucket)?)
            .bind(hours)
            .fetch_all(pool)
            .await?;
        let mut buckets = HashSet::new();
        let mut got = Vec::new();
        for row in &rows {
            buckets.insert(micros(row.try_get("bucket")?));
            got.extend(
                decode_row(row, kind)?
                    .into_iter()
                    .filter(|e| e.at >= lo && e.at < hi && keep(e.at)),
            );
        }
        if ascending {
            got.sort_unstable_by_key(|e| e.at);
        } else {
            got.sort_unstable_by_key(|e| std::cmp::Reverse(e.at));
        }
        out.extend(got);
        if i64::try_from(buckets.len()).unwrap_or(0) < hours {
            break;
        }
        match (ascending, buckets.iter().max(), buckets.iter().min()) {
            (true, Some(max), _) => lo_bucket = max + HOUR_US,
            (false, _, Some(min)) => hi_bucket = *min,
            _ => break,
        }
        hours = (hours * 4).min(256);
    }
    out.truncate(limit);
    Ok(out)
}

/// A page of readings of some series of one device, ordered by time, ties by
/// series: the first `limit` of each series, merged.
pub async fn readings(pool: &PgPool, q: &ReadingsQuery) -> Result<Vec<Stored>, sqlx::Error> {
    let limit = usize::try_from(q.limit).unwrap_or(0);
    let mut lo = q.from.map_or(EARLIEST_US, micros);
    let mut hi = q.to.map_or(LATEST_US, micros);
    let after = q.after.map(|(at, s)| (micros(at), s));
    if let Some((at, _)) = after {
        if q.ascending {
            lo = lo.max(at);
        } else {
            hi = hi.min(at.saturating_add(1));
        }
    }
    let walks = q.series.iter().map(|&(id, kind)| {
        let keep = move |at: i64| match after {
            None => true,
            Some((a, s)) if q.ascending => (at, id) > (a, s),
            Some((a, s)) => (at, id) < (a, s),
        };
        async move {
            let got = walk(pool, id, kind, lo, hi, q.ascending, limit, keep).await?;
            Ok::<_, sqlx::Error>(got.into_iter().map(move |e| (id, e)))
        }
    });
    let mut all: Vec<(i32, Entry)> = futures_util::future::try_join_all(walks)
        .await?
        .into_iter()
        .flatten()
        .collect();
    if q.ascending {
        all.sort_unstable_by_key(|(s, e)| (e.at, *s));
    } else {
        all.sort_unstable_by_key(|(s, e)| std::cmp::Reverse((e.at, *s)));
    }
    all.truncate(limit);
    all.into_iter().map(|(s, e)| Stored::new(s, e)).collect()
}

/// The latest reading of every parameter of `device`.
pub async fn latest(pool: &PgPool, device: &str) -> Result<Vec<(Series, Stored)>, sqlx::Error> {
    let rows = sqlx::query(
        "select s.id, s.device, s.parameter, s.kind, s.readings, s.first_at, s.last_at, c.n, c.ats, c.offsets, c.vals
         from series s join reading_chunks c on c.series_id = s.id
           and c.bucket = date_bin(interval '1 hour', s.last_at, timestamptz '1970-01-01 00:00:00+00')
           and c.first_at <= s.last_at and c.last_at >= s.last_at
         where s.device = $1 order by s.parameter",
    )
    .bind(device)
    .fetch_all(pool)
    .await?;
    let mut out: Vec<(Series, Stored)> = Vec::new();
    for row in &rows {
        let series = series_from_row(row)?;
        let Some(last) = series.last_at.map(micros) else {
            continue;
        };
        if let Some(e) = decode_row(row, series.kind)?.into_iter().find(|e| e.at == last) {
            let id = series.id;
            out.push((series, Stored::new(id, e)?));
        }
    }
    Ok(out)
}

/// A record of the original `process_request` listing.
#[derive(Debug, Clone)]
pub struct Record {
    pub device: String,
    pub parameter: String,
    pub kind: Kind,
    pub reading: Stored,
}

/// Every reading in storage order (series, then time), after `after`.
pub async fn records(
    pool: &PgPool,
    after: Option<(i32, DateTime<Utc>)>,
    limit: i64,
) -> Result<Vec<Record>, sqlx::Error> {
    let limit = usize::try_from(limit).unwrap_or(0);
    let after = after.map(|(s, at)| (s, micros(at)));
    let (mut from_series, mut from_bucket) =
        after.map_or((i32::MIN, hour_of(EARLIEST_US)), |(s, at)| (s, hour_of(at)));
    let mut hours: i64 = 4;
    let mut out: Vec<Record> = Vec::new();
    while out.len() < limit {
        let rows = sqlx::query(
            "with k as (select distinct series_id, bucket from reading_chunks
                        where (series_id, bucket) >= ($1, $2) order by series_id, bucket limit $3)
             select c.series_id, c.bucket, c.n, c.ats, c.offsets, c.vals, s.device, s.parameter, s.kind
             from reading_chunks c join k using (series_id, bucket) join series s on s.id = c.series_id",
        )
        .bind(from_series)
        .bind(instant(from_bucket)?)
        .bind(hours)
        .fetch_all(pool)
        .await?;
        let mut keys = HashSet::new();
        let mut got: Vec<(i32, Entry, usize)> = Vec::new();
        let mut names: Vec<(String, String, Kind)> = Vec::new();
        for row in &rows {
            let series: i32 = row.try_get("series_id")?;
            keys.insert((series, micros(row.try_get("bucket")?)));
            let kind: String = row.try_get("kind")?;
            let kind = Kind::parse(&kind).ok_or_else(|| corrupt("series kind", &kind))?;
            names.push((row.try_get("device")?, row.try_get("parameter")?, kind));
            let name = names.len() - 1;
            got.extend(
                decode_row(row, kind)?
                    .into_iter()
                    .filter(|e| after.is_none_or(|a| (series, e.at) > a))
                    .map(|e| (series, e, name)),
            );
        }
        got.sort_unstable_by_key(|(s, e, _)| (*s, e.at));
        for (series, e, name) in got {
            let (device, parameter, kind) = names[name].clone();
            out.push(Record {
                device,
                parameter,
                kind,
                reading: Stored::new(series, e)?,
            });
        }
        if i64::try_from(keys.len()).unwrap_or(0) < hours {
            break;
        }
        let Some(&(s, b)) = keys.iter().max() else {
            break;
        };
        (from_series, from_bucket) = (s, b + HOUR_US);
        hours = (hours * 4).min(256);
    }
    out.truncate(limit);
    Ok(out)
}

/// Totals for `/status`: devices, series, readings.
pub async fn totals(pool: &PgPool) -> Result<(i64, i64, i64), sqlx::Error> {
    sqlx::query_as(
        "select count(distinct device), count(*), coalesce(sum(readings), 0)::bigint
         from series where readings > 0",
    )
    .fetch_one(pool)
    .await
}

/// One bucket of a numeric aggregate, numbers in Postgres' exact text form.
#[derive(Debug, Clone)]
pub struct NumBucket {
    pub start: DateTime<Utc>,
    pub count: i64,
    pub sum: String,
    pub min: String,
    pub max: String,
    pub avg: String,
}

/// One bucket of a text aggregate.
#[derive(Debug, Clone)]
pub struct TextBucket {
    pub start: DateTime<Utc>,
    pub count: i64,
    pub first: String,
    pub last: String,
    pub distinct: i64,
}

/// Every reading of one series in `[from, to)`, oldest first.
async fn range(
    pool: &PgPool,
    series_id: i32,
    kind: Kind,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Entry>, sqlx::Error> {
    walk(
        pool,
        series_id,
        kind,
        micros(from),
        micros(to),
        true,
        usize::MAX,
        |_| true,
    )
    .await
}

/// The readings grouped by bucket of `width` seconds (UTC-aligned), in order.
fn by_bucket(entries: &[Entry], width: i64) -> Vec<(i64, &[Entry])> {
    let width_us = width.saturating_mul(1_000_000);
    entries
        .chunk_by(|a, b| a.at.div_euclid(width_us) == b.at.div_euclid(width_us))
        .map(|g| (g[0].at - g[0].at.rem_euclid(width_us), g))
        .collect()
}

/// Numeric buckets of `width` seconds (UTC-aligned) over `[from, to)`. With
/// `rollup` (whole-hour buckets and bounds) the hourly roll-up is read instead of
/// the readings; both give the same numbers, avg = sum / count in `numeric`.
pub async fn numeric_buckets(
    pool: &PgPool,
    series_id: i32,
    width: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    rollup: bool,
) -> Result<Vec<NumBucket>, sqlx::Error> {
    let rows = if rollup {
        let sql = if width == 3600 {
            // Hourly buckets are the roll-up's own rows: nothing to regroup.
            "select bucket as b, n as count, total::text as sum, lo::text as min, hi::text as max,
                    trim_scale(total / n)::text as avg
             from rollup_hourly where series_id = $1 and bucket >= $3 and bucket < $4 and $2::float8 > 0
             order by bucket"
        } else {
            "select date_bin($2::float8 * interval '1 second', bucket, timestamptz '1970-01-01 00:00:00+00') as b,
                    sum(n)::bigint as count, sum(total)::text as sum, min(lo)::text as min, max(hi)::text as max,
                    trim_scale(sum(total) / sum(n))::text as avg
             from rollup_hourly where series_id = $1 and bucket >= $3 and bucket < $4
             group by b order by b"
        };
        sqlx::query(sql)
            .bind(series_id)
            .bind(secs_f64(width))
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?
    } else {
        let entries = range(pool, series_id, Kind::Numeric, from, to).await?;
        let groups = by_bucket(&entries, width);
        let (mut starts, mut counts, mut sums, mut mins, mut maxs) = (vec![], vec![], vec![], vec![], vec![]);
        let mut exact = true;
        for (start, group) in &groups {
            let mut tally = Tally::default();
            for e in *group {
                tally.add(&e.value);
            }
            let Some((sum, min, max)) = tally.result() else {
                exact = false;
                break;
            };
            starts.push(instant(*start)?);
            counts.push(tally.count);
            sums.push(sum);
            mins.push(min);
            maxs.push(max);
        }
        if exact {
            // Only the division is Postgres': its scale rules are the answer's.
            sqlx::query(
                "select b, count, sum, min, max, trim_scale(sum::numeric / count)::text as avg
                 from unnest($1::timestamptz[], $2::int8[], $3::text[], $4::text[], $5::text[])
                     with ordinality as u(b, count, sum, min, max, i) order by i",
            )
            .bind(&starts)
            .bind(&counts)
            .bind(&sums)
            .bind(&mins)
            .bind(&maxs)
            .fetch_all(pool)
            .await?
        } else {
            let ats: Vec<DateTime<Utc>> = entries.iter().map(|e| instant(e.at)).collect::<Result<_, _>>()?;
            let values: Vec<String> = entries.iter().map(|e| e.value.to_text()).collect();
            sqlx::query(
                "select date_bin($1::float8 * interval '1 second', at, timestamptz '1970-01-01 00:00:00+00') as b,
                        count(*) as count, sum(num)::text as sum, min(num)::text as min, max(num)::text as max,
                        trim_scale(sum(num) / count(*))::text as avg
                 from unnest($2::timestamptz[], $3::text[]::numeric[]) as u(at, num)
                 group by b order by b",
            )
            .bind(secs_f64(width))
            .bind(&ats)
            .bind(&values)
            .fetch_all(pool)
            .await?
        }
    };
    rows.iter()
        .map(|r| {
            Ok(NumBucket {
                start: r.try_get("b")?,
                count: r.try_get("count")?,
                sum: r.try_get("sum")?,
                min: r.try_get("min")?,
                max: r.try_get("max")?,
                avg: r.try_get("avg")?,
            })
        })
        .collect()
}

/// Text buckets of `width` seconds (UTC-aligned) over `[from, to)`.
pub async fn text_buckets(
    pool: &PgPool,
    series_id: i32,
    width: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<TextBucket>, sqlx::Error> {
    let entries = range(pool, series_id, Kind::Text, from, to).await?;
    let text = |e: &Entry| e.value.to_text();
    by_bucket(&entries, width)
        .into_iter()
        .map(|(start, group)| {
            let distinct: HashSet<&Value> = group.iter().map(|e| &e.value).collect();
            Ok(TextBucket {
                start: instant(start)?,
                count: i64::try_from(group.len()).unwrap_or(i64::MAX),
                first: group.first().map(text).unwrap_or_default(),
                last: group.last().map(text).unwrap_or_default(),
                distinct: i64::try_from(distinct.len()).unwrap_or(i64::MAX),
            })
        })
        .collect()
}

/// The `NOTIFY` channel that announces the newest sequenced reading log row.
pub const READINGS_CHANNEL: &str = "delos_readings";

/// Gives the committed reading log rows without a seq the next seqs, in id
/// order, and announces the newest; returns the newest seq. One sequencer at a
/// time (the row lock), so seqs are gapless and committed in order.
pub async fn sequence_reading_log(pool: PgPool) -> Result<i64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let (last,): (i64,) = sqlx::query_as("select last from reading_log_seq where id = 1 for update")
        .fetch_one(&mut *tx)
        .await?;
    let ids: Vec<i64> = sqlx::query_scalar("select id from reading_log where seq is null order by id")
        .fetch_all(&mut *tx)
        .await?;
    let Some(newest) = i64::try_from(ids.len()).ok().filter(|n| *n > 0).map(|n| last + n) else {
        tx.commit().await?;
        return Ok(last);
    };
    sqlx::query(
        "update reading_log l set seq = $2 + n.ord from unnest($1::int8[]) with ordinality as n(id, ord)
         where l.id = n.id",
    )
    .bind(&ids)
    .bind(last)
    .execute(&mut *tx)
    .await?;
    sqlx::query("update reading_log_seq set last = $1 where id = 1")
        .bind(newest)
        .execute(&mut *tx)
        .await?;
    sqlx::query(common::live::notify_sql())
        .bind(READINGS_CHANNEL)
        .bind(newest.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(newest)
}

/// What one log row stored, as the stream sends it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub seq: i64,
    pub series: Series,
    /// The readings the batch inserted, by instant.
    pub readings: Vec<Stored>,
}

/// The log rows with seqs in `(after, upto]` of `device` (and `parameter`),
/// oldest first, at most `limit`, with the readings each stored.
pub async fn logged_after(
    pool: &PgPool,
    device: &str,
    parameter: Option<&str>,
    after: i64,
    upto: i64,
    limit: i64,
) -> Result<Vec<Logged>, sqlx::Error> {
    let rows = sqlx::query(
        "select l.seq, l.ats, s.id, s.device, s.parameter, s.kind, s.readings, s.first_at, s.last_at
         from reading_log l join series s on s.id = l.series_id
         where l.seq > $1 and l.seq <= $2 and s.device = $3 and ($4::text is null or s.parameter = $4)
         order by l.seq limit $5",
    )
    .bind(after)
    .bind(upto)
    .bind(device)
    .bind(parameter)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let series = series_from_row(row)?;
        let mut ats: Vec<i64> = row
            .try_get::<Vec<DateTime<Utc>>, _>("ats")?
            .into_iter()
            .map(micros)
            .collect();
        ats.sort_unstable();
        let (Some(&lo), Some(&hi)) = (ats.first(), ats.last()) else {
            continue;
        };
        let readings = walk(
            pool,
            series.id,
            series.kind,
            lo,
            hi.saturating_add(1),
            true,
            usize::MAX,
            |at| ats.binary_search(&at).is_ok(),
        )
        .await?
        .into_iter()
        .map(|e| Stored::new(series.id, e))
        .collect::<Result<Vec<_>, _>>()?;
        out.push(Logged {
            seq: row.try_get("seq")?,
            series,
            readings,
        });
    }
    Ok(out)
}

/// Deletes the stream's log rows written before `before`; returns how many.
pub async fn prune_reading_log(pool: &PgPool, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("delete from reading_log where logged_at < $1")
        .bind(before)
        .execute(pool)
        .await?
        .rows_affected())
}
