//! Routes of lambo_checker.

use actix_web::http::StatusCode;
use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, web};
use common::Problem;
use common::rate_limit::ClientId;
use serde::Deserialize;
use serde_json::json;

pub mod data;
pub mod graphql;
pub mod jobs;
pub mod page;
pub mod restricted;

use crate::checker::RawQuestion;
use crate::state::State;
use crate::storage::{self, LoggedQuery};

/// The OpenAPI document of lambo_checker.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "lambo_checker",
        description = "If I had bought coin X for N dollars at the start and sold now, how many \
                       Lamborghinis would that buy? Computed from stored price history."
    ),
    paths(
        process_request,
        process_request_grpc,
        queries,
        health,
        status,
        page::index,
        restricted::restricted,
        jobs::analyze_async,
        jobs::task_status,
        data::results,
        data::result,
        data::logs,
        data::current,
        data::opening,
        data::history,
        data::report,
        data::covid,
        graphql::execute,
        graphql::page
    ),
    tags(
        (name = "lambo", description = "How many Lamborghinis an investment in a coin would buy now"),
        (name = "web page", description = "The page a person uses: symbol and amount in, answer and chart out"),
        (name = "query log", description = "Every question asked, newest first"),
        (name = "status", description = "The price history kept and where it comes from"),
        (name = "restricted", description = "Who the caller is: a bearer JWT or an API key"),
        (name = "jobs", description = "Background analyses: submit, then poll the status"),
        (name = "results", description = "Stored analysis results and the audit log (the Django original's data routes)"),
        (name = "prices", description = "Stored prices: current, opening average, history"),
        (name = "analytics", description = "Figures computed from the stored results and logs"),
        (name = "graphql", description = "The same answers and stored data through GraphQL")
    ),
    components(schemas(LoggedQuery, Problem, jobs::Submit)),
    modifiers(&RATE_LIMITED)
)]
pub struct ApiDoc;

/// Which routes of the document the rate limiter guards.
const RATE_LIMITED: common::openapi::RateLimited =
    common::openapi::RateLimited::except(&["/health", "/status"]);

/// Mounts the routes; the analysis routes are rate limited, the health ones are not.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let both = |p: &str| [p.to_string(), format!("{p}/")];
    let limited = || from_fn(common::rate_limit::rate_limit);
    let strict = || from_fn(common::rate_limit::rate_limit_strict);
    cfg.service(
        web::resource([
            "/process_request",
            "/process_request/",
            "/api/v1/process_request",
            "/api/v1/process_request/",
            "/api/process_request",
            "/api/process_request/",
        ])
        .wrap(limited())
        .get(process_request),
    )
    .service(
        web::resource(["/queries", "/queries/"])
            .wrap(limited())
            .get(queries),
    )
    .service(
        web::resource(["/api/v1/process_request_grpc", "/api/v1/process_request_grpc/"])
            .wrap(limited())
            .get(process_request_grpc),
    )
    .service(
        web::resource(["/api/v1/restricted", "/api/v1/restricted/"])
            .wrap(strict())
            .get(restricted::restricted),
    )
    .service(
        web::resource(["/api/v1/analyze_async", "/api/v1/analyze_async/"])
            .wrap(strict())
            .post(jobs::analyze_async),
    )
    .service(
        web::resource(["/api/v1/task_status/{id}", "/api/v1/task_status/{id}/"])
            .wrap(limited())
            .get(jobs::task_status),
    )
    .service(web::resource("/").wrap(limited()).get(page::index))
    // The Django originals' data routes, each with and without the trailing slash.
    .service(
        web::resource(both("/api/results"))
            .wrap(limited())
            .get(data::results),
    )
    .service(
        web::resource(both("/api/results/{id}"))
            .wrap(limited())
            .get(data::result),
    )
    .service(web::resource(both("/api/logs")).wrap(limited()).get(data::logs))
    .service(
        web::resource(both("/api/price/current"))
            .wrap(limited())
            .get(data::current),
    )
    .service(
        web::resource(both("/api/price/opening"))
            .wrap(limited())
            .get(data::opening),
    )
    .service(
        web::resource(both("/api/price/history"))
            .wrap(limited())
            .get(data::history),
    )
    .service(
        web::resource(both("/api/analytics/report"))
            .wrap(limited())
            .get(data::report),
    )
    .service(
        web::resource(both("/api/analytics/covid"))
            .wrap(limited())
            .get(data::covid),
    )
    .service(
        web::resource(["/graphql", "/graphql/"])
            .wrap(limited())
            .post(graphql::execute)
            .get(graphql::page),
    )
    .service(web::resource("/health").get(health))
    .service(web::resource("/status").get(status));
}

/// The answer: the original `{message, graph_data}` shape plus exact figures, the
/// verdict and the method with the candles averaged. Header `X-Cache: hit|miss`.
#[utoipa::path(get, tag = "lambo", path = "/process_request", params(RawQuestion),
    responses((status = 200, body = crate::answer::LamboAnswer, description = "the original {message, graph_data} plus exact figures, verdict and method"),
              (status = 404, body = Problem, description = "unknown symbol; `supported` lists the known ones"),
              (status = 422, body = Problem, description = "bad parameter, or fewer than 8 candles"),
              (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn process_request(
    state: web::Data<State>,
    client: ClientId,
    q: web::Query<RawQuestion>,
) -> Result<HttpResponse, Problem> {
    let checker = &state.checker;
    let answer = checker.ask("rest", &client.0, &q).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("X-Cache", if answer.cache_hit { "hit" } else { "miss" }))
        .content_type("application/json")
        .body(answer.body))
}

/// Query of `GET /api/v1/process_request_grpc`: the gRPC request's two fields.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct GrpcQuery {
    /// Coin symbol, as for `/process_request`.
    symbol: Option<String>,
    /// Whole USD (the proto's `int32`).
    investment: Option<String>,
}

/// The same question asked through the gRPC server; answers the original
/// `{message, graph_data}` shape that the gRPC response carries.
#[utoipa::path(get, tag = "lambo", path = "/api/v1/process_request_grpc", params(GrpcQuery),
    responses((status = 200, description = "{message, graph_data}"), (status = 404, body = Problem),
              (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn process_request_grpc(
    state: web::Data<State>,
    q: web::Query<GrpcQuery>,
) -> Result<HttpResponse, Problem> {
    let bridge = &state.grpc;
    let mut client = bridge
        .client
        .clone()
        .ok_or_else(|| crate::problems::Code::GrpcDisabled.problem("gRPC is turned off on this service"))?;
    // The proto carries an int32: anything else is refused here, as a gRPC client could not send it.
    let investment = q
        .investment
        .as_deref()
        .unwrap_or_default()
        .trim()
        .parse::<i32>()
        .map_err(|_| {
            Problem::invalid_field("investment", "must be a whole number of USD from 1 to 2147483647")
        })?;
    let req = crate::grpc::pb::ApiRequest {
        symbol: q.symbol.clone().unwrap_or_default(),
        investment,
    };
    let res = client
        .process_request(crate::grpc::request_in_trace(req))
        .await
        .map_err(|s| crate::grpc::problem_of(&s))?
        .into_inner();
    let parse = |s: &str| {
        serde_json::from_str::<serde_json::Value>(s).map_err(|e| {
            tracing::error!(error = %e, "the gRPC answer is not JSON");
            crate::problems::Code::GrpcFailed.problem("the gRPC server sent an unexpected answer")
        })
    };
    Ok(HttpResponse::Ok().json(json!({
        "message": parse(&res.message)?,
        "graph_data": parse(&res.graph_data)?,
    })))
}

/// Query of `GET /queries`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct QueriesQuery {
    /// 1-100, default 20.
    page_size: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The query log, newest first: one list for `/queries` and `/api/logs/` (the same
/// rows in the same order), so their cursors are interchangeable.
pub(crate) const QUERY_LOG: common::paging::Keyset = common::paging::Keyset::new("queries.id_desc", 1);

/// The query log, newest first, keyset-paged with an opaque cursor.
#[utoipa::path(get, tag = "query log", path = "/queries", params(QueriesQuery),
    responses((status = 200, description = "{data: [LoggedQuery], next_cursor, _links}"), (status = 422, body = Problem),
              (status = 429, body = Problem), (status = 503, body = Problem)))]
pub async fn queries(state: web::Data<State>, q: web::Query<QueriesQuery>) -> Result<HttpResponse, Problem> {
    let checker = &state.checker;
    const PAGE_SIZE: common::paging::PageSize = common::paging::PageSize::new("page_size", 20, 100);
    let page_size = PAGE_SIZE.parse(q.page_size.as_deref())?;
    let before = q.cursor.as_deref().map(|c| QUERY_LOG.key(c)).transpose()?;
    let mut rows = storage::queries_page(&checker.pool, before, i64::from(page_size) + 1)
        .await
        .map_err(common::db::problem)?;
    let next = QUERY_LOG.next_page(&mut rows, page_size, |r| r.id);
    let next_link = next
        .as_ref()
        .map(|c| format!("/queries?cursor={c}&page_size={page_size}"));
    Ok(HttpResponse::Ok().json(json!({
        "data": rows,
        "next_cursor": next,
        "_links": { "next": next_link },
    })))
}

/// The original's liveness answer.
#[utoipa::path(get, tag = "status", path = "/health", responses((status = 200, description = "{status: \"healthy\"}")))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "healthy", "service": "lambo_checker" }))
}

/// What the service knows: stored series (source, interval, candles, newest) and its settings.
#[utoipa::path(get, tag = "status", path = "/status", responses((status = 200, description = "{status, series: [...], lambo_price, ...}"), (status = 503, body = Problem)))]
pub async fn status(state: web::Data<State>) -> Result<HttpResponse, Problem> {
    let checker = &state.checker;
    let bridge = &state.grpc;
    let series = storage::series_summary(&checker.pool)
        .await
        .map_err(common::db::problem)?;
    Ok(HttpResponse::build(StatusCode::OK).json(json!({
        "status": "ok",
        "service": "lambo_checker",
        "version": env!("CARGO_PKG_VERSION"),
        "series": series,
        "providers": checker.history.provider_names(),
        "lambo_price": { "amount": crate::domain::exact(checker.settings.lambo_price), "currency": checker.settings.lambo_currency },
        "cache_ttl_secs": checker.settings.cache_ttl_secs,
        "supported_symbols": crate::domain::supported_symbols(),
        "grpc_port": bridge.port,
    })))
}
