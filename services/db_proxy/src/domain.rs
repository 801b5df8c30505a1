//! The rules of db_proxy without I/O: how one group-commit batch is decided
//! (replay, key reused, cap refused, accepted — in arrival order), and how a
//! page is asked for (page size, `start` or an opaque cursor).

use std::collections::HashMap;

use chrono::{DateTime, SubsecRound, Utc};
use common::Problem;
use common::models::{IdempotencyInfo, NewOrder, Order};
use common::money::Satoshis;
use uuid::Uuid;

/// An order waiting in a batch, with its bitcoin amount already computed.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub order: &'a NewOrder,
    pub satoshis: Satoshis,
}

/// The state row as the batch found it (locked) or leaves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapState {
    /// Bitcoin of all stored orders.
    pub used: Satoshis,
    /// Orders stored, which is also the last `seq` handed out.
    pub count: i64,
}

/// An idempotency key found in the database, with the order it produced.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub request_hash: String,
    pub order: Order,
}

/// `(client_id, key)`: idempotency keys are scoped per client.
pub type KeyId = (String, String);

/// What happens to one order of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Stored now.
    Accepted(Order),
    /// An earlier order with the same key and request; nothing stored.
    Replayed(Order),
    /// The key was used before for a different request.
    KeyReused,
    /// Storing it would take the total over the cap.
    CapExceeded {
        remaining: Satoshis,
        requested: Satoshis,
    },
}

/// An accepted order as it is written.
#[derive(Debug, Clone)]
pub struct NewRow {
    pub order: Order,
    pub idempotency: Option<IdempotencyInfo>,
}

/// The outcome of a batch: one decision per candidate (same order), the rows
/// to insert and the state row to write back.
#[derive(Debug)]
pub struct Plan {
    pub decisions: Vec<Decision>,
    pub new_rows: Vec<NewRow>,
    pub state: CapState,
}

/// Decides a batch as if its orders had arrived one by one, in order.
///
/// `stored` holds the keys of this batch already in the database. An order
/// landing exactly on the cap is accepted. A replay wins over the cap (the
/// order is already paid for). A key first used inside this same batch
/// behaves exactly as if it had been stored by an earlier transaction.
pub fn plan_batch(
    batch: &[Candidate<'_>],
    start: CapState,
    cap: Satoshis,
    stored: &HashMap<KeyId, StoredKey>,
    now: DateTime<Utc>,
    mut new_id: impl FnMut() -> Uuid,
) -> Plan {
    let mut state = start;
    let mut decisions = Vec::with_capacity(batch.len());
    let mut new_rows: Vec<NewRow> = Vec::new();
    // Keys first used in this batch → index into `new_rows`.
    let mut fresh: HashMap<(&str, &str), usize> = HashMap::new();
    for c in batch {
        let idem = c.order.idempotency.as_ref();
        if let Some(i) = idem {
            let earlier = match fresh.get(&(i.client_id.as_str(), i.key.as_str())) {
                Some(&at) => new_rows.get(at).and_then(|r| {
                    r.idempotency
                        .as_ref()
                        .map(|k| (k.request_hash.as_str(), &r.order))
                }),
                None => stored
                    .get(&(i.client_id.clone(), i.key.clone()))
                    .map(|s| (s.request_hash.as_str(), &s.order)),
            };
            if let Some((hash, order)) = earlier {
                decisions.push(if hash == i.request_hash {
                    Decision::Replayed(order.clone())
                } else {
                    Decision::KeyReused
                });
                continue;
            }
        }
        let total = state.used.0.checked_add(c.satoshis.0);
        if total.is_none_or(|t| t > cap.0) {
            decisions.push(Decision::CapExceeded {
                remaining: Satoshis(cap.0.saturating_sub(state.used.0).max(0)),
                requested: c.satoshis,
            });
            continue;
        }
        state = CapState {
            used: Satoshis(total.unwrap_or(state.used.0)),
            count: state.count + 1,
        };
        let order = Order {
            id: new_id(),
            seq: state.count,
            amount: c.order.amount,
            currency: c.order.currency,
            exchange_rate: c.order.exchange_rate,
            bitcoin_amount: c.satoshis,
            rate_source: c.order.rate_source.clone(),
            // Postgres keeps microseconds: answer with what is stored, so a replay equals it.
            rate_fetched_at: c.order.rate_fetched_at.trunc_subsecs(6),
            simulated: c.order.simulated,
            client_order_id: idem.map(|i| i.key.clone()),
            created_at: now,
        };
        if let Some(i) = idem {
            fresh.insert((i.client_id.as_str(), i.key.as_str()), new_rows.len());
        }
        decisions.push(Decision::Accepted(order.clone()));
        new_rows.push(NewRow {
            order,
            idempotency: idem.cloned(),
        });
    }
    Plan {
        decisions,
        new_rows,
        state,
    }
}

/// Largest page.
pub const MAX_PAGE_SIZE: u32 = 100;
/// Page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: u32 = 10;
const ORDERS: common::paging::Keyset = common::paging::Keyset::new("orders.seq_desc", 1);

/// Where a page begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageFrom {
    /// Skip this many of the newest orders (the original `start`).
    Start(i64),
    /// Orders with a `seq` below this one (from a cursor).
    Before(i64),
}

/// A checked page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSpec {
    pub size: i64,
    pub from: PageFrom,
}

/// `page_size`: the shared page-size rule with this route's default and maximum.
const PAGE_SIZE: common::paging::PageSize =
    common::paging::PageSize::new("page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);

impl PageSpec {
    /// Checks the query parameters of `GET /get`.
    pub fn parse(page_size: Option<i64>, start: Option<i64>, cursor: Option<&str>) -> Result<Self, Problem> {
        let size = i64::from(PAGE_SIZE.check(page_size)?);
        let from = match (start, cursor) {
            (Some(_), Some(_)) => {
                return Err(Problem::invalid_field(
                    "cursor",
                    "give either start or cursor, not both",
                ));
            }
            (Some(s), None) if s < 0 => {
                return Err(Problem::invalid_field("start", "must be 0 or more"));
            }
            (Some(s), None) => PageFrom::Start(s),
            (None, Some(c)) => PageFrom::Before(decode_cursor(c)?),
            (None, None) => PageFrom::Start(0),
        };
        Ok(Self { size, from })
    }
}

/// The opaque cursor for "orders older than `seq`".
pub fn encode_cursor(seq: i64) -> String {
    ORDERS.cursor(&seq)
}

/// The `seq` inside a cursor, if it is one this service could have made.
pub fn decode_cursor(cursor: &str) -> Result<i64, Problem> {
    ORDERS
        .key(cursor)
        .ok()
        .filter(|&seq| seq >= 1)
        .ok_or_else(common::paging::Keyset::refused)
}

/// The cursor of the page after one ending at `last_seq`; `None` on the last page.
/// Seqs are gapless, so anything above 1 has an older order after it.
pub fn next_cursor(last_seq: Option<i64>) -> Option<String> {
    last_seq.filter(|&s| s > 1).map(encode_cursor)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use common::money::{Currency, FiatAmount, Rate};

    fn new_order(cents: i64, key: Option<(&str, &str, &str)>) -> NewOrder {
        NewOrder {
            amount: FiatAmount::from_cents(cents).unwrap(),
            currency: Currency::Eur,
            exchange_rate: "10000".parse::<Rate>().unwrap(),
            rate_source: "test".into(),
            rate_fetched_at: Utc::now(),
            simulated: false,
            idempotency: key.map(|(c, k, h)| IdempotencyInfo {
                client_id: c.into(),
                key: k.into(),
                request_hash: h.into(),
            }),
        }
    }

    fn plan(orders: &[(NewOrder, i64)], used: i64, cap: i64, stored: &HashMap<KeyId, StoredKey>) -> Plan {
        let batch: Vec<Candidate> = orders
            .iter()
            .map(|(o, s)| Candidate {
                order: o,
                satoshis: Satoshis(*s),
            })
            .collect();
        plan_batch(
            &batch,
            CapState {
                used: Satoshis(used),
                count: 7,
            },
            Satoshis(cap),
            stored,
            Utc::now(),
            Uuid::new_v4,
        )
    }

    #[test]
    fn orders_are_accepted_up_to_exactly_the_cap_in_arrival_order() {
        let orders = vec![
            (new_order(100, None), 40),
            (new_order(100, None), 70),
            (new_order(100, None), 60),
            (new_order(100, None), 1),
        ];
        let p = plan(&orders, 0, 100, &HashMap::new());
        assert!(matches!(&p.decisions[0], Decision::Accepted(o) if o.seq == 8));
        assert_eq!(
            p.decisions[1],
            Decision::CapExceeded {
                remaining: Satoshis(60),
                requested: Satoshis(70)
            }
        );
        assert!(matches!(&p.decisions[2], Decision::Accepted(o) if o.seq == 9));
        assert_eq!(
            p.decisions[3],
            Decision::CapExceeded {
                remaining: Satoshis(0),
                requested: Satoshis(1)
            }
        );
        assert_eq!(
            p.state,
            CapState {
                used: Satoshis(100),
                count: 9
            }
        );
        assert_eq!(p.new_rows.len(), 2);
    }

    #[test]
    fn a_key_used_twice_in_one_batch_is_stored_once_and_replayed() {
        let orders = vec![
            (new_order(100, Some(("c", "k", "h1"))), 10),
            (new_order(100, Some(("c", "k", "h1"))), 10),
            (new_order(200, Some(("c", "k", "h2"))), 20),
            (new_order(100, Some(("other", "k", "h1"))), 10),
        ];
        let p = plan(&orders, 0, 1000, &HashMap::new());
        let Decision::Accepted(first) = &p.decisions[0] else {
            panic!("{:?}", p.decisions[0])
        };
        assert_eq!(p.decisions[1], Decision::Replayed(first.clone()));
        assert_eq!(p.decisions[2], Decision::KeyReused);
        assert!(matches!(&p.decisions[3], Decision::Accepted(o) if o.id != first.id));
        assert_eq!(p.new_rows.len(), 2);
        assert_eq!(p.state.used, Satoshis(20));
    }

    #[test]
    fn a_stored_key_replays_even_when_the_cap_is_full() {
        let orders = vec![(new_order(100, Some(("c", "k", "h"))), 10)];
        let mut old = plan(&orders, 0, 1000, &HashMap::new());
        let Some(Decision::Accepted(order)) = old.decisions.pop() else {
            panic!()
        };
        let stored = HashMap::from([(
            ("c".to_string(), "k".to_string()),
            StoredKey {
                request_hash: "h".into(),
                order: order.clone(),
            },
        )]);
        let p = plan(&orders, 1000, 1000, &stored);
        assert_eq!(p.decisions, vec![Decision::Replayed(order)]);
        assert!(p.new_rows.is_empty());
    }

    #[test]
    fn a_key_refused_for_the_cap_is_not_remembered() {
        let orders = vec![
            (new_order(100, Some(("c", "k", "h"))), 50),
            (new_order(100, Some(("c", "k", "h"))), 5),
        ];
        let p = plan(&orders, 0, 10, &HashMap::new());
        assert!(matches!(p.decisions[0], Decision::CapExceeded { .. }));
        assert!(matches!(p.decisions[1], Decision::Accepted(_)));
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        for seq in [1, 2, 99, i64::MAX] {
            assert_eq!(decode_cursor(&encode_cursor(seq)).unwrap(), seq);
        }
        // The version-1 text cursors of earlier releases are refused, not misread.
        let old = "djE6NQ";
        for bad in ["", "abc", "!!!", "5", old, &encode_cursor(0), &encode_cursor(-3)] {
            assert_eq!(decode_cursor(bad).unwrap_err().status, 422, "{bad:?}");
        }
    }

    #[test]
    fn page_spec_checks_its_parameters() {
        assert_eq!(
            PageSpec::parse(None, None, None).unwrap(),
            PageSpec {
                size: 10,
                from: PageFrom::Start(0)
            }
        );
        let c = encode_cursor(5);
        assert_eq!(
            PageSpec::parse(Some(100), None, Some(&c)).unwrap().from,
            PageFrom::Before(5)
        );
        for (size, start, cursor) in [
            (Some(0), None, None),
            (Some(101), None, None),
            (None, Some(-1), None),
            (None, Some(0), Some(c.as_str())),
            (None, None, Some("nope")),
        ] {
            assert_eq!(PageSpec::parse(size, start, cursor).unwrap_err().status, 422);
        }
    }

    #[test]
    fn the_last_page_has_no_cursor() {
        assert_eq!(next_cursor(None), None);
        assert_eq!(next_cursor(Some(1)), None);
        assert_eq!(next_cursor(Some(2)), Some(encode_cursor(2)));
    }
}
