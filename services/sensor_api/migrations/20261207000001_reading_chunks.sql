-- Readings in chunks: one row per series and UTC hour (and, until the compactor has
-- merged them, one per batch that wrote to that hour), holding the hour's instants,
-- offsets and values in the compact encoding of src/chunk.rs: about 9 bytes per
-- reading instead of a 90-byte row with its index entry. Queries decode the hours they
-- touch; ingest checks for duplicates against the hours its instants fall in.
--   level 0: as ingest wrote it; 1: merged while the hour was being written;
--   2: the hour's final chunk (the only row of its hour once compacted).
-- The rows of the old `readings` table are moved in by sensor_api at start-up
-- (storage::upgrade), which then drops it: encoding them needs the service's code.
create table reading_chunks (
    series_id integer not null,
    bucket timestamptz not null,
    first_at timestamptz not null,
    last_at timestamptz not null,
    n integer not null check (n > 0),
    ats bytea not null,
    offsets bytea not null,
    vals bytea not null,
    level smallint not null default 0 check (level between 0 and 2),
    added_at timestamptz not null default now(),
    check (first_at <= last_at and bucket <= first_at and last_at < bucket + interval '1 hour')
);
create index reading_chunks_hour_idx on reading_chunks (series_id, bucket);
-- What the compactor still has to look at.
create index reading_chunks_open_idx on reading_chunks (series_id, bucket) where level < 2;
