use std::fmt::Write;

use actix_web::{HttpResponse, web};
use common::Problem;
use common::html::escape;
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

/// Follows `/transitions/stream` (every change, instances too): the row of the
/// service or instance that changed takes its new status, the change goes on
/// top of the list, and the overall badge follows the worst service. A new
/// service or instance (no row yet) reloads the page. Without JavaScript the
/// page reloads itself every 10 s instead.
const STATUS_SCRIPT: &str = r#"(function(){
if(!window.EventSource)return;
var live=document.getElementById('live'),list=document.getElementById('changes'),rank={pass:0,warn:1,fail:2};
function row(t){var rows=document.querySelectorAll('tr[data-service]');for(var i=0;i<rows.length;i++){var r=rows[i];
 if(r.dataset.service===t.service&&(t.instance==null?r.dataset.instance===undefined:r.dataset.instance===t.instance))return r;}return null;}
var es=new EventSource('/transitions/stream?instances=true&after_seq='+document.body.dataset.seq);
es.onopen=function(){live.textContent='Live: changes appear as they happen.';};
es.onerror=function(){live.textContent='Reconnecting to the transition stream…';};
es.onmessage=function(e){var t=JSON.parse(e.data),r=row(t);if(!r){location.reload();return;}
 var b=r.cells[1].firstChild;b.className='b '+t.to_status;b.textContent=t.to_status;
 r.cells[3].textContent=t.at.replace('T',' ').slice(0,19)+' UTC';
 var li=document.createElement('li');li.textContent=t.at.replace('T',' ').slice(0,19)+' UTC '+t.service+
  (t.instance!=null?' instance '+(t.instance||'(unnamed)'):'')+': '+(t.from_status||'new')+' → '+t.to_status+' ('+t.reason+')';
 list.insertBefore(li,list.firstChild);
 var worst='pass';document.querySelectorAll('tr[data-service]:not([data-instance]) .b').forEach(function(x){
  if(rank[x.textContent]>rank[worst])worst=x.textContent;});
 var o=document.getElementById('overall');o.className='b '+worst;o.textContent=worst;};
})();"#;

/// A status page readable at a glance, updated live from `/transitions/stream`.
pub async fn status_page(state: web::Data<State>) -> Result<HttpResponse, Problem> {
    // Taken before the rows are read: the script replays any change after it.
    let seen = state.transitions.get();
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
        "<!doctype html><html><head><meta charset=utf-8><noscript><meta http-equiv=refresh content=10></noscript><title>Delos status</title>\
         <style>body{{font:15px system-ui,sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse}}\
         td,th{{padding:.4em .8em;border-bottom:1px solid #ddd;text-align:left}}tr.i{{font-size:90%;color:#555}}.pass{{color:#fff;background:#2a7}}\
         .warn{{background:#fc3}}.fail{{color:#fff;background:#d33}}.b{{padding:.1em .6em;border-radius:.3em}}</style></head>\
         <body data-seq={seen}><h1>Delos status: <span id=overall class='b {o}'>{o}</span></h1><table><tr><th>service</th><th>status</th>\
         <th>last seen</th><th>since</th></tr>",
        o = overall.as_str(),
    );
    if rows.is_empty() {
        html.push_str("<tr><td colspan=4>no service has reported yet</td></tr>");
    }
    for r in &rows {
        let _ = write!(
            html,
            "<tr data-service=\"{svc}\"><td>{svc}</td><td><span class='b {s}'>{s}</span></td><td>{}</td><td class=since>{}</td></tr>",
            r.last_seen.format("%Y-%m-%d %H:%M:%S UTC"),
            r.changed_at.format("%Y-%m-%d %H:%M:%S UTC"),
            svc = escape(&r.service),
            s = escape(&r.status)
        );
        for i in instances.iter().filter(|i| i.service == r.service) {
            let _ = write!(
                html,
                "<tr class=i data-service=\"{svc}\" data-instance=\"{inst}\"><td>&nbsp;&nbsp;↳ {}</td><td><span class='b {s}'>{s}</span></td><td>{}</td><td class=since>{}</td></tr>",
                escape(if i.instance.is_empty() {
                    "(unnamed)"
                } else {
                    &i.instance
                }),
                i.last_seen.format("%Y-%m-%d %H:%M:%S UTC"),
                i.changed_at.format("%Y-%m-%d %H:%M:%S UTC"),
                s = escape(&i.status),
                svc = escape(&i.service),
                inst = escape(&i.instance),
            );
        }
    }
    html.push_str("</table><h2>Recent changes</h2><p id=live class=i></p><ul id=changes>");
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
    let _ = write!(
        html,
        "</ul><p><a href=/services>/services</a> · <a href=/reports>/reports</a> · <a href=/docs/>API docs</a></p>\
         <script>{STATUS_SCRIPT}</script></body></html>"
    );
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html))
}
