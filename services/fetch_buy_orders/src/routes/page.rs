//! `GET /`: the orders page. Server-rendered and readable without JavaScript:
//! the cap as a gauge, the latest price per currency with its source and age,
//! the newest orders; a small inline script follows `/orders/stream` and adds
//! each new order as it is stored. Nothing is loaded from elsewhere.

use std::fmt::Write;

use actix_web::{HttpResponse, web};
use chrono::Utc;
use common::Problem;
use common::html::escape;
use common::internal_apis::{CacheProxyClient, DbProxyClient, PageRequest};
use common::models::Order;
use common::money::Currency;

/// Orders shown (and kept by the script).
const SHOWN: u32 = 20;

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;color:#222}\
meter{width:100%;height:1.6rem}table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}\
td,th{padding:.25rem .5rem;border-bottom:1px solid #ddd;text-align:right}th{background:#f4f4f4}\
td:first-child,th:first-child{text-align:left}.small{color:#555;font-size:.9rem}.warn{color:#a33}\
tr.new{background:#eaffea}";

/// The page: gauge, prices, newest orders, and the live script.
#[utoipa::path(get, tag = "web page", path = "/",
    responses((status = 200, content_type = "text/html", description = "the orders page"), (status = 429, body = Problem)))]
pub async fn index(
    db: web::Data<DbProxyClient>,
    prices: web::Data<CacheProxyClient>,
) -> Result<HttpResponse, Problem> {
    let newest = PageRequest {
        page_size: SHOWN,
        ..PageRequest::default()
    };
    let (capacity, record, page) = tokio::join!(db.capacity(), prices.record(), db.page(&newest));
    let mut body = String::with_capacity(16 * 1024);
    let _ = write!(
        body,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>Delos orders</title><style>{STYLE}</style></head><body><h1>Bitcoin buy orders</h1>"
    );
    body.push_str("<h2>The 100 BTC cap</h2>");
    match capacity {
        Ok(c) => {
            let _ = write!(
                body,
                "<meter id=\"cap\" min=\"0\" max=\"{cap}\" value=\"{used}\" data-used-sats=\"{used_sats}\" data-cap-sats=\"{cap_sats}\" data-seq=\"{orders}\"></meter>\
                 <p><b id=\"used\">{used}</b> BTC stored of {cap}; <b id=\"remaining\">{remaining}</b> BTC remaining \
                 (<span id=\"count\">{orders}</span> orders).</p>",
                cap = c.cap_btc,
                used = c.used_btc,
                remaining = c.remaining_btc,
                used_sats = c.used_btc.0,
                cap_sats = c.cap_btc.0,
                orders = c.orders,
            );
        }
        Err(e) => {
            let _ = write!(
                body,
                "<p class=\"warn\">The capacity is unavailable right now ({}).</p>",
                escape(&e.to_string())
            );
        }
    }
    body.push_str("<h2>Latest price</h2>");
    match record {
        Ok(Some(r)) => {
            let age = (Utc::now() - r.fetched_at).num_seconds().max(0);
            body.push_str("<table><tr><th>currency</th><th>1 BTC</th><th>source</th><th>age</th></tr>");
            for currency in [Currency::Eur, Currency::Gbp, Currency::Usd] {
                let _ = write!(
                    body,
                    "<tr><td>{}</td><td>{}</td><td>{}{}</td><td class=\"age\" data-fetched=\"{}\">{age} s</td></tr>",
                    currency.code(),
                    r.rates.get(currency),
                    escape(&r.source),
                    if r.simulated { " (simulated)" } else { "" },
                    r.fetched_at.to_rfc3339(),
                );
            }
            body.push_str("</table>");
        }
        Ok(None) => body.push_str("<p class=\"warn\">No price is stored yet.</p>"),
        Err(e) => {
            let _ = write!(
                body,
                "<p class=\"warn\">The price is unavailable right now ({}).</p>",
                escape(&e.to_string())
            );
        }
    }
    body.push_str("<h2>Newest orders</h2>");
    match page.map(|p| serde_json::from_str::<Vec<Order>>(p.data.get()).map(|o| (o, p.total))) {
        Ok(Ok((orders, total))) => {
            let _ = write!(
                body,
                "<table id=\"orders\" data-seq=\"{total}\"><thead><tr><th>seq</th><th>placed (UTC)</th><th>amount</th><th>rate</th>\
                 <th>BTC</th><th>rate source</th></tr></thead><tbody>",
            );
            for o in &orders {
                order_row(&mut body, o);
            }
            body.push_str("</tbody></table>");
        }
        Ok(Err(e)) => {
            let _ = write!(
                body,
                "<p class=\"warn\">The orders could not be read ({}).</p>",
                escape(&e.to_string())
            );
        }
        Err(e) => {
            let _ = write!(
                body,
                "<p class=\"warn\">The orders are unavailable right now ({}).</p>",
                escape(&e.to_string())
            );
        }
    }
    let _ = write!(
        body,
        "<p class=\"small\" id=\"live\">Reload for new orders.</p>\
         <noscript><p class=\"small\">Without JavaScript this page does not update itself.</p></noscript>\
         <script>{SCRIPT}</script></body></html>"
    );
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body))
}

fn order_row(body: &mut String, o: &Order) {
    let _ = write!(
        body,
        "<tr><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}{}</td></tr>",
        o.seq,
        o.created_at.format("%Y-%m-%d %H:%M:%S"),
        o.amount,
        o.currency.code(),
        o.exchange_rate,
        o.bitcoin_amount,
        escape(&o.rate_source),
        if o.simulated { " (simulated)" } else { "" },
    );
}

/// Follows `/orders/stream`: each order becomes the table's first row and adds
/// its bitcoin to the gauge (in satoshis, as BigInt: exact). EventSource
/// reconnects by itself with `Last-Event-ID`, so nothing is missed.
const SCRIPT: &str = r#"(function(){
if(!window.EventSource)return;
var shown=20,table=document.getElementById('orders'),meter=document.getElementById('cap'),live=document.getElementById('live');
var tableSeq=table?Number(table.dataset.seq):Infinity,gaugeSeq=meter?Number(meter.dataset.seq):Infinity;
var after=Math.min(tableSeq,gaugeSeq);if(!isFinite(after))return;
function sats(s){var p=String(s).split('.');return BigInt(p[0]+((p[1]||'')+'00000000').slice(0,8));}
function btc(n){var s=n.toString().padStart(9,'0');return s.slice(0,-8)+'.'+s.slice(-8);}
function cell(tr,text){var td=document.createElement('td');td.textContent=text;tr.appendChild(td);}
var es=new EventSource('/orders/stream?after_seq='+after);
es.onopen=function(){live.textContent='Live: new orders appear as they are stored.';};
es.onerror=function(){live.textContent='Reconnecting to the order stream…';};
es.onmessage=function(e){var o=JSON.parse(e.data);
 if(table&&o.seq>tableSeq){var tbody=table.tBodies[0],tr=document.createElement('tr');tr.className='new';
  cell(tr,o.seq);cell(tr,o.created_at.replace('T',' ').slice(0,19));cell(tr,o.amount+' '+o.currency);
  cell(tr,o.exchange_rate);cell(tr,o.bitcoin_amount);cell(tr,o.rate_source+(o.simulated?' (simulated)':''));
  tbody.insertBefore(tr,tbody.firstChild);while(tbody.rows.length>shown)tbody.deleteRow(-1);tableSeq=o.seq;}
 if(meter&&o.seq>gaugeSeq){var used=BigInt(meter.dataset.usedSats)+sats(o.bitcoin_amount),cap=BigInt(meter.dataset.capSats);
  meter.dataset.usedSats=used.toString();meter.value=Number(used)/1e8;gaugeSeq=o.seq;
  document.getElementById('used').textContent=btc(used);
  document.getElementById('remaining').textContent=btc(cap>used?cap-used:0n);
  document.getElementById('count').textContent=String(o.seq);}
};
setInterval(function(){document.querySelectorAll('td.age').forEach(function(td){
 td.textContent=Math.max(0,Math.round((Date.now()-Date.parse(td.dataset.fetched))/1000))+' s';});},1000);
})();"#;
