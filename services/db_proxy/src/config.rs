//! db_proxy settings (`DELOS_DB_PROXY__...`).

use common::config::{CommonSettings, HttpSettings, PgSettings};
use common::money::{SATS_PER_BTC, Satoshis};
use serde::{Deserialize, Serialize};

/// Everything db_proxy reads at start.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Settings {
    pub http: HttpSettings,
    pub pg: PgSettings,
    pub common: CommonSettings,
    /// The bitcoin cap in satoshis (an integer, so no env-var float parsing can
    /// bend it): 100 BTC = 10000000000. Every replica must use the same value.
    pub cap_satoshis: i64,
    /// Most orders written by one group-commit transaction.
    pub max_batch: usize,
    /// Idempotency keys younger than this are never deleted (at least 24).
    pub idempotency_retention_hours: u64,
    /// How often the prune loop looks for expired idempotency keys.
    pub prune_every_secs: u64,
    /// Orders whose JSON this process keeps for pages (stored orders never
    /// change; about 350 bytes each); 0 reads every page from Postgres.
    pub page_cache_orders: usize,
    /// How often the newest seq is read when no notification came (the
    /// streams' fallback when a `NOTIFY` is missed).
    pub head_poll_millis: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: HttpSettings::on_port(8010),
            pg: PgSettings::for_database("orders"),
            common: CommonSettings::default(),
            cap_satoshis: 100 * SATS_PER_BTC,
            max_batch: 128,
            idempotency_retention_hours: 48,
            prune_every_secs: 600,
            page_cache_orders: 10_000,
            head_poll_millis: 1000,
        }
    }
}

common::service_settings!(Settings, "db_proxy", [pg]);

impl Settings {
    /// The cap, checked.
    pub fn cap(&self) -> anyhow::Result<Satoshis> {
        anyhow::ensure!(
            self.cap_satoshis >= 0,
            "cap_satoshis must not be negative (got {})",
            self.cap_satoshis
        );
        Ok(Satoshis(self.cap_satoshis))
    }

    /// Fails on settings that would break a promise of the contract.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.cap()?;
        anyhow::ensure!(
            (1..=10_000).contains(&self.max_batch),
            "max_batch must be between 1 and 10000 (got {})",
            self.max_batch
        );
        anyhow::ensure!(
            self.idempotency_retention_hours >= 24,
            "idempotency_retention_hours must be at least 24: keys are promised for 24 h (got {})",
            self.idempotency_retention_hours
        );
        Ok(())
    }
}
