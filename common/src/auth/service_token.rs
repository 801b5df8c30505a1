//! Service-token auth for internal mutating routes.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};

use super::Caller;
use crate::http::AppContext;
use crate::problem::Problem;

/// Extractor that admits only callers presenting the shared service token.
/// Add it as a handler argument; without the token the route answers 401.
#[derive(Debug, Clone, Copy)]
pub struct ServiceAuth;

impl ServiceAuth {
    /// Who called: another Delos service.
    pub fn caller(self) -> Caller {
        Caller::service_token()
    }
}

impl FromRequest for ServiceAuth {
    type Error = Problem;
    type Future = Ready<Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let expected = req
            .app_data::<web::Data<AppContext>>()
            .map(|c| c.service_token.expose().to_string());
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        ready(match (expected, given) {
            (Some(e), Some(g)) if !e.is_empty() && constant_time_eq(e.as_bytes(), g.as_bytes()) => {
                Ok(ServiceAuth)
            }
            _ => Err(Problem::unauthorized()),
        })
    }
}

/// Compares without an early exit, so timing does not leak the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
