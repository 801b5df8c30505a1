//! Public routes: placing an order, and reading one back.

use actix_web::http::{StatusCode, header};
use actix_web::middleware::from_fn;
use actix_web::{HttpRequest, HttpResponse, web};
use common::Problem;
use common::models::{AddedOrder, Capacity, IdempotencyInfo, NewOrder, Order};
use common::rate_limit::ClientId;
use serde::Serialize;

use crate::domain::{PlaceOrder, PlaceOrderBody, QueryFields};
use crate::state::State;

/// The OpenAPI document of create_buy_order.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "create_buy_order",
        description = "Places BTC buy orders at the latest market price, exactly, idempotently, \
                       under the 100 BTC cap."
    ),
    tags((name = "orders", description = "BTC buy orders: place one, read one, the capacity left")),
    paths(
        place_order,
        common::order_routes::get_order,
        common::order_routes::get_capacity
    ),
    components(schemas(Placed, PlaceOrderBody, Order, Capacity, Problem)),
    modifiers(&RATE_LIMITED)
)]
pub struct ApiDoc;

/// Which routes of the document the rate limiter guards.
const RATE_LIMITED: common::openapi::RateLimited = common::openapi::RateLimited::ALL;

/// Mounts the routes, each behind the rate limiter (the standard routes are not).
pub fn configure(cfg: &mut web::ServiceConfig) {
    let limited = || from_fn(common::rate_limit::rate_limit);
    cfg.service(
        web::resource(["/place_order", "/place_order/"])
            .wrap(limited())
            .post(place_order),
    )
    .service(
        web::resource("/orders/{id}")
            .wrap(limited())
            .get(common::order_routes::get_order),
    )
    .service(
        web::resource("/capacity")
            .wrap(limited())
            .get(common::order_routes::get_capacity),
    );
}

/// `201` body of `POST /place_order`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Placed {
    /// The original confirmation text, e.g. `Order was placed for EUR:69.00`.
    #[schema(example = "Order was placed for EUR:69.00")]
    pub data: String,
    /// The stored order.
    pub order: Order,
    /// True when this answers a retry with an earlier order (also the
    /// `Idempotent-Replayed: true` header).
    pub replayed: bool,
}

/// Place a buy order at the latest price.
#[utoipa::path(post, tag = "orders", path = "/place_order", params(QueryFields,
        ("Idempotency-Key" = Option<String>, Header, description = "retries with the same key return the same order")),
    request_body(content = Option<PlaceOrderBody>, description = "instead of (or as well as) the query string"),
    responses(
        (status = 201, body = Placed, description = "placed, or replayed (`Idempotent-Replayed: true`)"),
        (status = 400, body = Problem, description = "malformed_json"),
        (status = 409, body = Problem, description = "btc_cap_exceeded (with remaining_btc) or idempotency_request_in_flight"),
        (status = 422, body = Problem, description = "validation_failed (naming the field) or idempotency_key_reused"),
        (status = 429, body = Problem),
        (status = 503, body = Problem, description = "stale_price, price_unavailable or dependency_unavailable; nothing written")))]
pub async fn place_order(
    req: HttpRequest,
    client: ClientId,
    query: web::Query<QueryFields>,
    body: web::Bytes,
    state: web::Data<State>,
) -> Result<HttpResponse, Problem> {
    let order = PlaceOrder::parse(&query, json_body(&req, &body)?, header_key(&req)?)?;
    let Some(key) = &order.key else {
        return state.place(&order, None).await;
    };
    let held = state.in_flight.acquire(&client, key.as_ref()).await?;
    let idempotency = IdempotencyInfo {
        client_id: client.0,
        key: key.as_ref().to_string(),
        request_hash: order.request_hash(),
    };
    let result = state.place(&order, Some(idempotency)).await;
    state.in_flight.release(held).await;
    result
}

/// The body as text, if there is one. Any content type is read as JSON (curl's
/// `-d` sends a form type); a body that is not JSON is 400, or 415 when it
/// was declared as something else.
fn json_body<'a>(req: &HttpRequest, body: &'a web::Bytes) -> Result<Option<&'a str>, Problem> {
    if body.is_empty() {
        return Ok(None);
    }
    let declared_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("application/json") || ct.contains("+json"));
    match std::str::from_utf8(body) {
        Ok(text) if declared_json || serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() => {
            Ok(Some(text))
        }
        Ok(_) => Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the order as a JSON body or in the query string",
        )),
        Err(_) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "body is not UTF-8 text",
        )),
    }
}

fn header_key(req: &HttpRequest) -> Result<Option<&str>, Problem> {
    req.headers()
        .get("idempotency-key")
        .map(|v| {
            v.to_str()
                .map_err(|_| Problem::invalid_field("Idempotency-Key", "must be visible ASCII characters"))
        })
        .transpose()
}

impl State {
    /// Prices and stores the order. Without a usable price nothing is written,
    /// but a retry of an order that was already placed is still answered.
    async fn place(
        &self,
        order: &PlaceOrder,
        idempotency: Option<IdempotencyInfo>,
    ) -> Result<HttpResponse, Problem> {
        let record = match self.prices.quote().await {
            Ok(record) => record,
            Err(no_price) => {
                return match idempotency {
                    Some(i) => self.replay_only(&i, no_price).await,
                    None => Err(no_price),
                };
            }
        };
        let new = NewOrder {
            amount: order.amount,
            currency: order.currency,
            exchange_rate: record.rates.get(order.currency),
            rate_source: record.source,
            rate_fetched_at: record.fetched_at,
            simulated: record.simulated,
            idempotency,
        };
        let added = self.db.add(&new).await?;
        Ok(self.created(added))
    }

    async fn replay_only(&self, i: &IdempotencyInfo, no_price: Problem) -> Result<HttpResponse, Problem> {
        match self.db.keyed_order(&i.client_id, &i.key).await {
            Ok(Some(k)) if k.request_hash == i.request_hash => Ok(self.created(AddedOrder {
                order: k.order,
                replayed: true,
            })),
            Ok(Some(_)) => Err(Problem::idempotency_key_reused()),
            Ok(None) | Err(_) => Err(no_price),
        }
    }

    fn created(&self, added: AddedOrder) -> HttpResponse {
        let mut res = HttpResponse::Created();
        res.insert_header((header::LOCATION, format!("/orders/{}", added.order.id)));
        if added.replayed {
            self.replayed.inc();
            res.insert_header(("Idempotent-Replayed", "true"));
        } else {
            self.placed.inc();
        }
        let o = added.order;
        res.json(Placed {
            data: format!("Order was placed for {}:{}", o.currency, o.amount),
            order: o,
            replayed: added.replayed,
        })
    }
}
