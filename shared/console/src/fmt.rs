//! Amounts and times as the console shows them. Amounts go through the PDFs' own
//! formatter ([`billrun_documents::format::money`]), so a total reads the same on the
//! page as on the invoice.

use billrun_documents::format::{money, CurrencyMark, Locale};
use billrun_domain::money::Currency;
use maud::{html, Markup};
use rust_decimal::Decimal;
use serde_json::Value;

/// `amount` (a decimal string) of `currency` (ISO 4217) as the PDFs print it; the
/// raw text when either does not parse.
pub fn amount(amount: &str, currency: &str) -> String {
    match (amount.parse::<Decimal>(), Currency::parse(currency)) {
        (Ok(a), Ok(c)) => money(a, c, Locale::EnUs, &CurrencyMark::as_on_documents(c)),
        _ => format!("{amount} {currency}"),
    }
}

/// A JSON field's text ("" when absent).
pub fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

pub fn count(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// An RFC 3339 instant as minutes in the visitor's time zone with its abbreviation
/// (`2024-02-01 07:00 EST`; [`crate::zone`]), the exact instant in UTC on hover and for
/// machines.
pub fn instant(raw: &str) -> Markup {
    match chrono::DateTime::parse_from_rfc3339(raw) {
        Ok(t) => {
            let t = t.with_timezone(&chrono::Utc);
            let shown = crate::zone::current()
                .and_then(|z| z.rules())
                .and_then(|r| r.local_named(t))
                .map(|(local, abbreviation)| {
                    format!("{} {abbreviation}", local.format("%Y-%m-%d %H:%M"))
                })
                .unwrap_or_else(|| format!("{} UTC", t.format("%Y-%m-%d %H:%M")));
            html! {
                time datetime=(t.to_rfc3339()) title=(t.format("%Y-%m-%d %H:%M:%S UTC")) { (shown) }
            }
        }
        Err(_) => html! { (raw) },
    }
}

/// A number with thousands separators: `1,844`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_as_on_the_pdfs_and_counts_have_separators() {
        assert_eq!(amount("1234.5", "USD"), "$1,234.50");
        assert_eq!(amount("x", "USD"), "x USD");
        assert_eq!(thousands(1844), "1,844");
        assert_eq!(thousands(12), "12");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
