//! Money, quantities, percentages and dates as a locale writes them.
//!
//! Locales are a fixed table (no ICU): `en-US`, `en-GB`, `de-DE`, `fr-FR`. They decide
//! separators, where the currency goes and how dates read; the labels of a document stay
//! English. Amounts are `Decimal` throughout, rounded once to the currency's minor unit
//! (half away from zero, `Currency::round`) and never pass through floating point.
//!
//! Currency symbols: a currency is written with its symbol (`$`, `€`, `£`, `¥`...) when
//! the symbol is unambiguous and the embedded font has a glyph for every character of it,
//! else with its ISO 4217 code (`KWD 1,234.567`: Liberation Sans has no Arabic glyphs for
//! `د.ك`; `CAD 10.00`: `$` alone would read as US dollars). The glyph check is made on the
//! embedded font's character map (see [`crate::fonts`]), so changing the font changes the
//! choice. Emails write amounts as the PDFs do in builds without the fonts too (feature
//! `render` off): [`CurrencyMark::as_on_documents`] reads the fonts' coverage of currency
//! symbols from a list, which a test of `fonts` checks against the character map for
//! every currency.

use billrun_domain::money::Currency;
use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use std::fmt;

/// A locale billrun can format for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Locale {
    EnUs,
    EnGb,
    DeDe,
    FrFr,
}

/// The locale tag is not one of those billrun formats for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported locale '{0}' (supported: en-US, en-GB, de-DE, fr-FR)")]
pub struct UnsupportedLocale(pub String);

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Narrow no-break space: the French thousands separator.
const NNBSP: char = '\u{202F}';
/// Between an amount and its currency or percent sign: a plain space (a PDF line never
/// reflows, and text extracted from it then matches what a reader types).
const SPACE: char = ' ';

impl Locale {
    /// Parses a BCP 47 tag (`en-US`; `en_us` is accepted too).
    pub fn parse(tag: &str) -> Result<Locale, UnsupportedLocale> {
        match tag.trim().replace('_', "-").to_ascii_lowercase().as_str() {
            "en-us" | "en" => Ok(Locale::EnUs),
            "en-gb" => Ok(Locale::EnGb),
            "de-de" | "de" => Ok(Locale::DeDe),
            "fr-fr" | "fr" => Ok(Locale::FrFr),
            _ => Err(UnsupportedLocale(tag.to_string())),
        }
    }

    /// The BCP 47 tag, as written into the PDF's metadata.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::EnUs => "en-US",
            Locale::EnGb => "en-GB",
            Locale::DeDe => "de-DE",
            Locale::FrFr => "fr-FR",
        }
    }

    fn decimal_separator(self) -> char {
        match self {
            Locale::EnUs | Locale::EnGb => '.',
            Locale::DeDe | Locale::FrFr => ',',
        }
    }

    fn group_separator(self) -> char {
        match self {
            Locale::EnUs | Locale::EnGb => ',',
            Locale::DeDe => '.',
            Locale::FrFr => NNBSP,
        }
    }

    /// Whether the currency follows the amount (`1.234,56 €`) rather than leads it.
    fn currency_after(self) -> bool {
        matches!(self, Locale::DeDe | Locale::FrFr)
    }

    /// Letter paper for the US, A4 elsewhere (width, height in points).
    pub fn page_size(self) -> (f32, f32) {
        match self {
            Locale::EnUs => (612.0, 792.0),
            _ => (595.28, 841.89),
        }
    }

    /// `Feb 1, 2024` (en-US), `1 Feb 2024` (en-GB), `01.02.2024` (de-DE),
    /// `01/02/2024` (fr-FR).
    pub fn date(self, d: NaiveDate) -> String {
        let month = MONTHS[d.month0() as usize % 12];
        match self {
            Locale::EnUs => format!("{month} {}, {}", d.day(), d.year()),
            Locale::EnGb => format!("{} {month} {}", d.day(), d.year()),
            Locale::DeDe => format!("{:02}.{:02}.{}", d.day(), d.month(), d.year()),
            Locale::FrFr => format!("{:02}/{:02}/{}", d.day(), d.month(), d.year()),
        }
    }

    /// A decimal with exactly `scale` decimals, grouped: `1,234.56` / `1.234,56`.
    /// The sign is left to the caller.
    fn digits(self, abs: Decimal, scale: u32) -> String {
        let mut v = abs;
        v.rescale(scale);
        let s = v.to_string();
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (s.as_str(), None),
        };
        let mut out = String::with_capacity(s.len() + s.len() / 3 + 1);
        let n = int.len();
        for (i, c) in int.chars().enumerate() {
            if i > 0 && (n - i) % 3 == 0 {
                out.push(self.group_separator());
            }
            out.push(c);
        }
        if let Some(f) = frac {
            out.push(self.decimal_separator());
            out.push_str(f);
        }
        out
    }

    /// A quantity without trailing zeros: `1`, `12.5`, `1,000` (de-DE `12,5`, `1.000`).
    pub fn quantity(self, q: Decimal) -> String {
        let n = q.normalize();
        let sign = if n.is_sign_negative() && !n.is_zero() {
            "-"
        } else {
            ""
        };
        format!("{sign}{}", self.digits(n.abs(), n.scale()))
    }

    /// A fraction as a percentage: 0.0825 → `8.25%` (de-DE, fr-FR `8,25 %`).
    pub fn percent(self, fraction: Decimal) -> String {
        let p = (fraction * Decimal::ONE_HUNDRED).normalize();
        let digits = self.digits(p.abs(), p.scale());
        let sign = if p.is_sign_negative() && !p.is_zero() {
            "-"
        } else {
            ""
        };
        match self {
            Locale::EnUs | Locale::EnGb => format!("{sign}{digits}%"),
            Locale::DeDe | Locale::FrFr => format!("{sign}{digits}{SPACE}%"),
        }
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

/// How a currency is written: its symbol, or its ISO code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CurrencyMark {
    Symbol(String),
    Code(&'static str),
}

/// Symbols several currencies share: only their best-known owner may use them.
const SHARED_SYMBOLS: [(&str, &str); 5] = [
    ("$", "USD"),
    ("¥", "JPY"),
    ("£", "GBP"),
    ("kr", ""),
    ("Fr", ""),
];

impl CurrencyMark {
    /// The symbol when it is unambiguous and `has_glyph` holds for each of its
    /// characters, else the ISO code.
    pub fn choose(currency: Currency, has_glyph: impl Fn(char) -> bool) -> CurrencyMark {
        let code = currency.code();
        let symbol = currency.symbol();
        let ambiguous = SHARED_SYMBOLS
            .iter()
            .any(|(s, owner)| symbol == *s && *owner != code);
        let usable = !symbol.is_empty()
            && symbol != code
            && !ambiguous
            && !symbol.chars().all(|c| c.is_ascii_alphabetic())
            && symbol.chars().all(has_glyph);
        if usable {
            CurrencyMark::Symbol(symbol)
        } else {
            CurrencyMark::Code(code)
        }
    }
}

/// The characters beyond ASCII, of any ISO 4217 currency symbol, that both embedded
/// faces draw (they draw all of printable ASCII). `fonts::tests` derives the same set from
/// the fonts' character maps and fails, printing the right list, when the two differ.
/// (U+0332, a combining low line, is part of the Kyrgyzstani som's `С̲`.)
const SYMBOL_GLYPHS_BEYOND_ASCII: &str = "£¤¥čłƒ\u{332}Свдеилн₡₣₦₨₩₪₫€₭₮₱₲₴₵";

impl CurrencyMark {
    /// How the PDFs write `currency` ([`crate::fonts::currency_mark`] in a build that
    /// renders), known without the fonts: what emails use, so that an amount reads the
    /// same in the email as on its PDF.
    pub fn as_on_documents(currency: Currency) -> CurrencyMark {
        CurrencyMark::choose(currency, |c| {
            c.is_ascii_graphic() || SYMBOL_GLYPHS_BEYOND_ASCII.contains(c)
        })
    }
}

/// Formats an amount of `currency` for `locale`, rounded to the currency's minor unit:
/// `$1,234.56`, `-$10.00`, `1.234,56 €`, `¥1,235`, `KWD 1,234.567`.
pub fn money(amount: Decimal, currency: Currency, locale: Locale, mark: &CurrencyMark) -> String {
    let rounded = currency.round(amount);
    let negative = rounded.is_sign_negative() && !rounded.is_zero();
    let digits = locale.digits(rounded.abs(), currency.minor_units());
    let sign = if negative { "-" } else { "" };
    match (mark, locale.currency_after()) {
        (CurrencyMark::Symbol(s), false) => format!("{sign}{s}{digits}"),
        (CurrencyMark::Code(c), false) => format!("{sign}{c}{SPACE}{digits}"),
        (CurrencyMark::Symbol(s), true) => format!("{sign}{digits}{SPACE}{s}"),
        (CurrencyMark::Code(c), true) => format!("{sign}{digits}{SPACE}{c}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    /// The embedded font's coverage, as the renderer uses it (`fonts::tests` checks that
    /// the list of `as_on_documents` is that coverage, so these run without the fonts).
    fn fmt(amount: &str, code: &str, locale: Locale) -> String {
        let c = cur(code);
        let mark = CurrencyMark::as_on_documents(c);
        money(d(amount), c, locale, &mark).replace(NNBSP, " ")
    }

    #[test]
    fn us_dollars_in_en_us_have_a_leading_symbol_and_comma_groups() {
        assert_eq!(fmt("1234.56", "USD", Locale::EnUs), "$1,234.56");
        assert_eq!(fmt("0", "USD", Locale::EnUs), "$0.00");
        assert_eq!(fmt("1234567.5", "USD", Locale::EnUs), "$1,234,567.50");
        assert_eq!(fmt("999.999", "USD", Locale::EnUs), "$1,000.00");
    }

    #[test]
    fn negative_amounts_put_the_sign_before_the_currency() {
        assert_eq!(fmt("-10", "USD", Locale::EnUs), "-$10.00");
        assert_eq!(fmt("-1234.5", "EUR", Locale::DeDe), "-1.234,50 €");
        assert_eq!(fmt("-1.5", "KWD", Locale::EnUs), "-KWD 1.500");
    }

    #[test]
    fn a_negative_amount_that_rounds_to_zero_prints_as_zero() {
        assert_eq!(fmt("-0.001", "USD", Locale::EnUs), "$0.00");
    }

    #[test]
    fn euros_in_de_de_follow_the_amount_with_dot_groups_and_decimal_comma() {
        assert_eq!(fmt("1234.56", "EUR", Locale::DeDe), "1.234,56 €");
        assert_eq!(fmt("1234.56", "EUR", Locale::EnUs), "€1,234.56");
        assert_eq!(fmt("1234.56", "EUR", Locale::FrFr), "1 234,56 €");
    }

    #[test]
    fn yen_have_no_decimals_and_round_half_away_from_zero() {
        assert_eq!(fmt("1234.5", "JPY", Locale::EnUs), "¥1,235");
        assert_eq!(fmt("1234.5", "JPY", Locale::DeDe), "1.235 ¥");
    }

    #[test]
    fn kuwaiti_dinars_use_the_iso_code_because_the_font_has_no_arabic_glyphs() {
        #[cfg(feature = "render")]
        assert!(!cur("KWD").symbol().chars().all(crate::fonts::has_glyph));
        assert_eq!(fmt("1234.567", "KWD", Locale::EnUs), "KWD 1,234.567");
        assert_eq!(fmt("1234.567", "KWD", Locale::DeDe), "1.234,567 KWD");
    }

    #[test]
    fn a_shared_symbol_is_only_used_by_its_best_known_owner() {
        assert_eq!(fmt("10", "GBP", Locale::EnGb), "£10.00");
        assert_eq!(fmt("10", "CAD", Locale::EnUs), "CAD 10.00");
    }

    #[test]
    fn quantities_drop_trailing_zeros_and_follow_the_locale() {
        assert_eq!(Locale::EnUs.quantity(d("1.000")), "1");
        assert_eq!(Locale::EnUs.quantity(d("1000")), "1,000");
        assert_eq!(Locale::DeDe.quantity(d("12.50")), "12,5");
        assert_eq!(Locale::DeDe.quantity(d("1234.5")), "1.234,5");
    }

    #[test]
    fn percentages_follow_the_locale() {
        assert_eq!(Locale::EnUs.percent(d("0.0825")), "8.25%");
        assert_eq!(Locale::DeDe.percent(d("0.19")), "19 %");
        assert_eq!(Locale::EnUs.percent(d("0")), "0%");
    }

    #[test]
    fn dates_read_as_each_locale_writes_them() {
        let date = NaiveDate::from_ymd_opt(2024, 2, 1).unwrap();
        assert_eq!(Locale::EnUs.date(date), "Feb 1, 2024");
        assert_eq!(Locale::EnGb.date(date), "1 Feb 2024");
        assert_eq!(Locale::DeDe.date(date), "01.02.2024");
        assert_eq!(Locale::FrFr.date(date), "01/02/2024");
    }

    #[test]
    fn locale_tags_parse_case_insensitively_and_unknown_ones_are_refused() {
        assert_eq!(Locale::parse("en-US"), Ok(Locale::EnUs));
        assert_eq!(Locale::parse("de_de"), Ok(Locale::DeDe));
        assert!(Locale::parse("xx-YY").is_err());
    }
}
