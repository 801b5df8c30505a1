use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;

use chrono::DateTime;
use rust_decimal::Decimal;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::helpers::{distinct, seed, spawn_app};

/// Expected buckets computed from the file, independently of the service:
/// start (Unix seconds, floor to the width) → the values in it, in time order;
/// exact copies of a reading count once.
fn buckets<'a>(
    device: &str,
    parameter: &str,
    width: i64,
    file: &'a crate::helpers::Seed,
) -> BTreeMap<i64, Vec<(i64, &'a str)>> {
    let mut out: BTreeMap<i64, Vec<(i64, &str)>> = BTreeMap::new();
    for r in distinct(file, device)
        .into_iter()
        .filter(|r| r.parameter == parameter)
    {
        let at = DateTime::parse_from_rfc3339(&r.timestamp).unwrap();
        let t = at.timestamp();
        out.entry(t - t.rem_euclid(width))
            .or_default()
            .push((at.timestamp_micros(), r.value.get()));
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// An aggregate answer with every value kept as the JSON text sent.
#[derive(Debug, serde::Deserialize)]
struct Raw {
    source: String,
    data: Vec<HashMap<String, Box<RawValue>>>,
}

async fn raw(app: &crate::helpers::TestApp, path: &str) -> Raw {
    let res = app.get(path).await;
    assert_eq!(res.status(), 200, "{path}");
    serde_json::from_str(&res.text().await.unwrap()).unwrap()
}

fn dec(v: &RawValue) -> Decimal {
    Decimal::from_str(v.get()).unwrap()
}

fn texts(r: &Raw) -> Vec<Vec<(String, String)>> {
    r.data
        .iter()
        .map(|b| {
            let mut v: Vec<(String, String)> =
                b.iter().map(|(k, v)| (k.clone(), v.get().to_string())).collect();
            v.sort();
            v
        })
        .collect()
}

#[tokio::test]
async fn numeric_aggregates_match_values_computed_from_the_file_from_readings_and_from_the_rollup() {
    let app = spawn_app().await;
    app.import_seed().await;
    let file = seed();
    let series = |all: Vec<&crate::helpers::FileReading>| {
        all.into_iter().filter(|r| r.parameter == "parameter.foo").count()
    };
    assert!(
        series(file["device.foo"].iter().collect()) > series(distinct(&file, "device.foo")),
        "the file repeats a reading of the series, which must count once"
    );
    for (bucket, width) in [("15m", 900), ("1h", 3600)] {
        let want = buckets("device.foo", "parameter.foo", width, &file);
        let got = raw(
            &app,
            &format!("/api/v1/aggregate?device=device.foo&parameter=parameter.foo&bucket={bucket}"),
        )
        .await;
        assert_eq!(
            got.source,
            if width == 3600 {
                "rollup_hourly"
            } else {
                "readings"
            }
        );
        assert_eq!(got.data.len(), want.len(), "{bucket}");
        for (b, (start, values)) in got.data.iter().zip(&want) {
            let start_text: String = serde_json::from_str(b["start"].get()).unwrap();
            let start_got = DateTime::parse_from_rfc3339(&start_text).unwrap().timestamp();
            assert_eq!(start_got, *start, "{bucket} bucket start is UTC-aligned");
            let nums: Vec<Decimal> = values
                .iter()
                .map(|(_, v)| Decimal::from_str(v).unwrap())
                .collect();
            let sum: Decimal = nums.iter().sum();
            assert_eq!(b["count"].get(), nums.len().to_string(), "{bucket} {start}");
            assert_eq!(dec(&b["sum"]), sum, "{bucket} {start} sum");
            assert_eq!(dec(&b["min"]), *nums.iter().min().unwrap());
            assert_eq!(dec(&b["max"]), *nums.iter().max().unwrap());
            let avg = sum / Decimal::from(nums.len());
            assert!(
                (dec(&b["avg"]) - avg).abs() < Decimal::new(1, 12),
                "{bucket} {start} avg {} vs {avg}",
                b["avg"].get()
            );
        }
    }
    // The hourly roll-up and the readings give the same numbers: a range that
    // does not start on the hour forces the readings path.
    let base =
        "/api/v1/aggregate?device=device.foo&parameter=parameter.foo&bucket=1h&to=2024-03-08T00:00:00Z";
    let rolled = raw(&app, &format!("{base}&from=2024-03-07T00:00:00Z")).await;
    let unrolled = raw(&app, &format!("{base}&from=2024-03-06T23:59:59Z")).await;
    assert_eq!(rolled.source, "rollup_hourly");
    assert_eq!(unrolled.source, "readings");
    assert_eq!(texts(&rolled), texts(&unrolled));
}

#[tokio::test]
async fn text_aggregates_give_first_last_count_and_distinct() {
    let app = spawn_app().await;
    app.import_seed().await;
    let file = seed();
    let want = buckets("device.foo", "parameter.bar", 3600, &file);
    let repeated = file["device.foo"]
        .iter()
        .filter(|r| r.parameter == "parameter.bar")
        .count();
    assert!(
        repeated > want.values().map(Vec::len).sum::<usize>(),
        "the file repeats a reading of the series, which must count once"
    );
    let got = app
        .get_json("/api/v1/aggregate?device=device.foo&parameter=parameter.bar&bucket=1h&fn=first,last,count,distinct")
        .await;
    let data = got["data"].as_array().unwrap();
    assert_eq!(data.len(), want.len());
    for (b, values) in data.iter().zip(want.values()) {
        let text = |v: &str| serde_json::from_str::<String>(v).unwrap();
        assert_eq!(b["first"], text(values[0].1));
        assert_eq!(b["last"], text(values[values.len() - 1].1));
        assert_eq!(b["count"], values.len());
        assert_eq!(
            b["distinct"],
            values.iter().map(|v| v.1).collect::<HashSet<_>>().len()
        );
    }
}

#[tokio::test]
async fn gaps_are_filled_with_null_the_previous_value_or_a_straight_line() {
    let app = spawn_app().await;
    let body = [
        r#"{"device":"g","parameter":"p","timestamp":"2024-01-01T00:10:00Z","value":10}"#,
        r#"{"device":"g","parameter":"p","timestamp":"2024-01-01T03:20:00Z","value":40}"#,
    ]
    .join("\n");
    app.upload_ok("", "application/x-ndjson", body).await;
    let q = "/api/v1/aggregate?device=g&parameter=p&bucket=1h&fn=avg,count&from=2024-01-01T00:00:00Z&to=2024-01-01T04:00:00Z";
    let sparse = app.get_json(q).await;
    assert_eq!(
        sparse["data"].as_array().unwrap().len(),
        2,
        "no fill: empty buckets left out"
    );
    let avgs = |v: &Value| {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["avg"].as_f64())
            .collect::<Vec<_>>()
    };
    let counts = |v: &Value| {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["count"].clone())
            .collect::<Vec<_>>()
    };
    let null = app.get_json(&format!("{q}&fill=null")).await;
    assert_eq!(avgs(&null), [Some(10.0), None, None, Some(40.0)]);
    assert_eq!(counts(&null), [1, 0, 0, 1].map(Value::from));
    let prev = app.get_json(&format!("{q}&fill=previous")).await;
    assert_eq!(avgs(&prev), [10.0, 10.0, 10.0, 40.0].map(Some));
    let linear = app.get_json(&format!("{q}&fill=linear")).await;
    assert_eq!(avgs(&linear), [10.0, 20.0, 30.0, 40.0].map(Some));
    assert_eq!(linear["data"][1]["filled"], true);
}
