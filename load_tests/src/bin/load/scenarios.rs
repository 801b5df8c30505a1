//! The goose scenarios: orders (create with and without keys, retries, conflicts,
//! capacity: the order mix, run under a cap it does not reach), cap_edge (big orders
//! beside normal ones and capacity reads, so the cap is reached; only when asked for),
//! paging (first page, cursor walk, deep `start`), health reports, lambo and sensors.
//! Each transaction checks what it can see at once (same order for a replayed key,
//! pages in order) into the record.

use std::sync::OnceLock;

use goose::prelude::*;
use serde_json::Value;

use crate::record::{record, satoshis};

/// Where the services are and the credentials of the load client.
#[derive(Debug, Clone)]
pub struct Target {
    pub create_url: String,
    pub fetch_url: String,
    pub health_url: String,
    /// lambo_checker and sensor_api; empty leaves their scenarios out.
    pub lambo_url: String,
    pub sensor_url: String,
    /// `X-API-Key` given a high limit through `rate_limit.api_keys`.
    pub api_key: String,
    /// The shared service token (health reports are an internal, mutating call).
    pub service_token: String,
    /// Faults are injected: 503 is an expected answer, not a failure.
    pub faults: bool,
    /// Distinguishes this run's idempotency keys from earlier runs' on the same stack.
    pub run_id: String,
}

static TARGET: OnceLock<Target> = OnceLock::new();

/// Sets the target once, before the attack starts.
pub fn set_target(t: Target) {
    let _ = TARGET.set(t);
}

fn target() -> &'static Target {
    // main sets it before goose starts any user.
    TARGET.get_or_init(|| Target {
        create_url: String::new(),
        fetch_url: String::new(),
        health_url: String::new(),
        lambo_url: String::new(),
        sensor_url: String::new(),
        api_key: String::new(),
        service_token: String::new(),
        faults: false,
        run_id: String::new(),
    })
}

/// Per-user state: a counter for keys and amounts, the last keyed order sent, and
/// the newest page total seen (for deep `start`s).
#[derive(Debug, Default)]
struct Session {
    n: u64,
    last: Option<(String, String)>,
    total: i64,
}

fn session(user: &mut GooseUser) -> &mut Session {
    if user.get_session_data::<Session>().is_none() {
        user.set_session_data(Session::default());
    }
    user.get_session_data_unchecked_mut::<Session>()
}

/// The scenarios with their default weights (`--weight orders=8` changes one; a
/// scenario whose weight is 0 is left out).
pub fn scenarios(weights: &dyn Fn(&str, usize) -> usize) -> Result<Vec<Scenario>, GooseError> {
    let orders = scenario!("orders")
        .register_transaction(transaction!(place_keyed).set_name("place keyed").set_weight(6)?)
        .register_transaction(
            transaction!(retry_same_key)
                .set_name("retry same key")
                .set_weight(2)?,
        )
        .register_transaction(
            transaction!(reuse_key_other_request)
                .set_name("key reused, other request")
                .set_weight(1)?,
        )
        .register_transaction(
            transaction!(place_unkeyed_query)
                .set_name("place unkeyed (query)")
                .set_weight(1)?,
        )
        .register_transaction(
            transaction!(place_client_order_id)
                .set_name("place client_order_id")
                .set_weight(1)?,
        )
        .register_transaction(transaction!(capacity).set_name("capacity").set_weight(1)?);
    // The cap at its edge: a big order fills it within seconds, then normal orders
    // take what is left, and every one beyond it must be a 409.
    let cap_edge = scenario!("cap_edge")
        .register_transaction(
            transaction!(place_big)
                .set_name("place big (reaches the cap)")
                .set_weight(2)?,
        )
        .register_transaction(transaction!(place_keyed).set_name("place keyed").set_weight(4)?)
        .register_transaction(
            transaction!(place_unkeyed_query)
                .set_name("place unkeyed (query)")
                .set_weight(1)?,
        )
        .register_transaction(transaction!(capacity).set_name("capacity").set_weight(2)?);
    let paging = scenario!("paging")
        .register_transaction(transaction!(first_page).set_name("first page").set_weight(3)?)
        .register_transaction(transaction!(cursor_walk).set_name("cursor walk").set_weight(2)?)
        .register_transaction(transaction!(deep_start).set_name("deep start").set_weight(2)?);
    let health = scenario!("health")
        .register_transaction(transaction!(post_report).set_name("post report").set_weight(3)?)
        .register_transaction(transaction!(get_services).set_name("services").set_weight(1)?)
        .register_transaction(transaction!(get_reports).set_name("reports").set_weight(1)?);
    let lambo = scenario!("lambo")
        .register_transaction(
            transaction!(lambo_cached)
                .set_name("lambo cached")
                .set_weight(4)?,
        )
        .register_transaction(
            transaction!(lambo_uncached)
                .set_name("lambo uncached")
                .set_weight(2)?,
        )
        .register_transaction(
            transaction!(lambo_unknown)
                .set_name("lambo unknown symbol")
                .set_weight(1)?,
        )
        .register_transaction(
            transaction!(lambo_grpc)
                .set_name("lambo through gRPC")
                .set_weight(1)?,
        );
    let sensors = scenario!("sensors")
        .register_transaction(transaction!(sensor_ingest).set_name("sensor seed").set_on_start())
        .register_transaction(
            transaction!(sensor_ingest)
                .set_name("sensor ingest")
                .set_weight(1)?,
        )
        .register_transaction(
            transaction!(sensor_range)
                .set_name("sensor range")
                .set_weight(3)?,
        )
        .register_transaction(
            transaction!(sensor_latest)
                .set_name("sensor latest")
                .set_weight(2)?,
        )
        .register_transaction(
            transaction!(sensor_aggregate)
                .set_name("sensor aggregate")
                .set_weight(2)?,
        );
    let t = target();
    // cap_edge is 0 by default: only `--cap-edge` or `--weight cap_edge=N` runs it.
    let mut all = vec![(orders, 6), (paging, 3), (health, 1), (cap_edge, 0)];
    if !t.lambo_url.is_empty() {
        all.push((lambo, 2));
    }
    if !t.sensor_url.is_empty() {
        all.push((sensors, 2));
    }
    let mut out = Vec::new();
    for (s, default) in all {
        let w = weights(&s.name, default);
        if w > 0 {
            out.push(s.set_weight(w)?);
        }
    }
    Ok(out)
}

/// An answer: status (0 when none came) and the body as JSON (Null if not JSON).
struct Answer {
    status: u16,
    replayed: bool,
    body: Value,
}

/// Sends one request through goose (so it lands in goose's metrics), counts its
/// status in the record under `route`, and marks expected non-2xx answers as
/// successes in goose's report.
async fn send(
    user: &mut GooseUser,
    route: &str,
    method: GooseMethod,
    url: &str,
    body: Option<String>,
    headers: &[(&str, &str)],
    expected: &[u16],
) -> Result<Answer, Box<TransactionError>> {
    let mut rb = user.get_request_builder(&method, url)?;
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    if let Some(b) = body {
        rb = rb.header("content-type", "application/json").body(b);
    }
    let req = GooseRequest::builder()
        .method(method)
        .path(url)
        .name(route)
        .set_request_builder(rb)
        .build();
    let mut goose = user.request(req).await?;
    let answer = match goose.response {
        Ok(r) => {
            let status = r.status().as_u16();
            let replayed = r
                .headers()
                .get("idempotent-replayed")
                .is_some_and(|v| v == "true");
            let body = r.json::<Value>().await.unwrap_or(Value::Null);
            Answer {
                status,
                replayed,
                body,
            }
        }
        Err(_) => Answer {
            status: 0,
            replayed: false,
            body: Value::Null,
        },
    };
    let t = target();
    let fault_ok = t.faults && answer.status == 503;
    if expected.contains(&answer.status) || fault_ok {
        user.set_success(&mut goose.request)?;
    }
    let mut r = record();
    r.status(route, answer.status);
    if answer.status >= 500 && !fault_ok {
        r.violation(format!("{route}: {} {}", answer.status, answer.body));
    }
    Ok(answer)
}

fn api_headers() -> Vec<(&'static str, &'static str)> {
    vec![("x-api-key", target().api_key.as_str())]
}

/// A varied, valid amount and currency (currency case varies too).
fn order_fields(n: u64) -> (&'static str, String) {
    let currency = ["EUR", "gbp", "Usd"][(n % 3) as usize];
    let amount = format!("{}.{:02}", 1 + (n.wrapping_mul(7919) % 500), n % 100);
    (currency, amount)
}

/// Creates an order; records the answer. `key` goes in the Idempotency-Key header
/// unless `in_body` (then the body carries it as `client_order_id`).
async fn create(
    user: &mut GooseUser,
    route: &str,
    body: String,
    key: Option<&str>,
    in_body: bool,
) -> Result<Answer, Box<TransactionError>> {
    let t = target();
    let mut headers = api_headers();
    if let (Some(k), false) = (key, in_body) {
        headers.push(("idempotency-key", k));
    }
    let url = format!("{}/place_order", t.create_url);
    let a = send(
        user,
        route,
        GooseMethod::Post,
        &url,
        Some(body.clone()),
        &headers,
        &[201, 409],
    )
    .await?;
    note_create(&a, key, &body, in_body);
    Ok(a)
}

fn note_create(a: &Answer, key: Option<&str>, body: &str, in_body: bool) {
    let mut r = record();
    match a.status {
        201 => {
            let id = a.body["order"]["id"].as_str().unwrap_or_default();
            let sats = a.body["order"]["bitcoin_amount"].as_str().and_then(satoshis);
            match (id.is_empty(), sats) {
                (false, Some(s)) => r.accepted(id, s, key),
                _ => r.violation(format!("201 without an order id and bitcoin_amount: {}", a.body)),
            }
        }
        409 => r.conflict(&a.body),
        // A rejected request is not stored; nothing to remember.
        400..=499 => {}
        // No answer or a 5xx: the order may or may not be stored.
        _ => match key {
            Some(k) => {
                let marker = if in_body { "body" } else { "header" };
                r.errored_keys.insert(k.to_string(), format!("{marker}\n{body}"));
            }
            None => r.errored_unkeyed += 1,
        },
    }
}

async fn place_keyed(user: &mut GooseUser) -> TransactionResult {
    let uid = user.weighted_users_index;
    let s = session(user);
    s.n += 1;
    let (currency, amount) = order_fields(s.n);
    let key = format!("load-{}-{uid}-{}", target().run_id, s.n);
    let body = format!(r#"{{"currency":"{currency}","amount":"{amount}"}}"#);
    s.last = Some((key.clone(), body.clone()));
    create(user, "POST /place_order (key)", body, Some(&key), false).await?;
    Ok(())
}

async fn retry_same_key(user: &mut GooseUser) -> TransactionResult {
    let Some((key, body)) = session(user).last.clone() else {
        return place_keyed(user).await;
    };
    let before = record()
        .key_orders
        .get(&key)
        .and_then(|s| s.iter().next().cloned());
    let a = create(user, "POST /place_order (retry)", body, Some(&key), false).await?;
    if a.status == 201 && before.is_some() && !a.replayed {
        record().violation(format!(
            "retry of key {key} answered 201 without Idempotent-Replayed"
        ));
    }
    Ok(())
}

async fn reuse_key_other_request(user: &mut GooseUser) -> TransactionResult {
    let Some((key, _)) = session(user).last.clone() else {
        return place_keyed(user).await;
    };
    let t = target();
    let mut headers = api_headers();
    headers.push(("idempotency-key", key.as_str()));
    let url = format!("{}/place_order", t.create_url);
    let body = r#"{"currency":"EUR","amount":"999.99"}"#.to_string();
    let a = send(
        user,
        "POST /place_order (key reused)",
        GooseMethod::Post,
        &url,
        Some(body),
        &headers,
        &[422, 409],
    )
    .await?;
    // The first request may have failed (fault run) and then nothing holds the key.
    let known = record().key_orders.contains_key(&key);
    if known && a.status == 201 {
        record().violation(format!("key {key} reused for another request answered 201"));
    }
    match a.status {
        201 => note_create(&a, Some(&key), r#"{"currency":"EUR","amount":"999.99"}"#, false),
        // Its first request was refused (the cap), so nothing holds the key: this is a
        // new order, refused in turn.
        409 => record().conflict(&a.body),
        _ => {}
    }
    Ok(())
}

async fn place_unkeyed_query(user: &mut GooseUser) -> TransactionResult {
    let s = session(user);
    s.n += 1;
    let (currency, amount) = order_fields(s.n);
    let t = target();
    let url = format!("{}/place_order?currency={currency}&amount={amount}", t.create_url);
    let a = send(
        user,
        "POST /place_order?query",
        GooseMethod::Post,
        &url,
        None,
        &api_headers(),
        &[201, 409],
    )
    .await?;
    note_create(&a, None, "", false);
    Ok(())
}

async fn place_client_order_id(user: &mut GooseUser) -> TransactionResult {
    let uid = user.weighted_users_index;
    let s = session(user);
    s.n += 1;
    let (currency, amount) = order_fields(s.n);
    let key = format!("load-{}-{uid}-{}-body", target().run_id, s.n);
    let body = format!(r#"{{"currency":"{currency}","amount":{amount},"client_order_id":"{key}"}}"#);
    create(
        user,
        "POST /place_order (client_order_id)",
        body,
        Some(&key),
        true,
    )
    .await?;
    Ok(())
}

async fn place_big(user: &mut GooseUser) -> TransactionResult {
    let uid = user.weighted_users_index;
    let s = session(user);
    s.n += 1;
    let key = format!("load-{}-{uid}-{}-big", target().run_id, s.n);
    let body = r#"{"currency":"USD","amount":"250000.00"}"#.to_string();
    create(user, "POST /place_order (big)", body, Some(&key), false).await?;
    Ok(())
}

async fn capacity(user: &mut GooseUser) -> TransactionResult {
    let url = format!("{}/capacity", target().create_url);
    let a = send(
        user,
        "GET /capacity",
        GooseMethod::Get,
        &url,
        None,
        &api_headers(),
        &[200],
    )
    .await?;
    if a.status == 200 {
        let used = a.body["used_btc"].as_str().and_then(satoshis);
        let cap = a.body["cap_btc"].as_str().and_then(satoshis);
        match (used, cap) {
            (Some(u), Some(c)) if u <= c => {}
            _ => record().violation(format!("capacity over the cap or unreadable: {}", a.body)),
        }
    }
    Ok(())
}

/// Checks one page: seqs strictly descending, consecutive (no gap, no repeat), and
/// all below `below` when the page follows a cursor. Returns (last seq, total).
fn check_page(route: &str, body: &Value, below: Option<i64>) -> (Option<i64>, i64) {
    let seqs: Vec<i64> = body["data"]
        .as_array()
        .map(|d| d.iter().filter_map(|o| o["seq"].as_i64()).collect())
        .unwrap_or_default();
    let total = body["total"].as_i64().unwrap_or(0);
    let mut r = record();
    if seqs.windows(2).any(|w| w[1] != w[0] - 1) {
        r.violation(format!("{route}: seqs not consecutive and descending: {seqs:?}"));
    }
    if let (Some(b), Some(first)) = (below, seqs.first())
        && *first >= b
    {
        r.violation(format!(
            "{route}: page after a cursor starts at {first}, not below {b}"
        ));
    }
    if seqs.first().is_some_and(|f| *f > total) {
        r.violation(format!("{route}: seq {} above total {total}", seqs[0]));
    }
    (seqs.last().copied(), total)
}

async fn first_page(user: &mut GooseUser) -> TransactionResult {
    let url = format!("{}/get_orders?page_size=10", target().fetch_url);
    let a = send(
        user,
        "GET /get_orders",
        GooseMethod::Get,
        &url,
        None,
        &api_headers(),
        &[200],
    )
    .await?;
    if a.status == 200 {
        let (_, total) = check_page("GET /get_orders", &a.body, None);
        session(user).total = total;
    }
    Ok(())
}

async fn cursor_walk(user: &mut GooseUser) -> TransactionResult {
    let t = target();
    let mut url = format!("{}/get_orders?page_size=25", t.fetch_url);
    let mut below = None;
    for _ in 0..3 {
        let a = send(
            user,
            "GET /get_orders?cursor",
            GooseMethod::Get,
            &url,
            None,
            &api_headers(),
            &[200],
        )
        .await?;
        if a.status != 200 {
            break;
        }
        let (last, total) = check_page("GET /get_orders?cursor", &a.body, below);
        session(user).total = total;
        match (a.body["_links"]["next"].as_str(), last) {
            (Some(next), Some(last)) => {
                url = format!("{}{next}", t.fetch_url);
                below = Some(last);
            }
            _ => break,
        }
    }
    Ok(())
}

async fn deep_start(user: &mut GooseUser) -> TransactionResult {
    let s = session(user);
    s.n += 1;
    let start = if s.total > 10 {
        i64::try_from(s.n.wrapping_mul(104_729) % s.total.unsigned_abs()).unwrap_or(0)
    } else {
        0
    };
    let url = format!("{}/get_orders?start={start}&page_size=10", target().fetch_url);
    let a = send(
        user,
        "GET /get_orders?start",
        GooseMethod::Get,
        &url,
        None,
        &api_headers(),
        &[200],
    )
    .await?;
    if a.status == 200 {
        let first = a.body["data"][0]["seq"].as_i64();
        let total = a.body["total"].as_i64().unwrap_or(0);
        if let Some(first) = first
            && first != total - start
        {
            record().violation(format!(
                "start={start}: first seq {first}, expected {}",
                total - start
            ));
        }
        check_page("GET /get_orders?start", &a.body, None);
    }
    Ok(())
}

async fn post_report(user: &mut GooseUser) -> TransactionResult {
    let t = target();
    let auth = format!("Bearer {}", t.service_token);
    let url = format!("{}/report", t.health_url);
    let body =
        r#"{"level":"info","service":"load_tests","status":"ok","data":{"source":"goose"}}"#.to_string();
    send(
        user,
        "POST /report",
        GooseMethod::Post,
        &url,
        Some(body),
        &[("authorization", auth.as_str())],
        &[200, 201, 202],
    )
    .await?;
    Ok(())
}

async fn get_services(user: &mut GooseUser) -> TransactionResult {
    let url = format!("{}/services", target().health_url);
    send(user, "GET /services", GooseMethod::Get, &url, None, &[], &[200]).await?;
    Ok(())
}

async fn get_reports(user: &mut GooseUser) -> TransactionResult {
    let url = format!("{}/reports?service=load_tests&limit=20", target().health_url);
    send(user, "GET /reports", GooseMethod::Get, &url, None, &[], &[200]).await?;
    Ok(())
}

async fn lambo_get(user: &mut GooseUser, route: &str, query: &str, expected: &[u16]) -> TransactionResult {
    let url = format!("{}{query}", target().lambo_url);
    let a = send(
        user,
        route,
        GooseMethod::Get,
        &url,
        None,
        &api_headers(),
        expected,
    )
    .await?;
    if a.status == 200 && a.body["message"]["NUMBERCOINS"].as_f64().is_none() {
        record().violation(format!("{route}: 200 without message.NUMBERCOINS"));
    }
    Ok(())
}

async fn lambo_cached(user: &mut GooseUser) -> TransactionResult {
    lambo_get(
        user,
        "GET /process_request (cached)",
        "/process_request?symbol=BTC&investment=500",
        &[200],
    )
    .await
}

async fn lambo_uncached(user: &mut GooseUser) -> TransactionResult {
    let s = session(user);
    s.n += 1;
    let q = format!(
        "/process_request?symbol=xbt&investment={}.{:02}",
        100 + s.n % 100_000,
        s.n % 100
    );
    lambo_get(user, "GET /process_request (uncached)", &q, &[200]).await
}

async fn lambo_unknown(user: &mut GooseUser) -> TransactionResult {
    lambo_get(
        user,
        "GET /process_request (unknown symbol)",
        "/process_request?symbol=NOPE&investment=500",
        &[404],
    )
    .await
}

async fn lambo_grpc(user: &mut GooseUser) -> TransactionResult {
    lambo_get(
        user,
        "GET /api/v1/process_request_grpc",
        "/api/v1/process_request_grpc?symbol=BTC&investment=500",
        &[200],
    )
    .await
}

fn sensor_device(user: &GooseUser) -> String {
    format!("load.{}.{}", target().run_id, user.weighted_users_index)
}

/// A small NDJSON upload: 20 numeric and 2 text readings, new timestamps each time.
async fn sensor_ingest(user: &mut GooseUser) -> TransactionResult {
    let device = sensor_device(user);
    let s = session(user);
    s.n += 1;
    let base = 1_700_000_000 + (s.n as i64) * 1_200;
    let mut body = String::new();
    for i in 0..20 {
        body.push_str(&format!(
            r#"{{"device":"{device}","parameter":"temp","timestamp":"{}","value":{}.5,"type":"numeric"}}"#,
            chrono_like(base + i * 60),
            15 + (i % 10)
        ));
        body.push('\n');
    }
    for (i, state) in [(0, "open"), (1, "closed")] {
        body.push_str(&format!(
            r#"{{"device":"{device}","parameter":"state","timestamp":"{}","value":"{state}","type":"text"}}"#,
            chrono_like(base + i * 600),
        ));
        body.push('\n');
    }
    let url = format!("{}/api/v1/readings", target().sensor_url);
    let mut rb = user.get_request_builder(&GooseMethod::Post, &url)?;
    rb = rb
        .header("x-api-key", target().api_key.as_str())
        .header("content-type", "application/x-ndjson")
        .body(body);
    let req = GooseRequest::builder()
        .method(GooseMethod::Post)
        .path(url.as_str())
        .name("POST /api/v1/readings")
        .set_request_builder(rb)
        .build();
    let goose = user.request(req).await?;
    let status = goose.response.as_ref().map(|r| r.status().as_u16()).unwrap_or(0);
    let mut r = record();
    r.status("POST /api/v1/readings", status);
    let fault_ok = target().faults && status == 503;
    if !(200..300).contains(&status) && !fault_ok {
        r.violation(format!("sensor ingest answered {status}"));
    }
    Ok(())
}

/// RFC 3339 UTC for Unix seconds, without a date library (days from the civil calendar).
fn chrono_like(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

async fn sensor_range(user: &mut GooseUser) -> TransactionResult {
    let device = sensor_device(user);
    let url = format!(
        "{}/api/v1/readings?device={device}&parameter=temp&from={}&to={}&limit=100",
        target().sensor_url,
        chrono_like(1_700_000_000),
        chrono_like(1_800_000_000)
    );
    send(
        user,
        "GET /api/v1/readings (range)",
        GooseMethod::Get,
        &url,
        None,
        &api_headers(),
        &[200],
    )
    .await?;
    Ok(())
}

async fn sensor_latest(user: &mut GooseUser) -> TransactionResult {
    let device = sensor_device(user);
    let url = format!("{}/api/v1/devices/{device}/latest", target().sensor_url);
    send(
        user,
        "GET /api/v1/devices/{d}/latest",
        GooseMethod::Get,
        &url,
        None,
        &api_headers(),
        &[200],
    )
    .await?;
    Ok(())
}

async fn sensor_aggregate(user: &mut GooseUser) -> TransactionResult {
    let device = sensor_device(user);
    let url = format!(
        "{}/api/v1/aggregate?device={device}&parameter=temp&bucket=1h&fn=avg,min,max,sum,count",
        target().sensor_url
    );
    send(
        user,
        "GET /api/v1/aggregate",
        GooseMethod::Get,
        &url,
        None,
        &api_headers(),
        &[200],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::chrono_like;

    #[test]
    fn chrono_like_writes_utc_rfc3339() {
        assert_eq!(chrono_like(0), "1970-01-01T00:00:00Z");
        assert_eq!(chrono_like(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(chrono_like(951_782_400), "2000-02-29T00:00:00Z");
    }
}
