//! api_updater
pub mod providers;
