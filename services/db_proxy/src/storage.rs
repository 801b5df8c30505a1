//! All SQL of db_proxy.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use common::models::{Capacity, Order};
use common::money::{Currency, FiatAmount, Rate, Satoshis};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row, Transaction};
use uuid::Uuid;

use crate::domain::{self, Candidate, CapState, Decision, KeyId, NewRow, StoredKey};

/// The `NOTIFY` channel that announces the newest seq after each batch that stored orders.
pub const ORDERS_CHANNEL: &str = "delos_orders";

/// The columns `order_from_row` reads, from a table aliased `o`.
macro_rules! order_columns {
    () => {
        "o.id, o.seq, o.amount, o.currency, o.exchange_rate, o.satoshis, o.rate_source, \
         o.rate_fetched_at, o.simulated, o.client_order_id, o.created_at"
    };
}

fn corrupt(what: &str, value: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::Decode(format!("stored {what} {value} is not valid").into())
}

/// Maps a row back to the wire type, re-checking money on the way out.
fn order_from_row(row: &PgRow) -> Result<Order, sqlx::Error> {
    let amount: Decimal = row.try_get("amount")?;
    let cents = amount
        .checked_mul(Decimal::ONE_HUNDRED)
        .filter(|c| c.fract().is_zero())
        .and_then(|c| c.to_i64())
        .ok_or_else(|| corrupt("amount", amount))?;
    let currency: String = row.try_get("currency")?;
    let rate: Decimal = row.try_get("exchange_rate")?;
    Ok(Order {
        id: row.try_get("id")?,
        seq: row.try_get("seq")?,
        amount: FiatAmount::from_cents(cents).map_err(|_| corrupt("amount", amount))?,
        currency: currency
            .parse::<Currency>()
            .map_err(|_| corrupt("currency", &currency))?,
        exchange_rate: Rate::new(rate).map_err(|_| corrupt("exchange_rate", rate))?,
        bitcoin_amount: Satoshis(row.try_get("satoshis")?),
        rate_source: row.try_get("rate_source")?,
        rate_fetched_at: row.try_get("rate_fetched_at")?,
        simulated: row.try_get("simulated")?,
        client_order_id: row.try_get("client_order_id")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Decides and writes one group-commit batch in ONE transaction, returning a
/// decision per candidate (same order). Nothing is written unless it commits.
///
/// The state row lock is taken first: it serialises batches of every replica,
/// so the idempotency lookup below sees every key committed before it.
#[tracing::instrument(skip_all, fields(n = batch.len()))]
pub async fn add_batch(
    pool: &PgPool,
    cap: Satoshis,
    batch: &[Candidate<'_>],
) -> Result<Vec<Decision>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // clock_timestamp(), not now(): taken after the lock, so created_at follows seq.
    let (used, count, now): (i64, i64, DateTime<Utc>) = sqlx::query_as(
        "select used_satoshis, order_count, clock_timestamp() from order_state where id = 1 for update",
    )
    .fetch_one(&mut *tx)
    .await?;
    let stored = stored_keys(&mut tx, batch).await?;
    let plan = domain::plan_batch(
        batch,
        CapState {
            used: Satoshis(used),
            count,
        },
        cap,
        &stored,
        now,
        Uuid::now_v7,
    );
    if !plan.new_rows.is_empty() {
        insert_orders(&mut tx, &plan.new_rows).await?;
        insert_keys(&mut tx, &plan.new_rows, now).await?;
        sqlx::query("update order_state set used_satoshis = $1, order_count = $2 where id = 1")
            .bind(plan.state.used.0)
            .bind(plan.state.count)
            .execute(&mut *tx)
            .await?;
        // Delivered at commit: the streams of every replica learn the new seqs.
        sqlx::query(common::live::notify_sql())
            .bind(ORDERS_CHANNEL)
            .bind(plan.state.count.to_string())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(plan.decisions)
}

/// The stored keys (and their orders) among the batch's keys, in one query.
async fn stored_keys(
    tx: &mut Transaction<'_, Postgres>,
    batch: &[Candidate<'_>],
) -> Result<HashMap<KeyId, StoredKey>, sqlx::Error> {
    let (clients, keys): (Vec<&str>, Vec<&str>) = batch
        .iter()
        .filter_map(|c| c.order.idempotency.as_ref())
        .map(|i| (i.client_id.as_str(), i.key.as_str()))
        .unzip();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query(concat!(
        "select k.client_id as key_client_id, k.key as key_key, k.request_hash as key_hash, ",
        order_columns!(),
        " from idempotency_keys k join orders o on o.id = k.order_id
          where (k.client_id, k.key) in (select * from unnest($1::text[], $2::text[]))"
    ))
    .bind(&clients)
    .bind(&keys)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|row| {
            let id: KeyId = (row.try_get("key_client_id")?, row.try_get("key_key")?);
            let key = StoredKey {
                request_hash: row.try_get("key_hash")?,
                order: order_from_row(row)?,
            };
            Ok((id, key))
        })
        .collect()
}

async fn insert_orders(tx: &mut Transaction<'_, Postgres>, rows: &[NewRow]) -> Result<(), sqlx::Error> {
    let n = rows.len();
    let mut ids = Vec::with_capacity(n);
    let mut seqs = Vec::with_capacity(n);
    let mut amounts = Vec::with_capacity(n);
    let mut currencies = Vec::with_capacity(n);
    let mut rates = Vec::with_capacity(n);
    let mut sats = Vec::with_capacity(n);
    let mut sources = Vec::with_capacity(n);
    let mut fetched = Vec::with_capacity(n);
    let mut simulated = Vec::with_capacity(n);
    let mut client_ids = Vec::with_capacity(n);
    let mut client_order_ids = Vec::with_capacity(n);
    let mut created = Vec::with_capacity(n);
    for NewRow {
        order: o,
        idempotency,
    } in rows
    {
        ids.push(o.id);
        seqs.push(o.seq);
        amounts.push(o.amount.to_decimal());
        currencies.push(o.currency.code());
        rates.push(o.exchange_rate.value());
        sats.push(o.bitcoin_amount.0);
        sources.push(o.rate_source.as_str());
        fetched.push(o.rate_fetched_at);
        simulated.push(o.simulated);
        client_ids.push(idempotency.as_ref().map(|i| i.client_id.as_str()));
        client_order_ids.push(o.client_order_id.as_deref());
        created.push(o.created_at);
    }
    sqlx::query(
        "insert into orders (id, seq, amount, currency, exchange_rate, satoshis, rate_source,
                             rate_fetched_at, simulated, client_id, client_order_id, created_at)
         select * from unnest($1::uuid[], $2::int8[], $3::numeric[], $4::text[], $5::numeric[],
                              $6::int8[], $7::text[], $8::timestamptz[], $9::bool[], $10::text[],
                              $11::text[], $12::timestamptz[])",
    )
    .bind(&ids)
    .bind(&seqs)
    .bind(&amounts)
    .bind(&currencies)
    .bind(&rates)
    .bind(&sats)
    .bind(&sources)
    .bind(&fetched)
    .bind(&simulated)
    .bind(&client_ids)
    .bind(&client_order_ids)
    .bind(&created)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_keys(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[NewRow],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut clients = Vec::new();
    let mut keys = Vec::new();
    let mut hashes = Vec::new();
    let mut order_ids = Vec::new();
    for (row, i) in rows.iter().filter_map(|r| r.idempotency.as_ref().map(|i| (r, i))) {
        clients.push(i.client_id.as_str());
        keys.push(i.key.as_str());
        hashes.push(i.request_hash.as_str());
        order_ids.push(row.order.id);
    }
    if keys.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "insert into idempotency_keys (client_id, key, request_hash, order_id, created_at)
         select u.*, $5 from unnest($1::text[], $2::text[], $3::text[], $4::uuid[]) as u",
    )
    .bind(&clients)
    .bind(&keys)
    .bind(&hashes)
    .bind(&order_ids)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The order count: every seq from 1 to it is stored (they commit together).
pub async fn order_count(conn: &mut sqlx::PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select order_count from order_state where id = 1")
        .fetch_one(conn)
        .await
}

/// The order count, read from the pool (the newest seq for the streams).
pub async fn newest_seq(pool: PgPool) -> Result<i64, sqlx::Error> {
    order_count(&mut *pool.acquire().await?).await
}

/// The orders with seqs from `lo` to `hi`, newest first: a range scan of the `seq` index.
#[tracing::instrument(skip(conn))]
pub async fn orders_between(
    conn: &mut sqlx::PgConnection,
    lo: i64,
    hi: i64,
) -> Result<Vec<Order>, sqlx::Error> {
    let rows = sqlx::query(concat!(
        "select ",
        order_columns!(),
        " from orders o where o.seq between $1 and $2 order by o.seq desc"
    ))
    .bind(lo)
    .bind(hi)
    .fetch_all(conn)
    .await?;
    rows.iter().map(order_from_row).collect()
}

/// One order by id.
#[tracing::instrument(skip(pool))]
pub async fn order_by_id(pool: &PgPool, id: Uuid) -> Result<Option<Order>, sqlx::Error> {
    let row = sqlx::query(concat!(
        "select ",
        order_columns!(),
        " from orders o where o.id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(order_from_row).transpose()
}

/// The order a client's idempotency key produced, if the key is stored.
#[tracing::instrument(skip_all)]
pub async fn keyed_order(
    pool: &PgPool,
    client_id: &str,
    key: &str,
) -> Result<Option<StoredKey>, sqlx::Error> {
    let row = sqlx::query(concat!(
        "select k.request_hash as key_hash, ",
        order_columns!(),
        " from idempotency_keys k join orders o on o.id = k.order_id
          where k.client_id = $1 and k.key = $2"
    ))
    .bind(client_id)
    .bind(key)
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        Ok(StoredKey {
            request_hash: row.try_get("key_hash")?,
            order: order_from_row(&row)?,
        })
    })
    .transpose()
}

/// Used and remaining bitcoin.
pub async fn capacity(pool: &PgPool, cap: Satoshis) -> Result<Capacity, sqlx::Error> {
    let (used, orders): (i64, i64) =
        sqlx::query_as("select used_satoshis, order_count from order_state where id = 1")
            .fetch_one(pool)
            .await?;
    Ok(Capacity {
        cap_btc: cap,
        used_btc: Satoshis(used),
        remaining_btc: Satoshis(cap.0.saturating_sub(used).max(0)),
        orders,
    })
}

/// Deletes idempotency keys created before `before`; the orders stay. Returns how many.
#[tracing::instrument(skip(pool))]
pub async fn prune_idempotency_keys(pool: &PgPool, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("delete from idempotency_keys where created_at < $1")
        .bind(before)
        .execute(pool)
        .await?
        .rows_affected())
}
