//! All SQL of sensor_api: the bulk loader (COPY into a staging table, then one
//! insert-select that skips duplicates and maintains the series counters and the
//! hourly roll-up) and the queries behind every route.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row, Transaction};

use crate::domain::{Kind, OutValue, Rejection, Row as InRow};

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
    staging: bool,
    copy_buf: Vec<u8>,
}

/// The staging table of one connection; it lives as long as the session and is
/// emptied before each batch.
const CREATE_STAGING: &str = "create temp table if not exists sensor_staging (
    series_id integer not null, at timestamptz not null, utc_offset integer not null,
    num numeric, txt text)";

/// Moves a staged batch into `readings`, skipping what is stored already, and in
/// the same statement adds the inserted rows (only those) to the series counters,
/// the hourly roll-up and the log the readings stream follows. Rows are sorted so that concurrent imports lock
/// series and roll-up rows in the same order.
const MOVE_STAGED: &str = "with ins as (
    insert into readings (series_id, at, utc_offset, num, txt)
    select series_id, at, utc_offset, num, txt from sensor_staging order by series_id, at
    on conflict (series_id, at) do nothing
    returning series_id, at, num
), roll as (
    insert into rollup_hourly as r (series_id, bucket, n, total, lo, hi)
    select series_id, date_bin(interval '1 hour', at, timestamptz '1970-01-01 00:00:00+00') as b,
           count(*), sum(num), min(num), max(num)
    from ins where num is not null
    group by series_id, b order by series_id, b
    on conflict (series_id, bucket) do update set n = r.n + excluded.n, total = r.total + excluded.total,
        lo = least(r.lo, excluded.lo), hi = greatest(r.hi, excluded.hi)
), logged as (
    insert into reading_log (series_id, ats)
    select series_id, array_agg(at order by at) from ins group by series_id order by series_id
), counted as (
    update series s set readings = s.readings + x.n,
        first_at = least(s.first_at, x.first_at), last_at = greatest(s.last_at, x.last_at)
    from (select series_id, count(*) as n, min(at) as first_at, max(at) as last_at
          from ins group by series_id) x
    where s.id = x.series_id
)
select count(*) from ins";

/// Appends `s` to a COPY text-format buffer, escaped.
fn push_copy_text(buf: &mut Vec<u8>, s: &str) {
    for b in s.bytes() {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            _ => buf.push(b),
        }
    }
}

impl Loader {
    /// Opens the import's transaction.
    pub async fn begin(pool: &PgPool) -> Result<Self, sqlx::Error> {
        Ok(Self {
            tx: pool.begin().await?,
            slots: Vec::new(),
            pending: Vec::new(),
            staging: false,
            copy_buf: Vec::new(),
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
    /// stores the rest.
    pub async fn load(&mut self, rows: Vec<InRow>, write: bool) -> Result<LoadOutcome, sqlx::Error> {
        self.resolve().await?;
        let mut out = LoadOutcome::default();
        self.copy_buf.clear();
        let mut good = 0u64;
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
            good += 1;
            if !write {
                continue;
            }
            let buf = &mut self.copy_buf;
            buf.extend_from_slice(slot.id.to_string().as_bytes());
            buf.push(b'\t');
            buf.extend_from_slice(crate::domain::format_utc(row.at).as_bytes());
            buf.push(b'\t');
            buf.extend_from_slice(row.offset.to_string().as_bytes());
            buf.push(b'\t');
            match row.kind {
                Kind::Numeric => {
                    buf.extend_from_slice(row.value.as_bytes());
                    buf.extend_from_slice(b"\t\\N\n");
                }
                Kind::Text => {
                    buf.extend_from_slice(b"\\N\t");
                    push_copy_text(buf, &row.value);
                    buf.push(b'\n');
                }
            }
        }
        if !write || good == 0 {
            return Ok(out);
        }
        if !self.staging {
            sqlx::query(CREATE_STAGING).execute(&mut *self.tx).await?;
            self.staging = true;
        }
        sqlx::query("truncate sensor_staging")
            .persistent(false)
            .execute(&mut *self.tx)
            .await?;
        let mut copy = self
            .tx
            .copy_in_raw("copy sensor_staging (series_id, at, utc_offset, num, txt) from stdin")
            .await?;
        copy.send(self.copy_buf.as_slice()).await?;
        copy.finish().await?;
        let inserted: i64 = sqlx::query_scalar(MOVE_STAGED)
            .persistent(false)
            .fetch_one(&mut *self.tx)
            .await?;
        out.stored = u64::try_from(inserted).unwrap_or(0);
        out.duplicates = good - out.stored;
        Ok(out)
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

/// Bucket widths are at most 366 days, exactly representable as `f64`.
fn secs_f64(width: i64) -> f64 {
    f64::from(i32::try_from(width).unwrap_or(i32::MAX))
}

fn corrupt(what: &str, value: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::Decode(format!("unexpected {what} {value}").into())
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

fn stored_from_row(row: &PgRow) -> Result<Stored, sqlx::Error> {
    let num: Option<String> = row.try_get("num")?;
    let value = match num {
        Some(n) => OutValue::number(n).map_err(|e| corrupt("number", e))?,
        None => OutValue::Text(row.try_get::<Option<String>, _>("txt")?.unwrap_or_default()),
    };
    Ok(Stored {
        series_id: row.try_get("series_id")?,
        at: row.try_get("at")?,
        offset: row.try_get("utc_offset")?,
        value,
    })
}

/// Which readings, in which order, from where.
#[derive(Debug, Clone)]
pub struct ReadingsQuery {
    /// Series ids (all of one device's, or one).
    pub series: Vec<i32>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub ascending: bool,
    /// Keyset position: strictly after this `(at, series_id)` in the order.
    pub after: Option<(DateTime<Utc>, i32)>,
    pub limit: i64,
}

/// A page of readings of some series of one device, ordered by time, ties by
/// series. The `at` bound beside the row comparison lets the index range scan
/// start at the cursor instead of filtering from the first row.
pub async fn readings(pool: &PgPool, q: &ReadingsQuery) -> Result<Vec<Stored>, sqlx::Error> {
    // One index range scan per series, each stopping after `limit` rows, then
    // a merge of those: `series_id = any(..)` alone would read the whole range
    // of every series and sort it.
    let sql = if q.ascending {
        "select r.series_id, r.at, r.utc_offset, r.num::text as num, r.txt
         from unnest($1::integer[]) as s(id) cross join lateral (
             select series_id, at, utc_offset, num, txt from readings
             where series_id = s.id and ($2::timestamptz is null or at >= $2)
               and ($3::timestamptz is null or at < $3)
               and ($4::timestamptz is null or (at >= $4 and (at, series_id) > ($4, $5)))
             order by at limit $6) r
         order by r.at, r.series_id limit $6"
    } else {
        "select r.series_id, r.at, r.utc_offset, r.num::text as num, r.txt
         from unnest($1::integer[]) as s(id) cross join lateral (
             select series_id, at, utc_offset, num, txt from readings
             where series_id = s.id and ($2::timestamptz is null or at >= $2)
               and ($3::timestamptz is null or at < $3)
               and ($4::timestamptz is null or (at <= $4 and (at, series_id) < ($4, $5)))
             order by at desc limit $6) r
         order by r.at desc, r.series_id desc limit $6"
    };
    let rows = sqlx::query(sql)
        .bind(&q.series)
        .bind(q.from)
        .bind(q.to)
        .bind(q.after.map(|a| a.0))
        .bind(q.after.map_or(0, |a| a.1))
        .bind(q.limit)
        .fetch_all(pool)
        .await?;
    rows.iter().map(stored_from_row).collect()
}

/// The latest reading of every parameter of `device`.
pub async fn latest(pool: &PgPool, device: &str) -> Result<Vec<(Series, Stored)>, sqlx::Error> {
    let rows = sqlx::query(
        "select s.id, s.device, s.parameter, s.kind, s.readings, s.first_at, s.last_at,
                r.series_id, r.at, r.utc_offset, r.num::text as num, r.txt
         from series s join readings r on r.series_id = s.id and r.at = s.last_at
         where s.device = $1 order by s.parameter",
    )
    .bind(device)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok((series_from_row(r)?, stored_from_row(r)?)))
        .collect()
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
    let rows = sqlx::query(
        "select s.device, s.parameter, s.kind, r.series_id, r.at, r.utc_offset, r.num::text as num, r.txt
         from readings r join series s on s.id = r.series_id
         where ($1::integer is null or (r.series_id, r.at) > ($1, $2))
         order by r.series_id, r.at limit $3",
    )
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let kind: String = r.try_get("kind")?;
            Ok(Record {
                device: r.try_get("device")?,
                parameter: r.try_get("parameter")?,
                kind: Kind::parse(&kind).ok_or_else(|| corrupt("series kind", &kind))?,
                reading: stored_from_row(r)?,
            })
        })
        .collect()
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
    let sql = if rollup && width == 3600 {
        // Hourly buckets are the roll-up's own rows: nothing to regroup.
        "select bucket as b, n as count, total::text as sum, lo::text as min, hi::text as max,
                trim_scale(total / n)::text as avg
         from rollup_hourly where series_id = $1 and bucket >= $3 and bucket < $4 and $2::float8 > 0
         order by bucket"
    } else if rollup {
        "select date_bin($2::float8 * interval '1 second', bucket, timestamptz '1970-01-01 00:00:00+00') as b,
                sum(n)::bigint as count, sum(total)::text as sum, min(lo)::text as min, max(hi)::text as max,
                trim_scale(sum(total) / sum(n))::text as avg
         from rollup_hourly where series_id = $1 and bucket >= $3 and bucket < $4
         group by b order by b"
    } else {
        "select date_bin($2::float8 * interval '1 second', at, timestamptz '1970-01-01 00:00:00+00') as b,
                count(*) as count, sum(num)::text as sum, min(num)::text as min, max(num)::text as max,
                trim_scale(sum(num) / count(*))::text as avg
         from readings where series_id = $1 and at >= $3 and at < $4
         group by b order by b"
    };
    let rows = sqlx::query(sql)
        .bind(series_id)
        .bind(secs_f64(width))
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await?;
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
    let rows = sqlx::query(
        "select date_bin($2::float8 * interval '1 second', at, timestamptz '1970-01-01 00:00:00+00') as b,
                count(*) as count, (array_agg(txt order by at))[1] as first,
                (array_agg(txt order by at desc))[1] as last, count(distinct txt) as distinct
         from readings where series_id = $1 and at >= $3 and at < $4
         group by b order by b",
    )
    .bind(series_id)
    .bind(secs_f64(width))
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(TextBucket {
                start: r.try_get("b")?,
                count: r.try_get("count")?,
                first: r.try_get("first")?,
                last: r.try_get("last")?,
                distinct: r.try_get("distinct")?,
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
        let ats: Vec<DateTime<Utc>> = row.try_get("ats")?;
        let readings = sqlx::query(
            "select series_id, at, utc_offset, num::text as num, txt from readings
             where series_id = $1 and at = any($2) order by at",
        )
        .bind(series.id)
        .bind(&ats)
        .fetch_all(pool)
        .await?
        .iter()
        .map(stored_from_row)
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
