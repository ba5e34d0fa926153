//! `billrun-local` as a user runs it: the docs/book-format.md example through `run`, exit 2
//! with a field path on bad input, and the demo.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_billrun-local"))
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn the_book_format_example_produces_exactly_the_documented_totals() {
    let out = tempfile::tempdir().unwrap();
    let status = bin()
        .args(["run", "--book"])
        .arg(fixture("book.json"))
        .arg("--run-request")
        .arg(fixture("run-request.json"))
        .arg("--out")
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success());
    let docs = read_json(&out.path().join("documents.json"));
    let docs = docs.as_array().unwrap();
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    assert_eq!(d["number"], "INV-000000001");
    assert_eq!(d["kind"], "Invoice");
    assert_eq!(d["invoiceDate"], "2024-02-01");
    assert_eq!(d["dueDate"], "2024-03-02");
    assert_eq!(d["status"], "Draft");
    let amounts: Vec<&str> = d["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["amount"].as_str().unwrap())
        .collect();
    // Stub 100 × 17/31 = 54.838… → 54.84; February 100.00; setup 50.00; usage 1000 × 0.05;
    // goodwill -10.00.
    assert_eq!(amounts, ["54.84", "100.00", "50.00", "50.00", "-10.00"]);
    assert_eq!(d["lines"][3]["periodEnd"], "2024-02-02");
    assert_eq!(d["lines"][3]["quantity"], "1000");
    let t = &d["totals"];
    assert_eq!(t["oneTime"], "50.00");
    assert_eq!(t["recurring"], "0.00");
    assert_eq!(t["evergreen"], "154.84");
    assert_eq!(t["usage"], "50.00");
    assert_eq!(t["adjustments"], "-10.00");
    assert_eq!(t["fee"], "254.84");
    assert_eq!(t["subTotal"], "244.84");
    // 244.84 × 0.0825 = 20.1993 → 20.20
    assert_eq!(t["tax"], "20.20");
    assert_eq!(t["total"], "265.04");

    let run = read_json(&out.path().join("run.json"));
    assert_eq!(run["status"], "Completed");
    assert_eq!(run["number"], "BR-00000001");
    assert_eq!(run["request"]["grouping"], "Account");
    let c = &run["counters"];
    assert_eq!(c["accountsSelected"], 1);
    assert_eq!(c["billed"], 1);
    assert_eq!(c["invoices"], 1);
    assert_eq!(c["amounts"][0]["currency"], "USD");
    assert_eq!(c["amounts"][0]["invoiced"], "265.04");
    assert_eq!(run["accounts"][0]["documentNumbers"][0], "INV-000000001");
}

#[test]
fn an_invalid_book_exits_2_naming_the_field_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut book = read_json(&fixture("book.json"));
    book["accounts"][0]["currency"] = Value::from("USX");
    let book_path = dir.path().join("bad.json");
    std::fs::write(&book_path, serde_json::to_vec(&book).unwrap()).unwrap();
    let out = dir.path().join("out");
    let output = bin()
        .args(["run", "--book"])
        .arg(&book_path)
        .arg("--run-request")
        .arg(fixture("run-request.json"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("accounts[0].currency"), "{stderr}");
    assert!(!out.exists(), "nothing is written");
}

#[test]
fn an_invalid_run_request_exits_2_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let req = dir.path().join("req.json");
    std::fs::write(
        &req,
        br#"{"targetDate": "2024-02-01", "grouping": "Planet"}"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let output = bin()
        .args(["run", "--book"])
        .arg(fixture("book.json"))
        .arg("--run-request")
        .arg(&req)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("grouping"));
    assert!(!out.exists());
}

#[test]
fn serve_refuses_oidc_flags_that_make_no_issuer_with_exit_2() {
    for (args, says) in [
        (
            &[
                "--oidc-issuer",
                "http://idp.example",
                "--oidc-client-id",
                "c",
            ][..],
            "must be https",
        ),
        (
            &["--oidc-issuer", "https://idp.example"][..],
            "needs --oidc-client-id",
        ),
        (&["--oidc-client-id", "c"][..], "needs --oidc-issuer"),
    ] {
        let output = bin()
            .args(["serve", "--ephemeral", "--port", "0"])
            .args(args)
            .env_remove("BILLRUN_OIDC_ISSUER")
            .env_remove("BILLRUN_OIDC_CLIENT_ID")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[test]
fn the_demo_reconciles_and_shows_every_kind_of_outcome() {
    let out = tempfile::tempdir().unwrap();
    let output = bin()
        .args([
            "demo",
            "--accounts",
            "600",
            "--target-date",
            "2026-12-01",
            "--events",
            "--out",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // --events: the run's lifecycle, one JSON event a line, after the emails' post.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let events: Vec<Value> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("Events of run "))
        .skip(1)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let lifecycle: Vec<&str> = types
        .iter()
        .copied()
        .filter(|t| t.starts_with("run."))
        .collect();
    assert_eq!(
        lifecycle,
        [
            "run.created",
            "run.started",
            "run.completed_with_errors",
            "run.posted"
        ]
    );
    // The PDFs' and the emails' requests, each completed once.
    for request in ["document_request.completed", "delivery_request.completed"] {
        assert_eq!(
            types.iter().filter(|t| **t == request).count(),
            1,
            "{types:?}"
        );
    }
    let run = read_json(&out.path().join("run.json"));
    let c = &run["counters"];
    let n = |k: &str| c[k].as_u64().unwrap();
    assert_eq!(n("accountsSelected"), 600);
    assert_eq!(
        n("billed") + n("suppressed") + n("nothingToBill") + n("failed"),
        600
    );
    for k in [
        "billed",
        "suppressed",
        "nothingToBill",
        "failed",
        "invoices",
        "creditMemos",
    ] {
        assert!(n(k) > 0, "the demo shows {k}");
    }
    assert_eq!(run["status"], "CompletedWithErrors");
    let docs = read_json(&out.path().join("documents.json"));
    assert_eq!(
        docs.as_array().unwrap().len() as u64,
        n("invoices") + n("creditMemos")
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("reconciliation") && stdout.contains("holds"),
        "{stdout}"
    );
    // A PDF per document, named by its number, and the demo says where they are.
    for d in docs.as_array().unwrap() {
        let pdf = out
            .path()
            .join("documents")
            .join(format!("{}.pdf", d["number"].as_str().unwrap()));
        let bytes = std::fs::read(&pdf).unwrap();
        assert!(bytes.starts_with(b"%PDF-"), "{}", pdf.display());
    }
    assert!(
        stdout.contains(&format!("{}/documents/", out.path().display())),
        "{stdout}"
    );
}

/// Drops what differs between two runs by design: generated ids and timestamps.
fn without_generated(mut v: Value) -> Value {
    match &mut v {
        Value::Array(items) => {
            for i in items.iter_mut() {
                *i = without_generated(i.take());
            }
        }
        Value::Object(map) => {
            for k in [
                "id",
                "runId",
                "createdAt",
                "updatedAt",
                "commencedAt",
                "completedAt",
            ] {
                map.remove(k);
            }
            for (_, x) in map.iter_mut() {
                *x = without_generated(x.take());
            }
        }
        _ => {}
    }
    v
}

#[test]
fn the_demo_on_the_aws_adapters_produces_the_same_documents_as_in_memory() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL is not set: run the tests with ./infra/test.sh, which starts a moto server");
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "tests only talk to loopback"
    );
    let dir = tempfile::tempdir().unwrap();
    let run = |backend: &str| {
        let out = dir.path().join(backend);
        let output = bin()
            .args([
                "demo",
                "--accounts",
                "2000",
                "--target-date",
                "2026-12-01",
                "--backend",
                backend,
                // The PDFs through the document queue are tests/aws_documents.rs's; here
                // 2,000 of them would only slow moto down.
                "--no-pdfs",
                "--out",
            ])
            .arg(&out)
            // Fresh resources for the AWS run, so its numbers start at 1 as in memory.
            .env_remove("TABLE_NAME")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{backend}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        (out, String::from_utf8_lossy(&output.stdout).to_string())
    };
    let (memory, _) = run("memory");
    let (aws, stdout) = run("aws");
    assert!(stdout.contains("DynamoDB TransactWriteItems"), "{stdout}");
    let docs_memory = without_generated(read_json(&memory.join("documents.json")));
    let docs_aws = without_generated(read_json(&aws.join("documents.json")));
    assert_eq!(
        docs_memory.as_array().unwrap().len(),
        docs_aws.as_array().unwrap().len()
    );
    assert!(
        docs_memory == docs_aws,
        "documents differ between the backends"
    );
    let run_memory = without_generated(read_json(&memory.join("run.json")));
    let run_aws = without_generated(read_json(&aws.join("run.json")));
    assert_eq!(run_memory["counters"], run_aws["counters"]);
    assert_eq!(run_memory["accounts"], run_aws["accounts"]);
}
