//! Exact money. Fiat amounts are integer cents, bitcoin amounts integer satoshis,
//! exchange rates exact decimals (BTC is the base, fiat the quote). No float ever
//! touches a value here; the JSON edge parses raw text so that `69.999` or `1e2`
//! is seen as written, not as what an `f64` made of it.
#![deny(clippy::float_arithmetic)]

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Satoshis in one bitcoin.
pub const SATS_PER_BTC: i64 = 100_000_000;
/// Exclusive upper bound of an order amount, in cents (1,000,000,000.00).
const MAX_AMOUNT_CENTS: i64 = 100_000_000_000;
/// Rates are kept to at most this many decimals so `btc_for` fits in `u128`.
pub const MAX_RATE_SCALE: u32 = 18;

/// Why a money value was refused. The text is safe to show to a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("must be one of EUR, GBP, USD")]
    UnknownCurrency,
    #[error("must be a plain decimal number such as 69 or 69.50 (no exponent, sign or spaces)")]
    NotANumber,
    #[error("must have at most 2 decimal places")]
    TooManyDecimals,
    #[error("must be greater than 0")]
    NotPositive,
    #[error("must be less than 1000000000")]
    TooLarge,
    #[error("rate must be a positive decimal with at most 18 decimal places")]
    BadRate,
    #[error("the bitcoin amount does not fit")]
    Overflow,
}

/// A fiat currency Delos trades against.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
pub enum Currency {
    #[serde(rename = "EUR", alias = "eur")]
    Eur,
    #[serde(rename = "GBP", alias = "gbp")]
    Gbp,
    #[serde(rename = "USD", alias = "usd")]
    Usd,
}

impl Currency {
    /// Every supported currency, in a stable order.
    pub const ALL: [Currency; 3] = [Currency::Eur, Currency::Gbp, Currency::Usd];

    /// ISO 4217 code.
    pub fn code(self) -> &'static str {
        match self {
            Currency::Eur => "EUR",
            Currency::Gbp => "GBP",
            Currency::Usd => "USD",
        }
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    /// Case-insensitive, as the original accepted `?currency=eur`.
    fn from_str(s: &str) -> Result<Self, MoneyError> {
        Currency::ALL
            .into_iter()
            .find(|c| c.code().eq_ignore_ascii_case(s))
            .ok_or(MoneyError::UnknownCurrency)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An order amount: 0 < amount < 1,000,000,000 with at most 2 decimals, held in cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FiatAmount(i64);

impl FiatAmount {
    /// Parses the textual form (`"69"`, `"69.5"`, `"69.50"`). A JSON number's raw
    /// text is accepted the same way; quotes around it are stripped by the caller.
    pub fn parse(text: &str) -> Result<Self, MoneyError> {
        let (int, frac) = match text.split_once('.') {
            Some((i, f)) => (i, f),
            None => (text, ""),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(int) || (text.contains('.') && !digits(frac)) {
            // "-5", "1e2", "NaN", "Infinity", " 5", "5." all land here; a minus
            // sign gets its own message because that is what the user meant.
            return Err(if text.starts_with('-') && digits(&text[1..].replace('.', "")) {
                MoneyError::NotPositive
            } else {
                MoneyError::NotANumber
            });
        }
        let frac = frac.trim_end_matches('0');
        if frac.len() > 2 {
            return Err(MoneyError::TooManyDecimals);
        }
        let int = int.trim_start_matches('0');
        if int.len() > 10 {
            return Err(MoneyError::TooLarge);
        }
        let whole: i64 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| MoneyError::TooLarge)?
        };
        let mut cents_part: i64 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| MoneyError::NotANumber)?
        };
        if frac.len() == 1 {
            cents_part *= 10;
        }
        Self::from_cents(whole * 100 + cents_part)
    }

    /// Parses a JSON value's raw text: a number (`69.5`) or a string (`"69.5"`).
    pub fn parse_json(raw: &str) -> Result<Self, MoneyError> {
        let raw = raw.trim();
        let inner = raw
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .unwrap_or(raw);
        Self::parse(inner)
    }

    /// From integer cents, checking the bounds.
    pub fn from_cents(cents: i64) -> Result<Self, MoneyError> {
        if cents <= 0 {
            Err(MoneyError::NotPositive)
        } else if cents >= MAX_AMOUNT_CENTS {
            Err(MoneyError::TooLarge)
        } else {
            Ok(Self(cents))
        }
    }

    /// The amount in cents.
    pub fn cents(self) -> i64 {
        self.0
    }

    /// The amount as an exact decimal with 2 places (for `numeric` columns).
    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, 2)
    }
}

impl fmt::Display for FiatAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl Serialize for FiatAmount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FiatAmount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(d)?;
        FiatAmount::parse_json(raw.get()).map_err(serde::de::Error::custom)
    }
}

/// A price of one bitcoin in a fiat currency: strictly positive, at most 18 decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct Rate(Decimal);

impl Rate {
    /// Checks and normalises (trailing zeros dropped) a decimal rate.
    pub fn new(value: Decimal) -> Result<Self, MoneyError> {
        let value = value.normalize();
        if value <= Decimal::ZERO || value.scale() > MAX_RATE_SCALE {
            return Err(MoneyError::BadRate);
        }
        Ok(Self(value))
    }

    /// The exact value.
    pub fn value(self) -> Decimal {
        self.0
    }
}

impl TryFrom<Decimal> for Rate {
    type Error = MoneyError;
    fn try_from(d: Decimal) -> Result<Self, MoneyError> {
        Rate::new(d)
    }
}

impl From<Rate> for Decimal {
    fn from(r: Rate) -> Decimal {
        r.0
    }
}

impl FromStr for Rate {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, MoneyError> {
        Rate::new(Decimal::from_str_exact(s).map_err(|_| MoneyError::BadRate)?)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An amount of bitcoin in satoshis (1e-8 BTC). Shown with exactly 8 decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Satoshis(pub i64);

impl Satoshis {
    /// The amount as an exact decimal with 8 places.
    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, 8)
    }

    /// Parses `"0.00196451"` (at most 8 decimals, not negative).
    pub fn parse(text: &str) -> Result<Self, MoneyError> {
        let d = Decimal::from_str_exact(text).map_err(|_| MoneyError::NotANumber)?;
        if d.is_sign_negative() || d.scale() > 8 {
            return Err(MoneyError::NotANumber);
        }
        let sats = d * Decimal::from(SATS_PER_BTC);
        i64::try_from(sats)
            .map(Satoshis)
            .map_err(|_| MoneyError::Overflow)
    }
}

impl fmt::Display for Satoshis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let per = SATS_PER_BTC.unsigned_abs();
        write!(f, "{sign}{}.{:08}", abs / per, abs % per)
    }
}

impl Serialize for Satoshis {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Satoshis {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Satoshis::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Bitcoin bought by `amount` at `rate`: amount / rate to 8 decimals, rounded up.
///
/// With rate = m / 10^s: sats = ceil(cents * 10^6 * 10^s / m), in `u128`
/// (cents < 10^11 and s <= 18 keep the numerator below 10^35).
pub fn btc_for(amount: FiatAmount, rate: Rate) -> Result<Satoshis, MoneyError> {
    let mantissa = u128::try_from(rate.0.mantissa()).map_err(|_| MoneyError::BadRate)?;
    let cents = u128::try_from(amount.0).map_err(|_| MoneyError::NotPositive)?;
    let numerator = cents * 1_000_000 * 10u128.pow(rate.0.scale());
    let sats = numerator.div_ceil(mantissa);
    i64::try_from(sats)
        .map(Satoshis)
        .map_err(|_| MoneyError::Overflow)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use num_bigint::BigUint;
    use proptest::prelude::*;

    fn btc(amount: &str, rate: &str) -> String {
        btc_for(FiatAmount::parse(amount).unwrap(), rate.parse().unwrap())
            .unwrap()
            .to_string()
    }

    #[test]
    fn hand_checked_cases() {
        // (amount, rate, expected): each checked by long division.
        let cases = [
            ("100.99", "30000.1234", "0.00336632"),
            ("69", "35123.40", "0.00196451"),
            ("1", "1", "1.00000000"),
            ("1", "3", "0.33333334"),
            ("0.01", "100000", "0.00000010"),
            ("0.01", "99999999", "0.00000001"),
            ("600", "60000", "0.01000000"),
            ("999999999.99", "1", "999999999.99000000"),
            ("10", "30000.000000000000000001", "0.00033334"),
        ];
        for (amount, rate, expected) in cases {
            assert_eq!(btc(amount, rate), expected, "{amount} at {rate}");
        }
    }

    #[test]
    fn amount_parsing_accepts_the_original_forms_and_rejects_the_rest() {
        for (text, cents) in [
            ("69", 6900),
            ("69.5", 6950),
            ("69.50", 6950),
            ("0.01", 1),
            ("007.10", 710),
            ("999999999.99", 99_999_999_999),
        ] {
            assert_eq!(FiatAmount::parse(text).unwrap().cents(), cents, "{text}");
        }
        let bad = [
            ("0", MoneyError::NotPositive),
            ("0.00", MoneyError::NotPositive),
            ("-5", MoneyError::NotPositive),
            ("1.001", MoneyError::TooManyDecimals),
            ("1000000000", MoneyError::TooLarge),
            ("99999999999999999999", MoneyError::TooLarge),
            ("1e2", MoneyError::NotANumber),
            ("NaN", MoneyError::NotANumber),
            ("Infinity", MoneyError::NotANumber),
            ("", MoneyError::NotANumber),
            (" 5", MoneyError::NotANumber),
            ("5.", MoneyError::NotANumber),
            (".5", MoneyError::NotANumber),
            ("+5", MoneyError::NotANumber),
        ];
        for (text, err) in bad {
            assert_eq!(FiatAmount::parse(text), Err(err), "{text:?}");
        }
        assert_eq!(FiatAmount::parse_json("\"12.30\"").unwrap().to_string(), "12.30");
        assert_eq!(FiatAmount::parse_json("600").unwrap().to_string(), "600.00");
    }

    #[test]
    fn currency_is_case_insensitive() {
        assert_eq!("eur".parse::<Currency>(), Ok(Currency::Eur));
        assert_eq!("Gbp".parse::<Currency>(), Ok(Currency::Gbp));
        assert!("BTC".parse::<Currency>().is_err());
    }

    #[test]
    fn rates_must_be_positive() {
        assert!("0".parse::<Rate>().is_err());
        assert!("-1".parse::<Rate>().is_err());
        assert_eq!("30000.1000".parse::<Rate>().unwrap().to_string(), "30000.1");
    }

    /// Independent oracle: exact rational arithmetic over big integers, from the text forms.
    fn oracle(cents: u64, rate_text: &str) -> BigUint {
        let (int, frac) = rate_text.split_once('.').unwrap_or((rate_text, ""));
        let m: BigUint = format!("{int}{frac}").parse().unwrap();
        let scale = BigUint::from(10u32).pow(u32::try_from(frac.len()).unwrap());
        // sats = ceil(cents/100 * 1e8 / (m/scale)) = ceil(cents * 1e6 * scale / m)
        let num = BigUint::from(cents) * BigUint::from(1_000_000u32) * scale;
        (&num + &m - 1u32) / m
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn btc_for_matches_big_integer_division(
            cents in prop_oneof![1u64..1000, 1u64..100_000_000_000, 99_999_999_000u64..100_000_000_000],
            rate_int in prop_oneof![1u64..10, 1u64..1_000_000_000],
            rate_frac in "[0-9]{0,18}",
        ) {
            let rate_text = if rate_frac.is_empty() { rate_int.to_string() } else { format!("{rate_int}.{rate_frac}") };
            let amount = FiatAmount::from_cents(i64::try_from(cents).unwrap()).unwrap();
            let rate: Rate = rate_text.parse().unwrap();
            let expected = oracle(cents, &rate_text);
            match btc_for(amount, rate) {
                Ok(sats) => prop_assert_eq!(BigUint::from(u64::try_from(sats.0).unwrap()), expected),
                Err(MoneyError::Overflow) => prop_assert!(expected > BigUint::from(u64::try_from(i64::MAX).unwrap())),
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }

        #[test]
        fn result_is_the_least_amount_that_covers_the_order(cents in 1i64..100_000_000_000, rate_cents in 1i64..10_000_000_000) {
            // sats/1e8 * rate >= amount, and one satoshi less would not cover it.
            let amount = FiatAmount::from_cents(cents).unwrap();
            let rate = Rate::new(Decimal::new(rate_cents, 2)).unwrap();
            let sats = i128::from(btc_for(amount, rate).unwrap().0);
            let cost = |s: i128| s * i128::from(rate_cents); // in 1e-10 fiat units
            let wanted = i128::from(cents) * 100_000_000;
            prop_assert!(cost(sats) >= wanted);
            prop_assert!(cost(sats - 1) < wanted);
        }

        #[test]
        fn amount_text_round_trips(cents in 1i64..100_000_000_000) {
            let a = FiatAmount::from_cents(cents).unwrap();
            prop_assert_eq!(FiatAmount::parse(&a.to_string()).unwrap(), a);
        }
    }
}
