//! db_proxy
