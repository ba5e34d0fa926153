//! What the logs hold at info level: the run's id, and never an account's name, address,
//! email address or an amount (the demo emails its documents too). `billrun-local demo` and `run` as subprocesses with `RUST_LOG=info` and
//! the JSON lines the Lambda functions write (`BILLRUN_LOG_FORMAT=json`); their stderr
//! is searched for every name, address line and amount of the book and the documents.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// Runs `billrun-local ARGS` with info-level JSON logs; returns the log lines.
fn logged_run(args: &[&str]) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_billrun-local"))
        .args(args)
        .env("RUST_LOG", "info")
        .env("BILLRUN_LOG_FORMAT", "json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Every string under `keys` anywhere in `v`.
fn strings_at(v: &Value, keys: &[&str], out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match x {
                    Value::String(s) if keys.contains(&k.as_str()) => {
                        out.insert(s.clone());
                    }
                    _ => strings_at(x, keys, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| strings_at(x, keys, out)),
        _ => {}
    }
}

/// The private data of a book and its documents: names and address lines (matched as
/// text), and amounts (matched as whole tokens, so `78701` is not found inside a UUID).
fn private_data(book: &Value, documents: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut text = BTreeSet::new();
    for a in book["accounts"].as_array().unwrap() {
        text.insert(a["name"].as_str().unwrap().to_string());
        for addr in [&a["billTo"], &a["shipTo"]] {
            strings_at(
                addr,
                &["name", "line1", "line2", "city", "state", "email"],
                &mut text,
            );
            for cc in addr["ccEmails"].as_array().into_iter().flatten() {
                text.extend(cc.as_str().map(str::to_string));
            }
        }
    }
    let mut tokens = BTreeSet::new();
    for a in book["accounts"].as_array().unwrap() {
        for addr in [&a["billTo"], &a["shipTo"]] {
            strings_at(addr, &["postalCode"], &mut tokens);
        }
    }
    strings_at(book, &["price", "unitPrice", "amount"], &mut tokens);
    strings_at(
        documents,
        &[
            "amount",
            "oneTime",
            "recurring",
            "evergreen",
            "usage",
            "adjustments",
            "fee",
            "subTotal",
            "tax",
            "total",
        ],
        &mut tokens,
    );
    // Amounts only: a quantity of "1" is no secret.
    tokens.retain(|t| t.contains('.') || t.len() >= 5);
    assert!(!text.is_empty() && tokens.len() > 3, "{text:?} {tokens:?}");
    (text, tokens)
}

/// The logs carry the run id at info level and none of the private data.
fn check(lines: &[String], run_id: &str, text: &BTreeSet<String>, tokens: &BTreeSet<String>) {
    let info_with_run: Vec<&String> = lines
        .iter()
        .filter(|l| {
            serde_json::from_str::<Value>(l).is_ok_and(|v| v["level"] == "INFO")
                && l.contains(run_id)
        })
        .collect();
    assert!(
        !info_with_run.is_empty(),
        "no info line carries the run id {run_id}: {lines:#?}"
    );
    for line in lines {
        for t in text {
            assert!(!line.contains(t.as_str()), "{t:?} is logged: {line}");
        }
        for tok in line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-')) {
            let bare = tok.trim_start_matches('-');
            assert!(
                !tokens.contains(tok) && !tokens.contains(bare),
                "amount or postal code {tok:?} is logged: {line}"
            );
        }
    }
}

#[test]
fn a_demo_run_logs_its_id_at_info_and_no_names_addresses_or_amounts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    // 300 sample accounts: invoices, credit memos, failed accounts and PDFs.
    let lines = logged_run(&["demo", "--accounts", "300", "--workers", "2", "--out", out]);
    let run = read(&dir.path().join("run.json"));
    let documents = read(&dir.path().join("documents.json"));
    assert!(run["counters"]["failed"].as_u64().unwrap() > 0);
    assert!(run["counters"]["creditMemos"].as_u64().unwrap() > 0);
    let (text, tokens) = private_data(&read(&dir.path().join("book.json")), &documents);
    check(&lines, run["id"].as_str().unwrap(), &text, &tokens);
}

#[test]
fn a_run_over_the_sample_book_logs_its_id_at_info_and_no_names_addresses_or_amounts() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let book = format!("{fixtures}/book.json");
    let request = format!("{fixtures}/run-request.json");
    let out = dir.path().to_str().unwrap();
    let lines = logged_run(&[
        "run",
        "--book",
        &book,
        "--run-request",
        &request,
        "--out",
        out,
    ]);
    let run = read(&dir.path().join("run.json"));
    let documents = read(&dir.path().join("documents.json"));
    let (text, tokens) = private_data(&read(Path::new(&book)), &documents);
    assert!(text.contains("Acme Aviation") && tokens.contains("265.04"));
    check(&lines, run["id"].as_str().unwrap(), &text, &tokens);
}
