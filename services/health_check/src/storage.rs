//! All SQL of health_check.

use chrono::{DateTime, Utc};
use common::models::Report;
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};

use crate::domain::{Status, TtlPolicy};

/// A stored report.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct StoredReport {
    pub id: i64,
    pub received_at: DateTime<Utc>,
    pub level: String,
    pub service: String,
    pub status: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// A service's current state.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ServiceRow {
    pub service: String,
    pub status: String,
    pub reported_status: String,
    pub last_seen: DateTime<Utc>,
    pub changed_at: DateTime<Utc>,
}

/// A logged status change.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Transition {
    pub id: i64,
    pub service: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub at: DateTime<Utc>,
    pub reason: String,
}

/// Filters of `GET /reports`.
#[derive(Debug, Default)]
pub struct ReportFilter {
    pub service: Option<String>,
    pub level: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// Stores reports and refreshes their services' status, in one transaction.
/// Returns the new ids in order.
#[tracing::instrument(skip_all, fields(n = reports.len()))]
pub async fn insert_reports(pool: &PgPool, reports: &[Report]) -> Result<Vec<i64>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let levels: Vec<&str> = reports.iter().map(|r| r.level.as_str()).collect();
    let services: Vec<&str> = reports.iter().map(|r| r.service.as_str()).collect();
    let statuses: Vec<&str> = reports.iter().map(|r| r.status.as_str()).collect();
    let data: Vec<serde_json::Value> = reports.iter().map(|r| r.data.clone()).collect();
    let rows: Vec<(i64, DateTime<Utc>)> = sqlx::query_as(
        "insert into reports (level, service, status, data)
         select * from unnest($1::text[], $2::text[], $3::text[], $4::jsonb[])
         returning id, received_at",
    )
    .bind(&levels)
    .bind(&services)
    .bind(&statuses)
    .bind(&data)
    .fetch_all(&mut *tx)
    .await?;
    let now = rows.first().map(|r| r.1).unwrap_or_else(Utc::now);
    // The last report of each service decides its reported status. Sorted so
    // concurrent batches lock service rows in the same order (no deadlocks).
    let mut latest: std::collections::BTreeMap<&str, Status> = std::collections::BTreeMap::new();
    for r in reports {
        latest.insert(&r.service, Status::from_report(&r.status, &r.level));
    }
    for (service, status) in latest {
        set_status(&mut tx, service, status, Some(now), now, "reported").await?;
    }
    tx.commit().await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Sets a service's status (and `last_seen` when given), logging a transition when it changes.
async fn set_status(
    tx: &mut Transaction<'_, Postgres>,
    service: &str,
    status: Status,
    seen: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    reason: &str,
) -> Result<(), sqlx::Error> {
    // Insert-or-lock: two first reports of a new service may race, and the
    // loser must see the winner's row rather than violate the primary key.
    let inserted = match seen {
        Some(seen) => {
            sqlx::query(
                "insert into service_status (service, last_seen, reported_status, status, changed_at)
                 values ($1, $2, $3, $3, $2) on conflict (service) do nothing",
            )
            .bind(service)
            .bind(seen)
            .bind(status.as_str())
            .execute(&mut **tx)
            .await?
            .rows_affected()
                == 1
        }
        None => false,
    };
    let old = if inserted {
        None
    } else {
        let row: Option<(String,)> =
            sqlx::query_as("select status from service_status where service = $1 for update")
                .bind(service)
                .fetch_optional(&mut **tx)
                .await?;
        let Some((old,)) = row else { return Ok(()) };
        let query = match seen {
            Some(seen) => sqlx::query(
                "update service_status set last_seen = greatest(last_seen, $4), reported_status = $2, status = $2,
                 changed_at = case when status = $2 then changed_at else $3 end
                 where service = $1",
            )
            .bind(service)
            .bind(status.as_str())
            .bind(now)
            .bind(seen),
            None => sqlx::query(
                "update service_status set status = $2, changed_at = case when status = $2 then changed_at else $3 end
                 where service = $1",
            )
            .bind(service)
            .bind(status.as_str())
            .bind(now),
        };
        query.execute(&mut **tx).await?;
        Some(Status::from_db(&old))
    };
    if old != Some(status) {
        sqlx::query("insert into transitions (service, from_status, to_status, at, reason) values ($1, $2, $3, $4, $5)")
            .bind(service)
            .bind(old.map(Status::as_str))
            .bind(status.as_str())
            .bind(now)
            .bind(reason)
            .execute(&mut **tx)
            .await?;
        tracing::info!(
            service,
            from = old.map(Status::as_str),
            to = status.as_str(),
            reason,
            "status changed"
        );
    }
    Ok(())
}

/// Re-evaluates every service against the TTL policy as of `now`; returns how many changed.
#[tracing::instrument(skip_all)]
pub async fn evaluate(pool: &PgPool, policy: &TtlPolicy, now: DateTime<Utc>) -> Result<usize, sqlx::Error> {
    let rows: Vec<ServiceRow> = sqlx::query_as("select * from service_status order by service")
        .fetch_all(pool)
        .await?;
    let mut changed = 0;
    for row in rows {
        let (status, reason) = policy.effective(
            &row.service,
            Status::from_db(&row.reported_status),
            row.last_seen,
            now,
        );
        if status.as_str() != row.status {
            let mut tx = pool.begin().await?;
            // Re-read under the row lock: a report may have arrived meanwhile.
            let fresh: Option<ServiceRow> =
                sqlx::query_as("select * from service_status where service = $1 for update")
                    .bind(&row.service)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(fresh) = fresh {
                let (status, reason2) = policy.effective(
                    &fresh.service,
                    Status::from_db(&fresh.reported_status),
                    fresh.last_seen,
                    now,
                );
                if status.as_str() != fresh.status {
                    let reason = if reason2 == "reported" { reason } else { reason2 };
                    set_status(&mut tx, &fresh.service, status, None, now, reason).await?;
                    changed += 1;
                }
            }
            tx.commit().await?;
        }
    }
    Ok(changed)
}

/// Reports matching `filter`, newest first, below `before` (keyset).
pub async fn list_reports(
    pool: &PgPool,
    filter: &ReportFilter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<StoredReport>, sqlx::Error> {
    sqlx::query_as(
        "select id, received_at, level, service, status, data from reports
         where ($1::text is null or service = $1) and ($2::text is null or level = $2)
           and ($3::timestamptz is null or received_at >= $3) and ($4::timestamptz is null or received_at < $4)
           and ($5::bigint is null or id < $5)
         order by id desc limit $6",
    )
    .bind(&filter.service)
    .bind(&filter.level)
    .bind(filter.since)
    .bind(filter.until)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// How many reports match `filter`.
pub async fn count_reports(pool: &PgPool, filter: &ReportFilter) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "select count(*) from reports
         where ($1::text is null or service = $1) and ($2::text is null or level = $2)
           and ($3::timestamptz is null or received_at >= $3) and ($4::timestamptz is null or received_at < $4)",
    )
    .bind(&filter.service)
    .bind(&filter.level)
    .bind(filter.since)
    .bind(filter.until)
    .fetch_one(pool)
    .await
}

/// Every known service.
pub async fn services(pool: &PgPool) -> Result<Vec<ServiceRow>, sqlx::Error> {
    sqlx::query_as("select * from service_status order by service")
        .fetch_all(pool)
        .await
}

/// Transitions, newest first, optionally of one service, below `before`.
pub async fn transitions(
    pool: &PgPool,
    service: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Transition>, sqlx::Error> {
    sqlx::query_as(
        "select * from transitions where ($1::text is null or service = $1) and ($2::bigint is null or id < $2)
         order by id desc limit $3",
    )
    .bind(service)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Deletes reports and transitions received before `cutoff`; returns rows deleted.
#[tracing::instrument(skip_all)]
pub async fn prune(pool: &PgPool, cutoff: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let reports = sqlx::query("delete from reports where received_at < $1")
        .bind(cutoff)
        .execute(pool)
        .await?;
    let transitions = sqlx::query("delete from transitions where at < $1")
        .bind(cutoff)
        .execute(pool)
        .await?;
    Ok(reports.rows_affected() + transitions.rows_affected())
}
