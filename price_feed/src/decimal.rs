//! The one exact price parser: text → `Decimal`, never through `f64`.

use rust_decimal::Decimal;
use serde_json::value::RawValue;

use crate::ProviderError;

/// Exact decimal from a price's text: plain (`61234.56`) or exponent (`6.123456e4`)
/// form. `what` names the number in the error (`EUR price`, `price`).
pub fn parse_decimal(what: &str, text: &str) -> Result<Decimal, ProviderError> {
    Decimal::from_str_exact(text)
        .or_else(|e| {
            if text.contains(['e', 'E']) {
                Decimal::from_scientific(text)
            } else {
                Err(e)
            }
        })
        .map_err(|e| ProviderError::Malformed(format!("{what} {text:?} is not a number: {e}")))
}

/// The text of a number given as a JSON number (`61234.5`) or string (`"61234.5"`),
/// read from the raw JSON so that no float rounds it.
pub fn raw_number_text(what: &str, raw: &RawValue) -> Result<String, ProviderError> {
    let text = raw.get().trim();
    if text.starts_with('"') {
        serde_json::from_str(text).map_err(|e| ProviderError::Malformed(format!("{what} {text}: {e}")))
    } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        Ok(text.to_owned())
    } else {
        Err(ProviderError::Malformed(format!("{what} {text} is not a number")))
    }
}

/// An exact number from its raw JSON text.
pub(crate) fn decimal_from_json(what: &str, raw: &RawValue) -> Result<Decimal, ProviderError> {
    parse_decimal(what, &raw_number_text(what, raw)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    #[test]
    fn prices_are_parsed_exactly_from_plain_and_exponent_text() {
        let d = |t: &str| parse_decimal("USD price", t).unwrap();
        assert_eq!(d("61234.56"), Decimal::new(6_123_456, 2));
        assert_eq!(d("6.654321e4"), Decimal::new(6_654_321, 2));
        assert_eq!(d("1E+5"), Decimal::from(100_000));
        assert_eq!(d("123456e-2"), Decimal::new(123_456, 2));
        for bad in ["", "NaN", "1.2.3", "12,3", "1e400", "abc"] {
            let err = parse_decimal("USD price", bad).unwrap_err();
            let ProviderError::Malformed(text) = err else {
                unreachable!("{bad:?}: {err:?}")
            };
            assert!(text.starts_with("USD price"), "{text}");
        }
    }

    #[test]
    fn json_numbers_and_strings_keep_every_digit() {
        let d = |j: &str| decimal_from_json("price", &raw(j));
        assert_eq!(
            d("61234.123456789012345678").unwrap().to_string(),
            "61234.123456789012345678"
        );
        assert_eq!(d("\"52345.1\"").unwrap(), Decimal::new(523_451, 1));
        assert_eq!(d("5.23451e4").unwrap(), Decimal::new(523_451, 1));
        assert_eq!(d("-1").unwrap(), Decimal::NEGATIVE_ONE);
        for bad in ["null", "true", "[1]", "\"sixty\""] {
            assert!(matches!(d(bad), Err(ProviderError::Malformed(_))), "{bad}");
        }
    }
}
