//! Opening windows: computed once from the first candles since the start, stored
//! for good (the first stored wins), and remembered here, since they never change.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use common::Problem;
use sqlx::PgPool;

use crate::domain::{self, Candle, Interval, Window};
use crate::storage::{self, StoredSeries};

/// (symbol, source, interval, since) of a stored opening window.
type OpeningKey = (&'static str, String, Interval, DateTime<Utc>);

/// The opening windows, in Postgres and remembered in this process.
pub struct Openings {
    pool: PgPool,
    known: Mutex<HashMap<OpeningKey, Window>>,
}

impl Openings {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            known: Mutex::new(HashMap::new()),
        }
    }

    /// The opening window: remembered, else stored, else computed from `used` and stored for good.
    pub async fn window(
        &self,
        symbol: &'static str,
        series: &StoredSeries,
        since: DateTime<Utc>,
        used: &[Candle],
    ) -> Result<Window, Problem> {
        let key: OpeningKey = (symbol, series.source.clone(), series.interval, since);
        let known = self
            .known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .cloned();
        if let Some(w) = known {
            return Ok(w);
        }
        let w = match storage::opening(&self.pool, symbol, &series.source, series.interval, since)
            .await
            .map_err(common::db::problem)?
        {
            Some(w) => w,
            None => {
                let w = domain::opening_window(used).ok_or_else(Problem::internal)?;
                storage::store_opening(&self.pool, symbol, &series.source, series.interval, since, &w)
                    .await
                    .map_err(common::db::problem)?;
                w
            }
        };
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, w.clone());
        Ok(w)
    }
}
