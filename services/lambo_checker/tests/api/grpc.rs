//! gRPC: the original contract through a tonic client, reflection, health, the REST bridge.

use lambo_checker::grpc::pb::{ApiRequest, api_client::ApiClient};
use serde_json::Value;
use tonic::Code;

use crate::helpers::{TestApp, spawn_app};

async fn grpc_url(app: &TestApp) -> String {
    let status: Value = app.get("/status").await.json().await.unwrap();
    format!("http://127.0.0.1:{}", status["grpc_port"].as_u64().unwrap())
}

async fn channel(url: &str) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(url.to_string())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn process_request_over_grpc_gives_the_rest_answer_as_json_strings() {
    let app = spawn_app(|s| s.providers.clear()).await;
    let mut client = ApiClient::connect(grpc_url(&app).await).await.unwrap();
    let res = client
        .process_request(ApiRequest {
            symbol: "btc".into(),
            investment: 500,
        })
        .await
        .unwrap()
        .into_inner();
    let message: Value = serde_json::from_str(&res.message).unwrap();
    let graph: Value = serde_json::from_str(&res.graph_data).unwrap();
    let rest = app.ask("symbol=BTC&investment=500").await;
    for key in [
        "NUMBERCOINS",
        "PROFIT",
        "GROWTHFACTOR",
        "LAMBOS",
        "INVESTMENT",
        "SYMBOL",
    ] {
        assert_eq!(message[key], rest["message"][key], "{key}");
    }
    assert_eq!(graph, rest["graph_data"]);

    let err = client
        .process_request(ApiRequest {
            symbol: "BTC".into(),
            investment: -1,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("investment"), "{}", err.message());
    let err = client
        .process_request(ApiRequest {
            symbol: "NOPE".into(),
            investment: 5,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn reflection_lists_the_api_service_and_health_says_serving() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let app = spawn_app(|s| s.providers.clear()).await;
    let url = grpc_url(&app).await;
    let mut reflection = ServerReflectionClient::new(channel(&url).await);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = reflection
        .server_reflection_info(tokio_stream::iter([req]))
        .await
        .unwrap()
        .into_inner();
    let answer = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("{answer:?}")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.contains(&"API".to_string()), "{names:?}");

    // The symbol's descriptor comes back too, so grpcurl can build the request without the proto.
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol("API".into())),
    };
    let mut stream = reflection
        .server_reflection_info(tokio_stream::iter([req]))
        .await
        .unwrap()
        .into_inner();
    let answer = stream.message().await.unwrap().unwrap();
    assert!(
        matches!(answer.message_response, Some(MessageResponse::FileDescriptorResponse(ref f)) if !f.file_descriptor_proto.is_empty()),
        "{answer:?}"
    );

    let mut health = tonic_health::pb::health_client::HealthClient::new(channel(&url).await);
    let res = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "API".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        res.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
}

#[tokio::test]
async fn the_rest_bridge_asks_through_grpc_and_maps_errors_back() {
    let app = spawn_app(|s| s.providers.clear()).await;
    let res = app
        .get("/api/v1/process_request_grpc?symbol=BTC&investment=500")
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let rest = app.ask("symbol=BTC&investment=500").await;
    assert_eq!(body["message"]["LAMBOS"], rest["message"]["LAMBOS"]);
    assert_eq!(body["graph_data"], rest["graph_data"]);

    let res = app
        .get("/api/v1/process_request_grpc?symbol=NOPE&investment=500")
        .await;
    crate::helpers::assert_problem(res, reqwest::StatusCode::NOT_FOUND, "unknown_symbol", "unknown").await;
    let res = app
        .get("/api/v1/process_request_grpc?symbol=BTC&investment=0")
        .await;
    crate::helpers::assert_problem(
        res,
        reqwest::StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "zero",
    )
    .await;
    let res = app
        .get("/api/v1/process_request_grpc?symbol=BTC&investment=1.5")
        .await;
    crate::helpers::assert_problem(
        res,
        reqwest::StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "not int32",
    )
    .await;
}

#[tokio::test]
async fn the_rest_bridge_answers_503_when_the_grpc_server_is_down() {
    let app = spawn_app(|s| {
        s.providers.clear();
        s.grpc.url = common::testing::dead_url();
    })
    .await;
    let res = app
        .get("/api/v1/process_request_grpc?symbol=BTC&investment=500")
        .await;
    assert!(res.headers().contains_key("retry-after"));
    crate::helpers::assert_problem(
        res,
        reqwest::StatusCode::SERVICE_UNAVAILABLE,
        "dependency_unavailable",
        "down",
    )
    .await;
}
