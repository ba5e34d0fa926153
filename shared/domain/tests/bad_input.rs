//! Bad input against the two parsers of untrusted JSON, the book and the run request:
//! arbitrary bytes, a valid document with bytes flipped, and a valid document with one
//! node replaced by a structured nasty (huge numbers, deep nesting, invalid dates,
//! unicode, invalid UTF-8). Neither parser may panic, and every rejection names a field.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use billrun_domain::book::Book;
use billrun_domain::request::RunRequest;
use billrun_domain::FieldError;
use proptest::prelude::*;
use serde_json::{json, Value};

const BOOK: &str = include_str!("../../../infra/local/tests/fixtures/book.json");
const REQUEST: &str = include_str!("../../../infra/local/tests/fixtures/run-request.json");

/// What both parsers promise on any input: an answer, and a rejection that names a field
/// (a dotted path, `$` for the document itself) and says what is wrong.
fn check(what: &str, r: Result<(), FieldError>, input: &[u8]) -> Result<(), TestCaseError> {
    if let Err(e) = r {
        let shown = String::from_utf8_lossy(&input[..input.len().min(300)]).to_string();
        prop_assert!(
            !e.field.is_empty(),
            "{what}: no field path for {shown:?}: {e}"
        );
        prop_assert!(
            !e.field.contains('\n') && !e.field.contains(" at line "),
            "{what}: a field path that is not a path: {:?}",
            e.field
        );
        prop_assert!(!e.message.is_empty(), "{what}: no message for {shown:?}");
        prop_assert_eq!(e.to_string(), format!("{}: {}", e.field, e.message));
    }
    Ok(())
}

fn parse_both(bytes: &[u8]) -> Result<(), TestCaseError> {
    check("book", Book::parse(bytes).map(|_| ()), bytes)?;
    check("run request", RunRequest::parse(bytes).map(|_| ()), bytes)
}

/// Raw JSON texts no `serde_json::Value` can hold (or that are only interesting raw).
const RAW_NASTIES: &[&str] = &[
    // numbers past every integer and float type
    "1e999999",
    "-1e999999",
    "123456789012345678901234567890123456789012345678901234567890",
    "18446744073709551616",
    "-9223372036854775809",
    "4294967296",
    "256",
    "-1",
    "0.1e-400",
    "1.7976931348623157e309",
    "-0",
    "NaN",
    "Infinity",
    // strings JSON allows but Rust's `str` does not, and invalid escapes
    r#""\ud800""#,
    r#""\udfff\ud800""#,
    r#""\u0000""#,
    r#""\x41""#,
    // deep nesting, past serde_json's recursion limit
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
];

/// A nasty JSON value.
fn nasty() -> impl Strategy<Value = Nasty> {
    let strings = prop_oneof![
        // decimals: past `Decimal`'s range and scale, spelled oddly
        Just("79228162514264337593543950336".to_string()),
        Just("-79228162514264337593543950336".to_string()),
        Just("1000000000000.01".to_string()),
        Just("0.00000000000000000000000000001".to_string()),
        Just("1.0000000000000000000000000001".to_string()),
        Just("1e28".to_string()),
        Just("-0".to_string()),
        Just(" 1".to_string()),
        Just("1_000".to_string()),
        Just("NaN".to_string()),
        Just("0x10".to_string()),
        // dates that do not exist or are far out
        Just("2024-02-30".to_string()),
        Just("2023-02-29".to_string()),
        Just("2024-13-01".to_string()),
        Just("2024-00-10".to_string()),
        Just("0000-01-01".to_string()),
        Just("-0001-01-01".to_string()),
        Just("+262143-12-31".to_string()),
        Just("262144-01-01".to_string()),
        Just("9999-12-31".to_string()),
        Just("1800-01-01".to_string()),
        Just("2024-1-1".to_string()),
        Just("2024-02-01T25:00:00Z".to_string()),
        Just("2024-02-01T00:00:00+99:00".to_string()),
        Just("".to_string()),
        // unicode
        Just("\u{202E}noitaivA emcA".to_string()),
        Just("Z\u{0301}\u{0301}\u{0301}".to_string()),
        Just("\u{FEFF}A-1001".to_string()),
        Just("\u{0}".to_string()),
        Just("😀".repeat(300)),
        Just("é".repeat(600)),
        Just(" \t\n".to_string()),
        "\\PC{0,40}",
        any::<String>(),
    ];
    prop_oneof![
        3 => strings.prop_map(|s| Nasty::Value(Value::String(s))),
        1 => prop_oneof![
            Just(json!(u64::MAX)),
            Just(json!(i64::MIN)),
            Just(json!(f64::MAX)),
            Just(json!(1.5)),
            Just(json!(-0.0)),
            Just(json!(null)),
            Just(json!(true)),
            Just(json!([])),
            Just(json!({})),
            Just(json!([null, "x", 1])),
            Just(json!({"id": "A-9", "extra": {"deep": [1, 2, {"x": null}]}})),
        ]
        .prop_map(Nasty::Value),
        2 => (0..RAW_NASTIES.len()).prop_map(|i| Nasty::Raw(RAW_NASTIES[i].to_string())),
        1 => (1usize..2000).prop_map(|depth| Nasty::Raw(format!("{}{}", "{\"a\":".repeat(depth), "}".repeat(depth)))),
        1 => prop::collection::vec(any::<u8>(), 1..8).prop_map(|b| {
            // invalid UTF-8 inside a string
            let mut raw = b"\"A-".to_vec();
            raw.extend(b.iter().map(|x| x | 0x80));
            raw.push(b'"');
            Nasty::Bytes(raw)
        }),
    ]
}

#[derive(Debug, Clone)]
enum Nasty {
    Value(Value),
    Raw(String),
    Bytes(Vec<u8>),
}

/// Every node of `v` as a path of keys and indexes.
fn paths(v: &Value, at: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                at.push(json!(k));
                paths(x, at, out);
                at.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                at.push(json!(i));
                paths(x, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn node<'a>(v: &'a mut Value, path: &[Value]) -> Option<&'a mut Value> {
    let mut cur = v;
    for p in path {
        cur = match p {
            Value::String(k) => cur.get_mut(k.as_str())?,
            Value::Number(i) => cur.get_mut(usize::try_from(i.as_u64()?).ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

const MARK: &str = "\u{1}NASTY\u{1}";

/// `doc` with the node at `at` (an index into its nodes) replaced by `nasty`, or a new
/// key `key` holding it when `add` and the node is an object.
fn with_nasty(doc: &str, at: usize, add: Option<String>, nasty: &Nasty) -> Vec<u8> {
    let mut v: Value = serde_json::from_str(doc).expect("a valid fixture");
    let mut all = vec![];
    paths(&v, &mut vec![], &mut all);
    let path = &all[at % all.len()];
    let placeholder = match nasty {
        Nasty::Value(x) => x.clone(),
        Nasty::Raw(_) | Nasty::Bytes(_) => Value::String(MARK.into()),
    };
    if let Some(n) = node(&mut v, path) {
        match (add, n) {
            (Some(k), Value::Object(m)) => {
                m.insert(k, placeholder);
            }
            (_, n) => *n = placeholder,
        }
    }
    let text = v.to_string();
    let marked = serde_json::to_string(MARK).expect("a string");
    let raw: Vec<u8> = match nasty {
        Nasty::Value(_) => return text.into_bytes(),
        Nasty::Raw(r) => r.clone().into_bytes(),
        Nasty::Bytes(b) => b.clone(),
    };
    match text.find(&marked) {
        Some(i) => {
            let mut out = text.as_bytes()[..i].to_vec();
            out.extend(&raw);
            out.extend(&text.as_bytes()[i + marked.len()..]);
            out
        }
        None => text.into_bytes(),
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(doc: &str, edits: &[Edit]) -> Vec<u8> {
    let mut b = doc.as_bytes().to_vec();
    for e in edits {
        let n = b.len().max(1);
        match *e {
            Edit::Flip(i, x) if !b.is_empty() => b[i % n] ^= x.max(1),
            Edit::Insert(i, x) => b.insert(i % (b.len() + 1), x),
            Edit::Delete(i) if !b.is_empty() => {
                b.remove(i % n);
            }
            Edit::Truncate(i) => b.truncate(i % n),
            _ => {}
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_and_every_rejection_names_a_field(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        parse_both(&bytes)?;
    }

    #[test]
    fn a_valid_document_with_bytes_flipped_never_panics_and_every_rejection_names_a_field(
        edits in prop::collection::vec(edit(), 1..6),
        request in any::<bool>(),
    ) {
        let doc = if request { REQUEST } else { BOOK };
        parse_both(&apply(doc, &edits))?;
    }

    #[test]
    fn a_valid_document_with_a_nasty_node_never_panics_and_every_rejection_names_a_field(
        at in any::<usize>(),
        add in prop::option::weighted(0.2, "[a-zA-Z]{1,12}"),
        nasty in nasty(),
        request in any::<bool>(),
    ) {
        let doc = if request { REQUEST } else { BOOK };
        let bytes = with_nasty(doc, at, add, &nasty);
        parse_both(&bytes)?;
        // Well-formed JSON with an object at the root is rejected at a field inside it.
        if matches!(serde_json::from_slice::<Value>(&bytes), Ok(Value::Object(_))) {
            for e in [Book::parse(&bytes).err(), RunRequest::parse(&bytes).err()].into_iter().flatten() {
                prop_assert!(e.field != "$", "{e} for {}", String::from_utf8_lossy(&bytes));
            }
        }
    }
}

fn book_with(f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v: Value = serde_json::from_str(BOOK).unwrap();
    f(&mut v);
    v.to_string().into_bytes()
}

#[test]
fn the_fixtures_parse() {
    Book::parse(BOOK.as_bytes()).unwrap();
    RunRequest::parse(REQUEST.as_bytes()).unwrap();
}

#[test]
fn an_invalid_date_anywhere_is_rejected_at_its_own_path() {
    let dates = [
        ("subscriptions[0].startDate", "/subscriptions/0/startDate"),
        ("subscriptions[0].endDate", "/subscriptions/0/endDate"),
        (
            "subscriptions[0].charges[1].chargeDate",
            "/subscriptions/0/charges/1/chargeDate",
        ),
        ("usage[0].date", "/usage/0/date"),
        ("adjustments[0].date", "/adjustments/0/date"),
    ];
    for bad in [
        "2024-02-30",
        "2023-02-29",
        "2024-13-01",
        "1800-01-01",
        "+262143-12-31",
        "x",
    ] {
        for (field, pointer) in dates {
            let bytes = book_with(|v| *v.pointer_mut(pointer).unwrap() = json!(bad));
            let err = Book::parse(&bytes).unwrap_err();
            assert_eq!(err.field, field, "{bad}: {err}");
        }
        for field in ["targetDate", "invoiceDate", "dueDate"] {
            let mut v: Value = serde_json::from_str(REQUEST).unwrap();
            v[field] = json!(bad);
            let err = RunRequest::parse(v.to_string().as_bytes()).unwrap_err();
            assert_eq!(err.field, field, "{bad}: {err}");
        }
    }
}

#[test]
fn huge_numbers_are_rejected_at_their_path() {
    for (pointer, field, raw) in [
        (
            "/accounts/0/billCycleDay",
            "accounts[0].billCycleDay",
            "1e999999",
        ),
        (
            "/accounts/0/billCycleDay",
            "accounts[0].billCycleDay",
            "256",
        ),
        (
            "/accounts/0/paymentTermDays",
            "accounts[0].paymentTermDays",
            "18446744073709551616",
        ),
        (
            "/accounts/0/paymentTermDays",
            "accounts[0].paymentTermDays",
            "-1",
        ),
        (
            "/accounts/0/taxRate",
            "accounts[0].taxRate",
            r#""79228162514264337593543950336""#,
        ),
        (
            "/subscriptions/0/charges/0/price",
            "subscriptions[0].charges[0].price",
            r#""1000000000000.01""#,
        ),
        (
            "/subscriptions/0/charges/0/quantity",
            "subscriptions[0].charges[0].quantity",
            r#""-79228162514264337593543950335""#,
        ),
        ("/usage/0/quantity", "usage[0].quantity", r#""1e40""#),
        (
            "/adjustments/0/amount",
            "adjustments[0].amount",
            r#""99999999999999999999.99""#,
        ),
    ] {
        let bytes = book_with(|v| *v.pointer_mut(pointer).unwrap() = json!(MARK));
        let text = String::from_utf8(bytes).unwrap();
        let text = text.replace(&serde_json::to_string(MARK).unwrap(), raw);
        let err = Book::parse(text.as_bytes()).unwrap_err();
        assert_eq!(err.field, field, "{raw}: {err}");
    }
}

#[test]
fn deep_nesting_is_rejected_without_overflowing_the_stack() {
    for depth in [200, 10_000, 1_000_000] {
        let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let objects = format!(
            "{}null{}",
            r#"{"accounts":"#.repeat(depth),
            "}".repeat(depth)
        );
        for doc in [&arrays, &objects] {
            let book = Book::parse(doc.as_bytes()).unwrap_err();
            let req = RunRequest::parse(doc.as_bytes()).unwrap_err();
            assert!(!book.field.is_empty() && !req.field.is_empty());
        }
        let inside = book_with(|v| v["accounts"][0]["name"] = json!(MARK));
        let inside = String::from_utf8(inside)
            .unwrap()
            .replace(&serde_json::to_string(MARK).unwrap(), &arrays);
        assert_eq!(
            Book::parse(inside.as_bytes()).unwrap_err().field,
            "accounts[0].name"
        );
    }
}

#[test]
fn unicode_is_counted_in_bytes_and_invalid_utf8_is_rejected_at_its_path() {
    // 300 emoji are 1,200 bytes: over the 1,024-byte limit of a name.
    let bytes = book_with(|v| v["accounts"][0]["name"] = json!("😀".repeat(300)));
    assert_eq!(Book::parse(&bytes).unwrap_err().field, "accounts[0].name");
    // 256 emoji are exactly 1,024 bytes: accepted, and kept as given.
    let name = "😀".repeat(256);
    let bytes = book_with(|v| v["accounts"][0]["name"] = json!(name));
    assert_eq!(Book::parse(&bytes).unwrap().accounts[0].name, name);
    // A right-to-left override and combining marks are text like any other.
    let bytes = book_with(|v| v["accounts"][0]["name"] = json!("\u{202E}Z\u{0301}"));
    Book::parse(&bytes).unwrap();
    // Whitespace only is empty.
    let bytes = book_with(|v| v["accounts"][0]["name"] = json!(" \u{3000}\t"));
    assert_eq!(Book::parse(&bytes).unwrap_err().field, "accounts[0].name");
    // A lone surrogate escape and raw invalid UTF-8.
    for raw in [&br#""\ud800""#[..], &b"\"\xff\xfe\""[..]] {
        let bytes = book_with(|v| v["accounts"][0]["name"] = json!(MARK));
        let marked = serde_json::to_string(MARK).unwrap();
        let i = bytes
            .windows(marked.len())
            .position(|w| w == marked.as_bytes())
            .unwrap();
        let mut doc = bytes[..i].to_vec();
        doc.extend(raw);
        doc.extend(&bytes[i + marked.len()..]);
        let err = Book::parse(&doc).unwrap_err();
        assert_eq!(err.field, "accounts[0].name", "{err}");
    }
    // A byte-order mark before the document is not JSON.
    let mut doc = "\u{FEFF}".as_bytes().to_vec();
    doc.extend(BOOK.as_bytes());
    assert_eq!(Book::parse(&doc).unwrap_err().field, "$");
}

#[test]
fn a_ten_megabyte_document_is_answered_with_a_field_path() {
    let ten_mb = 10 * 1024 * 1024;
    // One huge name.
    let bytes = book_with(|v| v["accounts"][0]["name"] = json!("a".repeat(ten_mb)));
    assert_eq!(Book::parse(&bytes).unwrap_err().field, "accounts[0].name");
    let mut v: Value = serde_json::from_str(REQUEST).unwrap();
    v["invoiceMessage"] = json!("b".repeat(ten_mb));
    assert_eq!(
        RunRequest::parse(v.to_string().as_bytes())
            .unwrap_err()
            .field,
        "invoiceMessage"
    );
    // 10 MB of accounts, the last one bad: the path points at it.
    let account: Value = serde_json::from_str::<Value>(BOOK).unwrap()["accounts"][0].clone();
    let one = account.to_string().len() + 1;
    let n = ten_mb / one + 1;
    let mut accounts: Vec<Value> = (0..n)
        .map(|i| {
            let mut a = account.clone();
            a["id"] = json!(format!("A-{i}"));
            a
        })
        .collect();
    accounts[n - 1]["currency"] = json!("USX");
    let doc = json!({ "accounts": accounts }).to_string();
    assert!(doc.len() >= ten_mb);
    let err = Book::parse(doc.as_bytes()).unwrap_err();
    assert_eq!(err.field, format!("accounts[{}].currency", n - 1));
    // The same accounts without the bad one: a valid 10 MB book parses.
    accounts.pop();
    let doc = json!({ "accounts": accounts }).to_string();
    assert_eq!(Book::parse(doc.as_bytes()).unwrap().accounts.len(), n - 1);
}

#[test]
fn an_unknown_key_is_echoed_escaped_and_cut_short() {
    let bytes = book_with(|v| v["accounts"][0]["cou\ntry\u{1b}[31m"] = json!("US"));
    let err = Book::parse(&bytes).unwrap_err();
    assert_eq!(err.field, "accounts[0].cou\\ntry\\u{1b}[31m");
    assert!(!err.to_string().contains('\n'));
    let key = "k".repeat(1 << 20);
    let bytes = book_with(|v| v["accounts"][0][key.as_str()] = json!(1));
    let err = Book::parse(&bytes).unwrap_err();
    assert!(err.field.starts_with("accounts[0].kkk") && err.field.ends_with('…'));
    assert!(err.field.len() < 1000, "{} bytes", err.field.len());
}

#[test]
fn a_document_that_is_an_array_is_rejected_even_when_it_would_fill_the_fields_in_order() {
    for doc in ["[]", " [[], [], [], [], []]", "[null]"] {
        assert_eq!(Book::parse(doc.as_bytes()).unwrap_err().field, "$", "{doc}");
        assert_eq!(
            RunRequest::parse(doc.as_bytes()).unwrap_err().field,
            "$",
            "{doc}"
        );
    }
}
