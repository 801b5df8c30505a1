-- Money is exact: fiat as numeric(14,2), rates as unconstrained numeric, bitcoin
-- as integer satoshis. Never a float.

-- The one hot row every insert locks: it serialises writers across replicas,
-- holds the bitcoin used so far (for the cap check) and the order count (the
-- last seq handed out, so seqs are gapless and `start` is a key lookup).
create table order_state (
    id smallint primary key check (id = 1),
    used_satoshis bigint not null default 0 check (used_satoshis >= 0),
    order_count bigint not null default 0 check (order_count >= 0)
);
insert into order_state (id) values (1);

create table orders (
    id uuid primary key,
    -- 1, 2, 3, ... assigned under the state row lock in the inserting transaction.
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

-- Keys outlive their usefulness for retries by design (kept at least 24 h, then
-- pruned); the orders they point at stay.
create table idempotency_keys (
    client_id text not null,
    key text not null,
    request_hash text not null,
    order_id uuid not null references orders (id),
    created_at timestamptz not null default now(),
    primary key (client_id, key)
);
create index idempotency_keys_created_at_idx on idempotency_keys (created_at);
