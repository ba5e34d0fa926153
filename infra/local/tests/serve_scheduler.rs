//! The scheduler of `billrun-local serve`: a Scheduled run created over HTTP for a time
//! that has come is started by a background tick and completes.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use billrun_local::serve::{start, ServeOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status: u16 = raw[9..12].parse().unwrap();
    let (_, payload) = raw.split_once("\r\n\r\n").unwrap();
    (
        status,
        serde_json::from_str(payload).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_starts_a_due_scheduled_run_from_its_background_tick() {
    let server = start(&ServeOptions {
        port: 0,
        book: None,
        out: None,
        workers: 1,
        tick_every: Some(Duration::from_millis(50)),
        ..ServeOptions::default()
    })
    .await
    .unwrap();
    let addr = server.addr;
    let session = tokio::task::spawn_blocking(move || {
        let scheduled_at = (chrono::Utc::now() + chrono::TimeDelta::milliseconds(300)).to_rfc3339();
        let body = serde_json::json!({
            "targetDate": "2024-02-01", "runType": "Scheduled", "scheduledAt": scheduled_at
        })
        .to_string();
        let (s, run) = http(addr, "POST", "/v1/invoice-runs", &body);
        assert_eq!(s, 201, "{run}");
        assert_eq!(run["status"], "Pending");
        let id = run["id"].as_str().unwrap().to_string();
        let started = Instant::now();
        loop {
            let (_, run) = http(addr, "GET", &format!("/v1/invoice-runs/{id}"), "");
            if run["status"] == "Completed" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the run did not complete: {run}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    session.await.unwrap();
    server.handle.abort();
}
