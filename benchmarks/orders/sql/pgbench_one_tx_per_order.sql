-- pgbench custom script: ONE transaction per order on the hot-row shape, i.e.
-- what db_proxy does for a batch of one, without group commit:
-- lock the state row, check the cap, insert the order, update the state row, commit.
--
--   psql ... -f benchmarks/orders/sql/setup_baseline.sql   (scratch database)
--   pgbench -h 127.0.0.1 -U postgres -n -c 64 -j 2 -T 10 \
--       -f benchmarks/orders/sql/pgbench_one_tx_per_order.sql orders_baseline
--
-- Orders are 1.00-100.00 EUR at 60000 EUR/BTC (at most 0.00166667 BTC), so a
-- few runs stay far below the 100 BTC cap; once it is reached, transactions
-- still take the lock and only skip the writes, as db_proxy does.
\set cap 10000000000
\set rate 60000
\set cents random(100, 10000)
-- ceil(cents / 100 / rate * 1e8) in integers: exact for an integer rate.
\set sats (:cents * 1000000 + :rate - 1) / :rate
begin;
select used_satoshis, order_count from order_state where id = 1 for update \gset
\if :used_satoshis + :sats <= :cap
insert into orders (id, seq, amount, currency, exchange_rate, satoshis, rate_source,
                    rate_fetched_at, simulated, created_at)
values (gen_random_uuid(), :order_count + 1, :cents / 100.0, 'EUR', :rate, :sats, 'pgbench',
        now(), true, clock_timestamp());
update order_state set used_satoshis = used_satoshis + :sats, order_count = order_count + 1
where id = 1;
\endif
commit;
