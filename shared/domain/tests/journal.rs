//! The journal of a posted run (docs/accounting.md): balanced entries per (currency,
//! invoice date), credit memos on the opposite sides of the same accounts, placeholders
//! where the book names no GL code. Amounts are worked by hand beside each assertion.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use billrun_domain::document::{Document, DocumentKind, DocumentStatus, Line, LineType, Totals};
use billrun_domain::gl::GlAccounts;
use billrun_domain::journal::{journal, Journal, JournalLine};
use billrun_domain::{AccountId, Currency, DocumentId, RunId};
use rust_decimal::Decimal;

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn line(line_type: LineType, amount: &str, gl: Option<&str>) -> Line {
    Line {
        charge_id: None,
        subscription_id: None,
        adjustment_id: None,
        line_type,
        description: "x".into(),
        period_start: None,
        period_end: None,
        quantity: Decimal::ONE,
        amount: dec(amount),
        credits_document: None,
        credits_document_id: None,
        gl_account: gl.map(str::to_string),
    }
}

/// A Posted document of its lines, taxed at `tax_rate`, kind by the sign of its total.
fn doc(n: u128, currency: &str, date: &str, tax_rate: &str, lines: Vec<Line>) -> Document {
    let currency = Currency::parse(currency).unwrap();
    let totals = Totals::compute(&lines, currency, dec(tax_rate)).unwrap();
    let kind = if totals.total < Decimal::ZERO {
        DocumentKind::CreditMemo
    } else {
        DocumentKind::Invoice
    };
    Document {
        id: DocumentId(uuid::Uuid::from_u128(n)),
        number: Some(kind.number(n as u64)),
        kind,
        run_id: RunId(uuid::Uuid::from_u128(1)),
        account_id: AccountId::parse("A-1").unwrap(),
        group_key: "A-1".into(),
        currency,
        invoice_date: date.parse().unwrap(),
        due_date: date.parse().unwrap(),
        status: DocumentStatus::Posted,
        invoice_message: None,
        lines,
        totals,
        gl_accounts: GlAccounts::default(),
    }
}

fn coded(mut d: Document) -> Document {
    d.gl_accounts = GlAccounts {
        receivable: Some("1200".into()),
        tax_payable: Some("2200".into()),
        revenue: Some("4000".into()),
    };
    d
}

/// A line as `"<kind> <role> <account> <lineType> Dr <debit> Cr <credit>"`.
fn row(l: &JournalLine) -> String {
    let t = l.line_type.map(|t| format!("{t:?}")).unwrap_or("-".into());
    format!(
        "{:?} {:?} {} {t} Dr {} Cr {}",
        l.document_kind, l.role, l.account, l.debit, l.credit
    )
}

fn rows(j: &Journal, entry: usize) -> Vec<String> {
    j.entries[entry].lines.iter().map(row).collect()
}

#[test]
fn an_invoice_debits_receivable_and_credits_revenue_per_code_and_type_and_tax() {
    // 100.00 + 33.33 (code 4100) and 10.00 usage (no code): subtotal 143.33,
    // tax round(143.33 × 0.0825 = 11.824725) = 11.82, total 155.15.
    let d = coded(doc(
        1,
        "USD",
        "2024-02-01",
        "0.0825",
        vec![
            line(LineType::Recurring, "100.00", Some("4100")),
            line(LineType::Recurring, "33.33", Some("4100")),
            line(LineType::Usage, "10.00", None),
        ],
    ));
    let j = journal([&d]).unwrap();
    assert_eq!(j.entries.len(), 1);
    assert_eq!(
        rows(&j, 0),
        [
            "Invoice Receivable 1200 - Dr 155.15 Cr 0.00",
            "Invoice Revenue 4100 Recurring Dr 0.00 Cr 133.33",
            "Invoice Revenue REVENUE Usage Dr 0.00 Cr 10.00",
            "Invoice TaxPayable 2200 - Dr 0.00 Cr 11.82",
        ]
    );
    let e = &j.entries[0];
    assert_eq!((e.debits, e.credits), (dec("155.15"), dec("155.15")));
    assert!(e.is_balanced());
}

#[test]
fn a_credit_memo_reverses_the_same_accounts_and_is_booked_apart_from_invoices() {
    let inv = doc(
        1,
        "USD",
        "2024-02-01",
        "0.10",
        vec![line(LineType::Evergreen, "50.00", Some("4100"))],
    );
    // Credit -30.00 on 4100 and +5.00 usage: subtotal -25.00, tax -2.50, total -27.50.
    let cm = doc(
        2,
        "USD",
        "2024-02-01",
        "0.10",
        vec![
            line(LineType::Evergreen, "-30.00", Some("4100")),
            line(LineType::Usage, "5.00", Some("4100")),
        ],
    );
    assert_eq!(cm.kind, DocumentKind::CreditMemo);
    let j = journal([&inv, &cm]).unwrap();
    assert_eq!(
        rows(&j, 0),
        [
            "Invoice Receivable RECEIVABLE - Dr 55.00 Cr 0.00",
            "Invoice Revenue 4100 Evergreen Dr 0.00 Cr 50.00",
            "Invoice TaxPayable TAX_PAYABLE - Dr 0.00 Cr 5.00",
            "CreditMemo Receivable RECEIVABLE - Dr 0.00 Cr 27.50",
            "CreditMemo Revenue 4100 Evergreen Dr 30.00 Cr 0.00",
            "CreditMemo Revenue 4100 Usage Dr 0.00 Cr 5.00",
            "CreditMemo TaxPayable TAX_PAYABLE - Dr 2.50 Cr 0.00",
        ]
    );
    // Debits 55.00 + 30.00 + 2.50 = 87.50 = credits 50.00 + 5.00 + 27.50 + 5.00.
    let e = &j.entries[0];
    assert_eq!((e.debits, e.credits), (dec("87.50"), dec("87.50")));
    let t = &j.totals[0];
    assert_eq!((t.invoiced, t.credited), (dec("55.00"), dec("-27.50")));
    assert_eq!((t.debits, t.credits), (dec("87.50"), dec("87.50")));
}

#[test]
fn entries_are_per_currency_and_date_each_balanced_to_its_minor_unit() {
    // JPY has no minor unit: 1000 × 0.08 = 80 tax; 333 × 0.08 = 26.64 → 27.
    let a = doc(
        1,
        "JPY",
        "2024-03-01",
        "0.08",
        vec![line(LineType::OneTime, "1000", None)],
    );
    let b = doc(
        2,
        "JPY",
        "2024-02-01",
        "0.08",
        vec![line(LineType::OneTime, "333", None)],
    );
    // USD: 0.07 × 0.0825 = 0.005775 → 0.01.
    let c = doc(
        3,
        "USD",
        "2024-02-01",
        "0.0825",
        vec![line(LineType::Adjustment, "0.07", None)],
    );
    let j = journal([&a, &b, &c]).unwrap();
    let keys: Vec<String> = j
        .entries
        .iter()
        .map(|e| format!("{} {} {} {}", e.currency, e.date, e.debits, e.credits))
        .collect();
    assert_eq!(
        keys,
        [
            "JPY 2024-02-01 360 360",
            "JPY 2024-03-01 1080 1080",
            "USD 2024-02-01 0.08 0.08"
        ]
    );
    assert!(j.entries.iter().all(|e| e.is_balanced()));
    let totals: Vec<String> = j
        .totals
        .iter()
        .map(|t| format!("{} {} {}", t.currency, t.invoiced, t.debits))
        .collect();
    assert_eq!(totals, ["JPY 1440 1440", "USD 0.08 0.08"]);
}

#[test]
fn documents_that_are_not_posted_are_not_in_the_ledger_and_zero_lines_are_left_out() {
    let mut draft = doc(
        1,
        "USD",
        "2024-02-01",
        "0",
        vec![line(LineType::OneTime, "10.00", None)],
    );
    draft.status = DocumentStatus::Draft;
    // A zero invoice: 5.00 and -5.00 on one code and type net to nothing.
    let zero = doc(
        2,
        "USD",
        "2024-02-01",
        "0",
        vec![
            line(LineType::OneTime, "5.00", None),
            line(LineType::OneTime, "-5.00", None),
        ],
    );
    let j = journal([&draft, &zero]).unwrap();
    assert_eq!(j.entries.len(), 1);
    assert_eq!(j.entries[0].documents, 1);
    assert!(j.entries[0].lines.is_empty());
    assert_eq!(j.totals[0].invoiced, dec("0.00"));
}

#[test]
fn the_csv_has_the_documented_columns_and_quotes_codes_that_need_it() {
    let mut d = coded(doc(
        1,
        "USD",
        "2024-02-01",
        "0",
        vec![line(LineType::OneTime, "12.50", Some("40,00 \"EU\""))],
    ));
    d.gl_accounts.tax_payable = None;
    let csv = journal([&d]).unwrap().to_csv();
    assert_eq!(
        csv,
        "currency,date,account,role,documentKind,lineType,debit,credit\r\n\
         USD,2024-02-01,1200,Receivable,Invoice,,12.50,0.00\r\n\
         USD,2024-02-01,\"40,00 \"\"EU\"\"\",Revenue,Invoice,OneTime,0.00,12.50\r\n"
    );
}
