//! Webhooks from `billrun-local serve` over real HTTP to a receiver on loopback
//! (`infra/local/webhook_receiver.py`), every received request verified with the
//! reference implementation of the Standard Webhooks specification (the
//! `standardwebhooks` package from PyPI) in the Python that `infra/local/with-moto.sh`
//! provides (`BILLRUN_PYTHON`). Nothing is sent anywhere but 127.0.0.1.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use billrun_local::serve::{start, ServeOptions};
use serde_json::{json, Value};
use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const RECEIVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/webhook_receiver.py");

fn python() -> String {
    std::env::var("BILLRUN_PYTHON").expect(
        "BILLRUN_PYTHON names the Python with the standardwebhooks package: run the tests \
         under infra/local/with-moto.sh (infra/test.sh does)",
    )
}

fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = body.unwrap_or("");
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
    (status, serde_json::from_str(payload).unwrap_or(Value::Null))
}

/// The receiver, killed when dropped.
struct Receiver {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn receiver(dir: &std::path::Path) -> Receiver {
    let log = dir.join("received.jsonl");
    let mut child = Command::new(python())
        .args([RECEIVER, "serve"])
        .arg(&log)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().unwrap();
    Receiver { child, port, log }
}

fn received(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// What the reference library verified, per path.
fn verified(r: &Receiver, secrets: &[(&str, &str)]) -> Value {
    let out = Command::new(python())
        .args([RECEIVER, "verify"])
        .arg(&r.log)
        .args(secrets.iter().map(|(p, s)| format!("{p}={s}")))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "a delivery did not verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_lifecycle_reaches_a_receiver_signed_once_per_event_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let rx = receiver(dir.path());
    let server = start(&ServeOptions {
        port: 0,
        workers: 2,
        allow_loopback_webhooks: true,
        webhook_retry: vec![Duration::from_millis(200); 3],
        ..ServeOptions::default()
    })
    .await
    .unwrap();
    let addr = server.addr;
    let port = rx.port;
    let log = rx.log.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let book = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/book.json"
        ))
        .unwrap();
        assert_eq!(http(addr, "POST", "/v1/import", Some(&book)).0, 200);
        let mut secrets = Vec::new();
        for (id, path, events, enabled) in [
            ("all", "/all", json!(["*"]), true),
            ("flaky", "/flaky", json!(["run.created"]), true),
            ("redirect", "/redirect", json!(["run.created"]), true),
            ("off", "/off", json!(["*"]), false),
            ("documents", "/documents", json!(["documents.posted"]), true),
        ] {
            let body = json!({"url": format!("http://127.0.0.1:{port}{path}"), "events": events, "enabled": enabled});
            let (status, b) = http(
                addr,
                "PUT",
                &format!("/v1/webhook-endpoints/{id}"),
                Some(&body.to_string()),
            );
            assert_eq!(status, 201, "{b}");
            secrets.push((path, b["secret"].as_str().unwrap().to_string()));
        }
        let (status, run) = http(
            addr,
            "POST",
            "/v1/invoice-runs",
            Some(&json!({"targetDate": "2024-02-01", "runType": "Manual"}).to_string()),
        );
        assert_eq!(status, 201, "{run}");
        let id = run["id"].as_str().unwrap().to_string();
        http(addr, "POST", &format!("/v1/invoice-runs/{id}/start"), Some("{}"));
        wait_for("the run to complete", || {
            let (_, r) = http(addr, "GET", &format!("/v1/invoice-runs/{id}"), None);
            r["status"] == "Completed" || r["status"] == "CompletedWithErrors"
        });
        let (status, _) = http(addr, "POST", &format!("/v1/invoice-runs/{id}/post"), Some("{}"));
        assert_eq!(status, 200);
        // /all: 4 events; /flaky: 2 failures and a success; /redirect: one 302 per
        // attempt (4, never followed); /documents: one page of posted documents.
        let requests = [4, 3, 4, 1].iter().sum::<usize>();
        wait_for("the deliveries", || received(&log) >= requests);
        std::thread::sleep(Duration::from_millis(500));
        let (_, log) = http(addr, "GET", "/v1/webhook-endpoints/redirect/deliveries", None);
        (id, secrets, log)
    })
    .await
    .unwrap();
    let (run, secrets, redirect_log) = outcome;
    let pairs: Vec<(&str, &str)> = secrets.iter().map(|(p, s)| (*p, s.as_str())).collect();
    let got = verified(&rx, &pairs);

    let mut all = got["/all"].as_array().unwrap().clone();
    all.sort_by_key(|e| {
        chrono::DateTime::parse_from_rfc3339(e["timestamp"].as_str().unwrap()).unwrap()
    });
    let types: Vec<&str> = all.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["run.created", "run.started", "run.completed", "run.posted"]
    );
    let ids: std::collections::HashSet<&str> =
        all.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 4, "one delivery per event");
    let (_, events) = http(
        server.addr,
        "GET",
        &format!("/v1/invoice-runs/{run}/events"),
        None,
    );
    let event_ids: std::collections::HashSet<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, event_ids, "the webhook-id is the event's id");

    let flaky = got["/flaky"].as_array().unwrap();
    let statuses: Vec<i64> = flaky
        .iter()
        .map(|e| e["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [500, 500, 200]);
    assert!(flaky.iter().all(|e| e["id"] == flaky[0]["id"]));
    assert!(got.get("/off").is_none(), "a disabled endpoint got {got}");
    // The posted documents, signed like any event: one page (up to 100) naming each.
    let (_, invoices) = http(
        server.addr,
        "GET",
        &format!("/v1/invoice-runs/{run}/invoices?limit=1000"),
        None,
    );
    let documents = got["/documents"].as_array().unwrap();
    assert_eq!(documents.len(), 1, "{documents:?}");
    assert_eq!(documents[0]["type"], "documents.posted");
    assert_eq!(
        documents[0]["documents"].as_u64().unwrap() as usize,
        invoices["items"].as_array().unwrap().len()
    );
    assert!(all.iter().all(|e| e["type"] != "documents.posted"));

    // A redirect is an answer, not a direction: recorded as a failed attempt, and the
    // metadata address it pointed at was never asked.
    let attempts = redirect_log["items"][0]["attempts"].as_array().unwrap();
    assert!(!attempts.is_empty());
    assert!(
        attempts.iter().all(|a| a["statusCode"] == 302),
        "{redirect_log}"
    );
    server.handle.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_local_flag_loopback_and_private_receivers_are_refused() {
    let server = start(&ServeOptions {
        port: 0,
        workers: 1,
        ..ServeOptions::default()
    })
    .await
    .unwrap();
    let addr = server.addr;
    tokio::task::spawn_blocking(move || {
        for url in [
            "http://127.0.0.1:9/x",
            "https://127.0.0.1/x",
            "https://10.0.0.1/x",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::1]/x",
            "https://localhost/x",
        ] {
            let body = json!({"url": url, "events": ["*"]}).to_string();
            let (status, b) = http(addr, "PUT", "/v1/webhook-endpoints/x", Some(&body));
            assert_eq!(status, 400, "{url}: {b}");
            assert_eq!(b["field"], "url");
        }
    })
    .await
    .unwrap();
    server.handle.abort();
}
