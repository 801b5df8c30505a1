//! The problems api_cache_proxy answers with: its own codes, each mapped to its status and
//! type in one place, and its catalogue (what `/problems` lists), which adds the
//! shared groups it uses. A code not in the catalogue cannot be answered with.

use common::problem::{self, ProblemType};

common::problem_codes! {
    /// The problem codes only api_cache_proxy answers with.
    pub enum Code {
        NoPriceRecord => (
            "no_price_record",
            NOT_FOUND,
            "No price record is stored",
            "The cache holds no price record (none stored yet, or its TTL ran out).",
        ),
        StaleRecord => (
            "stale_record",
            CONFLICT,
            "The price record is older than the stored one",
            "A record fetched before the one already stored is not stored over it.",
        ),
    }
}

/// Everything api_cache_proxy may answer with: the shared groups it uses, then its own codes.
pub fn catalogue() -> Vec<ProblemType> {
    problem::catalogue(&[problem::FRAME, problem::SERVICE_TOKEN, &Code::types()])
}
