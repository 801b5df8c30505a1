//! The gRPC face, wire-compatible with the original `proto/api.proto`: service
//! `API`, `processRequest(apiRequest{symbol, investment}) → apiResponse{message,
//! graph_data}` (both JSON strings), plus the standard health service and server
//! reflection (so `grpcurl` works without the proto). It asks the same
//! [`Checker`] as REST, so both give the same answer and both are logged.

use std::sync::Arc;

use actix_web::http::StatusCode;
use common::Problem;
use common::telemetry::trace::{TRACEPARENT, TRACESTATE};
use common::telemetry::{self, FinishedSpan, SpanKind, TraceContext, Tracer};
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};
use tracing::Instrument;

use crate::checker::{Checker, RawQuestion};

/// Code generated from `proto/api.proto` (no package, hence `_`).
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod pb {
    tonic::include_proto!("_");
}

/// The descriptor set served by reflection (written by `build.rs`).
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("api_descriptor");

/// Metadata key carrying the problem's stable `code` on a failed call.
pub const PROBLEM_CODE: &str = "x-problem-code";

/// The `API` service.
pub struct GrpcApi {
    checker: Arc<Checker>,
    tracer: Tracer,
}

#[tonic::async_trait]
impl pb::api_server::Api for GrpcApi {
    /// Runs as a span of the caller's trace (`traceparent` metadata), as REST requests do.
    async fn process_request(
        &self,
        req: Request<pb::ApiRequest>,
    ) -> Result<Response<pb::ApiResponse>, Status> {
        let text = |key: &str| req.metadata().get(key).and_then(|v| v.to_str().ok());
        let trace = TraceContext::from_headers(text(TRACEPARENT), text(TRACESTATE));
        let id = telemetry::request_id_or_new(text(telemetry::REQUEST_ID.as_str()));
        let span = tracing::info_span!("grpc", request_id = %id, trace_id = %trace.trace_id, method = "API/processRequest");
        let start = std::time::SystemTime::now();
        let result = telemetry::scoped(id, trace.clone(), self.answer(req).instrument(span.clone())).await;
        span.in_scope(|| tracing::info!(ok = result.is_ok(), "grpc call"));
        self.tracer.record(FinishedSpan {
            context: trace,
            name: "API/processRequest".into(),
            kind: SpanKind::Server,
            start,
            end: std::time::SystemTime::now(),
            attributes: vec![
                ("rpc.system", "grpc".into()),
                ("rpc.method", "processRequest".into()),
                (
                    "rpc.grpc.status_code",
                    (result.as_ref().err().map_or(0, |s| s.code() as i32)).into(),
                ),
            ],
            error: result
                .as_ref()
                .is_err_and(|s| s.code() == Code::Internal || s.code() == Code::Unavailable),
        });
        result
    }
}

impl GrpcApi {
    async fn answer(&self, req: Request<pb::ApiRequest>) -> Result<Response<pb::ApiResponse>, Status> {
        let client = req
            .remote_addr()
            .map(|a| format!("ip:{}", a.ip()))
            .unwrap_or_else(|| "grpc:unknown".into());
        let r = req.into_inner();
        let raw = RawQuestion {
            symbol: Some(r.symbol),
            investment: Some(r.investment.to_string()),
            ..RawQuestion::default()
        };
        let answer = self
            .checker
            .ask("grpc", &client, &raw)
            .await
            .and_then(|a| a.typed())
            .map_err(|p| status_of(&p))?;
        let (message, graph_data) = answer.original_parts().map_err(|p| status_of(&p))?;
        Ok(Response::new(pb::ApiResponse { message, graph_data }))
    }
}

/// A gRPC request carrying the current request id and trace context, as
/// [`common::service_client::ServiceClient`] does over HTTP.
pub fn request_in_trace<T>(message: T) -> Request<T> {
    let mut req = Request::new(message);
    let md = req.metadata_mut();
    if let Some(id) = telemetry::current_request_id().and_then(|v| v.parse().ok()) {
        md.insert("x-request-id", id);
    }
    if let Some(trace) = telemetry::current_trace() {
        if let Ok(v) = trace.traceparent().parse() {
            md.insert(TRACEPARENT, v);
        }
        if let Some(v) = trace.state.and_then(|s| s.parse().ok()) {
            md.insert(TRACESTATE, v);
        }
    }
    req
}

/// A problem as a gRPC status: the closest code, the detail as message, the
/// problem code (and `retry-after`) as metadata.
pub fn status_of(p: &Problem) -> Status {
    let code = match p.status {
        400 | 422 => Code::InvalidArgument,
        404 => Code::NotFound,
        429 => Code::ResourceExhausted,
        503 => Code::Unavailable,
        _ => Code::Internal,
    };
    let mut status = Status::new(code, p.detail.clone());
    if let Ok(v) = p.code.parse() {
        status.metadata_mut().insert(PROBLEM_CODE, v);
    }
    if let Some(secs) = p.retry_after
        && let Ok(v) = secs.to_string().parse()
    {
        status.metadata_mut().insert("retry-after", v);
    }
    status
}

/// A failed gRPC call as the problem REST answers with.
pub fn problem_of(s: &Status) -> Problem {
    let code = s
        .metadata()
        .get(PROBLEM_CODE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let retry = s
        .metadata()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let (status, fallback) = match s.code() {
        Code::InvalidArgument => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        Code::NotFound => (StatusCode::NOT_FOUND, "not_found"),
        Code::ResourceExhausted => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        Code::Unavailable if code.is_none() => return Problem::unavailable("grpc server"),
        Code::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "dependency_unavailable"),
        _ => {
            tracing::warn!(status = %s, "gRPC call failed");
            return crate::problems::Code::GrpcFailed.problem("the gRPC server could not answer");
        }
    };
    let p = Problem::new(status, code.as_deref().unwrap_or(fallback), s.message());
    if status == StatusCode::SERVICE_UNAVAILABLE {
        p.retry_after(retry.unwrap_or(2))
    } else {
        p
    }
}

/// Serves `API`, health and reflection on `listener` until the task is aborted.
pub async fn serve(
    listener: tokio::net::TcpListener,
    checker: Arc<Checker>,
    tracer: Tracer,
) -> anyhow::Result<JoinHandle<()>> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<pb::api_server::ApiServer<GrpcApi>>().await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .build_v1()?;
    // Older grpcurl and grpcui releases only speak v1alpha.
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let api = pb::api_server::ApiServer::new(GrpcApi { checker, tracer });
    Ok(tokio::spawn(async move {
        let result = tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(api)
            .serve_with_incoming(TcpIncoming::from(listener))
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "gRPC server stopped");
        }
    }))
}

/// A client for `url` (`http://127.0.0.1:50051`), connecting on first use.
pub fn client(url: &str) -> anyhow::Result<pb::api_client::ApiClient<tonic::transport::Channel>> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_string())?
        .connect_timeout(std::time::Duration::from_secs(2))
        .timeout(std::time::Duration::from_secs(10))
        .connect_lazy();
    Ok(pb::api_client::ApiClient::new(channel))
}
