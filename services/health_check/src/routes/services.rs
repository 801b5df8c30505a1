use std::fmt::Write;

use actix_web::{HttpResponse, web};
use common::Problem;
use serde::Deserialize;
use serde_json::json;

use crate::domain::Status;
use crate::state::State;
use crate::storage;

/// `limit`: 50 unless given, at most 500.
const LIMIT: common::paging::PageSize = common::paging::PageSize::new("limit", 50, 500);

/// Each service's status (pass, warn, fail) rolled up from its instances, its
/// last heartbeat and TTL, and each instance (replica) with its own.
#[utoipa::path(get, tag = "services", path = "/services", responses((status = 200, description = "health+json style summary",
    content_type = "application/health+json", body = ServicesSummary), (status = 503, body = Problem)))]
pub async fn get_services(state: web::Data<State>) -> Result<HttpResponse, Problem> {
    let rows = storage::services(&state.pool)
        .await
        .map_err(common::db::problem)?;
    let instances = storage::instances(&state.pool)
        .await
        .map_err(common::db::problem)?;
    let overall = rows
        .iter()
        .map(|r| Status::from_db(&r.status))
        .max()
        .unwrap_or(Status::Pass);
    let services: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "service": r.service, "status": r.status, "reported_status": r.reported_status,
                "last_seen": r.last_seen, "changed_at": r.changed_at,
                "ttl_secs": state.policy.ttl_secs(&r.service), "grace_secs": state.policy.grace_secs,
                "instances": instances.iter().filter(|i| i.service == r.service).map(|i| json!({
                    "instance": i.instance, "status": i.status, "reported_status": i.reported_status,
                    "last_seen": i.last_seen, "changed_at": i.changed_at,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(HttpResponse::Ok()
        .content_type("application/health+json")
        .json(json!({ "status": overall.as_str(), "services": services })))
}

/// `GET /services`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ServicesSummary {
    /// The worst status of any service.
    status: Status,
    services: Vec<ServiceSummary>,
}

/// One service in `GET /services`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ServiceSummary {
    service: String,
    /// Rolled up from the instances: all pass → pass, some failing while one passes → warn, else the worst.
    status: Status,
    reported_status: Status,
    last_seen: chrono::DateTime<chrono::Utc>,
    changed_at: chrono::DateTime<chrono::Utc>,
    ttl_secs: u64,
    grace_secs: u64,
    instances: Vec<InstanceSummary>,
}

/// One instance (replica) of a service.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct InstanceSummary {
    /// e.g. `host:port`; empty for reports without one (the original body).
    instance: String,
    status: Status,
    reported_status: Status,
    last_seen: chrono::DateTime<chrono::Utc>,
    changed_at: chrono::DateTime<chrono::Utc>,
}

/// Query of `GET /transitions`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct TransitionsQuery {
    service: Option<String>,
    /// Only this instance's changes.
    instance: Option<String>,
    /// Instances' changes as well as services' (default: services' only).
    instances: Option<bool>,
    /// 1-500, default 50.
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The status changes, newest first.
const TRANSITIONS: common::paging::Keyset = common::paging::Keyset::new("transitions.id_desc", 1);

/// The log of status changes, newest first: each service's rolled-up status,
/// and with `instances=true` (or `instance=`) its instances'.
#[utoipa::path(get, tag = "services", path = "/transitions", params(TransitionsQuery),
    responses((status = 200, description = "status changes `{data: [Transition], next_cursor}`"), (status = 503, body = Problem)))]
pub async fn get_transitions(
    state: web::Data<State>,
    q: web::Query<TransitionsQuery>,
) -> Result<HttpResponse, Problem> {
    let limit = LIMIT.check(q.limit)?;
    let before = q.cursor.as_deref().map(|c| TRANSITIONS.key(c)).transpose()?;
    let filter = storage::TransitionFilter {
        service: q.service.as_deref(),
        instance: q.instance.as_deref(),
        with_instances: q.instances.unwrap_or(false),
    };
    let mut rows = storage::transitions(&state.pool, &filter, before, i64::from(limit) + 1)
        .await
        .map_err(common::db::problem)?;
    let next = TRANSITIONS.next_page(&mut rows, limit, |r| r.id);
    Ok(HttpResponse::Ok().json(json!({ "data": rows, "next_cursor": next })))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A status page readable at a glance; refreshes itself every 10 s.
pub async fn status_page(state: web::Data<State>) -> Result<HttpResponse, Problem> {
    let rows = storage::services(&state.pool)
        .await
        .map_err(common::db::problem)?;
    let instances = storage::instances(&state.pool)
        .await
        .map_err(common::db::problem)?;
    let all = storage::TransitionFilter {
        with_instances: true,
        ..Default::default()
    };
    let recent = storage::transitions(&state.pool, &all, None, 20)
        .await
        .map_err(common::db::problem)?;
    let overall = rows
        .iter()
        .map(|r| Status::from_db(&r.status))
        .max()
        .unwrap_or(Status::Pass);
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html><head><meta charset=utf-8><meta http-equiv=refresh content=10><title>Delos status</title>\
         <style>body{{font:15px system-ui,sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse}}\
         td,th{{padding:.4em .8em;border-bottom:1px solid #ddd;text-align:left}}tr.i{{font-size:90%;color:#555}}.pass{{color:#fff;background:#2a7}}\
         .warn{{background:#fc3}}.fail{{color:#fff;background:#d33}}.b{{padding:.1em .6em;border-radius:.3em}}</style></head>\
         <body><h1>Delos status: <span class='b {o}'>{o}</span></h1><table><tr><th>service</th><th>status</th>\
         <th>last seen</th><th>since</th></tr>",
        o = overall.as_str()
    );
    if rows.is_empty() {
        html.push_str("<tr><td colspan=4>no service has reported yet</td></tr>");
    }
    for r in &rows {
        let _ = write!(
            html,
            "<tr><td>{}</td><td><span class='b {s}'>{s}</span></td><td>{}</td><td>{}</td></tr>",
            escape(&r.service),
            r.last_seen.format("%Y-%m-%d %H:%M:%S UTC"),
            r.changed_at.format("%Y-%m-%d %H:%M:%S UTC"),
            s = escape(&r.status)
        );
        for i in instances.iter().filter(|i| i.service == r.service) {
            let _ = write!(
                html,
                "<tr class=i><td>&nbsp;&nbsp;↳ {}</td><td><span class='b {s}'>{s}</span></td><td>{}</td><td>{}</td></tr>",
                escape(if i.instance.is_empty() {
                    "(unnamed)"
                } else {
                    &i.instance
                }),
                i.last_seen.format("%Y-%m-%d %H:%M:%S UTC"),
                i.changed_at.format("%Y-%m-%d %H:%M:%S UTC"),
                s = escape(&i.status)
            );
        }
    }
    html.push_str("</table><h2>Recent changes</h2><ul>");
    for t in &recent {
        let _ = write!(
            html,
            "<li>{} <b>{}</b>{}: {} → {} ({})</li>",
            t.at.format("%Y-%m-%d %H:%M:%S UTC"),
            escape(&t.service),
            t.instance
                .as_deref()
                .map(|i| format!(" instance {}", escape(if i.is_empty() { "(unnamed)" } else { i })))
                .unwrap_or_default(),
            escape(t.from_status.as_deref().unwrap_or("new")),
            escape(&t.to_status),
            escape(&t.reason)
        );
    }
    html.push_str("</ul><p><a href=/services>/services</a> · <a href=/reports>/reports</a> · <a href=/docs/>API docs</a></p></body></html>");
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html))
}
