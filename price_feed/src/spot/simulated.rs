//! Made-up prices for offline runs: a seeded random walk, at most ±0.5% per fetch,
//! kept within [half, double] of the start so it never drifts into absurd values.

use common::models::Rates;
use common::money::Currency;
use rust_decimal::Decimal;

use super::{ProviderError, rates, to_rate};

/// EUR, GBP, USD start prices in cents.
const START_CENTS: [i64; 3] = [6_000_000, 5_100_000, 6_500_000];
/// Largest step, in basis points.
const MAX_STEP_BP: i64 = 50;
/// Fixed seed: runs are reproducible, which helps when comparing logs.
const SEED: u64 = 0x5EED_DE10_5B7C_0001;

/// Current prices and generator state.
#[derive(Debug)]
pub(super) struct SimState {
    prices: [Decimal; 3],
    rng: u64,
}

impl SimState {
    pub(super) fn new() -> Self {
        Self {
            prices: START_CENTS.map(|c| Decimal::new(c, 2)),
            rng: SEED,
        }
    }

    /// splitmix64: tiny, good enough for a demo walk, and needs no dependency.
    fn next_u64(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Moves every price by the same step (so cross rates stay plausible) and returns them.
    /// Only fails if a price stopped being a valid rate, which the walk prevents.
    pub(super) fn step(&mut self) -> Result<Rates, ProviderError> {
        let span = u64::try_from(2 * MAX_STEP_BP + 1).unwrap_or(1);
        let mut bp = i64::try_from(self.next_u64() % span).unwrap_or(MAX_STEP_BP) - MAX_STEP_BP;
        let eur_start = Decimal::new(START_CENTS[0], 2);
        // Pull back toward the start once outside [start/2, 2*start].
        if self.prices[0] > eur_start * Decimal::TWO {
            bp = -bp.abs();
        } else if self.prices[0] * Decimal::TWO < eur_start {
            bp = bp.abs();
        }
        let factor = Decimal::new(10_000 + bp, 4);
        for price in &mut self.prices {
            // Stay at the old price rather than ever produce a non-positive one.
            let next = (*price * factor).round_dp(2);
            if next > Decimal::ZERO {
                *price = next;
            }
        }
        let [eur, gbp, usd] = self.prices;
        Ok(rates(
            to_rate(Currency::Eur, eur)?,
            to_rate(Currency::Gbp, gbp)?,
            to_rate(Currency::Usd, usd)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use common::money::Currency;
    use rust_decimal::Decimal;

    use super::super::test_support::client;
    use super::super::{Provider, Validator};
    use super::SimState;
    use crate::{ProviderConfig, ProviderKind};

    #[tokio::test]
    async fn simulated_records_are_marked_and_need_no_network() {
        let p = Provider::new(ProviderConfig::new(ProviderKind::Simulated), client());
        let rec = p.fetch().await.unwrap();
        assert!(rec.simulated);
        assert_eq!(rec.source, "simulated");
        Validator::default().check(&rec, None).unwrap();
    }

    #[test]
    fn simulated_prices_start_near_the_documented_values_and_move_at_most_half_a_percent() {
        let mut state = SimState::new();
        let mut last = [
            Decimal::new(60_000, 0),
            Decimal::new(51_000, 0),
            Decimal::new(65_000, 0),
        ];
        let mut moved = false;
        for _ in 0..10_000 {
            let rates = state.step().unwrap();
            for (i, currency) in Currency::ALL.into_iter().enumerate() {
                let now = rates.get(currency).value();
                assert!(now.scale() <= 2, "{now}");
                // 0.5% plus half a cent of rounding.
                assert!(
                    (now - last[i]).abs() <= last[i] * Decimal::new(5, 3) + Decimal::new(5, 3),
                    "{currency}: {} -> {now}",
                    last[i]
                );
                moved |= now != last[i];
                last[i] = now;
            }
            assert!(
                last[0] >= Decimal::from(29_000) && last[0] <= Decimal::from(121_000),
                "{}",
                last[0]
            );
        }
        assert!(moved);
    }

    #[test]
    fn simulated_walk_is_reproducible() {
        let (mut a, mut b) = (SimState::new(), SimState::new());
        for _ in 0..100 {
            assert_eq!(a.step().unwrap(), b.step().unwrap());
        }
    }
}
