//! Typed clients of the internal services, shared by every caller so a contract
//! change is one edit.

use reqwest::Method;
use uuid::Uuid;

use crate::models::{
    AddedOrder, Capacity, KeyedOrder, NewOrder, Order, PriceRecord, RelayedOrdersAfter, RelayedPage,
};
use crate::service_client::{CallError, ServiceClient};

/// How to pick a page of orders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub page_size: u32,
    /// Offset from the newest order (the original `start`).
    pub start: Option<u64>,
    /// Opaque cursor from a previous page.
    pub cursor: Option<String>,
}

/// Client of `db_proxy`.
#[derive(Clone, Debug)]
pub struct DbProxyClient(pub ServiceClient);

impl DbProxyClient {
    /// Stores an order (cap and idempotency checked by db_proxy).
    pub async fn add(&self, order: &NewOrder) -> Result<AddedOrder, CallError> {
        self.0
            .send(self.0.request(Method::POST, "/add").json(order))
            .await
    }

    /// A page of orders, newest first, to relay ([`crate::models::OrderPage`] on the wire).
    pub async fn page(&self, req: &PageRequest) -> Result<RelayedPage, CallError> {
        let mut query: Vec<(&str, String)> = vec![("page_size", req.page_size.to_string())];
        if let Some(start) = req.start {
            query.push(("start", start.to_string()));
        }
        if let Some(cursor) = &req.cursor {
            query.push(("cursor", cursor.clone()));
        }
        self.0
            .send(self.0.request(Method::GET, "/get").query(&query))
            .await
    }

    /// Up to `limit` orders stored after seq `after` (none: only the newest seq),
    /// oldest first; when there are none yet, db_proxy waits up to `wait_ms` for them.
    pub async fn orders_after(
        &self,
        after: Option<i64>,
        limit: u32,
        wait_ms: u64,
    ) -> Result<RelayedOrdersAfter, CallError> {
        let mut query: Vec<(&str, String)> =
            vec![("limit", limit.to_string()), ("wait_ms", wait_ms.to_string())];
        if let Some(after) = after {
            query.push(("after_seq", after.to_string()));
        }
        self.0
            .send(self.0.request(Method::GET, "/orders/after").query(&query))
            .await
    }

    /// One order; `None` when there is no such order.
    pub async fn order(&self, id: Uuid) -> Result<Option<Order>, CallError> {
        self.0
            .send_opt(self.0.request(Method::GET, &format!("/orders/{id}")), true)
            .await
    }

    /// The order an idempotency key produced; `None` when the key is unknown
    /// (never used, refused, or pruned).
    pub async fn keyed_order(&self, client_id: &str, key: &str) -> Result<Option<KeyedOrder>, CallError> {
        let rb = self
            .0
            .request(Method::GET, "/keys")
            .query(&[("client_id", client_id), ("key", key)]);
        self.0.send_opt(rb, true).await
    }

    /// Used and remaining bitcoin capacity.
    pub async fn capacity(&self) -> Result<Capacity, CallError> {
        self.0.send(self.0.request(Method::GET, "/capacity")).await
    }
}

/// Client of `api_cache_proxy`.
#[derive(Clone, Debug)]
pub struct CacheProxyClient(pub ServiceClient);

impl CacheProxyClient {
    /// The latest price record; `None` when none is stored.
    pub async fn record(&self) -> Result<Option<PriceRecord>, CallError> {
        self.0
            .send_opt(self.0.request(Method::GET, "/record"), true)
            .await
    }

    /// Stores `record` for `ttl_secs`.
    pub async fn add(&self, record: &PriceRecord, ttl_secs: u64) -> Result<(), CallError> {
        let rb = self
            .0
            .request(Method::POST, "/add")
            .query(&[("ttl", ttl_secs)])
            .json(record);
        self.0.send::<serde_json::Value>(rb).await.map(drop)
    }
}
