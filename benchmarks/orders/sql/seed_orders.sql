-- Fills a db_proxy `orders` database (already migrated) with N more orders in
-- one transaction, keeping seq gapless and the state row consistent, e.g. to
-- check that the first and the last page cost the same:
--
--   psql -h 127.0.0.1 -U postgres -d orders -v n=1000000 -f benchmarks/orders/sql/seed_orders.sql
--
-- Seeded orders are marked simulated, priced 0.01-1.00 EUR/GBP/USD at integer
-- rates (at most 0.00001924 BTC each: a million of them use under 10 BTC), and
-- carry no idempotency key. Refuses (and writes nothing) if they would take
-- the total over the default 100 BTC cap; pass -v cap=<satoshis> for another.
\set ON_ERROR_STOP on
\if :{?n}
\else
\echo 'pass the number of orders: -v n=1000000'
\quit
\endif
\if :{?cap}
\else
\set cap 10000000000
\endif

begin;
-- Same lock as db_proxy's collector: no order can slip in between.
select order_count as base from order_state where id = 1 for update \gset

insert into orders (id, seq, amount, currency, exchange_rate, satoshis, rate_source,
                    rate_fetched_at, simulated, created_at)
select gen_random_uuid(),
       :base + g,
       cents / 100.0,
       currency,
       rate,
       -- ceil(amount / rate, 8 dp) exactly, in integers (the rates are integers).
       (cents * 1000000 + rate - 1) / rate,
       'seed',
       created_at - interval '5 seconds',
       true,
       created_at
from (
    select g,
           1 + (g * 7919) % 100 as cents,
           (array['EUR', 'GBP', 'USD'])[1 + g % 3] as currency,
           (array[60000, 52000, 65000])[1 + g % 3]::bigint as rate,
           now() - (:n - g) * interval '1 millisecond' as created_at
    from generate_series(1::bigint, :n) as g
) as s;

update order_state
set used_satoshis = (select coalesce(sum(satoshis), 0) from orders),
    order_count = :base + :n
where id = 1
returning used_satoshis, order_count, used_satoshis <= :cap as within_cap \gset

\if :within_cap
commit;
\echo seeded :n orders: :order_count orders, :used_satoshis satoshis used
\else
rollback;
\echo 'refused: the seed would exceed the cap (' :used_satoshis ' > ' :cap '); nothing written'
\endif
-- Vacuum too: autovacuum would otherwise set about the million new rows
-- during whatever is measured next.
vacuum (analyze) orders;
