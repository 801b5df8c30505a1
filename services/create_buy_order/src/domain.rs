//! An order request as the client sent it, checked: the currency, the amount
//! and the idempotency key, from the query string, a JSON body or both (a field
//! given twice must agree), and the hash that ties a key to its request.

use common::Problem;
use common::money::{Currency, FiatAmount, MoneyError};
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// Longest accepted idempotency key.
pub const MAX_KEY_LEN: usize = 255;

/// The fields of `POST /place_order` from the query string.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct QueryFields {
    /// EUR, GBP or USD, any case.
    pub currency: Option<String>,
    /// Fiat amount: more than 0, less than 1000000000, at most 2 decimals.
    pub amount: Option<String>,
    /// Idempotency key (same as the `Idempotency-Key` header).
    pub client_order_id: Option<String>,
}

/// The fields of `POST /place_order` from a JSON body, kept as raw JSON so an
/// amount is read as written (`69.999` is refused, not rounded by a float).
#[derive(Debug, Default, Deserialize)]
pub struct BodyFields<'a> {
    #[serde(borrow, default)]
    currency: Option<&'a RawValue>,
    #[serde(borrow, default)]
    amount: Option<&'a RawValue>,
    #[serde(borrow, default)]
    client_order_id: Option<&'a RawValue>,
}

/// The JSON body as the OpenAPI document shows it.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // documentation only
pub struct PlaceOrderBody {
    /// EUR, GBP or USD, any case.
    #[schema(example = "USD")]
    currency: String,
    /// A JSON number or a decimal string, at most 2 decimals.
    #[schema(value_type = String, example = "600")]
    amount: String,
    /// Idempotency key (same as the `Idempotency-Key` header).
    client_order_id: Option<String>,
}

/// A client's idempotency key: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Checks a key; the IETF draft sends it as a quoted string, Stripe bare: both work.
    pub fn parse(field: &str, text: &str) -> Result<Self, Problem> {
        let text = text
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or(text);
        if text.is_empty() || text.len() > MAX_KEY_LEN || !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Problem::invalid_field(
                field,
                format!("must be 1-{MAX_KEY_LEN} visible ASCII characters"),
            ));
        }
        Ok(Self(text.to_string()))
    }
}

impl AsRef<str> for IdempotencyKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A checked order request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceOrder {
    pub currency: Currency,
    pub amount: FiatAmount,
    pub key: Option<IdempotencyKey>,
}

impl PlaceOrder {
    /// Reads the request from the query string, the body's raw JSON (if any)
    /// and the `Idempotency-Key` header (if any).
    pub fn parse(query: &QueryFields, body: Option<&str>, header_key: Option<&str>) -> Result<Self, Problem> {
        let body: BodyFields = match body {
            None => BodyFields::default(),
            Some(text) => parse_body(text)?,
        };
        let currency = one_of(
            "currency",
            query.currency.as_deref().map(parse_currency).transpose()?,
            body.currency
                .map(|raw| json_string("currency", raw).and_then(|s| parse_currency(&s)))
                .transpose()?,
        )?
        .ok_or_else(|| Problem::invalid_field("currency", "is required (EUR, GBP or USD)"))?;
        let amount = one_of(
            "amount",
            query
                .amount
                .as_deref()
                .map(|a| money("amount", FiatAmount::parse(a)))
                .transpose()?,
            body.amount
                .map(|raw| money("amount", FiatAmount::parse_json(raw.get())))
                .transpose()?,
        )?
        .ok_or_else(|| Problem::invalid_field("amount", "is required"))?;
        let body_key = body
            .client_order_id
            .map(|raw| json_string("client_order_id", raw))
            .transpose()?;
        let key = one_of(
            "client_order_id",
            one_of(
                "client_order_id",
                query
                    .client_order_id
                    .as_deref()
                    .map(|k| IdempotencyKey::parse("client_order_id", k))
                    .transpose()?,
                body_key
                    .as_deref()
                    .map(|k| IdempotencyKey::parse("client_order_id", k))
                    .transpose()?,
            )?,
            header_key
                .map(|k| IdempotencyKey::parse("Idempotency-Key", k))
                .transpose()?,
        )?;
        Ok(Self {
            currency,
            amount,
            key,
        })
    }

    /// Hex SHA-256 of what the order asks for. A retry under the same key must
    /// hash the same: `amount=69` and `"amount": "69.00"` are one request.
    pub fn request_hash(&self) -> String {
        let digest = Sha256::digest(format!("v1|{}|{}", self.currency, self.amount.cents()));
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn parse_body(text: &str) -> Result<BodyFields<'_>, Problem> {
    use actix_web::http::StatusCode;
    if text.trim().is_empty() {
        return Ok(BodyFields::default());
    }
    serde_json::from_str(text).map_err(|e| {
        if e.is_data() {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                format!("body must be a JSON object with currency and amount: {e}"),
            )
        } else {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("body is not valid JSON: {e}"),
            )
        }
    })
}

/// `null` counts as absent; anything but a string is refused.
fn json_string(field: &str, raw: &RawValue) -> Result<String, Problem> {
    serde_json::from_str::<String>(raw.get()).map_err(|_| Problem::invalid_field(field, "must be a string"))
}

fn parse_currency(text: &str) -> Result<Currency, Problem> {
    money("currency", text.trim().parse())
}

fn money<T>(field: &str, r: Result<T, MoneyError>) -> Result<T, Problem> {
    r.map_err(|e| Problem::invalid_field(field, e.to_string()))
}

/// A field from two places: either one, or both when they agree.
fn one_of<T: PartialEq>(field: &str, a: Option<T>, b: Option<T>) -> Result<Option<T>, Problem> {
    match (a, b) {
        (Some(a), Some(b)) if a != b => Err(Problem::invalid_field(
            field,
            "is given twice with different values",
        )),
        (a, b) => Ok(a.or(b)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn query(currency: Option<&str>, amount: Option<&str>) -> QueryFields {
        QueryFields {
            currency: currency.map(Into::into),
            amount: amount.map(Into::into),
            client_order_id: None,
        }
    }

    fn field_of(p: &Problem) -> String {
        p.extra["errors"][0]["field"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    #[test]
    fn the_original_query_and_body_forms_parse_to_the_same_request() {
        let from_query = PlaceOrder::parse(&query(Some("eur"), Some("69")), None, None).unwrap();
        let from_body = PlaceOrder::parse(
            &QueryFields::default(),
            Some(r#"{"currency":"EUR","amount":69}"#),
            None,
        )
        .unwrap();
        let from_string = PlaceOrder::parse(
            &QueryFields::default(),
            Some(r#"{"currency":"Eur","amount":"69.00"}"#),
            None,
        )
        .unwrap();
        assert_eq!(from_query, from_body);
        assert_eq!(from_query, from_string);
        assert_eq!(from_query.amount.to_string(), "69.00");
        assert_eq!(from_query.request_hash(), from_body.request_hash());
        let other = PlaceOrder::parse(&query(Some("eur"), Some("69.01")), None, None).unwrap();
        assert_ne!(other.request_hash(), from_query.request_hash());
    }

    #[test]
    fn bad_fields_are_named() {
        let cases: [(QueryFields, Option<&str>, Option<&str>, &str); 14] = [
            (query(None, Some("1")), None, None, "currency"),
            (query(Some("btc"), Some("1")), None, None, "currency"),
            (query(Some("eur"), None), None, None, "amount"),
            (query(Some("eur"), Some("1.001")), None, None, "amount"),
            (query(Some("eur"), Some("0")), None, None, "amount"),
            (query(Some("eur"), Some("-1")), None, None, "amount"),
            (query(Some("eur"), Some("1000000000")), None, None, "amount"),
            (query(Some("eur"), Some("NaN")), None, None, "amount"),
            (
                QueryFields::default(),
                Some(r#"{"currency":"EUR","amount":1e2}"#),
                None,
                "amount",
            ),
            (
                QueryFields::default(),
                Some(r#"{"currency":1,"amount":1}"#),
                None,
                "currency",
            ),
            (
                QueryFields::default(),
                Some(r#"{"currency":"EUR","amount":true}"#),
                None,
                "amount",
            ),
            (
                query(Some("eur"), Some("2")),
                Some(r#"{"currency":"EUR","amount":1}"#),
                None,
                "amount",
            ),
            (query(Some("eur"), Some("1")), None, Some(""), "Idempotency-Key"),
            (
                QueryFields::default(),
                Some(r#"{"currency":"EUR","amount":1,"client_order_id":"a"}"#),
                Some("b"),
                "client_order_id",
            ),
        ];
        for (q, body, key, field) in cases {
            let err = PlaceOrder::parse(&q, body, key).unwrap_err();
            assert_eq!(err.status, 422, "{body:?}: {err}");
            assert_eq!(field_of(&err), field, "{body:?}: {err}");
        }
    }

    #[test]
    fn a_body_that_is_not_json_is_a_400_and_the_wrong_shape_a_422() {
        let bad = PlaceOrder::parse(&QueryFields::default(), Some("{nope"), None).unwrap_err();
        assert_eq!((bad.status, bad.code.as_str()), (400, "malformed_json"));
        let list = PlaceOrder::parse(&QueryFields::default(), Some("[1]"), None).unwrap_err();
        assert_eq!((list.status, list.code.as_str()), (422, "validation_failed"));
    }

    #[test]
    fn keys_come_from_the_header_or_the_body_and_may_be_quoted() {
        let q = query(Some("usd"), Some("600"));
        let a = PlaceOrder::parse(&q, None, Some("\"abc-1\"")).unwrap();
        let b = PlaceOrder::parse(
            &QueryFields::default(),
            Some(r#"{"currency":"usd","amount":600,"client_order_id":"abc-1"}"#),
            Some("abc-1"),
        )
        .unwrap();
        assert_eq!(a.key.as_ref().map(AsRef::as_ref), Some("abc-1"));
        assert_eq!(a, b);
        let long = "k".repeat(MAX_KEY_LEN + 1);
        assert!(PlaceOrder::parse(&q, None, Some(&long)).is_err());
        assert!(PlaceOrder::parse(&q, None, Some("has space")).is_err());
    }
}
