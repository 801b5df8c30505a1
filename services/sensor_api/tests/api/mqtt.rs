//! MQTT ingest against a real broker: each test starts its own Mosquitto on a free
//! port with a config of its own (so stopping it disturbs no other test), a
//! sensor_api subscribed to it, and publishers at QoS 1.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use sensor_api::Settings;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::helpers::{ReadingsPage, TestApp, spawn_with};

/// Waits this long at most for what must happen (a guard against hanging, not a
/// measure: on a healthy machine everything below happens in seconds).
const PATIENCE: Duration = Duration::from_secs(180);

/// A Mosquitto of one test: its port, directory (config, persistence, log) and process.
struct Mosquitto {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

fn mosquitto_binary() -> PathBuf {
    if let Ok(b) = std::env::var("DELOS_MOSQUITTO") {
        return b.into();
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join("mosquitto"))
        .find(|b| b.is_file())
        .expect("mosquitto is not installed (scripts/lib/deps.sh ensure_mosquitto installs it)")
}

impl Mosquitto {
    /// Starts a broker on a free loopback port with the project's config: sessions
    /// survive a restart (persistence), the in-flight window and queue are large
    /// enough for batches and for a subscriber that is away.
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("delos-mosquitto-{}-{port}", common::testing::run_id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Mosquitto started as root drops to its own user, which must write here.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        // The project's broker config (deployment/mosquitto/mosquitto.conf: persistence,
        // the in-flight window and queue batches need), on this test's port and directory.
        let project = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deployment/mosquitto/mosquitto.conf"),
        )
        .unwrap();
        let config: Vec<String> = project
            .lines()
            .map(|line| match line.split_whitespace().next() {
                Some("listener") => format!("listener {port} 127.0.0.1"),
                Some("persistence_location") => format!("persistence_location {}/", dir.display()),
                Some("log_dest") => format!("log_dest file {}/mosquitto.log", dir.display()),
                _ => line.to_string(),
            })
            .collect();
        std::fs::write(dir.join("mosquitto.conf"), config.join("\n") + "\n").unwrap();
        let mut broker = Self {
            port,
            dir,
            child: None,
        };
        broker.run().await;
        broker
    }

    fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    async fn run(&mut self) {
        let child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(tokio::time::Instant::now() < deadline, "mosquitto did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the broker as a service manager does (SIGTERM: it saves its sessions).
    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            tokio::task::spawn_blocking(move || child.wait())
                .await
                .unwrap()
                .unwrap();
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// sensor_api subscribed to `broker` (waits until `/readyz` says so).
async fn spawn_subscribed(broker: &Mosquitto) -> TestApp {
    let url = broker.url();
    let app = spawn_with(move |s: &mut Settings| s.mqtt.broker_url = url).await;
    wait_ready(&app, true).await;
    app
}

/// Waits until `/readyz` answers 200 (`ready`) or 503 naming the broker.
async fn wait_ready(app: &TestApp, ready: bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let res = app.get("/readyz").await;
        let status = res.status();
        let body = res.text().await.unwrap();
        if ready && status == StatusCode::OK {
            return;
        }
        if !ready && status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(body.contains("mqtt"), "{body}");
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "readyz never became {ready}: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A QoS 1 client with a persistent session (so what it published but the broker
/// did not acknowledge is sent again after a broker restart); `events` gets every
/// message it receives.
fn client(broker: &Mosquitto, id: &str) -> (AsyncClient, mpsc::UnboundedReceiver<rumqttc::Publish>) {
    let mut opts = MqttOptions::new(id, "127.0.0.1", broker.port);
    opts.set_clean_session(false).set_inflight(200);
    let (client, mut eventloop) = AsyncClient::new(opts, 1000);
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = tx.send(p);
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    (client, rx)
}

/// Reading `i` of a stream: even ones on their device's topic, odd ones as NDJSON
/// rows on `delos/sensors/ingest`; values and offsets that must come back as sent.
fn reading(i: u32) -> (String, String, String, String) {
    let device = format!("dev-{}", i % 10);
    let minute = i / 10;
    let timestamp = format!(
        "2026-03-{:02}T{:02}:{:02}:00+05:30",
        1 + minute / 1440,
        (minute / 60) % 24,
        minute % 60
    );
    let value = format!("{}.{:02}", i + 1, i % 100);
    if i.is_multiple_of(2) {
        let payload = json!({ "timestamp": timestamp, "type": "numeric" }).to_string();
        // The value is written as text to keep its trailing zero.
        let payload = format!("{},\"value\":{value}}}", payload.trim_end_matches('}'));
        (format!("delos/sensors/{device}/temp"), payload, timestamp, value)
    } else {
        let payload = format!(
            "{{\"device\":\"{device}\",\"parameter\":\"temp\",\"timestamp\":\"{timestamp}\",\"value\":{value},\"type\":\"numeric\"}}"
        );
        ("delos/sensors/ingest".to_string(), payload, timestamp, value)
    }
}

/// Publishes readings `range` at QoS 1.
async fn publish(client: &AsyncClient, range: std::ops::Range<u32>) {
    for i in range {
        let (topic, payload, _, _) = reading(i);
        client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }
}

async fn stored(app: &TestApp) -> i64 {
    app.get_json("/status").await["readings"].as_i64().unwrap()
}

/// Waits until `at_least` readings are stored; returns how many.
async fn wait_stored(app: &TestApp, at_least: i64) -> i64 {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let n = stored(app).await;
        if n >= at_least {
            return n;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {n} of {at_least} readings stored"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every reading of `0..n` is stored once, with its value and offset as sent.
async fn assert_exact(app: &TestApp, n: u32) {
    assert_eq!(stored(app).await, i64::from(n));
    for i in [0, 1, n / 2, n / 2 + 1, n - 2, n - 1] {
        let (_, _, timestamp, value) = reading(i);
        let device = format!("dev-{}", i % 10);
        // Values raw: a JSON number parsed into a float would lose its trailing zeros.
        let page: ReadingsPage = app
            .get(&format!(
                "/api/v1/readings?device={device}&parameter=temp&from={}&order=asc&limit=1",
                urlencode(&timestamp)
            ))
            .await
            .json()
            .await
            .unwrap();
        let r = &page.data[0];
        let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap();
        let answered = at(&r.timestamp);
        assert_eq!(answered, at(&timestamp), "reading {i}: {r:?}");
        assert_eq!(answered.offset(), at(&timestamp).offset(), "reading {i}: {r:?}");
        assert_eq!(r.value.get(), value, "reading {i}: {r:?}");
    }
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn ten_thousand_readings_published_at_qos_1_are_all_stored_exactly() {
    let broker = Mosquitto::start().await;
    let app = spawn_subscribed(&broker).await;
    let (publisher, _) = client(&broker, "publisher");
    publish(&publisher, 0..10_000).await;
    wait_stored(&app, 10_000).await;
    assert_exact(&app, 10_000).await;
    let mqtt = &app.get_json("/status").await["mqtt"];
    assert_eq!(mqtt["connected"], true, "{mqtt}");
    assert_eq!(mqtt["rejected"], 0, "{mqtt}");
    assert_eq!(mqtt["stored"], 10_000, "{mqtt}");
}

#[tokio::test]
async fn a_sensor_api_killed_mid_stream_loses_nothing_once_restarted_with_the_same_client_id() {
    let broker = Mosquitto::start().await;
    let url = broker.url();
    let first = spawn_subscribed(&broker).await;
    let settings = first.settings.clone();
    let (publisher, _) = client(&broker, "publisher");
    publish(&publisher, 0..6_000).await;
    let halfway = wait_stored(&first, 5_000).await;
    // Mid-stream (likely mid-batch, mid-transaction), without a goodbye to the
    // broker: as kill -9.
    first.handle.abort().await;
    // Published while no sensor_api runs: the broker keeps them for its session.
    publish(&publisher, 6_000..10_000).await;
    let second = crate::helpers::spawn_settings(settings).await;
    assert_eq!(second.settings.mqtt.broker_url, url);
    wait_stored(&second, 10_000).await;
    eprintln!("killed at {halfway} stored; the restarted one stored the rest");
    assert_exact(&second, 10_000).await;
}

#[tokio::test]
async fn a_broker_restart_mid_stream_is_reconnected_and_loses_nothing() {
    let mut broker = Mosquitto::start().await;
    let app = spawn_subscribed(&broker).await;
    let (publisher, _) = client(&broker, "publisher");
    publish(&publisher, 0..4_000).await;
    wait_stored(&app, 1_000).await;
    broker.stop().await;
    // Readiness names the broker while it is gone.
    wait_ready(&app, false).await;
    let mqtt = &app.get_json("/status").await["mqtt"];
    assert_eq!(mqtt["connected"], false, "{mqtt}");
    // Published while the broker is down: queued by the publisher's client.
    let rest = tokio::spawn({
        let publisher = publisher.clone();
        async move { publish(&publisher, 4_000..10_000).await }
    });
    broker.run().await;
    wait_ready(&app, true).await;
    rest.await.unwrap();
    wait_stored(&app, 10_000).await;
    assert_exact(&app, 10_000).await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("delos_sensor_mqtt_connections_total") && l.ends_with(" 2")),
        "one connection, then one reconnection: {metrics}"
    );
}

#[tokio::test]
async fn bad_payloads_are_published_with_their_reason_counted_and_acknowledged() {
    let broker = Mosquitto::start().await;
    let app = spawn_subscribed(&broker).await;
    let (watcher, mut reports) = client(&broker, "watcher");
    watcher
        .subscribe("delos/sensors/rejected", QoS::AtLeastOnce)
        .await
        .unwrap();
    // A message to the watcher's own topic proves its subscription is in place.
    watcher.subscribe("test/ping", QoS::AtLeastOnce).await.unwrap();
    watcher
        .publish("test/ping", QoS::AtLeastOnce, false, "ping")
        .await
        .unwrap();
    assert_eq!(reports.recv().await.unwrap().topic, "test/ping");

    let (publisher, _) = client(&broker, "publisher");
    let bad = [
        ("delos/sensors/d1/temp", "not json", "must be a JSON object"),
        (
            "delos/sensors/d1/temp",
            "{\"timestamp\":\"2026-03-01T00:00:00Z\",\"value\":\"x\",\"type\":\"numeric\"}",
            "type is numeric but the value is a string",
        ),
        (
            "delos/sensors/d1/temp",
            "{\"timestamp\":\"yesterday\",\"value\":1}",
            "timestamp",
        ),
        (
            "delos/sensors/d1/temp",
            "{\"device\":\"d2\",\"timestamp\":\"2026-03-01T00:00:00Z\",\"value\":1}",
            "come from the topic",
        ),
        (
            "delos/sensors/ingest",
            "{\"parameter\":\"temp\",\"timestamp\":\"2026-03-01T00:00:00Z\",\"value\":1}",
            "device",
        ),
        // No offset, and a message cannot name the one it means: refused, not guessed.
        (
            "delos/sensors/d1/temp",
            "{\"timestamp\":\"2026-03-01T00:00:00\",\"value\":1}",
            "no UTC offset",
        ),
        ("delos/sensors/ingest", "", "empty"),
        ("delos/sensors/ingest", "[1,2]", "not a JSON reading object"),
    ];
    let good = [
        (
            "delos/sensors/d1/temp",
            "{\"timestamp\":\"2026-03-01T00:00:00+01:00\",\"value\":20.10,\"type\":\"numeric\"}",
        ),
        (
            "delos/sensors/ingest",
            "{\"device\":\"d1\",\"parameter\":\"state\",\"timestamp\":\"2026-03-01T00:00:00Z\",\"value\":\"open\",\"type\":\"text\"}",
        ),
    ];
    for (topic, payload, _) in bad {
        publisher
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }
    for (topic, payload) in good {
        publisher
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }
    let mut received = Vec::new();
    while received.len() < bad.len() {
        let p = tokio::time::timeout(PATIENCE, reports.recv())
            .await
            .unwrap()
            .unwrap();
        let report: Value = serde_json::from_slice(&p.payload).unwrap();
        received.push(report);
    }
    for (topic, payload, reason) in bad {
        let report = received
            .iter()
            .find(|r| r["topic"] == topic && r["payload"] == payload)
            .unwrap_or_else(|| panic!("no report of {payload:?}: {received:?}"));
        let why = report["reason"].as_str().unwrap();
        assert!(why.contains(reason), "{payload:?}: {why}");
    }
    wait_stored(&app, 2).await;
    let status = app.get_json("/status").await;
    assert_eq!(status["readings"], 2, "{status}");
    let mqtt = &status["mqtt"];
    assert_eq!(mqtt["rejected"], bad.len(), "{mqtt}");
    assert_eq!(mqtt["stored"], 2, "{mqtt}");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("delos_sensor_mqtt_messages_total") && l.contains("outcome=\"rejected\""))
        .unwrap_or_else(|| panic!("no rejected count in /metrics"));
    assert!(line.ends_with(&format!(" {}", bad.len())), "{line}");
}

#[tokio::test]
async fn without_a_broker_url_there_is_no_mqtt_and_a_bad_one_is_refused_at_start() {
    let app = spawn_with(|_| {}).await;
    assert_eq!(app.get_json("/status").await["mqtt"], Value::Null);
    let mut s = sensor_api::testing::settings();
    s.mqtt.broker_url = "http://127.0.0.1:1883".into();
    let err = sensor_api::build(s).await.err().unwrap().to_string();
    assert!(err.contains("mqtt://"), "{err}");
}

#[tokio::test]
async fn readings_published_over_mqtt_reach_the_readings_stream_exactly() {
    let broker = Mosquitto::start().await;
    let app = spawn_subscribed(&broker).await;
    let res = app
        .client
        .get(format!("{}/api/v1/readings/stream?device=dev-0", app.address))
        .header("x-api-key", crate::helpers::KEY)
        .send()
        .await
        .unwrap();
    let mut events = common::testing::SseEvents::new(res);
    let (publisher, _) = client(&broker, "stream-publisher");
    publish(&publisher, 0..100).await;
    // dev-0 is every tenth reading; batches may commit in any order, so compare as sets.
    let mut got = Vec::new();
    for _ in 0..10 {
        let e = events.next().await;
        let value = e.data.split("\"value\":").nth(1).unwrap();
        got.push(value[..value.find(',').unwrap()].to_string());
    }
    got.sort();
    let mut want: Vec<String> = (0..100).step_by(10).map(|i| reading(i).3).collect();
    want.sort();
    assert_eq!(got, want, "every digit as published, each once");
}
