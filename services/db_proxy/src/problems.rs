//! The problems db_proxy answers with: the shared groups it uses (it has no codes of
//! its own). What `/problems` lists; a code not in it cannot be answered with.

use common::problem::{self, ProblemType};

/// Everything db_proxy may answer with.
pub fn catalogue() -> Vec<ProblemType> {
    problem::catalogue(&[problem::FRAME, problem::SERVICE_TOKEN, problem::ORDERS])
}
