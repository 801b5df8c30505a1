//! The problems fetch_buy_orders answers with: the shared groups it uses (it has no codes of
//! its own). What `/problems` lists; a code not in it cannot be answered with.

use common::problem::{self, ProblemType};

/// Everything fetch_buy_orders may answer with.
pub fn catalogue() -> Vec<ProblemType> {
    problem::catalogue(&[problem::FRAME, problem::RATE_LIMITED, problem::UPSTREAM])
}
