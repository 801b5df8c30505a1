//! One order is one trace: the caller's `traceparent` is continued by
//! create_buy_order, whose calls to api_cache_proxy and db_proxy are its children,
//! and every span reaches the OTLP collector with those links.

use common::telemetry::TraceContext;
use common::telemetry::trace::parse_traceparent;
use common::testing::OtlpReceiver;
use serde_json::{Value, json};

use crate::helpers::{API_KEY, spawn_traced};

#[tokio::test]
async fn an_order_is_one_trace_across_the_services_it_touches() {
    let receiver = OtlpReceiver::start().await;
    let app = spawn_traced(&receiver.endpoint).await;
    let caller = TraceContext::root();
    let trace_id = caller.trace_id.to_string();
    let res = app
        .client
        .post(format!("{}/place_order", app.address))
        .header("x-api-key", API_KEY)
        .header("traceparent", caller.traceparent())
        .header("tracestate", "vendor=opaque")
        .json(&json!({"currency": "EUR", "amount": "25.00"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let returned = res.headers()["traceparent"].to_str().unwrap().to_string();
    assert_eq!(res.headers()["tracestate"], "vendor=opaque");
    let (returned_trace, create_span, _) = parse_traceparent(&returned).unwrap();
    assert_eq!(
        returned_trace, caller.trace_id,
        "the response names the caller's trace"
    );

    let spans = receiver
        .trace(&trace_id, |s| {
            ["create_buy_order", "api_cache_proxy", "db_proxy"]
                .iter()
                .all(|svc| s.iter().any(|x| x.service == *svc))
        })
        .await;
    let find = |service: &str, name: &str| {
        spans
            .iter()
            .find(|s| s.service == service && s.name == name)
            .unwrap_or_else(|| panic!("no {service} span {name} in {spans:#?}"))
    };
    let create = find("create_buy_order", "POST /place_order");
    assert_eq!(create.span_id, create_span.to_string());
    assert_eq!(
        create.parent_span_id.as_deref(),
        Some(caller.span_id.to_string().as_str())
    );
    assert_eq!(create.kind, 2, "a server span");
    for (service, name) in [("api_cache_proxy", "GET /record"), ("db_proxy", "POST /add")] {
        let span = find(service, name);
        assert_eq!(
            span.parent_span_id.as_deref(),
            Some(create.span_id.as_str()),
            "{service} is called from create_buy_order's span"
        );
    }
}

#[tokio::test]
async fn a_problem_names_its_trace_and_a_request_without_traceparent_starts_one() {
    let receiver = OtlpReceiver::start().await;
    let app = spawn_traced(&receiver.endpoint).await;
    let caller = TraceContext::root();
    let res = app
        .client
        .post(format!("{}/place_order", app.address))
        .header("x-api-key", API_KEY)
        .header("traceparent", caller.traceparent())
        .json(&json!({"currency": "EUR", "amount": "-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["trace_id"], caller.trace_id.to_string(), "{body}");

    let res = app
        .client
        .post(format!("{}/place_order", app.address))
        .header("x-api-key", API_KEY)
        .header("traceparent", "00-not-a-valid-header-01")
        .json(&json!({"currency": "EUR", "amount": "-1"}))
        .send()
        .await
        .unwrap();
    let started = parse_traceparent(res.headers()["traceparent"].to_str().unwrap()).unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["trace_id"],
        started.0.to_string(),
        "a new trace, named in the body"
    );
    assert_ne!(started.0, caller.trace_id);
    let spans = receiver.trace(&started.0.to_string(), |s| !s.is_empty()).await;
    assert_eq!(spans.len(), 1, "{spans:#?}");
    assert_eq!(spans[0].parent_span_id, None, "a root span");
}
