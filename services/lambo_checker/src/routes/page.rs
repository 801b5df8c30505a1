//! The web page at `/`: a form (symbol, amount), the answer in one sentence, and a
//! price chart rendered on the server as inline SVG with both averaging windows
//! marked. No scripts, fonts or styles from elsewhere: it works with no internet.

use std::fmt::Write;

use actix_web::{HttpResponse, web};
use common::Problem;
use common::rate_limit::ClientId;
use serde::Deserialize;

use crate::answer::{LamboAnswer, WindowCandle};
use crate::checker::RawQuestion;
use crate::state::State;

/// Query of `GET /`: empty shows the form only.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// Coin symbol.
    symbol: Option<String>,
    /// USD invested.
    amount: Option<String>,
    /// Most chart points (default 200).
    max_points: Option<String>,
}

pub use common::html::escape;

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:860px;margin:2rem auto;padding:0 1rem;color:#222}\
form{display:flex;gap:.5rem;flex-wrap:wrap;align-items:end}label{display:flex;flex-direction:column;font-size:.9rem}\
input{font-size:1.1rem;padding:.3rem;width:10rem}button{font-size:1.1rem;padding:.35rem 1rem}\
.answer{font-size:1.6rem;margin:1.2rem 0 .4rem}.yes{color:#0a7a2f}.no{color:#a33}.small{color:#555;font-size:.9rem}\
.error{color:#a33;font-size:1.2rem}svg{width:100%;height:auto;border:1px solid #ddd;margin-top:1rem}";

/// `GET /`: the form, and the answer with its chart when a symbol and amount were given.
#[utoipa::path(get, tag = "web page", path = "/", params(PageQuery),
    responses((status = 200, description = "text/html page"), (status = 429, body = Problem)))]
pub async fn index(
    state: web::Data<State>,
    client: ClientId,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let checker = &state.checker;
    let symbol = q.symbol.clone().unwrap_or_default();
    let amount = q.amount.clone().unwrap_or_default();
    let mut body = String::new();
    let _ = write!(
        body,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>Could I buy a Lambo now?</title><style>{STYLE}</style></head><body>\
         <h1>Could I buy a Lamborghini now?</h1>\
         <form method=\"get\" action=\"/\"><label>Coin<input name=\"symbol\" value=\"{}\" placeholder=\"BTC\" required></label>\
         <label>Invested (USD)<input name=\"amount\" value=\"{}\" placeholder=\"500\" required></label>\
         <button type=\"submit\">Ask</button></form>",
        escape(if symbol.is_empty() { "BTC" } else { &symbol }),
        escape(if amount.is_empty() { "500" } else { &amount }),
    );
    if !symbol.is_empty() || !amount.is_empty() {
        let raw = RawQuestion {
            symbol: Some(symbol),
            investment: Some(amount),
            max_points: Some(q.max_points.clone().unwrap_or_else(|| "200".into())),
            ..RawQuestion::default()
        };
        match checker.ask("web", &client.0, &raw).await.and_then(|a| a.typed()) {
            Ok(answer) => render_answer(&mut body, &answer),
            Err(p) => {
                let _ = write!(body, "<p class=\"error\">{}</p>", escape(&p.detail));
            }
        }
    }
    body.push_str("<p class=\"small\">Method as the original: mean close of the first 4 and the last 4 complete candles. \
                   JSON at <a href=\"/docs/\">/docs</a>.</p></body></html>");
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body))
}

fn window_dates(w: &[WindowCandle]) -> (&str, &str) {
    (
        w.first().map_or("", |c| c.date.as_str()),
        w.last().map_or("", |c| c.date.as_str()),
    )
}

fn render_answer(body: &mut String, a: &LamboAnswer) {
    let yes = a.verdict == "yes";
    let m = &a.method;
    let (open0, open1) = window_dates(&m.opening_candles);
    let (cur0, cur1) = window_dates(&m.current_candles);
    let _ = write!(
        body,
        "<p class=\"answer {}\">{}</p><p>{}</p>\
         <p class=\"small\">Source {} ({}), {} candles ({} asked), first candle {}, newest data {}. \
         Opening average {} USD over {} – {}; current average {} USD over {} – {}.{}</p>",
        if yes { "yes" } else { "no" },
        if yes {
            "Yes! Go get the Lambo."
        } else {
            "No, not yet."
        },
        escape(&a.summary),
        escape(&m.source),
        escape(&m.pair),
        escape(&m.interval),
        escape(&m.interval_requested),
        escape(open0),
        escape(a.newest_data_date.as_deref().unwrap_or_default()),
        a.exact.opening_price,
        escape(open0),
        escape(open1),
        a.exact.current_price,
        escape(cur0),
        escape(cur1),
        m.note
            .as_deref()
            .map(|n| format!(" Note: {}", escape(n)))
            .unwrap_or_default(),
    );
    body.push_str(&chart(a));
}

/// The SVG chart: closes as a line, the two windows shaded, their averages as dashed lines.
#[allow(clippy::cast_precision_loss)] // pixel coordinates; prices on the page are exact text
pub fn chart(a: &LamboAnswer) -> String {
    let points: Vec<(&str, f64)> = a.graph_data.iter().map(|p| (p.x.as_str(), p.y)).collect();
    if points.len() < 2 {
        return String::new();
    }
    let (w, h, left, right, top, bottom) = (800.0, 360.0, 70.0, 20.0, 20.0, 40.0);
    let max = points.iter().map(|p| p.1).fold(f64::MIN, f64::max);
    let min = 0.0;
    let n = (points.len() - 1) as f64;
    let x = |i: usize| left + (w - left - right) * i as f64 / n;
    let y = |v: f64| top + (h - top - bottom) * (1.0 - (v - min) / (max - min).max(f64::EPSILON));
    let pos = |date: &str| points.iter().position(|p| p.0 == date);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"closing prices\">"
    );
    for (name, candles, color, avg) in [
        (
            "opening window",
            &a.method.opening_candles,
            "#2f6fd6",
            a.exact.opening_price,
        ),
        (
            "current window",
            &a.method.current_candles,
            "#e08a00",
            a.exact.current_price,
        ),
    ] {
        let (d0, d1) = window_dates(candles);
        if let (Some(i0), Some(i1)) = (pos(d0), pos(d1)) {
            let (x0, x1) = (x(i0) - 3.0, x(i1) + 3.0);
            let _ = write!(
                svg,
                "<rect x=\"{x0:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\" opacity=\"0.18\"><title>{name}</title></rect>",
                (x1 - x0).max(6.0),
                h - top - bottom
            );
        }
        if let Some(v) = rust_decimal::prelude::ToPrimitive::to_f64(&avg) {
            let _ = write!(
                svg,
                "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{color}\" stroke-dasharray=\"6 4\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" fill=\"{color}\" text-anchor=\"end\">{name} mean {}</text>",
                w - right,
                y(v),
                y(v),
                w - right - 4.0,
                y(v) - 4.0,
                avg
            );
        }
    }
    let line: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(p.1)))
        .collect();
    let _ = write!(
        svg,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#222\" stroke-width=\"1.5\"/>",
        line.join(" ")
    );
    for frac in [0.0, 0.5, 1.0] {
        let v = min + (max - min) * frac;
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\">{v:.0}</text>",
            left - 6.0,
            y(v) + 4.0
        );
    }
    for i in [0, points.len() / 2, points.len() - 1] {
        let anchor = if i == 0 {
            "start"
        } else if i == points.len() - 1 {
            "end"
        } else {
            "middle"
        };
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"{anchor}\">{}</text>",
            x(i),
            h - bottom + 18.0,
            escape(points[i].0)
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{left}\" y=\"{:.1}\" font-size=\"12\" fill=\"#555\">close, {} per {} candle</text></svg>",
        h - 6.0,
        escape(&a.lambo_price.currency),
        escape(&a.method.interval)
    );
    svg
}
