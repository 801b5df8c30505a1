//! The problems api_cache_proxy answers with: its own codes, each mapped to its status and
//! type in one place, and its catalogue (what `/problems` lists), which adds the
//! shared groups it uses. A code not in the catalogue cannot be answered with.

use actix_web::http::StatusCode;
use common::Problem;
use common::problem::{self, ProblemType};

/// The problem codes only api_cache_proxy answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    NoPriceRecord,
    StaleRecord,
}

impl Code {
    /// Every code, for the catalogue.
    pub const ALL: [Code; 2] = [Code::NoPriceRecord, Code::StaleRecord];

    /// The HTTP status of problems of this code.
    pub fn status(self) -> StatusCode {
        match self {
            Code::NoPriceRecord => StatusCode::NOT_FOUND,
            Code::StaleRecord => StatusCode::CONFLICT,
        }
    }

    /// The code's type: what `/problems/<code>` describes.
    pub fn problem_type(self) -> ProblemType {
        match self {
            Code::NoPriceRecord => ProblemType {
                code: "no_price_record",
                title: "No price record is stored",
                description: "The cache holds no price record (none stored yet, or its TTL ran out).",
            },
            Code::StaleRecord => ProblemType {
                code: "stale_record",
                title: "The price record is older than the stored one",
                description: "A record fetched before the one already stored is not stored over it.",
            },
        }
    }

    /// A problem of this code.
    pub fn problem(self, detail: impl Into<String>) -> Problem {
        Problem::new(self.status(), self.problem_type().code, detail)
    }
}

/// Everything api_cache_proxy may answer with: the shared groups it uses, then its own codes.
pub fn catalogue() -> Vec<ProblemType> {
    let own: Vec<ProblemType> = Code::ALL.iter().map(|c| c.problem_type()).collect();
    problem::catalogue(&[problem::FRAME, problem::SERVICE_TOKEN, &own])
}
