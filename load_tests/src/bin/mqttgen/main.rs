//! `mqttgen`: publishes every line of a file as one MQTT message at QoS 1 and waits
//! until the broker has acknowledged each (benchmarks/sensors/mqtt). `mosquitto_pub -l`
//! is not used for this: Debian's 2.0.11 stops at the end of its input with messages
//! still unsent. Prints `{"published", "seconds"}` as JSON.

use std::time::Instant;

use clap::Parser;
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};

#[derive(Parser)]
#[command(
    name = "mqttgen",
    about = "Publish each line of a file as an MQTT message at QoS 1"
)]
struct Args {
    /// Broker host.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Broker port.
    #[arg(long, default_value_t = 1883)]
    port: u16,
    /// Topic of every message.
    #[arg(long)]
    topic: String,
    /// File whose lines are the payloads (empty lines are skipped).
    #[arg(long)]
    file: std::path::PathBuf,
    /// Messages sent but not yet acknowledged by the broker, at most.
    #[arg(long, default_value_t = 1000)]
    inflight: u16,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let text = std::fs::read_to_string(&args.file)?;
    let lines: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    let total = lines.len();
    let mut opts = MqttOptions::new(format!("mqttgen-{}", std::process::id()), args.host, args.port);
    opts.set_inflight(args.inflight.max(1))
        .set_max_packet_size(2 * 1024 * 1024, 2 * 1024 * 1024);
    let (client, mut eventloop) = AsyncClient::new(opts, 1024);
    let topic = args.topic.clone();
    let started = Instant::now();
    let producer = tokio::spawn(async move {
        for line in lines {
            client
                .publish(topic.as_str(), QoS::AtLeastOnce, false, line)
                .await?;
        }
        anyhow::Ok(client)
    });
    let (mut sent, mut acked) = (0usize, 0usize);
    while acked < total {
        match eventloop.poll().await? {
            Event::Outgoing(Outgoing::Publish(_)) => sent += 1,
            Event::Incoming(Packet::PubAck(_)) => acked += 1,
            _ => {}
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let client = producer.await??;
    client.disconnect().await?;
    // The DISCONNECT goes out with the next poll.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), eventloop.poll()).await;
    println!(
        "{}",
        serde_json::json!({ "published": acked, "sent": sent, "seconds": seconds })
    );
    Ok(())
}
