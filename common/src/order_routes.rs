//! Read-only order routes that both public order services serve (the
//! `Location` of a new order on create_buy_order, the same on
//! fetch_buy_orders), answered by db_proxy. Each needs `web::Data<DbProxyClient>`.

use actix_web::{HttpResponse, web};
use uuid::Uuid;

use crate::Problem;
use crate::internal_apis::DbProxyClient;
use crate::models::{Capacity, Order};

/// One order.
#[utoipa::path(get, tag = "orders", path = "/orders/{id}", params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = Order), (status = 404, body = Problem), (status = 503, body = Problem)))]
pub async fn get_order(db: web::Data<DbProxyClient>, id: web::Path<Uuid>) -> Result<HttpResponse, Problem> {
    match db.order(*id).await? {
        Some(order) => Ok(HttpResponse::Ok().json(order)),
        None => Err(Problem::not_found(format!("no order {id}"))),
    }
}

/// How much of the 100 BTC cap is used and left.
#[utoipa::path(get, tag = "orders", path = "/capacity",
    responses((status = 200, body = Capacity), (status = 503, body = Problem)))]
pub async fn get_capacity(db: web::Data<DbProxyClient>) -> Result<HttpResponse, Problem> {
    Ok(HttpResponse::Ok().json(db.capacity().await?))
}
