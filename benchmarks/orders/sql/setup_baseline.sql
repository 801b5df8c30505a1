-- Scratch tables for the one-transaction-per-order baseline
-- (pgbench_one_tx_per_order.sql). Same shape as db_proxy's `orders` database
-- (services/db_proxy/migrations): one hot state row + the orders table.
--
--   createdb -h 127.0.0.1 -U postgres orders_baseline
--   psql -h 127.0.0.1 -U postgres -d orders_baseline -f benchmarks/orders/sql/setup_baseline.sql
--
-- Re-running it resets the tables (run it between benchmark runs).
\set ON_ERROR_STOP on

drop table if exists idempotency_keys;
drop table if exists orders;
drop table if exists order_state;

create table order_state (
    id smallint primary key check (id = 1),
    used_satoshis bigint not null default 0 check (used_satoshis >= 0),
    order_count bigint not null default 0 check (order_count >= 0)
);
insert into order_state (id) values (1);

create table orders (
    id uuid primary key,
    seq bigint not null unique check (seq > 0),
    amount numeric(14, 2) not null check (amount > 0),
    currency text not null check (currency in ('EUR', 'GBP', 'USD')),
    exchange_rate numeric not null check (exchange_rate > 0),
    satoshis bigint not null check (satoshis > 0),
    rate_source text not null,
    rate_fetched_at timestamptz not null,
    simulated boolean not null default false,
    client_id text,
    client_order_id text,
    created_at timestamptz not null default now()
);

create table idempotency_keys (
    client_id text not null,
    key text not null,
    request_hash text not null,
    order_id uuid not null references orders (id),
    created_at timestamptz not null default now(),
    primary key (client_id, key)
);
create index idempotency_keys_created_at_idx on idempotency_keys (created_at);
