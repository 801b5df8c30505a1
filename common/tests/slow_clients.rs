//! Bad clients against the shared HTTP frame: oversized bodies, one byte a second
//! (slowloris), many idle connections and a flood of new ones. None takes the
//! server down or starves a well-behaved client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use actix_web::web;
use common::config::HttpSettings;
use common::http::{AppContext, ServiceHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(utoipa::OpenApi)]
#[openapi()]
struct Doc;

async fn spawn(request_timeout_millis: u64) -> ServiceHandle {
    let mut http = HttpSettings::on_port(0);
    http.host = "127.0.0.1".into();
    http.client_request_timeout_millis = request_timeout_millis;
    http.keep_alive_secs = 2;
    let ctx = AppContext::new(
        "test",
        <Doc as utoipa::OpenApi>::openapi(),
        &http,
        &common::config::CommonSettings::default(),
        common::problem::FRAME.to_vec(),
    );
    let listener = common::http::bind(&http).unwrap();
    common::http::serve(listener, 1, ctx, |cfg| {
        cfg.route(
            "/echo",
            web::post().to(|body: web::Json<serde_json::Value>| async move { web::Json(body.into_inner()) }),
        );
    })
    .unwrap()
}

async fn healthz_ok(port: u16) -> bool {
    let res = common::testing::client()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    matches!(res, Ok(r) if r.status() == 200)
}

/// Reads until the server closes; returns what it sent.
async fn read_to_close(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut buf = Vec::new();
    match tokio::time::timeout(within, stream.read_to_end(&mut buf)).await {
        Ok(_) => Some(String::from_utf8_lossy(&buf).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test]
async fn an_oversized_body_gets_413_without_being_read() {
    let app = spawn(5000).await;
    let mut s = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    // Announces 100 MB, sends 1 KB: the server answers from the header alone.
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n")
        .await
        .unwrap();
    s.write_all(&[b' '; 1024]).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("answered before the body was sent")
        .unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(head.contains("application/problem+json"), "{head}");

    // A chunked body with no length: cut off at the limit as it streams.
    let mut s = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    let chunk = format!("2000\r\n{}\r\n", " ".repeat(0x2000));
    for _ in 0..16 {
        if s.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("answered")
        .unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(healthz_ok(app.port).await);
    app.stop().await;
}

#[tokio::test]
async fn a_client_sending_one_byte_at_a_time_is_cut_off_and_others_are_served() {
    let app = spawn(600).await;
    let started = Instant::now();
    let mut slow = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    let port = app.port;
    let dribble = tokio::spawn(async move {
        for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n" {
            if slow.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        read_to_close(&mut slow, Duration::from_secs(5)).await
    });
    // Meanwhile a normal client is answered at once.
    for _ in 0..5 {
        assert!(healthz_ok(port).await);
    }
    let answer = dribble.await.unwrap();
    let answer = answer.expect("the server closed the slow connection");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cut off after the request timeout, not served"
    );
    app.stop().await;
}

#[tokio::test]
async fn many_idle_connections_are_closed_and_do_not_starve_others() {
    let app = spawn(500).await;
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(("127.0.0.1", app.port)).await.unwrap());
    }
    assert!(
        healthz_ok(app.port).await,
        "served with 300 idle connections open"
    );
    // Connections that never send a request are closed after the request timeout.
    let mut closed = 0;
    for s in &mut idle {
        if read_to_close(s, Duration::from_secs(3)).await.is_some() {
            closed += 1;
        }
    }
    assert_eq!(closed, idle.len());
    assert!(healthz_ok(app.port).await);
    app.stop().await;
}

#[tokio::test]
async fn a_flood_of_new_connections_is_served_and_the_server_stays_up() {
    let app = spawn(5000).await;
    let port = app.port;
    let flood = (0..400).map(|_| {
        tokio::spawn(async move {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await
                .ok()?;
            let body = read_to_close(&mut s, Duration::from_secs(20)).await?;
            Some(body.starts_with("HTTP/1.1 200"))
        })
    });
    let results = futures_util::future::join_all(flood).await;
    let ok = results.iter().filter(|r| matches!(r, Ok(Some(true)))).count();
    assert_eq!(ok, 400, "every connection of the flood was answered");
    assert!(healthz_ok(port).await);
    app.stop().await;
}
