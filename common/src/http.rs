//! The HTTP frame every service shares: middleware, the standard routes
//! (`/healthz`, `/readyz`, `/metrics`, `/openapi.json`, `/docs`), problem bodies for
//! every error, and starting a server on an already bound listener (port 0 works).

use std::future::Future;
use std::net::TcpListener;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::web::{self, ServiceConfig};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, ResponseError};
use serde_json::json;
use tokio::task::JoinHandle;
use tracing::Instrument;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::{CommonSettings, HttpSettings, Secret};
use crate::metrics::Metrics;
use crate::problem::{self, PROBLEM_JSON, Problem};
use crate::telemetry::trace::{TRACEPARENT, TRACESTATE};
use crate::telemetry::{FinishedSpan, SpanKind, TraceContext, Tracer};

type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
type CheckFn = Arc<dyn Fn() -> CheckFuture + Send + Sync>;

/// The dependencies `/readyz` checks, by name.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<(&'static str, CheckFn)>,
}

impl Readiness {
    /// Adds a named check.
    pub fn with<F, Fut>(mut self, name: &'static str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.checks.push((name, Arc::new(move || Box::pin(check()))));
        self
    }

    /// Checks Postgres with `select 1`.
    pub fn postgres(self, pool: sqlx::PgPool) -> Self {
        self.with("postgres", move || {
            let pool = pool.clone();
            async move {
                sqlx::query("select 1")
                    .execute(&pool)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
        })
    }

    /// Checks Redis with `PING`.
    pub fn redis(self, redis: crate::redis::Redis) -> Self {
        self.with("redis", move || {
            let redis = redis.clone();
            async move { crate::redis::ping(&redis).await.map_err(|e| e.to_string()) }
        })
    }

    /// Checks another service's `/healthz`.
    pub fn service(self, name: &'static str, client: reqwest::Client, base_url: &str) -> Self {
        let url = format!("{}/healthz", base_url.trim_end_matches('/'));
        self.with(name, move || {
            let (client, url) = (client.clone(), url.clone());
            async move {
                match client.get(&url).send().await {
                    Ok(r) if r.status().is_success() => Ok(()),
                    Ok(r) => Err(format!("answered {}", r.status())),
                    Err(e) => Err(format!("unreachable: {e}")),
                }
            }
        })
    }

    /// Runs every check at once; each gets two seconds.
    pub async fn run(&self) -> Vec<(&'static str, Result<(), String>)> {
        let checks = self.checks.iter().map(|(name, check)| {
            let fut = check();
            async move {
                let r = match tokio::time::timeout(Duration::from_secs(2), fut).await {
                    Ok(r) => r,
                    Err(_) => Err("timed out".to_string()),
                };
                (*name, r)
            }
        });
        futures_util::future::join_all(checks).await
    }
}

/// What the shared frame needs from a service.
#[derive(Clone)]
pub struct AppContext {
    pub service: &'static str,
    pub metrics: Arc<Metrics>,
    pub readiness: Readiness,
    pub openapi: Arc<utoipa::openapi::OpenApi>,
    pub body_limit: usize,
    /// Token required by internal mutating routes.
    pub service_token: Secret,
    /// The configured listen port (0 when any port is taken), for the instance id.
    pub port: u16,
    /// Connection timeouts and limits.
    pub limits: ConnectionLimits,
    /// The problem types the service answers with (`/problems`).
    pub problems: Arc<[problem::ProblemType]>,
    /// Exports each request as a span when an OTLP endpoint is set.
    pub tracer: Tracer,
}

/// The server's connection timeouts and limits (from [`HttpSettings`]).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub client_request_timeout_millis: u64,
    pub client_disconnect_timeout_millis: u64,
    pub keep_alive_secs: u64,
    pub max_connections: usize,
}

impl AppContext {
    /// A context with a fresh metrics registry. `problems` is the service's
    /// catalogue (its `problems::catalogue()`): what `/problems` lists and the only
    /// `type` links that resolve. Call it inside the runtime (span export starts a task).
    pub fn new(
        service: &'static str,
        mut openapi: utoipa::openapi::OpenApi,
        http: &HttpSettings,
        common: &CommonSettings,
        problems: Vec<problem::ProblemType>,
    ) -> Self {
        crate::openapi::document_frame(&mut openapi);
        let metrics = Arc::new(Metrics::new(service));
        let instance = common.reporter.instance_id(http.port);
        let tracer = Tracer::start(service, instance, &common.telemetry, &metrics);
        Self {
            service,
            metrics,
            readiness: Readiness::default(),
            openapi: Arc::new(openapi),
            body_limit: http.body_limit,
            service_token: common.service_token.clone(),
            port: http.port,
            limits: ConnectionLimits {
                client_request_timeout_millis: http.client_request_timeout_millis,
                client_disconnect_timeout_millis: http.client_disconnect_timeout_millis,
                keep_alive_secs: http.keep_alive_secs,
                max_connections: http.max_connections,
            },
            problems: problems.into(),
            tracer,
        }
    }
}

/// Seconds a stopping server gives open requests to finish before it drops them
/// (actix's `shutdown_timeout`). A pod's terminationGracePeriodSeconds must exceed
/// its preStop sleep plus this (`delos describe` prints it; scripts/check_k8s.py compares).
pub const SHUTDOWN_TIMEOUT_SECS: u64 = 10;

/// Pending connections the kernel keeps per listener. std's `bind` uses 128,
/// which a burst of new keep-alive connections from one caller overflows
/// (dropped SYNs are retried after 1 s, longer than our connect timeout).
const LISTEN_BACKLOG: u32 = 2048;

/// Binds the service's address; port 0 picks a free one. Call it inside the
/// Tokio runtime.
pub fn bind(http: &HttpSettings) -> std::io::Result<TcpListener> {
    let err = |e: std::io::Error| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {}:{}: {e}", http.host, http.port),
        )
    };
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(http.host.as_str(), http.port))
        .map_err(err)?
        .next()
        .ok_or_else(|| err(std::io::Error::other("the host name resolves to no address")))?;
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(err)?;
    socket.set_reuseaddr(true).map_err(err)?;
    socket.bind(addr).map_err(err)?;
    socket
        .listen(LISTEN_BACKLOG)
        .map_err(err)?
        .into_std()
        .map_err(err)
}

/// A running service: its port, and the means to stop it and its background tasks.
pub struct ServiceHandle {
    pub name: &'static str,
    pub port: u16,
    server: ServerHandle,
    join: JoinHandle<std::io::Result<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl ServiceHandle {
    /// Ties a background task's life to the service.
    pub fn add_task(&mut self, task: JoinHandle<()>) {
        self.tasks.push(task);
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Graceful stop: in-flight requests finish, then background tasks end.
    pub async fn stop(self) {
        self.server.stop(true).await;
        let _ = self.join.await;
        for t in self.tasks {
            t.abort();
        }
    }

    /// Abrupt stop, as a killed process stops: background tasks are dropped where
    /// they are (connections closed without goodbye, open transactions rolled back),
    /// then the server stops without waiting for open requests. For tests of what
    /// survives a crash.
    pub async fn abort(self) {
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
        self.server.stop(false).await;
        let _ = self.join.await;
    }

    /// Runs until the server stops (SIGINT/SIGTERM or `stop`).
    pub async fn wait(self) -> std::io::Result<()> {
        let result = match self.join.await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e)),
        };
        for t in self.tasks {
            t.abort();
        }
        result
    }
}

/// Starts a server on `listener` with the shared frame around the routes `configure` adds.
pub fn serve<F>(
    listener: TcpListener,
    workers: usize,
    ctx: AppContext,
    configure: F,
) -> std::io::Result<ServiceHandle>
where
    F: Fn(&mut ServiceConfig) + Send + Sync + Clone + 'static,
{
    let limits = ctx.limits;
    let port = listener.local_addr()?.port();
    let name = ctx.service;
    let server = HttpServer::new(move || {
        let ctx = ctx.clone();
        let configure = configure.clone();
        let body_limit = ctx.body_limit;
        App::new()
            .app_data(web::Data::new(ctx.clone()))
            .app_data(
                web::JsonConfig::default()
                    .limit(body_limit)
                    .error_handler(problem::json_error),
            )
            .app_data(web::QueryConfig::default().error_handler(problem::query_error))
            .app_data(web::PathConfig::default().error_handler(problem::path_error))
            .app_data(web::PayloadConfig::new(body_limit))
            .configure(configure)
            .configure(standard_routes)
            .default_service(web::to(no_route))
            .wrap(from_fn(problem_bodies))
            .wrap(from_fn(crate::security_headers::security))
            .wrap(from_fn(observe))
    })
    .workers(workers.max(1))
    // Slow and idle clients and floods: see `HttpSettings` and docs/configuration.md
    // ("Limits and timeouts"). The body limit is in the Json/Payload configs.
    .keep_alive(Duration::from_secs(limits.keep_alive_secs))
    .client_request_timeout(Duration::from_millis(limits.client_request_timeout_millis))
    .client_disconnect_timeout(Duration::from_millis(limits.client_disconnect_timeout_millis))
    .max_connections(limits.max_connections.max(1))
    .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
    .listen(listener)?
    .run();
    let handle = server.handle();
    Ok(ServiceHandle {
        name,
        port,
        server: handle,
        join: tokio::spawn(server),
        tasks: Vec::new(),
    })
}

/// Registers the standard routes.
pub fn standard_routes(cfg: &mut ServiceConfig) {
    cfg.service(web::resource("/healthz").get(healthz))
        .service(web::resource("/readyz").get(readyz))
        .service(web::resource("/metrics").get(metrics))
        .service(web::resource("/openapi.json").get(openapi))
        .service(web::resource(problem::TYPES_PATH).get(problem_types))
        .service(web::resource(format!("{}/{{slug}}", problem::TYPES_PATH)).get(problem_type))
        .service(web::resource("/docs").get(|| async { redirect("/docs/") }))
        .service(SwaggerUi::new("/docs/{_:.*}").config(utoipa_swagger_ui::Config::from("/openapi.json")));
}

/// A 308 to `location`.
pub fn redirect(location: &str) -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, location.to_string()))
        .finish()
}

async fn healthz(ctx: web::Data<AppContext>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "pass", "service": ctx.service }))
}

async fn readyz(ctx: web::Data<AppContext>) -> Result<HttpResponse, Problem> {
    let results = ctx.readiness.run().await;
    let checks: serde_json::Map<String, serde_json::Value> = results
        .iter()
        .map(|(name, r)| {
            let v = match r {
                Ok(()) => json!({ "status": "pass" }),
                Err(e) => json!({ "status": "fail", "output": e }),
            };
            (name.to_string(), v)
        })
        .collect();
    let failing: Vec<&str> = results
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(n, _)| *n)
        .collect();
    if failing.is_empty() {
        return Ok(
            HttpResponse::Ok().json(json!({ "status": "pass", "service": ctx.service, "checks": checks }))
        );
    }
    Err(Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "not_ready",
        format!(
            "{} unreachable: {}",
            if failing.len() == 1 {
                "dependency"
            } else {
                "dependencies"
            },
            failing.join(", ")
        ),
    )
    .with("failing", failing)
    .with("checks", checks)
    .retry_after(5))
}

async fn metrics(ctx: web::Data<AppContext>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(ctx.metrics.render())
}

async fn openapi(ctx: web::Data<AppContext>) -> HttpResponse {
    HttpResponse::Ok().json(ctx.openapi.as_ref())
}

/// Every problem type this service may answer with, as JSON.
async fn problem_types(ctx: web::Data<AppContext>) -> HttpResponse {
    HttpResponse::Ok().json(ctx.problems.as_ref())
}

/// The description a problem's `type` URI points at: an HTML page, or the JSON
/// entry when the client asks for `application/json`.
async fn problem_type(
    req: HttpRequest,
    ctx: web::Data<AppContext>,
    slug: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let Some(t) = ctx.problems.iter().find(|t| problem::slug(t.code) == *slug) else {
        return Err(Problem::not_found(format!("no problem type {slug}")));
    };
    let wants_json = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if wants_json {
        return Ok(HttpResponse::Ok().json(t));
    }
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1><p>Problem code <code>{code}</code>.</p><p>{description}</p>\
         <p><a href=\"{list}\">All problem types</a></p></body></html>",
        title = t.title,
        code = t.code,
        description = t.description,
        list = problem::TYPES_PATH,
    );
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page))
}

async fn no_route(req: HttpRequest) -> Result<HttpResponse, Problem> {
    Err(problem::for_status(
        StatusCode::NOT_FOUND,
        req.path(),
        req.method().as_str(),
    ))
}

/// Middleware: any error answered without a problem body (405 from a resource,
/// an extractor's plain text) is rewritten as a problem document.
async fn problem_bodies(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = match next.call(req).await {
        Ok(res) => res,
        Err(err) => return Err(err),
    };
    let status = res.status();
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return Ok(res.map_into_boxed_body());
    }
    if let Some(err) = res.response().error() {
        tracing::warn!(error = %err, "non-problem error response replaced");
    }
    let (req, old) = res.into_parts();
    let problem = problem::for_status(status, req.path(), req.method().as_str());
    let mut new = problem.error_response();
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = old.headers().get(&name) {
            new.headers_mut().insert(name, v.clone());
        }
    }
    Ok(ServiceResponse::new(req, new).map_into_boxed_body())
}

/// Routes probed by machines every few seconds: logged, but not exported as spans.
const UNTRACED: [&str; 3] = ["/metrics", "/healthz", "/readyz"];

fn header_str<'a>(req: &'a ServiceRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Middleware: request id (taken from `X-Request-Id` or made), trace context (a
/// child of the caller's `traceparent`, or a new trace), a span around the request
/// with both ids, the access log line, request metrics, the exported span, and both
/// returned in the response (`X-Request-Id`, `traceparent` naming this span).
async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = crate::telemetry::request_id_or_new(header_str(&req, crate::telemetry::REQUEST_ID.as_str()));
    let trace = TraceContext::from_headers(header_str(&req, TRACEPARENT), header_str(&req, TRACESTATE));
    let ctx = req.app_data::<web::Data<AppContext>>().cloned();
    let method = req.method().to_string();
    let path = req.path().to_string();
    let span = tracing::info_span!("request", request_id = %id, trace_id = %trace.trace_id, %method, %path);
    let started = Instant::now();
    let started_at = std::time::SystemTime::now();
    let mut res =
        crate::telemetry::scoped(id.clone(), trace.clone(), next.call(req).instrument(span.clone())).await?;
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    span.in_scope(|| {
        tracing::info!(status, latency_ms = elapsed.as_secs_f64() * 1000.0, "access");
    });
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert(crate::telemetry::REQUEST_ID, v);
    }
    if let Ok(v) = HeaderValue::from_str(&trace.traceparent()) {
        headers.insert(header::HeaderName::from_static(TRACEPARENT), v);
    }
    if let Some(v) = trace.state.as_deref().and_then(|s| HeaderValue::from_str(s).ok()) {
        headers.insert(header::HeaderName::from_static(TRACESTATE), v);
    }
    if let Some(ctx) = ctx {
        ctx.metrics.observe_request(&method, &route, status, elapsed);
        if ctx.tracer.is_on() && !UNTRACED.contains(&route.as_str()) {
            ctx.tracer.record(FinishedSpan {
                context: trace,
                name: format!("{method} {route}"),
                kind: SpanKind::Server,
                start: started_at,
                end: started_at + elapsed,
                attributes: vec![
                    ("http.request.method", method.into()),
                    ("http.route", route.into()),
                    ("url.path", path.into()),
                    ("http.response.status_code", status.into()),
                    ("http.request.id", id.into()),
                ],
                error: status >= 500,
            });
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use actix_web::{App, test};

    use super::*;

    fn context(problems: Vec<problem::ProblemType>) -> web::Data<AppContext> {
        web::Data::new(AppContext::new(
            "test",
            utoipa::openapi::OpenApi::default(),
            &HttpSettings::default(),
            &CommonSettings::default(),
            problems,
        ))
    }

    #[actix_web::test]
    async fn a_service_serves_exactly_its_own_problem_types() {
        let listed = problem::catalogue(&[problem::FRAME, problem::ORDERS]);
        let app = test::init_service(
            App::new()
                .app_data(context(listed.clone()))
                .configure(standard_routes),
        )
        .await;
        for t in &listed {
            let p = Problem::new(StatusCode::BAD_REQUEST, t.code, "x");
            assert!(p.type_.starts_with("/problems/"), "{}", p.type_);
            let res = test::call_service(&app, test::TestRequest::get().uri(&p.type_).to_request()).await;
            assert_eq!(res.status(), StatusCode::OK, "{}", p.type_);
            let body = test::read_body(res).await;
            let body = String::from_utf8_lossy(&body);
            assert!(body.contains(t.title) && body.contains(t.code), "{body}");
        }
        let req = test::TestRequest::get()
            .uri("/problems/btc-cap-exceeded")
            .insert_header((header::ACCEPT, "application/json"))
            .to_request();
        let json: serde_json::Value = test::call_and_read_body_json(&app, req).await;
        assert_eq!(json["code"], "btc_cap_exceeded");
        let list: Vec<serde_json::Value> =
            test::call_and_read_body_json(&app, test::TestRequest::get().uri("/problems").to_request()).await;
        assert_eq!(list.len(), listed.len());
        // A code of another group is not this service's: its type does not resolve here.
        let res = test::call_service(
            &app,
            test::TestRequest::get()
                .uri("/problems/rate-limited")
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }

    #[actix_web::test]
    async fn problems_that_say_no_more_than_their_status_are_about_blank() {
        assert_eq!(Problem::not_found("x").type_, "about:blank");
        assert_eq!(Problem::internal().type_, "about:blank");
        assert_eq!(Problem::not_found("x").title, "Not Found");
        let app = test::init_service(
            App::new()
                .app_data(context(problem::FRAME.to_vec()))
                .configure(standard_routes),
        )
        .await;
        let res = test::call_service(
            &app,
            test::TestRequest::get().uri("/problems/no-such").to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
}
