//! `/graphql`: the original `processRequest` (message and graphData as JSON text),
//! the same answer typed field by field (`analysis`), plus the stored results
//! and prices. `POST /graphql` executes (`{"query", "variables"}`); `GET /graphql`
//! is a small query page of our own (no CDN: async-graphql's GraphiQL page loads its
//! scripts from one). Depth and complexity are limited, and every list is at most
//! 100 items, so one query cannot take the service down.

use std::sync::Arc;

use async_graphql::{
    Context, EmptyMutation, EmptySubscription, ErrorExtensions, Object, Schema, SimpleObject,
};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::answer::LamboAnswer;
use crate::checker::{Checker, RawQuestion, parse_asset};
use crate::domain::{self, Interval};
use crate::storage;

/// Deepest nesting a query may have.
pub const MAX_DEPTH: usize = 6;
/// Largest complexity (one per field, lists times their `limit`).
pub const MAX_COMPLEXITY: usize = 1000;

/// The schema type.
pub type LamboSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// Builds the schema around the checker.
pub fn schema(checker: Arc<Checker>) -> LamboSchema {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .data(checker)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .finish()
}

/// Root query.
pub struct Query;

/// The original `processRequest` result: both fields JSON text.
#[derive(SimpleObject)]
pub struct ProcessRequestResult {
    /// `{"NUMBERCOINS", "PROFIT", "GROWTHFACTOR", "LAMBOS", "INVESTMENT", "SYMBOL", "GENERATIONDATE"}`.
    message: String,
    /// `[{"x": date, "y": close}, …]`.
    graph_data: String,
}

/// The method parameters beside symbol and investment.
#[derive(Default)]
struct Options {
    interval: Option<String>,
    since: Option<String>,
    max_points: Option<i32>,
}

async fn ask(
    ctx: &Context<'_>,
    symbol: String,
    investment: String,
    o: Options,
) -> async_graphql::Result<LamboAnswer> {
    let raw = RawQuestion {
        symbol: Some(symbol),
        investment: Some(investment),
        interval: o.interval,
        since: o.since,
        max_points: o.max_points.map(|m| m.to_string()),
    };
    checker(ctx)?
        .ask("graphql", "graphql", &raw)
        .await
        .and_then(|a| a.typed())
        .map_err(gql_err)
}

/// A stored analysis result.
#[derive(SimpleObject)]
pub struct StoredResult {
    id: i64,
    /// RFC 3339, UTC.
    created_at: String,
    symbol: String,
    /// Exact decimal strings.
    investment: String,
    lambos: String,
    growth_factor: Option<String>,
    verdict: Option<String>,
}

/// One stored candle.
#[derive(SimpleObject)]
pub struct PricePoint {
    /// RFC 3339, UTC.
    open_time: String,
    /// Exact decimal string.
    close: String,
    interval: String,
    source: String,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn gql_err(p: common::Problem) -> async_graphql::Error {
    async_graphql::Error::new(p.detail.clone()).extend_with(|_, e| {
        e.set("code", p.code.clone());
        e.set("status", p.status);
    })
}

fn db_err(e: sqlx::Error) -> async_graphql::Error {
    gql_err(common::db::problem(e))
}

fn checker<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Arc<Checker>> {
    ctx.data::<Arc<Checker>>()
}

fn bounded(limit: Option<i32>) -> async_graphql::Result<i64> {
    let l = limit.unwrap_or(20);
    if !(1..=100).contains(&l) {
        return Err(gql_err(common::Problem::invalid_field(
            "limit",
            "must be from 1 to 100",
        )));
    }
    Ok(i64::from(l))
}

#[Object]
impl Query {
    /// The original schema's query: `message` and `graphData` as JSON-encoded
    /// strings, the investment an `Int`, so the original clients work unchanged.
    async fn process_request(
        &self,
        ctx: &Context<'_>,
        symbol: String,
        investment: i32,
    ) -> async_graphql::Result<ProcessRequestResult> {
        let answer = ask(ctx, symbol, investment.to_string(), Options::default()).await?;
        let (message, graph_data) = answer.original_parts().map_err(gql_err)?;
        Ok(ProcessRequestResult { message, graph_data })
    }

    /// The whole answer, typed: every figure (exact decimals), the verdict, the
    /// method with the candles averaged, and the chart points.
    async fn analysis(
        &self,
        ctx: &Context<'_>,
        symbol: String,
        investment: Decimal,
        interval: Option<String>,
        since: Option<String>,
        max_points: Option<i32>,
    ) -> async_graphql::Result<LamboAnswer> {
        let options = Options {
            interval,
            since,
            max_points,
        };
        ask(ctx, symbol, investment.to_string(), options).await
    }

    /// Stored results, newest first.
    #[graphql(complexity = "limit.unwrap_or(20).max(1) as usize * child_complexity")]
    async fn results(
        &self,
        ctx: &Context<'_>,
        symbol: Option<String>,
        limit: Option<i32>,
    ) -> async_graphql::Result<Vec<StoredResult>> {
        let limit = bounded(limit)?;
        let symbol = symbol
            .map(|s| parse_asset(Some(&s)))
            .transpose()
            .map_err(gql_err)?;
        let rows = storage::results_page(&checker(ctx)?.pool, i64::MAX, symbol.map(|a| a.symbol), limit)
            .await
            .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let (verdict, growth_factor) = r.verdict_and_growth().unzip();
                StoredResult {
                    id: r.query_id,
                    created_at: rfc3339(r.created_at),
                    symbol: r.symbol,
                    investment: domain::exact(r.investment),
                    lambos: domain::exact(r.lambos),
                    growth_factor,
                    verdict,
                }
            })
            .collect())
    }

    /// Stored candles of a coin, newest first.
    #[graphql(complexity = "limit.unwrap_or(20).max(1) as usize * child_complexity")]
    async fn price_history(
        &self,
        ctx: &Context<'_>,
        symbol: String,
        interval: Option<String>,
        limit: Option<i32>,
    ) -> async_graphql::Result<Vec<PricePoint>> {
        let limit = bounded(limit)?;
        let asset = parse_asset(Some(&symbol)).map_err(gql_err)?;
        let interval = match interval {
            None => None,
            Some(i) => Some(
                Interval::parse(&i)
                    .ok_or_else(|| {
                        gql_err(common::Problem::invalid_field(
                            "interval",
                            "must be one of 15d, 1w, 1d, 1M",
                        ))
                    })?
                    .as_str(),
            ),
        };
        let rows = storage::candles_page(&checker(ctx)?.pool, asset.symbol, interval, None, limit)
            .await
            .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|c| PricePoint {
                open_time: rfc3339(c.open_time),
                close: domain::exact(c.close),
                interval: c.interval,
                source: c.source,
            })
            .collect())
    }

    /// The newest stored close of a coin.
    async fn current_price(
        &self,
        ctx: &Context<'_>,
        symbol: String,
    ) -> async_graphql::Result<Option<PricePoint>> {
        Ok(self
            .price_history(ctx, symbol, None, Some(1))
            .await?
            .into_iter()
            .next())
    }
}
