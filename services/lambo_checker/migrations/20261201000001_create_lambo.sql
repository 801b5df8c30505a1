-- Prices are exact numerics, never floats. Intervals are the service's names
-- ('1d', '1w', '15d', '1M'), so a row says what kind of candle it is.

-- Complete candles only: the one still in progress is never stored, so it can
-- never be averaged.
create table candles (
    symbol text not null,
    source text not null,
    pair text not null,
    interval text not null,
    open_time timestamptz not null,
    close numeric not null check (close > 0),
    primary key (symbol, source, interval, open_time)
);

-- One row per stored series: when it was last refreshed from its source.
create table series (
    symbol text not null,
    source text not null,
    pair text not null,
    interval text not null,
    fetched_at timestamptz not null,
    primary key (symbol, source, interval)
);

-- Opening averages never change once known (the first candles of a window are
-- history), so they are stored for good, with the candles they came from.
create table opening_averages (
    symbol text not null,
    source text not null,
    interval text not null,
    since timestamptz not null,
    opening numeric not null check (opening > 0),
    open_times timestamptz[] not null,
    closes numeric[] not null,
    created_at timestamptz not null default now(),
    primary key (symbol, source, interval, since)
);

-- Bundled or uploaded files already imported (by content hash): importing again adds nothing.
create table imports (
    sha256 text primary key,
    name text not null,
    rows integer not null,
    imported_at timestamptz not null default now()
);

-- Every question asked, with its outcome (the original's query log).
create table queries (
    id bigserial primary key,
    created_at timestamptz not null default now(),
    channel text not null,
    client text not null,
    symbol_raw text,
    symbol text,
    investment text,
    method text,
    status smallint not null,
    outcome text not null,
    cache_hit boolean not null default false
);

-- The answer of every successful query (the original's results table).
create table results (
    query_id bigint primary key references queries (id),
    symbol text not null,
    investment numeric not null,
    lambos numeric not null,
    response jsonb not null
);
