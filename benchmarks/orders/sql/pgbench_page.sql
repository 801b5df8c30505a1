-- pgbench custom script: the page query db_proxy runs for GET /get?start=:skip&page_size=10
-- (services/db_proxy/src/storage.rs, `page`), as the ceiling for GET /get_orders:
--
--   pgbench -h 127.0.0.1 -U postgres -n -M prepared -c 16 -j 2 -T 10 -D skip=500000 \
--       -f benchmarks/orders/sql/pgbench_page.sql bench_orders
with s as (select order_count as total from order_state where id = 1)
select s.total, o.id, o.seq, o.amount, o.currency, o.exchange_rate, o.satoshis, o.rate_source,
       o.rate_fetched_at, o.simulated, o.client_order_id, o.created_at
from s left join lateral (
    select * from orders
    where seq <= least(s.total - :skip, 9223372036854775807)
    order by seq desc limit 10
) o on true
order by o.seq desc;
