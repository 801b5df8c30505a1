//! health_check settings (`DELOS_HEALTH_CHECK__...`).

use std::collections::HashMap;

use common::config::{CommonSettings, HttpSettings, PgSettings};
use serde::{Deserialize, Serialize};

/// Everything health_check reads at start.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Settings {
    pub http: HttpSettings,
    pub pg: PgSettings,
    pub common: CommonSettings,
    /// A service with no report for this long turns `warn`...
    pub default_ttl_secs: u64,
    /// ...and `fail` after this much longer.
    pub grace_secs: u64,
    /// `SERVICE=SECONDS` entries overriding the TTL per service.
    pub ttl_overrides: Vec<String>,
    /// Reports and transitions older than this are deleted.
    pub retention_hours: u64,
    /// How often silence is checked, in seconds.
    pub evaluate_every_secs: u64,
    /// How often pruning runs, in seconds.
    pub prune_every_secs: u64,
    /// How often newly logged transitions are given their stream seq (and the
    /// newest seq read, should a notification be lost), in milliseconds.
    pub sequence_every_millis: u64,
}

impl Default for Settings {
    fn default() -> Self {
        let mut http = HttpSettings::on_port(8050);
        http.body_limit = 1024 * 1024;
        Self {
            http,
            pg: PgSettings::for_database("health"),
            common: CommonSettings::default(),
            default_ttl_secs: 30,
            grace_secs: 30,
            ttl_overrides: Vec::new(),
            retention_hours: 24 * 7,
            evaluate_every_secs: 5,
            prune_every_secs: 600,
            sequence_every_millis: 250,
        }
    }
}

common::service_settings!(Settings, "health_check", [pg]);

impl Settings {
    /// The TTL policy these settings describe.
    pub fn policy(&self) -> anyhow::Result<crate::domain::TtlPolicy> {
        let overrides = self
            .ttl_overrides
            .iter()
            .filter(|e| !e.trim().is_empty())
            .map(|e| {
                let (svc, secs) = e
                    .split_once('=')
                    .ok_or_else(|| anyhow::anyhow!("ttl_overrides entry {e:?} is not SERVICE=SECONDS"))?;
                let secs: u64 = secs
                    .trim()
                    .parse()
                    .map_err(|_| anyhow::anyhow!("ttl_overrides entry {e:?}: not a number"))?;
                Ok((svc.trim().to_string(), secs))
            })
            .collect::<anyhow::Result<HashMap<_, _>>>()?;
        Ok(crate::domain::TtlPolicy {
            default_ttl_secs: self.default_ttl_secs,
            grace_secs: self.grace_secs,
            overrides,
            // Called once at start: silence is counted from this start.
            counted_from: chrono::Utc::now(),
        })
    }
}
