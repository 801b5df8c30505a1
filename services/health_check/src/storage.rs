//! All SQL of health_check.

use chrono::{DateTime, Utc};
use common::models::Report;
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};

use std::collections::BTreeMap;

use crate::domain::{self, Status, TtlPolicy};

/// A stored report.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct StoredReport {
    pub id: i64,
    pub received_at: DateTime<Utc>,
    pub level: String,
    pub service: String,
    /// The sending instance; empty for the original body without one.
    pub instance: String,
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

/// One instance (replica) of a service.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct InstanceRow {
    pub service: String,
    pub instance: String,
    pub status: String,
    pub reported_status: String,
    pub last_seen: DateTime<Utc>,
    pub changed_at: DateTime<Utc>,
}

/// A logged status change.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Transition {
    pub id: i64,
    /// Its place in commit order (gapless; see `sequence_transitions`); absent
    /// for the moment between its commit and the sequencer's.
    pub seq: Option<i64>,
    pub service: String,
    /// The instance that changed; absent for the service's rolled-up status.
    pub instance: Option<String>,
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

/// The most reports one [`insert_reports`] call takes: a `POST /report/batch`, or a
/// group-committed batch of single reports.
pub const MAX_BATCH: usize = 1000;

/// Stores reports and refreshes their instances' and services' status, in one
/// transaction. Returns the new ids in order.
#[tracing::instrument(skip_all, fields(n = reports.len()))]
pub async fn insert_reports(pool: &PgPool, reports: &[Report]) -> Result<Vec<i64>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let levels: Vec<&str> = reports.iter().map(|r| r.level.as_str()).collect();
    let services: Vec<&str> = reports.iter().map(|r| r.service.as_str()).collect();
    let instances: Vec<&str> = reports.iter().map(|r| r.instance.as_str()).collect();
    let statuses: Vec<&str> = reports.iter().map(|r| r.status.as_str()).collect();
    let data: Vec<serde_json::Value> = reports.iter().map(|r| r.data.clone()).collect();
    let rows: Vec<(i64, DateTime<Utc>)> = sqlx::query_as(
        "insert into reports (level, service, instance, status, data)
         select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[])
         returning id, received_at",
    )
    .bind(&levels)
    .bind(&services)
    .bind(&instances)
    .bind(&statuses)
    .bind(&data)
    .fetch_all(&mut *tx)
    .await?;
    let now = rows.first().map(|r| r.1).unwrap_or_else(Utc::now);
    // The last report of each instance decides its reported status. Sorted so
    // concurrent batches lock rows in the same order (no deadlocks): every
    // instance row of a service, then the service row.
    let mut latest: BTreeMap<(&str, &str), Status> = BTreeMap::new();
    for r in reports {
        latest.insert(
            (&r.service, &r.instance),
            Status::from_report(&r.status, &r.level),
        );
    }
    // Only a changed instance can change its service: a steady heartbeat
    // updates one row, as before instances existed.
    let mut touched: Vec<&str> = Vec::new();
    for ((service, instance), status) in latest {
        let changed =
            set_instance_status(&mut tx, service, instance, status, Some(now), now, "reported").await?;
        if changed && touched.last() != Some(&service) {
            touched.push(service);
        }
    }
    for service in touched {
        roll_up(&mut tx, service, now, "reported").await?;
    }
    tx.commit().await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Sets an instance's status (and `last_seen` when given), logging a transition
/// when it changes. Returns whether it changed.
async fn set_instance_status(
    tx: &mut Transaction<'_, Postgres>,
    service: &str,
    instance: &str,
    status: Status,
    seen: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    reason: &str,
) -> Result<bool, sqlx::Error> {
    let inserted = match seen {
        Some(seen) => sqlx::query(
            "insert into instance_status (service, instance, last_seen, reported_status, status, changed_at)
                 values ($1, $2, $3, $4, $4, $3) on conflict (service, instance) do nothing",
        )
        .bind(service)
        .bind(instance)
        .bind(seen)
        .bind(status.as_str())
        .execute(&mut **tx)
        .await?
        .rows_affected()
            == 1,
        None => false,
    };
    let old = if inserted {
        None
    } else {
        let row: Option<(String,)> = sqlx::query_as(
            "select status from instance_status where service = $1 and instance = $2 for update",
        )
        .bind(service)
        .bind(instance)
        .fetch_optional(&mut **tx)
        .await?;
        let Some((old,)) = row else { return Ok(false) };
        let query = match seen {
            Some(seen) => sqlx::query(
                "update instance_status set last_seen = greatest(last_seen, $5), reported_status = $3, status = $3,
                 changed_at = case when status = $3 then changed_at else $4 end
                 where service = $1 and instance = $2",
            )
            .bind(service)
            .bind(instance)
            .bind(status.as_str())
            .bind(now)
            .bind(seen),
            None => sqlx::query(
                "update instance_status set status = $3, changed_at = case when status = $3 then changed_at else $4 end
                 where service = $1 and instance = $2",
            )
            .bind(service)
            .bind(instance)
            .bind(status.as_str())
            .bind(now),
        };
        query.execute(&mut **tx).await?;
        Some(Status::from_db(&old))
    };
    if old == Some(status) {
        return Ok(false);
    }
    log_transition(tx, service, Some(instance), old, status, now, reason).await?;
    Ok(true)
}

/// Recomputes a service's status from its instances ([`domain::roll_up`]).
/// The service row is locked before the instances are read, so two
/// transactions changing two instances at once roll up in turn, the second
/// seeing the first's change.
async fn roll_up(
    tx: &mut Transaction<'_, Postgres>,
    service: &str,
    now: DateTime<Utc>,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("select 1 from service_status where service = $1 for update")
        .bind(service)
        .execute(&mut **tx)
        .await?;
    let rows: Vec<(String, DateTime<Utc>)> =
        sqlx::query_as("select status, last_seen from instance_status where service = $1")
            .bind(service)
            .fetch_all(&mut **tx)
            .await?;
    let Some(last_seen) = rows.iter().map(|r| r.1).max() else {
        return Ok(());
    };
    let status = domain::roll_up(rows.iter().map(|r| Status::from_db(&r.0)));
    set_status(tx, service, status, Some(last_seen), now, reason).await
}

async fn log_transition(
    tx: &mut Transaction<'_, Postgres>,
    service: &str,
    instance: Option<&str>,
    old: Option<Status>,
    status: Status,
    now: DateTime<Utc>,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into transitions (service, instance, from_status, to_status, at, reason) values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(service)
    .bind(instance)
    .bind(old.map(Status::as_str))
    .bind(status.as_str())
    .bind(now)
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    tracing::info!(
        service,
        instance,
        from = old.map(Status::as_str),
        to = status.as_str(),
        reason,
        "status changed"
    );
    Ok(())
}

/// Sets a service's rolled-up status and `last_seen`, logging a transition when it changes.
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
        log_transition(tx, service, None, old, status, now, reason).await?;
    }
    Ok(())
}

/// Re-evaluates every instance against the TTL policy as of `now`, and rolls up
/// the services whose instances changed; returns how many instances changed.
/// Silence is counted from `policy.counted_from` at the earliest, so that a
/// restart of health_check does not fail every service it has not heard from
/// while it was down.
#[tracing::instrument(skip_all)]
pub async fn evaluate(pool: &PgPool, policy: &TtlPolicy, now: DateTime<Utc>) -> Result<usize, sqlx::Error> {
    let rows: Vec<InstanceRow> = sqlx::query_as("select * from instance_status order by service, instance")
        .fetch_all(pool)
        .await?;
    let mut changed = 0;
    for row in rows {
        let (status, _) = policy.effective(
            &row.service,
            Status::from_db(&row.reported_status),
            row.last_seen,
            now,
        );
        if status.as_str() == row.status {
            continue;
        }
        let mut tx = pool.begin().await?;
        // Re-read under the row lock: a report may have arrived meanwhile.
        let fresh: Option<InstanceRow> =
            sqlx::query_as("select * from instance_status where service = $1 and instance = $2 for update")
                .bind(&row.service)
                .bind(&row.instance)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(fresh) = fresh {
            let (status, reason) = policy.effective(
                &fresh.service,
                Status::from_db(&fresh.reported_status),
                fresh.last_seen,
                now,
            );
            if status.as_str() != fresh.status {
                set_instance_status(
                    &mut tx,
                    &fresh.service,
                    &fresh.instance,
                    status,
                    None,
                    now,
                    reason,
                )
                .await?;
                roll_up(&mut tx, &fresh.service, now, reason).await?;
                changed += 1;
            }
        }
        tx.commit().await?;
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
        "select id, received_at, level, service, instance, status, data from reports
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

/// Every known service; `last_seen` is its most recently heard instance's.
pub async fn services(pool: &PgPool) -> Result<Vec<ServiceRow>, sqlx::Error> {
    sqlx::query_as(
        "select s.service, s.status, s.reported_status, s.changed_at,
                coalesce((select max(i.last_seen) from instance_status i where i.service = s.service), s.last_seen)
                  as last_seen
         from service_status s order by s.service",
    )
        .fetch_all(pool)
        .await
}

/// Every instance of every service, by service.
pub async fn instances(pool: &PgPool) -> Result<Vec<InstanceRow>, sqlx::Error> {
    sqlx::query_as("select * from instance_status order by service, instance")
        .fetch_all(pool)
        .await
}

/// Which transitions to list.
#[derive(Debug, Default)]
pub struct TransitionFilter<'a> {
    pub service: Option<&'a str>,
    /// Only this instance's changes.
    pub instance: Option<&'a str>,
    /// Instances' changes as well as services' (with no `instance`).
    pub with_instances: bool,
}

/// Transitions matching `filter`, newest first, below `before`.
pub async fn transitions(
    pool: &PgPool,
    filter: &TransitionFilter<'_>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Transition>, sqlx::Error> {
    sqlx::query_as(
        "select * from transitions where ($1::text is null or service = $1) and ($2::bigint is null or id < $2)
           and (case when $4::text is not null then instance = $4 when $5 then true else instance is null end)
         order by id desc limit $3",
    )
    .bind(filter.service)
    .bind(before)
    .bind(limit)
    .bind(filter.instance)
    .bind(filter.with_instances)
    .fetch_all(pool)
    .await
}

/// The `NOTIFY` channel that announces the newest transition seq.
pub const TRANSITIONS_CHANNEL: &str = "delos_transitions";

/// Gives the committed transitions without a seq the next seqs, in id order,
/// and announces the newest; returns the newest seq. One sequencer at a time
/// (the row lock), so seqs are gapless and committed in order.
pub async fn sequence_transitions(pool: PgPool) -> Result<i64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let (last,): (i64,) = sqlx::query_as("select last from transition_seq where id = 1 for update")
        .fetch_one(&mut *tx)
        .await?;
    let ids: Vec<i64> = sqlx::query_scalar("select id from transitions where seq is null order by id")
        .fetch_all(&mut *tx)
        .await?;
    if ids.is_empty() {
        tx.commit().await?;
        return Ok(last);
    }
    let newest = last + i64::try_from(ids.len()).unwrap_or(i64::MAX - last);
    sqlx::query(
        "update transitions t set seq = $2 + n.ord from unnest($1::int8[]) with ordinality as n(id, ord)
         where t.id = n.id",
    )
    .bind(&ids)
    .bind(last)
    .execute(&mut *tx)
    .await?;
    sqlx::query("update transition_seq set last = $1 where id = 1")
        .bind(newest)
        .execute(&mut *tx)
        .await?;
    sqlx::query(common::live::notify_sql())
        .bind(TRANSITIONS_CHANNEL)
        .bind(newest.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(newest)
}

/// Transitions matching `filter` with seqs in `(after, upto]`, oldest first, at most `limit`.
pub async fn transitions_after(
    pool: &PgPool,
    filter: &TransitionFilter<'_>,
    after: i64,
    upto: i64,
    limit: i64,
) -> Result<Vec<Transition>, sqlx::Error> {
    sqlx::query_as(
        "select * from transitions where seq > $2 and seq <= $3 and ($1::text is null or service = $1)
           and (case when $5::text is not null then instance = $5 when $6 then true else instance is null end)
         order by seq limit $4",
    )
    .bind(filter.service)
    .bind(after)
    .bind(upto)
    .bind(limit)
    .bind(filter.instance)
    .bind(filter.with_instances)
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
    // An instance silent for the whole retention is gone (scaled down, replaced):
    // it no longer holds its service's status down.
    let mut tx = pool.begin().await?;
    let gone: Vec<(String,)> =
        sqlx::query_as("delete from instance_status where last_seen < $1 returning service")
            .bind(cutoff)
            .fetch_all(&mut *tx)
            .await?;
    let mut services: Vec<&str> = gone.iter().map(|g| g.0.as_str()).collect();
    services.sort_unstable();
    services.dedup();
    for service in &services {
        roll_up(&mut tx, service, Utc::now(), "instance pruned").await?;
    }
    tx.commit().await?;
    Ok(reports.rows_affected() + transitions.rows_affected() + gone.len() as u64)
}
