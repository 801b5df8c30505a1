pub mod models;
pub mod money;
