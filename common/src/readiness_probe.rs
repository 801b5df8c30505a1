//! `<service> --healthcheck`: the binary asks its own running instance whether it
//! is ready (`GET /readyz`) and exits 0 or 1, so container images need no curl.
//! Plain HTTP/1.0 over a std socket: no runtime, no client pool, answers in
//! milliseconds and gives up after a few seconds.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::config::HttpSettings;

/// The flag main functions look for.
pub const FLAG: &str = "--healthcheck";

/// How long the probe waits to connect, and for the answer.
const TIMEOUT: Duration = Duration::from_secs(3);

/// When `requested` (`--healthcheck`, read by [`crate::cli::handle`]): probes the
/// service configured by `http` and exits the process (0 ready, 1 not). Otherwise
/// returns and the service starts.
pub fn exit_if_requested(requested: bool, http: &HttpSettings) {
    if requested {
        let code = match probe(http) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("not ready: {e}");
                1
            }
        };
        std::process::exit(code);
    }
}

/// `GET /readyz` on the address the service listens on (loopback when it
/// listens on every interface); Ok only for a 200.
pub fn probe(http: &HttpSettings) -> Result<(), String> {
    let host = match http.host.as_str() {
        "0.0.0.0" | "" => "127.0.0.1",
        "::" | "[::]" => "::1",
        h => h,
    };
    let addr = (host, http.port)
        .to_socket_addrs()
        .map_err(|e| format!("{host}:{}: {e}", http.port))?
        .next()
        .ok_or_else(|| format!("{host} resolves to no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("{addr}: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(
            format!("GET /readyz HTTP/1.0\r\nHost: {host}\r\nUser-Agent: delos-healthcheck\r\n\r\n")
                .as_bytes(),
        )
        .map_err(|e| e.to_string())?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).map_err(|e| e.to_string())?;
    let status_line = String::from_utf8_lossy(&head[..n]);
    let status = status_line.split_whitespace().nth(1).unwrap_or("");
    if status == "200" {
        Ok(())
    } else {
        Err(format!(
            "/readyz answered {}",
            status_line.lines().next().unwrap_or("nothing")
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn settings(port: u16) -> HttpSettings {
        HttpSettings {
            port,
            ..HttpSettings::on_port(port)
        }
    }

    #[test]
    fn probe_fails_when_nothing_listens() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert!(probe(&settings(port)).is_err());
    }

    #[test]
    fn probe_accepts_only_200() {
        for (answer, ok) in [
            ("HTTP/1.1 200 OK", true),
            ("HTTP/1.1 503 Service Unavailable", false),
        ] {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let server = std::thread::spawn(move || {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = [0u8; 256];
                let n = s.read(&mut buf).unwrap();
                assert!(String::from_utf8_lossy(&buf[..n]).starts_with("GET /readyz "));
                s.write_all(format!("{answer}\r\ncontent-length: 0\r\n\r\n").as_bytes())
                    .unwrap();
            });
            assert_eq!(probe(&settings(port)).is_ok(), ok, "{answer}");
            server.join().unwrap();
        }
    }
}
