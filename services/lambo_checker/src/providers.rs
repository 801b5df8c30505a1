//! The price-history providers. They live in the `price_feed` crate, beside the spot
//! clients of api_updater (one provider kind, one config shape, one error, one
//! parser); re-exported here so the rest of the service says `crate::providers::…`.

pub use price_feed::history::{Binance, BoxFuture, CoinGecko, Fetched, Kraken, PriceHistory, chain};
pub use price_feed::{ProviderConfig, ProviderError, ProviderKind};
