//! The BTC price providers. They live in the `price_feed` crate, beside the history
//! clients of lambo_checker (one provider kind, one config shape, one error, one
//! parser); re-exported here so the service and its tests say `api_updater::providers::…`.

pub use price_feed::spot::{Provider, Validator, fetch_first_valid};
pub use price_feed::{ProviderConfig, ProviderError, ProviderKind, UnknownProvider};
