-- What each ingest stored, for GET /api/v1/readings/stream: one row per series and
-- committed batch, with the instants it inserted (not its duplicates), written by the
-- same statement that inserts the readings. `seq` is given to committed rows only, in
-- id order, by one sequencer at a time (the lock on the row of reading_log_seq), so it
-- is gapless and a row with seq N is visible before any with a higher seq: a stream
-- resumes exactly after (seq, position). Rows older than the stream retention are pruned.
create table reading_log (
    id bigserial primary key,
    seq bigint unique,
    series_id integer not null,
    ats timestamptz[] not null,
    logged_at timestamptz not null default now()
);
create index reading_log_unsequenced_idx on reading_log (id) where seq is null;
create index reading_log_logged_at_idx on reading_log (logged_at);
create table reading_log_seq (
    id smallint primary key check (id = 1),
    last bigint not null check (last >= 0)
);
insert into reading_log_seq (id, last) values (1, 0);
