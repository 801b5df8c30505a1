-- One row per (device, parameter): a "series". Its type is learned from its
-- first reading and never changes; the counters and first/last instants are kept
-- up to date by every ingest (in the same transaction as the readings), so that
-- listing devices and parameters never scans the readings.
create table series (
    id integer generated always as identity primary key,
    device text not null,
    parameter text not null,
    kind text not null check (kind in ('numeric', 'text')),
    readings bigint not null default 0,
    first_at timestamptz,
    last_at timestamptz,
    unique (device, parameter)
);

-- Values are exact: numeric keeps every digit a JSON number had (never a float);
-- the instant is a timestamptz (microseconds), and the UTC offset it was written
-- with is kept beside it in seconds, so it can be given back as it came.
-- series_id has no foreign key: only the loader writes readings, with ids it
-- has just read from `series` in the same transaction, and the per-row FK
-- trigger cost 40 % of the bulk insert.
create table readings (
    series_id integer not null,
    at timestamptz not null,
    utc_offset integer not null check (utc_offset between -86399 and 86399),
    num numeric,
    txt text,
    check ((num is null) <> (txt is null)),
    -- Idempotent ingest, and the range scan of every query of one series.
    primary key (series_id, at)
);

-- Hourly roll-up of numeric series (UTC hours), maintained by ingest from the
-- rows it actually inserted. Aggregates whose buckets are whole hours read it
-- instead of the readings: 720 rows for 30 days, however dense the series.
create table rollup_hourly (
    series_id integer not null,
    bucket timestamptz not null,
    n bigint not null,
    total numeric not null,
    lo numeric not null,
    hi numeric not null,
    primary key (series_id, bucket)
);
