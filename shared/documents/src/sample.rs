//! Realistic sample documents: for the tests, the benchmark, the README picture and the
//! demo's default template. Lines follow the rating engine's descriptions
//! (`"Team plan 2024-02-01 – 2024-03-01"`) and totals are computed by the domain.

use crate::render::RenderContext;
use crate::template::{DocumentTemplate, TemplateAddress};
use base64::Engine;
use billrun_domain::book::{Account, Address};
use billrun_domain::calendar::BillCycleDay;
use billrun_domain::document::{Document, DocumentKind, DocumentStatus, Line, LineType, Totals};
use billrun_domain::ids::{AccountId, DocumentId, RunId};
use billrun_domain::money::Currency;
use chrono::{Months, NaiveDate};
use rust_decimal::Decimal;

/// The demo template's logo: a 120×120 PNG mark in the default accent colour.
pub static DEMO_LOGO_PNG: &[u8] = include_bytes!("../assets/demo-logo.png");

/// Everything [`crate::render`] takes.
#[derive(Debug, Clone)]
pub struct Sample {
    pub document: Document,
    pub account: Account,
    pub template: DocumentTemplate,
    pub context: RenderContext,
}

/// The template the demo installs and activates: a US seller with a logo.
pub fn demo_template(locale: &str) -> DocumentTemplate {
    DocumentTemplate {
        company_name: "Northwind Analytics, Inc.".to_string(),
        address: TemplateAddress {
            line1: Some("500 Market Street, Suite 1200".to_string()),
            line2: None,
            city: Some("San Francisco, CA".to_string()),
            postal_code: Some("94105".to_string()),
            country: Some("United States".to_string()),
        },
        tax_id: Some("EIN 94-3187452".to_string()),
        logo_png_base64: Some(base64::engine::general_purpose::STANDARD.encode(DEMO_LOGO_PNG)),
        accent_color: "#1F4E79".to_string(),
        footer: Some(
            "Thank you for your business. Please pay by ACH or wire to Northwind Analytics, Inc., \
             First National Bank, routing 121000358, account 0049 3371 85, quoting the invoice \
             number. Questions: billing@northwind.example, +1 415 555 0134."
                .to_string(),
        ),
        locale: locale.to_string(),
        email: None,
    }
}

fn date(y: i32, m: u32, d: u32) -> Result<NaiveDate, String> {
    NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| format!("invalid date {y}-{m}-{d}"))
}

/// (product, price in USD, quantity, line type)
const PRODUCTS: [(&str, &str, &str, LineType); 6] = [
    ("Team plan", "129.50", "12", LineType::Recurring),
    (
        "Data warehouse connector",
        "249.00",
        "1",
        LineType::Recurring,
    ),
    ("API requests usage", "0.0005", "125000", LineType::Usage),
    ("Priority support", "99.00", "1", LineType::Evergreen),
    (
        "Onboarding workshop one-time charge",
        "750.00",
        "1",
        LineType::OneTime,
    ),
    (
        "Additional storage (100 GB)",
        "15.00",
        "3",
        LineType::Recurring,
    ),
];

/// A document of `lines` lines in `currency` (prices converted at a fixed rate) for the
/// `locale`, dated 2024-02-01, with 8.25 % tax, an adjustment among every six lines.
pub fn invoice(currency: &str, locale: &str, lines: usize) -> Result<Sample, String> {
    let currency = Currency::parse(currency)?;
    let rate: Decimal = match currency.code() {
        "EUR" => "0.92",
        "GBP" => "0.79",
        "JPY" => "150.5",
        "KWD" => "0.307",
        _ => "1",
    }
    .parse()
    .map_err(|e| format!("{e}"))?;
    let invoice_date = date(2024, 2, 1)?;
    let mut out = Vec::with_capacity(lines);
    for i in 0..lines {
        let (product, price, qty, line_type) = PRODUCTS[i % PRODUCTS.len()];
        let months_back = (i / PRODUCTS.len()) as u32;
        let start = invoice_date
            .checked_sub_months(Months::new(months_back))
            .ok_or("date out of range")?;
        let end = start
            .checked_add_months(Months::new(1))
            .ok_or("date out of range")?;
        let price: Decimal = price.parse().map_err(|e| format!("{e}"))?;
        let qty: Decimal = qty.parse().map_err(|e| format!("{e}"))?;
        let amount = currency.round(price * qty * rate);
        let (description, period_start, period_end) = match line_type {
            LineType::OneTime => (product.to_string(), Some(start), None),
            LineType::Usage => (product.to_string(), None, Some(end)),
            _ => (format!("{product} {start} – {end}"), Some(start), Some(end)),
        };
        out.push(Line {
            charge_id: None,
            subscription_id: None,
            adjustment_id: None,
            line_type,
            description,
            period_start,
            period_end,
            quantity: qty,
            amount,
            credits_document: None,
            credits_document_id: None,
            gl_account: None,
        });
        if i % 6 == 5 && out.len() < lines {
            out.push(Line {
                charge_id: None,
                subscription_id: None,
                adjustment_id: None,
                line_type: LineType::Adjustment,
                description: "Service credit for the Jan 18 outage".to_string(),
                period_start: Some(start),
                period_end: None,
                quantity: Decimal::ONE,
                amount: currency.round(Decimal::new(-2500, 2) * rate),
                credits_document: None,
                credits_document_id: None,
                gl_account: None,
            });
        }
    }
    out.truncate(lines);
    document(
        currency,
        locale,
        DocumentKind::Invoice,
        "INV-000001042",
        out,
    )
}

/// A credit memo for a subscription shortened mid-period, crediting two invoices.
pub fn credit_memo(currency: &str, locale: &str) -> Result<Sample, String> {
    let currency = Currency::parse(currency)?;
    let credit = |product: &str, s: NaiveDate, e: NaiveDate, amount: &str, inv: &str| {
        Ok::<Line, String>(Line {
            charge_id: None,
            subscription_id: None,
            adjustment_id: None,
            line_type: LineType::Recurring,
            description: format!("Credit: {product} {s} – {e}"),
            period_start: Some(s),
            period_end: Some(e),
            quantity: Decimal::ONE,
            amount: currency.round(amount.parse().map_err(|e| format!("{e}"))?),
            credits_document: Some(Some(inv.to_string())),
            credits_document_id: None,
            gl_account: None,
        })
    };
    let lines = vec![
        credit(
            "Team plan",
            date(2024, 1, 20)?,
            date(2024, 2, 1)?,
            "-50.13",
            "INV-000000977",
        )?,
        credit(
            "Team plan",
            date(2024, 2, 1)?,
            date(2024, 3, 1)?,
            "-129.50",
            "INV-000001003",
        )?,
    ];
    document(
        currency,
        locale,
        DocumentKind::CreditMemo,
        "CM-000000088",
        lines,
    )
}

fn document(
    currency: Currency,
    locale: &str,
    kind: DocumentKind,
    number: &str,
    lines: Vec<Line>,
) -> Result<Sample, String> {
    let tax_rate: Decimal = "0.0825".parse().map_err(|e| format!("{e}"))?;
    let totals = Totals::compute(&lines, currency, tax_rate).ok_or("amount overflow")?;
    let account_id = AccountId::parse("A-1001")?;
    let address = |name: &str, line1: &str, city: &str, state: &str, zip: &str| Address {
        name: Some(name.to_string()),
        line1: Some(line1.to_string()),
        line2: None,
        city: Some(city.to_string()),
        state: Some(state.to_string()),
        postal_code: Some(zip.to_string()),
        country: Some("United States".to_string()),
        ..Address::default()
    };
    let account = Account {
        id: account_id.clone(),
        name: "Contoso Retail Group".to_string(),
        currency,
        bill_cycle_day: BillCycleDay::new(1)?,
        batch: None,
        payment_term_days: 30,
        payment_term_name: Some("Net 30".to_string()),
        tax_rate,
        bill_to: Some(address(
            "Contoso Retail Group — Accounts Payable",
            "1200 Harbor Boulevard",
            "Portland",
            "OR",
            "97209",
        )),
        ship_to: Some(address(
            "Contoso Retail Group — IT Operations",
            "88 Industrial Way, Building C",
            "Reno",
            "NV",
            "89502",
        )),
        location_id: None,
        subrun: None,
        gl_accounts: Default::default(),
    };
    let invoice_date = date(2024, 2, 1)?;
    let document = Document {
        id: DocumentId(uuid::Uuid::from_u128(
            0x5eed_0000_0000_4000_8000_0000_0000_1042,
        )),
        number: Some(number.to_string()),
        kind,
        run_id: RunId(uuid::Uuid::from_u128(
            0x5eed_0000_0000_4000_8000_0000_0000_0001,
        )),
        account_id,
        group_key: "A-1001".to_string(),
        currency,
        invoice_date,
        due_date: date(2024, 3, 2)?,
        status: DocumentStatus::Posted,
        invoice_message: None,
        lines,
        gl_accounts: Default::default(),
        totals,
    };
    Ok(Sample {
        document,
        account,
        template: demo_template(locale),
        context: RenderContext {
            invoice_message: Some(
                "Your plan renews on March 1, 2024. Usage is billed in arrears for the previous \
                 month."
                    .to_string(),
            ),
            credited_invoices: Vec::new(),
        },
    })
}
