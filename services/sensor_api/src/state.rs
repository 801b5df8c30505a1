//! What the handlers share; startup builds it, routes read it.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use sqlx::PgPool;

use crate::ingest::Summary;

/// What handlers share.
pub struct State {
    pub pool: PgPool,
    /// API keys with their rights and bearer tokens (uploads, `/api/v1/core/restricted`).
    pub auth: common::auth::Authenticator,
    pub max_upload_bytes: u64,
    pub max_points: i64,
    pub readings: ReadingCounters,
    /// The MQTT ingest's status, when a broker is configured.
    pub mqtt: Option<std::sync::Arc<crate::mqtt::Status>>,
    /// The newest sequenced reading log row (see `storage::sequence_reading_log`).
    pub stream_head: std::sync::Arc<common::live::Head>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// Readings uploaded, by what became of them: `delos_sensor_readings_total{outcome}`
/// with `stored`, `duplicate` (already stored) and `rejected` (a bad row).
pub struct ReadingCounters(Family<OutcomeLabels, Counter>);

impl ReadingCounters {
    /// Registers the family with the service's metrics.
    pub fn register(metrics: &common::metrics::Metrics) -> Self {
        let family = Family::<OutcomeLabels, Counter>::default();
        metrics.register(
            "sensor_readings",
            "Readings uploaded, by outcome: stored, duplicate (already stored), rejected (a bad row)",
            family.clone(),
        );
        Self(family)
    }

    /// Counts an upload's summary; rows of an upload that was not committed count as
    /// rejected only (the good rows of a refused strict upload were not stored).
    pub fn count(&self, summary: &Summary) {
        let add = |outcome, n| self.0.get_or_create(&OutcomeLabels { outcome }).inc_by(n);
        if summary.committed {
            add("stored", summary.stored);
            add("duplicate", summary.duplicates);
        }
        add("rejected", summary.rejected);
    }
}
