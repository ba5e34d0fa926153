//! `billrun-local serve` over TCP on a random loopback port: the README's curl session
//! (import, create, poll, list invoices), with the background workers finishing the run
//! and `--out` receiving it.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use billrun_local::serve::{start, ServeOptions};
use mail_parser::MimeHeaders;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// One HTTP/1.1 request; returns the status and the body.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    let (status, _, body) = http_with(addr, method, path, body, "");
    (status, body)
}

/// One HTTP/1.1 request with extra header lines (each ending in CRLF); returns the
/// status, the raw head and the body.
fn http_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &str,
) -> (u16, String, serde_json::Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{headers}Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status: u16 = raw[9..12].parse().unwrap();
    let (head, payload) = raw.split_once("\r\n\r\n").unwrap();
    (
        status,
        head.to_string(),
        serde_json::from_str(payload).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_imports_creates_polls_and_lists_invoices_over_tcp() {
    let out = tempfile::tempdir().unwrap();
    let book = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/book.json");
    let server = start(&ServeOptions {
        port: 0,
        book: None,
        out: Some(out.path().to_path_buf()),
        workers: 2,
        tick_every: None,
        ..ServeOptions::default()
    })
    .await
    .unwrap();
    let addr = server.addr;
    assert!(addr.ip().is_loopback());
    let session = tokio::task::spawn_blocking(move || {
        let book = std::fs::read_to_string(book).unwrap();
        let (s, b) = http(addr, "POST", "/v1/import", Some(&book));
        assert_eq!((s, b["accounts"].clone()), (200, serde_json::json!(1)));
        let request = include_str!("fixtures/run-request.json");
        let (s, run) = http(addr, "POST", "/v1/invoice-runs", Some(request));
        assert_eq!(s, 201);
        let id = run["id"].as_str().unwrap().to_string();
        let started = Instant::now();
        let run = loop {
            let (_, run) = http(addr, "GET", &format!("/v1/invoice-runs/{id}"), None);
            if run["status"] != "Processing" || started.elapsed() > Duration::from_secs(20) {
                break run;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(run["status"], "Completed");
        let (s, docs) = http(
            addr,
            "GET",
            &format!("/v1/invoice-runs/{id}/invoices"),
            None,
        );
        assert_eq!(s, 200);
        assert_eq!(docs["items"][0]["totals"]["total"], "265.04");
        run["number"].as_str().unwrap().to_string()
    })
    .await
    .unwrap();
    // The completed run reaches --out.
    let file = out.path().join(&session).join("documents.json");
    let started = Instant::now();
    while !file.exists() && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let docs: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(docs[0]["number"], "INV-000000001");
    server.handle.abort();
}

#[tokio::test]
async fn serve_refuses_an_invalid_book_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("book.json");
    std::fs::write(
        &path,
        r#"{"accounts": [{"id": "A", "name": "A", "currency": "USX", "billCycleDay": 1}]}"#,
    )
    .unwrap();
    let err = start(&ServeOptions {
        port: 0,
        book: Some(path),
        out: None,
        workers: 1,
        tick_every: None,
        ..ServeOptions::default()
    })
    .await
    .err()
    .unwrap();
    match err {
        billrun_local::serve::ServeError::Input(m) => {
            assert!(m.contains("accounts[0].currency"), "{m}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_the_aws_adapters_runs_the_same_session_against_the_local_endpoint() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL is not set: run the tests with ./infra/test.sh, which starts a moto server");
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "tests only talk to loopback"
    );
    let book = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/book.json");
    let server = billrun_local::serve::start_aws(&ServeOptions {
        port: 0,
        book: Some(book.into()),
        out: None,
        workers: 2,
        tick_every: None,
        ..ServeOptions::default()
    })
    .await
    .unwrap();
    let addr = server.addr;
    tokio::task::spawn_blocking(move || {
        let request = include_str!("fixtures/run-request.json");
        let (s, run) = http(addr, "POST", "/v1/invoice-runs", Some(request));
        assert_eq!(s, 201, "{run}");
        let id = run["id"].as_str().unwrap().to_string();
        let started = Instant::now();
        let run = loop {
            let (_, run) = http(addr, "GET", &format!("/v1/invoice-runs/{id}"), None);
            if run["status"] != "Processing" || started.elapsed() > Duration::from_secs(60) {
                break run;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(run["status"], "Completed", "{run}");
        let (s, docs) = http(
            addr,
            "GET",
            &format!("/v1/invoice-runs/{id}/invoices"),
            None,
        );
        assert_eq!(s, 200);
        assert_eq!(docs["items"][0]["number"], "INV-000000001");
        assert_eq!(docs["items"][0]["totals"]["total"], "265.04");
        // The pollers drain the document queue too, as the generate-documents Lambda.
        let content =
            serde_json::to_string(&billrun_documents::sample::demo_template("en-US")).unwrap();
        let template = serde_json::json!({"name": "Default", "content": content}).to_string();
        let (s, _) = http(addr, "PUT", "/v1/document-templates/T-1", Some(&template));
        assert_eq!(s, 200);
        http(addr, "POST", "/v1/document-templates/T-1/activate", None);
        let (s, request) = http(
            addr,
            "POST",
            &format!("/v1/invoice-runs/{id}/documents"),
            None,
        );
        assert_eq!(s, 202, "{request}");
        let doc = docs["items"][0]["id"].as_str().unwrap().to_string();
        let generated = wait_for(60, || {
            let (_, d) = http(addr, "GET", &format!("/v1/invoices/{doc}"), None);
            (d["documentStatus"] != "Pending").then_some(d)
        });
        assert_eq!(generated.unwrap()["documentStatus"], "Generated");
        // The PDF itself, read out of its pack in S3 with a ranged GetObject.
        let (s, pdf) = http_bytes(addr, "GET", &format!("/v1/invoices/{doc}/document"), "");
        assert_eq!(s, 200);
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.trim_ascii_end().ends_with(b"%%EOF"));
    })
    .await
    .unwrap();
    server.handle.abort();
}

/// One HTTP/1.1 request; returns the status and the raw body.
fn http_bytes(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let status: u16 = std::str::from_utf8(&raw[9..12]).unwrap().parse().unwrap();
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    (status, raw[at + 4..].to_vec())
}

/// Polls `f` every 20 ms until it returns `Some` (at most `secs` seconds).
fn wait_for<T>(secs: u64, f: impl FnMut() -> Option<T>) -> Option<T> {
    wait_every(secs, Duration::from_millis(20), f)
}

fn wait_every<T>(secs: u64, every: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let started = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if started.elapsed() > Duration::from_secs(secs) {
            return None;
        }
        std::thread::sleep(every);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_out_receives_the_pdfs_a_document_request_generates_and_serves_the_same_bytes() {
    let out = tempfile::tempdir().unwrap();
    let book = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/book.json");
    let server = start(&ServeOptions {
        port: 0,
        book: Some(book.into()),
        out: Some(out.path().to_path_buf()),
        workers: 2,
        tick_every: None,
        ..ServeOptions::default()
    })
    .await
    .unwrap();
    let addr = server.addr;
    let dir = out.path().join("documents");
    tokio::task::spawn_blocking(move || {
        let request = include_str!("fixtures/run-request.json");
        let (s, run) = http(addr, "POST", "/v1/invoice-runs", Some(request));
        assert_eq!(s, 201);
        let id = run["id"].as_str().unwrap().to_string();
        let completed = wait_for(20, || {
            let (_, run) = http(addr, "GET", &format!("/v1/invoice-runs/{id}"), None);
            (run["status"] != "Processing").then_some(run)
        });
        assert_eq!(completed.unwrap()["status"], "Completed");
        let content =
            serde_json::to_string(&billrun_documents::sample::demo_template("en-US")).unwrap();
        let template = serde_json::json!({"name": "Default", "content": content}).to_string();
        let (s, _) = http(addr, "PUT", "/v1/document-templates/T-1", Some(&template));
        assert_eq!(s, 200);
        http(addr, "POST", "/v1/document-templates/T-1/activate", None);
        let (s, request) = http(
            addr,
            "POST",
            &format!("/v1/invoice-runs/{id}/documents"),
            None,
        );
        assert_eq!(s, 202, "{request}");
        let (_, docs) = http(
            addr,
            "GET",
            &format!("/v1/invoice-runs/{id}/invoices"),
            None,
        );
        let docs = docs["items"].as_array().unwrap().clone();
        assert!(!docs.is_empty());
        for d in &docs {
            let number = d["number"].as_str().unwrap();
            let file = dir.join(format!("{number}.pdf"));
            let on_disk = wait_for(20, || std::fs::read(&file).ok())
                .unwrap_or_else(|| panic!("{} was not written", file.display()));
            let (s, served) = http_bytes(
                addr,
                "GET",
                &format!("/v1/invoices/{}/document", d["id"].as_str().unwrap()),
                "",
            );
            assert_eq!(s, 200);
            assert!(served.starts_with(b"%PDF-"));
            assert_eq!(on_disk, served, "{number}: the file is the served PDF");
        }
        let (_, listed) = http(
            addr,
            "GET",
            &format!("/v1/invoice-runs/{id}/invoices"),
            None,
        );
        for d in listed["items"].as_array().unwrap() {
            assert_eq!(d["documentStatus"], "Generated");
        }
    })
    .await
    .unwrap();
    server.handle.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_serve_refuses_every_request_without_it_with_401_and_writes_nothing() {
    let server = start(&ServeOptions {
        token: Some("s3cret-token".into()),
        ..ServeOptions::default()
    })
    .await
    .unwrap();
    let addr = server.addr;
    assert!(addr.ip().is_loopback());
    tokio::task::spawn_blocking(move || {
        let book = include_str!("fixtures/book.json");
        for headers in [
            "",
            "Authorization: Bearer wrong-token\r\n",
            "Authorization: Bearer s3cret-toke\r\n",
            "Authorization: Bearer s3cret-token-and-more\r\n",
            "Authorization: Basic czNjcmV0LXRva2Vu\r\n",
            "Authorization: s3cret-token\r\n",
        ] {
            for (method, path, body) in [
                ("POST", "/v1/import", Some(book)),
                ("GET", "/v1/accounts", None),
                ("GET", "/v1/health", None),
                ("GET", "/v1/openapi.json", None),
                ("GET", "/no/such/route", None),
            ] {
                let (status, head, body) = http_with(addr, method, path, body, headers);
                assert_eq!(status, 401, "{method} {path} with {headers:?}: {body}");
                assert_eq!(body["code"], "unauthorized");
                assert_eq!(body["field"], "Authorization");
                assert!(body["message"].is_string());
                assert!(
                    head.to_ascii_lowercase()
                        .contains("www-authenticate: bearer"),
                    "{head}"
                );
            }
        }
        // Nothing was imported by the refused requests.
        let auth = "Authorization: Bearer s3cret-token\r\n";
        let (status, _, accounts) = http_with(addr, "GET", "/v1/accounts", None, auth);
        assert_eq!(status, 200, "{accounts}");
        assert_eq!(accounts["items"], serde_json::json!([]));
        // With the token, the API answers as without one.
        let (status, _, imported) = http_with(addr, "POST", "/v1/import", Some(book), auth);
        assert_eq!(
            (status, imported["accounts"].clone()),
            (200, serde_json::json!(1))
        );
        let (status, _, accounts) = http_with(addr, "GET", "/v1/accounts", None, auth);
        assert_eq!(status, 200);
        assert_eq!(accounts["items"][0]["id"], "A-1001");
    })
    .await
    .unwrap();
    server.handle.abort();
}

#[tokio::test]
async fn serve_binds_loopback_by_default_and_refuses_another_address_without_a_token() {
    let options = ServeOptions::default();
    assert!(options.host.is_loopback() && options.token.is_none());
    let server = start(&options).await.unwrap();
    assert_eq!(server.addr.ip().to_string(), "127.0.0.1");
    server.handle.abort();
    for host in ["0.0.0.0", "::"] {
        let err = start(&ServeOptions {
            host: host.parse().unwrap(),
            ..ServeOptions::default()
        })
        .await
        .err()
        .unwrap();
        match err {
            billrun_local::serve::ServeError::Input(m) => assert!(m.contains("--token"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
    let err = start(&ServeOptions {
        token: Some("  ".into()),
        ..ServeOptions::default()
    })
    .await
    .err()
    .unwrap();
    assert!(matches!(err, billrun_local::serve::ServeError::Input(_)));
}

/// Kills the child when dropped, so a failed assertion leaves no server behind.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_cli_takes_the_token_from_billrun_token_and_listens_on_loopback() {
    let token = [(
        "BILLRUN_TOKEN".to_string(),
        "from-the-environment".to_string(),
    )];
    let (_child, addr) = spawn_serve_with(&["--ephemeral".as_ref()], &token);
    assert!(addr.ip().is_loopback(), "{addr}");
    let (status, _, body) = http_with(addr, "GET", "/v1/health", None, "");
    assert_eq!(
        (status, body["code"].clone()),
        (401, serde_json::json!("unauthorized"))
    );
    let auth = "Authorization: Bearer from-the-environment\r\n";
    let (status, _, _) = http_with(addr, "GET", "/v1/health", None, auth);
    assert_eq!(status, 200);
    // Without a token on a non-loopback address the CLI refuses to start (exit 2).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_billrun-local"))
        .args(["serve", "--ephemeral", "--host", "0.0.0.0", "--port", "0"])
        .env_remove("BILLRUN_TOKEN")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--token"));
}

/// A `--tokens` file in `dir`: each (name, scopes) holds the token `<name>-token`.
fn tokens_file(dir: &std::path::Path, tokens: &[(&str, &[&str])]) -> std::path::PathBuf {
    use sha2::Digest;
    let entries: Vec<serde_json::Value> = tokens
        .iter()
        .map(|(name, scopes)| {
            let hash: String = sha2::Sha256::digest(format!("{name}-token").as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            serde_json::json!({"name": name, "sha256": hash, "scopes": scopes})
        })
        .collect();
    let file = dir.join("tokens.json");
    std::fs::write(&file, serde_json::json!({ "tokens": entries }).to_string()).unwrap();
    file
}

#[test]
fn with_named_tokens_each_caller_gets_the_routes_of_its_scopes_and_403_beyond() {
    let dir = tempfile::tempdir().unwrap();
    let file = tokens_file(
        dir.path(),
        &[
            ("auditor", &["billing:read"]),
            ("admin", &["billing:read", "billing:admin"]),
        ],
    );
    let (_child, addr) = spawn_serve_with(
        &[
            "--ephemeral".as_ref(),
            "--tokens".as_ref(),
            file.as_os_str(),
        ],
        &[],
    );
    let book = include_str!("fixtures/book.json");
    let auditor = "Authorization: Bearer auditor-token\r\n";
    let admin = "Authorization: Bearer admin-token\r\n";
    let (status, _, body) = http_with(addr, "POST", "/v1/import", Some(book), auditor);
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        (body["code"].as_str(), body["field"].as_str()),
        (Some("forbidden"), Some("billing:admin"))
    );
    let (status, _, body) = http_with(addr, "GET", "/v1/accounts", None, auditor);
    assert_eq!(
        (status, body["items"].clone()),
        (200, serde_json::json!([])),
        "nothing imported"
    );
    let (status, _, _) = http_with(addr, "POST", "/v1/import", Some(book), admin);
    assert_eq!(status, 200);
    let run = r#"{"targetDate": "2024-02-01"}"#;
    let (status, _, body) = http_with(addr, "POST", "/v1/invoice-runs", Some(run), admin);
    assert_eq!((status, body["field"].as_str()), (403, Some("billing:run")));
    let (status, _, _) = http_with(
        addr,
        "GET",
        "/v1/health",
        None,
        "Authorization: Bearer other\r\n",
    );
    assert_eq!(status, 401);
    // A tokens file with an unknown scope: serve does not start (exit 2), naming it.
    std::fs::write(
        &file,
        r#"{"tokens": [{"name": "x", "sha256": "00", "scopes": []}]}"#,
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_billrun-local"))
        .args(["serve", "--ephemeral", "--port", "0", "--tokens"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tokens[0].sha256"));
    // Maker–checker tells people apart by their tokens: without them serve does not
    // start.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_billrun-local"))
        .args(["serve", "--ephemeral", "--port", "0", "--maker-checker"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--maker-checker needs --tokens"));
}

/// `billrun-local serve --backend aws` as a child process on the resources `exports`
/// names (no sweeper: `--tick-seconds 0`), its address read from its first line.
fn spawn_aws_serve(
    exports: &[(String, String)],
    book: Option<&std::path::Path>,
) -> (Child, SocketAddr) {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "--backend".as_ref(),
        "aws".as_ref(),
        "--workers".as_ref(),
        "4".as_ref(),
    ];
    if let Some(book) = book {
        args.extend(["--book".as_ref(), book.as_os_str()]);
    }
    spawn_serve_with(&args, exports)
}

/// One GET, `None` when it fails (a server busy past the read timeout, or restarting):
/// the polls below ask again.
fn try_get(addr: SocketAddr, path: &str) -> Option<serde_json::Value> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, payload) = raw.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then_some(())?;
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return serde_json::from_str(payload).ok();
    }
    // A streamed body: size lines (hex) each followed by that many bytes.
    let mut body = String::new();
    let mut rest = payload;
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.trim(), 16).ok()?;
        if size == 0 {
            return serde_json::from_str(&body).ok();
        }
        body.push_str(after.get(..size)?);
        rest = after.get(size + 2..)?;
    }
}

/// The run as `GET /v1/invoice-runs/{id}` shows it: (status, accounts with an outcome so
/// far, accounts selected); `None` when the request failed.
fn progress(addr: SocketAddr, id: &str) -> Option<(String, u64, u64)> {
    let run = try_get(addr, &format!("/v1/invoice-runs/{id}"))?;
    let c = &run["counters"];
    let n = |k: &str| c[k].as_u64().unwrap_or(0);
    let accounted = n("billed") + n("suppressed") + n("nothingToBill") + n("failed");
    Some((
        run["status"].as_str()?.to_string(),
        accounted,
        n("accountsSelected"),
    ))
}

/// Polls `f` every half second until it returns `Some` (at most `secs` seconds): a
/// server on a loaded machine is not asked more often than that.
fn poll<T>(secs: u64, f: impl FnMut() -> Option<T>) -> Option<T> {
    wait_every(secs, Duration::from_millis(500), f)
}

/// Every document of the run through the API: (account, number, total).
fn api_documents(addr: SocketAddr, id: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/v1/invoice-runs/{id}/invoices?limit=100{cursor}");
        let page = poll(300, || try_get(addr, &path)).expect("a page of the run's invoices");
        for d in page["items"].as_array().unwrap() {
            out.push((
                d["accountId"].as_str().unwrap().to_string(),
                d["number"].as_str().unwrap_or_default().to_string(),
                d["totals"]["total"].as_str().unwrap().to_string(),
            ));
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return out,
        }
    }
}

/// A table, bucket and queues of their own on the local endpoint (`billrun-local
/// aws-setup`): the environment `serve --backend aws` reads.
fn aws_resources(name: &str) -> Vec<(String, String)> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL is not set: run the tests with ./infra/test.sh, which starts a moto server");
    assert!(endpoint.starts_with("http://127.0.0.1:"));
    let prefix = format!("{name}{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let setup = std::process::Command::new(env!("CARGO_BIN_EXE_billrun-local"))
        .args(["aws-setup", "--prefix", &prefix])
        .output()
        .unwrap();
    assert!(
        setup.status.success(),
        "{}",
        String::from_utf8_lossy(&setup.stderr)
    );
    let exports: Vec<(String, String)> = String::from_utf8_lossy(&setup.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert!(
        exports.iter().any(|(k, _)| k == "TABLE_NAME"),
        "{exports:?}"
    );
    exports
}

/// Seed 002's fields that only a client reads (`custom_fields`, `custom_objects`,
/// `email`) are kept with the run in DynamoDB: after `serve --backend aws` restarts,
/// the record and the list still carry them, and a create replayed under the same key
/// is the same run.
#[test]
fn seed_002_client_fields_are_read_back_after_serve_on_the_aws_adapters_restarts() {
    let exports = aws_resources("fields");
    let dir = tempfile::tempdir().unwrap();
    let book_path = dir.path().join("book.json");
    std::fs::write(&book_path, include_str!("fixtures/book.json")).unwrap();
    let create = serde_json::json!({
        "invoice_date": "2024-02-01", "target_date": "2024-02-01",
        "custom_fields": {"cost_center__c": "CC-7", "region__c": "EMEA"},
        "custom_objects": {"po": ["PO-1", "PO-2"]}
    })
    .to_string();
    let key = "Idempotency-Key: feb-2024\r\n";
    let (child, addr) = spawn_aws_serve(&exports, Some(&book_path));
    let (s, _, created) = http_with(addr, "POST", "/v2/bill_runs", Some(&create), key);
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    drop(child);
    let (_child, addr) = spawn_aws_serve(&exports, None);
    let record = poll(120, || try_get(addr, &format!("/v2/bill_runs/{id}"))).unwrap();
    assert_eq!(
        (&record["custom_fields"], &record["custom_objects"]),
        (
            &serde_json::json!({"cost_center__c": "CC-7", "region__c": "EMEA"}),
            &serde_json::json!({"po": ["PO-1", "PO-2"]}),
        ),
        "{record}"
    );
    let list = poll(120, || try_get(addr, "/v2/bill_runs")).unwrap();
    assert_eq!(
        list["data"][0]["custom_fields"], record["custom_fields"],
        "{list}"
    );
    let (s, _, replayed) = http_with(addr, "POST", "/v2/bill_runs", Some(&create), key);
    assert_eq!(
        (s, replayed["id"].as_str()),
        (200, Some(id.as_str())),
        "{replayed}"
    );
}

/// The serve process is killed (SIGKILL) while planning, while processing and once every
/// account has an outcome (finalization), and restarted each time on the same resources
/// with the sweeper off: the run completes anyway (a crash costs a redelivery, not the
/// sweeper's 15 minutes), exactly once, with the documents and numbers of the in-memory
/// run.
#[test]
fn a_serve_killed_mid_run_completes_the_run_after_restart_without_the_sweeper() {
    const ACCOUNTS: usize = 2000;
    let exports = aws_resources("crash");

    let target: chrono::NaiveDate = "2026-12-01".parse().unwrap();
    let book = billrun_local::sample::generate(ACCOUNTS, target, 7);
    let dir = tempfile::tempdir().unwrap();
    let book_path = dir.path().join("book.json");
    std::fs::write(&book_path, serde_json::to_vec(&book).unwrap()).unwrap();
    let request =
        serde_json::json!({"targetDate": "2026-12-01", "runType": "Immediate"}).to_string();

    let (child, addr) = spawn_aws_serve(&exports, Some(&book_path));
    let (s, run) = http(addr, "POST", "/v1/invoice-runs", Some(&request));
    assert_eq!(s, 201, "{run}");
    let id = run["id"].as_str().unwrap().to_string();
    // 1. While planning: at once.
    drop(child);
    let (child, addr) = spawn_aws_serve(&exports, None);
    // 2. While processing: once a third of the accounts have an outcome.
    let third = poll(600, || {
        let (status, accounted, _) = progress(addr, &id)?;
        (status == "Processing" && accounted as usize >= ACCOUNTS / 3).then_some(accounted)
    });
    assert!(
        third.is_some(),
        "processing did not reach a third of the accounts"
    );
    drop(child);
    let (child, addr) = spawn_aws_serve(&exports, None);
    // 3. Once the progress says every account has an outcome: finalization.
    let last = poll(600, || {
        let (status, accounted, selected) = progress(addr, &id)?;
        (status != "Processing" || (selected > 0 && accounted >= selected)).then_some(status)
    });
    let killed_in_finalization = last.as_deref() == Some("Processing");
    drop(child);
    let restarted = Instant::now();
    let (_child, addr) = spawn_aws_serve(&exports, None);
    let done = poll(600, || {
        let (status, _, _) = progress(addr, &id)?;
        (status != "Processing").then_some(status)
    });
    eprintln!(
        "completed {:?} after the last restart (killed in finalization: {killed_in_finalization})",
        restarted.elapsed()
    );
    assert_as_in_memory(addr, &id, &book, &request, ACCOUNTS, done.as_deref());
}

/// The run as the API shows it, against the same book and request run in memory without
/// a crash: the final status (`done`), one outcome per selected account, the counters,
/// and every document with its number and total. Returns the documents (account, number,
/// total), sorted.
fn assert_as_in_memory(
    addr: SocketAddr,
    id: &str,
    book: &billrun_domain::book::Book,
    request: &str,
    accounts: usize,
    done: Option<&str>,
) -> Vec<(String, String, String)> {
    let expected = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let req = billrun_domain::request::RunRequest::parse(request.as_bytes()).unwrap();
        billrun_local::pipeline::run_book(book, req, billrun_local::pipeline::Options::default())
            .await
            .unwrap()
    });
    // The sample book fails a few accounts on purpose (charges in another currency).
    let status = serde_json::to_value(expected.run.status).unwrap();
    assert_eq!(
        done,
        status.as_str(),
        "the run completes as it does in memory"
    );
    let run = poll(120, || try_get(addr, &format!("/v1/invoice-runs/{id}"))).unwrap();
    let c = &run["counters"];
    let n = |k: &str| c[k].as_u64().unwrap();
    assert_eq!(n("accountsSelected"), accounts as u64);
    assert_eq!(
        n("billed") + n("suppressed") + n("nothingToBill") + n("failed"),
        accounts as u64,
        "one outcome per account: {c}"
    );
    let e = &expected.run.counters;
    assert_eq!(
        (n("billed"), n("failed"), n("invoices"), n("creditMemos")),
        (e.billed, e.failed, e.invoices, e.credit_memos)
    );
    let mut got = api_documents(addr, id);
    got.sort();
    let mut want: Vec<(String, String, String)> = expected
        .documents
        .iter()
        .map(|d| {
            (
                d.account_id.to_string(),
                d.number.clone().unwrap_or_default(),
                d.totals.total.to_string(),
            )
        })
        .collect();
    want.sort();
    assert_eq!(got, want, "the documents and numbers of the in-memory run");
    let mut numbers: Vec<&str> = got.iter().map(|d| d.1.as_str()).collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), got.len(), "no number twice");
    got
}

/// `billrun-local serve` as a child process with `args` after the common ones (a free
/// loopback port, no scheduler, so no sweeper), its address read from its first line.
fn spawn_serve(args: &[&std::ffi::OsStr]) -> (Child, SocketAddr) {
    spawn_serve_with(args, &[])
}

/// [`spawn_serve`] with environment variables.
fn spawn_serve_with(args: &[&std::ffi::OsStr], envs: &[(String, String)]) -> (Child, SocketAddr) {
    use std::io::BufRead;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_billrun-local"));
    cmd.args(["serve", "--port", "0", "--tick-seconds", "0"])
        .args(args)
        .envs(envs.iter().cloned())
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = Child(cmd.spawn().unwrap());
    let stdout = child.0.stdout.take().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("serve printed no address: {line:?}"));
    (child, url.trim_start_matches("http://").parse().unwrap())
}

/// SIGKILL: the process gets no chance to finish anything.
fn kill_hard(mut child: Child) {
    child.0.kill().unwrap();
    child.0.wait().unwrap();
}

/// Ctrl-C (SIGINT), and the exit it leads to: a clean stop.
fn stop_cleanly(mut child: Child) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.0.wait().unwrap();
    assert!(exit.success(), "serve stopped with {exit}");
}

/// A POST with an `Idempotency-Key`.
fn create_run(addr: SocketAddr, request: &str, key: &str) -> (u16, serde_json::Value) {
    let header = format!("Idempotency-Key: {key}\r\n");
    let (s, _, body) = http_with(addr, "POST", "/v1/invoice-runs", Some(request), &header);
    (s, body)
}

/// The numeric part of `INV-000000042`.
fn invoice_number(n: &str) -> Option<u64> {
    n.strip_prefix("INV-")?.parse().ok()
}

/// `serve --data DIR` killed (SIGKILL) in the middle of a run and restarted on the same
/// directory, with the scheduler and so the sweeper off: the restart re-drives the run,
/// which completes exactly once (one outcome per account, the documents, numbers and
/// counters of the same run in memory); a replay of the create with its
/// `Idempotency-Key` answers the same run; the next run's numbers follow without a gap.
#[test]
fn a_durable_serve_killed_mid_run_completes_it_once_after_restart_and_numbering_goes_on() {
    const ACCOUNTS: usize = 400;
    let target: chrono::NaiveDate = "2026-12-01".parse().unwrap();
    let book = billrun_local::sample::generate(ACCOUNTS, target, 11);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let book_path = tmp.path().join("book.json");
    std::fs::write(&book_path, serde_json::to_vec(&book).unwrap()).unwrap();
    let request =
        serde_json::json!({"targetDate": "2026-12-01", "runType": "Immediate"}).to_string();

    let (child, addr) = spawn_serve(&[
        "--data".as_ref(),
        data.as_os_str(),
        "--book".as_ref(),
        book_path.as_os_str(),
        "--workers".as_ref(),
        "1".as_ref(),
    ]);
    let (s, run) = create_run(addr, &request, "first-run");
    assert_eq!(s, 201, "{run}");
    let id = run["id"].as_str().unwrap().to_string();
    assert_eq!(run["number"], "BR-00000001");
    // Killed once the first accounts have an outcome.
    let started = wait_for(120, || {
        let (_, accounted, _) = progress(addr, &id)?;
        (accounted > 0).then_some(())
    });
    assert!(started.is_some(), "processing did not start");
    kill_hard(child);
    // What the killed process left: the run Processing, accounts without an outcome
    // (else this test would not test a resume).
    let left = tokio::runtime::Runtime::new().unwrap().block_on(async {
        use billrun_app::ports::RunStore;
        let store = billrun_sqlite::SqliteStore::open(&data).unwrap();
        let run_id: billrun_domain::ids::RunId = id.parse().unwrap();
        let run = store.get_run(run_id).await.unwrap().unwrap();
        (run.status, store.counters(run_id).await.unwrap())
    });
    assert_eq!(left.0, billrun_domain::run::RunStatus::Processing);
    assert!(
        left.1.accounted_for() < ACCOUNTS as u64,
        "every account had an outcome before the kill: {:?}",
        left.1
    );

    let (child, addr) = spawn_serve(&["--data".as_ref(), data.as_os_str()]);
    let done = poll(600, || {
        let (status, _, _) = progress(addr, &id)?;
        (status != "Processing").then_some(status)
    });
    let got = assert_as_in_memory(addr, &id, &book, &request, ACCOUNTS, done.as_deref());

    // The create replayed with its key: the same run, not a new one.
    let (s, replayed) = create_run(addr, &request, "first-run");
    assert_eq!((s, replayed["id"].as_str()), (200, Some(id.as_str())));

    // A new run takes the next run number and the invoice numbers after the first run's.
    let mut first: Vec<u64> = got.iter().filter_map(|d| invoice_number(&d.1)).collect();
    first.sort();
    assert_eq!(first, (1..=first.len() as u64).collect::<Vec<_>>());
    let next_request =
        serde_json::json!({"targetDate": "2027-01-01", "runType": "Immediate"}).to_string();
    let (s, next) = create_run(addr, &next_request, "second-run");
    assert_eq!(s, 201, "{next}");
    assert_eq!(next["number"], "BR-00000002");
    let next_id = next["id"].as_str().unwrap().to_string();
    let next_done = poll(600, || {
        let (status, _, _) = progress(addr, &next_id)?;
        (status != "Processing").then_some(status)
    });
    assert!(next_done.is_some());
    let mut second: Vec<u64> = api_documents(addr, &next_id)
        .iter()
        .filter_map(|d| invoice_number(&d.1))
        .collect();
    second.sort();
    assert!(!second.is_empty());
    let from = first.len() as u64 + 1;
    assert_eq!(
        second,
        (from..from + second.len() as u64).collect::<Vec<_>>(),
        "the second run's invoices follow the first's"
    );
    drop(child);
}

/// `serve --data DIR --out OUT` stopped with Ctrl-C and started again on the same
/// directory: every run, invoice and generated PDF of before is there, the same bytes,
/// and the files in OUT are left as they were.
#[test]
fn a_durable_serve_restarted_cleanly_finds_every_run_invoice_and_pdf_of_before() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = tmp.path().join("out");
    let book = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/book.json");
    let request = include_str!("fixtures/run-request.json");
    let (child, addr) = spawn_serve(&[
        "--data".as_ref(),
        data.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--book".as_ref(),
        book.as_ref(),
    ]);
    let (s, run) = create_run(addr, request, "k-1");
    assert_eq!(s, 201, "{run}");
    let id = run["id"].as_str().unwrap().to_string();
    let done = poll(120, || {
        let (status, _, _) = progress(addr, &id)?;
        (status != "Processing").then_some(status)
    });
    assert_eq!(done.as_deref(), Some("Completed"));
    let content =
        serde_json::to_string(&billrun_documents::sample::demo_template("en-US")).unwrap();
    let template = serde_json::json!({"name": "Default", "content": content}).to_string();
    assert_eq!(
        http(addr, "PUT", "/v1/document-templates/T-1", Some(&template)).0,
        200
    );
    http(addr, "POST", "/v1/document-templates/T-1/activate", None);
    let (s, _) = http(
        addr,
        "POST",
        &format!("/v1/invoice-runs/{id}/documents"),
        None,
    );
    assert_eq!(s, 202);
    let invoices = |addr| {
        let (s, docs) = http(
            addr,
            "GET",
            &format!("/v1/invoice-runs/{id}/invoices"),
            None,
        );
        assert_eq!(s, 200);
        docs["items"].as_array().unwrap().clone()
    };
    let generated = poll(60, || {
        let docs = invoices(addr);
        docs.iter()
            .all(|d| d["documentStatus"] == "Generated")
            .then_some(docs)
    })
    .expect("the PDFs are generated");
    let pdfs = |addr| -> Vec<Vec<u8>> {
        generated
            .iter()
            .map(|d| {
                let path = format!("/v1/invoices/{}/document", d["id"].as_str().unwrap());
                let (s, bytes) = http_bytes(addr, "GET", &path, "");
                assert_eq!(s, 200);
                bytes
            })
            .collect()
    };
    let before_pdfs = pdfs(addr);
    let number = generated[0]["number"].as_str().unwrap().to_string();
    let on_disk = out.join("documents").join(format!("{number}.pdf"));
    let written = wait_for(20, || std::fs::read(&on_disk).ok()).expect("--out has the PDF");
    let run_json = out.join("BR-00000001").join("run.json");
    let run_file = wait_for(20, || std::fs::read(&run_json).ok()).expect("--out has the run");
    let (_, listed_before) = http(addr, "GET", "/v1/invoice-runs", None);
    stop_cleanly(child);

    let (_child, addr) = spawn_serve(&[
        "--data".as_ref(),
        data.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    let (s, again) = http(addr, "GET", &format!("/v1/invoice-runs/{id}"), None);
    assert_eq!((s, again["status"].as_str()), (200, Some("Completed")));
    let (_, listed_after) = http(addr, "GET", "/v1/invoice-runs", None);
    assert_eq!(listed_after, listed_before);
    assert_eq!(invoices(addr), generated);
    assert_eq!(pdfs(addr), before_pdfs);
    // The writer of the restarted process finds the files its run wrote and keeps them.
    let (s, _) = create_run(addr, request, "k-1");
    assert_eq!(s, 200);
    assert_eq!(std::fs::read(&on_disk).unwrap(), written);
    // run.json may be written again (its document counters moved since), by its run.
    let id_of =
        |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(bytes).unwrap()["id"].clone();
    assert_eq!(id_of(&std::fs::read(&run_json).unwrap()), id_of(&run_file));
    assert_eq!(id_of(&run_file), serde_json::json!(id));
}

/// `--out` never writes over another run's files: an ephemeral serve numbers its first
/// run BR-00000001 again, and finds DIR/BR-00000001/ of an earlier process (another run
/// id) and the PDF it wrote; the writers serve uses leave both as they were, and write
/// to a directory of their own run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_out_writer_refuses_to_overwrite_another_runs_files() {
    let out = tempfile::tempdir().unwrap();
    let earlier = out.path().join("BR-00000001");
    std::fs::create_dir_all(&earlier).unwrap();
    let theirs = serde_json::json!({"id": "00000000-0000-4000-8000-000000000001"}).to_string();
    std::fs::write(earlier.join("run.json"), &theirs).unwrap();
    let pdf_dir = out.path().join("documents");
    std::fs::create_dir_all(&pdf_dir).unwrap();
    let their_pdf = pdf_dir.join("INV-000000001.pdf");
    std::fs::write(&their_pdf, b"an earlier run's PDF").unwrap();
    // No --out for the server itself: the writers are called here, one at a time.
    let book = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/book.json");
    let server = start(&ServeOptions {
        book: Some(book.into()),
        workers: 2,
        ..ServeOptions::default()
    })
    .await
    .unwrap();
    let addr = server.addr;
    let app = server.app.clone();
    let id = tokio::task::spawn_blocking(move || {
        let (s, run) = http(
            addr,
            "POST",
            "/v1/invoice-runs",
            Some(include_str!("fixtures/run-request.json")),
        );
        assert_eq!((s, run["number"].as_str()), (201, Some("BR-00000001")));
        let id = run["id"].as_str().unwrap().to_string();
        let done = wait_for(20, || {
            let (_, run) = http(addr, "GET", &format!("/v1/invoice-runs/{id}"), None);
            (run["status"] != "Processing").then_some(run)
        });
        assert_eq!(done.unwrap()["status"], "Completed");
        id
    })
    .await
    .unwrap();
    let run_id: billrun_domain::ids::RunId = id.parse().unwrap();
    let record = app.queries().get_run(run_id).await.unwrap();
    let refused = billrun_local::serve::write_run(&app, out.path(), &record)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(
        refused.owner.as_deref(),
        Some("00000000-0000-4000-8000-000000000001")
    );
    assert_eq!(
        std::fs::read_to_string(earlier.join("run.json")).unwrap(),
        theirs
    );
    // This run's PDF has the number of the earlier one.
    billrun_local::pipeline::ensure_template(&app)
        .await
        .unwrap();
    let request = app.docgen().request_documents(run_id).await.unwrap();
    billrun_app::worker::drain(
        app.clone(),
        server.queue.clone(),
        billrun_app::worker::WorkerConfig::default(),
    )
    .await;
    let view = app.docgen().document_request(request.id).await.unwrap();
    assert_eq!(view.counters.generated, 1);
    let files = billrun_local::pipeline::write_pdfs(
        &app,
        run_id,
        &pdf_dir,
        &mut std::collections::HashMap::new(),
    )
    .await
    .unwrap();
    assert!(files.is_empty(), "{files:?}");
    assert_eq!(std::fs::read(&their_pdf).unwrap(), b"an earlier run's PDF");
    // Into an empty directory the same writers write, and write again over their own.
    let fresh = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        billrun_local::serve::write_run(&app, fresh.path(), &record)
            .await
            .unwrap()
            .unwrap();
        let files = billrun_local::pipeline::write_pdfs(
            &app,
            run_id,
            fresh.path(),
            &mut std::collections::HashMap::new(),
        )
        .await
        .unwrap();
        assert_eq!(files, vec![fresh.path().join("INV-000000001.pdf")]);
    }
    assert!(fresh.path().join("BR-00000001").join("run.json").exists());
    server.handle.abort();
}

/// The messages of the SMTP server's maildir (infra/local/with-smtp.sh) sent from
/// `from`, parsed.
fn received(from: &str) -> Vec<Vec<u8>> {
    let dir = std::env::var("BILLRUN_TEST_MAILDIR").unwrap_or_else(|_| {
        panic!("BILLRUN_TEST_MAILDIR is not set: run the tests with ./infra/test.sh, which starts an SMTP server (infra/local/with-smtp.sh)")
    });
    let mut out = Vec::new();
    for entry in std::fs::read_dir(std::path::Path::new(&dir).join("new")).unwrap() {
        let raw = std::fs::read(entry.unwrap().path()).unwrap();
        let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
        let sender = m.from().and_then(|a| a.first()).and_then(|a| a.address());
        if sender == Some(from) {
            out.push(raw);
        }
    }
    out
}

/// The text pdftotext reads from a PDF.
fn pdf_text(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doc.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) is installed by infra/test.sh");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `serve --smtp` against a real SMTP server on loopback (aiosmtpd, started by
/// infra/local/with-smtp.sh): a run with autoPost and autoEmail emails each Posted
/// document with an address exactly once, to its billTo address with its copies, the
/// PDF attached (its text shows the number and total); the zero-amount invoice follows
/// `emailZeroAmountInvoices`; the account without an address is Skipped with a reason; a
/// request replayed with the same key sends nothing new; seed 002 shows `invoices_sent`.
#[test]
fn serve_with_smtp_emails_each_posted_document_once_with_its_pdf() {
    let smtp = std::env::var("BILLRUN_TEST_SMTP").unwrap_or_else(|_| {
        panic!("BILLRUN_TEST_SMTP is not set: run the tests with ./infra/test.sh, which starts an SMTP server (infra/local/with-smtp.sh)")
    });
    // A sender of this test alone: other messages in the maildir are not counted.
    let from = format!(
        "billing-{}@northwind.example.com",
        uuid::Uuid::new_v4().simple()
    );
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("book.json");
    let account = |id: &str, bill_to: serde_json::Value| {
        serde_json::json!({"id": id, "name": format!("Customer {id}"), "currency": "USD",
            "billCycleDay": 1, "billTo": bill_to})
    };
    let sub = |id: &str, account: &str, price: &str| {
        serde_json::json!({"id": id, "accountId": account, "productId": "P", "startDate": "2024-01-01",
            "charges": [{"id": format!("C-{id}"), "type": "Recurring", "price": price,
                "quantity": "1", "billingPeriod": "Month", "timing": "InAdvance"}]})
    };
    let content = serde_json::json!({
        "accounts": [
            account("A-1", serde_json::json!({"name": "A AP", "email": "ap@a.example.com",
                "ccEmails": ["cfo@a.example.com"]})),
            account("B-2", serde_json::json!({"name": "B AP"})),
            account("C-3", serde_json::json!({"email": "ap@c.example.com"})),
        ],
        "subscriptions": [sub("S-1", "A-1", "123.45"), sub("S-2", "B-2", "20.00"),
            sub("S-3", "C-3", "0.00")]
    });
    std::fs::write(&book, content.to_string()).unwrap();
    let (child, addr) = spawn_serve(&[
        "--ephemeral".as_ref(),
        "--book".as_ref(),
        book.as_os_str(),
        "--smtp".as_ref(),
        smtp.as_ref(),
        "--mail-from".as_ref(),
        from.as_ref(),
    ]);
    let template = r#"{"name": "Default", "content": {"companyName": "Northwind Analytics", "locale": "en-US"}}"#;
    assert_eq!(
        http(addr, "PUT", "/v1/document-templates/T-1", Some(template)).0,
        200
    );
    assert_eq!(
        http(addr, "POST", "/v1/document-templates/T-1/activate", None).0,
        200
    );
    let request = r#"{"targetDate": "2024-02-01", "autoPost": true, "autoEmail": true,
        "emailZeroAmountInvoices": false}"#;
    let (s, run) = http(addr, "POST", "/v1/invoice-runs", Some(request));
    assert_eq!(s, 201, "{run}");
    let id = run["id"].as_str().unwrap().to_string();
    let settled = |sent: usize| {
        wait_for(60, || {
            let (_, docs) = http(
                addr,
                "GET",
                &format!("/v1/invoice-runs/{id}/invoices"),
                None,
            );
            let items = docs["items"].as_array()?.clone();
            let done = items.len() == 3
                && items
                    .iter()
                    .all(|d| d["deliveryStatus"] == "Sent" || d["deliveryStatus"] == "Skipped");
            (done && received(&from).len() >= sent).then_some(items)
        })
        .expect("the emails were delivered")
    };
    let docs = settled(1);
    let of = |docs: &[serde_json::Value], a: &str| {
        docs.iter().find(|d| d["accountId"] == a).unwrap().clone()
    };
    assert_eq!(of(&docs, "A-1")["deliveryStatus"], "Sent");
    assert_eq!(
        of(&docs, "C-3")["deliveryStatus"],
        "Skipped",
        "a zero invoice, not emailed"
    );
    let b = of(&docs, "B-2");
    assert_eq!(b["deliveryStatus"], "Skipped");
    assert!(
        b["deliveryReason"]
            .as_str()
            .unwrap()
            .contains("no email address"),
        "{b}"
    );

    let mails = received(&from);
    assert_eq!(
        mails.len(),
        1,
        "one message per Posted document with an address"
    );
    let m = mail_parser::MessageParser::default()
        .parse(&mails[0])
        .unwrap();
    let to: Vec<_> = m.to().unwrap().iter().filter_map(|a| a.address()).collect();
    let cc: Vec<_> = m.cc().unwrap().iter().filter_map(|a| a.address()).collect();
    assert_eq!(
        (to, cc),
        (vec!["ap@a.example.com"], vec!["cfo@a.example.com"])
    );
    let number = of(&docs, "A-1")["number"].as_str().unwrap().to_string();
    assert!(m.subject().unwrap().contains(&number), "{:?}", m.subject());
    let pdf = m.attachments().next().expect("the PDF is attached");
    assert_eq!(
        pdf.attachment_name(),
        Some(format!("{number}.pdf").as_str())
    );
    let text = pdf_text(pdf.contents());
    assert!(text.contains(&number) && text.contains("123.45"), "{text}");

    // Another request with zero amounts: every document again, the zero one now too;
    // its replay under the same key sends nothing new.
    let emails = format!("/v1/invoice-runs/{id}/emails");
    let key = "Idempotency-Key: again-1\r\n";
    let body = r#"{"emailZeroAmountInvoices": true}"#;
    let (s, _, first) = http_with(addr, "POST", &emails, Some(body), key);
    assert_eq!(s, 202, "{first}");
    settled(3);
    let (s, _, replay) = http_with(addr, "POST", &emails, Some(body), key);
    assert_eq!((s, replay["id"].clone()), (200, first["id"].clone()));
    std::thread::sleep(Duration::from_secs(1));
    let mut to: Vec<String> = received(&from)
        .iter()
        .map(|raw| {
            let m = mail_parser::MessageParser::default().parse(raw).unwrap();
            m.to()
                .unwrap()
                .first()
                .unwrap()
                .address()
                .unwrap()
                .to_string()
        })
        .collect();
    to.sort();
    assert_eq!(
        to,
        ["ap@a.example.com", "ap@a.example.com", "ap@c.example.com"]
    );
    let (_, request) = http(
        addr,
        "GET",
        &format!("/v1/delivery-requests/{}", first["id"].as_str().unwrap()),
        None,
    );
    assert_eq!(request["counters"]["sent"], 2, "{request}");
    let (_, record) = http(addr, "GET", &format!("/v2/bill_runs/{id}"), None);
    assert_eq!(record["invoices_sent"], true);
    assert!(!record["last_invoice_sent_time"]
        .as_str()
        .unwrap()
        .is_empty());
    stop_cleanly(child);
}

#[test]
fn a_durable_serves_audit_trail_names_each_token_that_changed_a_run_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = tokens_file(
        dir.path(),
        &[
            (
                "preparer",
                &["billing:read", "billing:run", "billing:admin"],
            ),
            ("approver", &["billing:read", "billing:post"]),
        ],
    );
    let data = dir.path().join("data");
    let (_child, addr) = spawn_serve_with(
        &[
            "--data".as_ref(),
            data.as_os_str(),
            "--tokens".as_ref(),
            file.as_os_str(),
        ],
        &[],
    );
    let preparer = "Authorization: Bearer preparer-token\r\n";
    let approver = "Authorization: Bearer approver-token\r\n";
    let book = include_str!("fixtures/book.json");
    let (status, _, _) = http_with(addr, "POST", "/v1/import", Some(book), preparer);
    assert_eq!(status, 200);
    let (status, _, run) = http_with(
        addr,
        "POST",
        "/v1/invoice-runs",
        Some(r#"{"targetDate": "2024-02-01"}"#),
        preparer,
    );
    assert_eq!(status, 201, "{run}");
    let id = run["id"].as_str().unwrap().to_string();
    let completed = poll(60, || {
        let (_, _, r) = http_with(
            addr,
            "GET",
            &format!("/v1/invoice-runs/{id}"),
            None,
            approver,
        );
        match r["status"].as_str()? {
            "Completed" => Some("run.completed"),
            "CompletedWithErrors" => Some("run.completed_with_errors"),
            _ => None,
        }
    });
    let completed = completed.expect("the run completes");
    let (status, _, body) = http_with(
        addr,
        "POST",
        &format!("/v1/invoice-runs/{id}/post"),
        Some("{}"),
        approver,
    );
    assert_eq!(status, 200, "{body}");
    let expected = serde_json::json!([
        ["run.created", "preparer"],
        ["run.started", "preparer"],
        [completed, null],
        ["run.posted", "approver"],
    ]);
    let trail = poll(60, || {
        let (_, _, r) = http_with(
            addr,
            "GET",
            &format!("/v1/audit-events?resource={id}"),
            None,
            approver,
        );
        let seen: Vec<serde_json::Value> = r["items"]
            .as_array()?
            .iter()
            .map(|e| serde_json::json!([e["action"], e["actor"]]))
            .collect();
        (serde_json::Value::Array(seen.clone()) == expected).then_some(seen)
    });
    assert!(
        trail.is_some(),
        "the trail lists the run's changes with their tokens"
    );
}
