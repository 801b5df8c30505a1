//! api_cache_proxy
