//! Money: an exact decimal amount always read with its ISO 4217 currency.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// An ISO 4217 currency that has a minor unit (from the `iso_currency` table).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    pub fn parse(code: &str) -> Result<Self, String> {
        let c = iso_currency::Currency::from_code(code)
            .ok_or_else(|| format!("unknown ISO 4217 currency code '{code}'"))?;
        if c.exponent().is_none() {
            return Err(format!("'{code}' has no minor unit and cannot be invoiced"));
        }
        Ok(Self(c))
    }

    pub fn code(&self) -> &'static str {
        self.0.code()
    }

    /// Digits after the decimal point (USD 2, JPY 0, KWD 3).
    pub fn minor_units(&self) -> u32 {
        self.0.exponent().map_or(2, u32::from)
    }

    /// The currency's symbol as the ISO table gives it (`$`, `€`, `¥`).
    pub fn symbol(&self) -> String {
        self.0.symbol().to_string()
    }

    /// Rounds once to the minor unit, half away from zero, and prints with exactly that
    /// many decimals. Zero is never negative.
    pub fn round(&self, amount: Decimal) -> Decimal {
        let mu = self.minor_units();
        let mut r = amount.round_dp_with_strategy(mu, RoundingStrategy::MidpointAwayFromZero);
        r.rescale(mu);
        if r.is_zero() {
            r.set_sign_positive(true);
        }
        r
    }

    /// Zero with this currency's scale ("0.00", "0", "0.000").
    pub fn zero(&self) -> Decimal {
        self.round(Decimal::ZERO)
    }

    /// Whether `amount` needs no rounding in this currency.
    pub fn is_exact(&self, amount: Decimal) -> bool {
        amount.normalize().scale() <= self.minor_units()
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl PartialOrd for Currency {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Currency {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.code().cmp(other.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An amount with its currency. Arithmetic across currencies is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    pub amount: Decimal,
    pub currency: Currency,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("currency mismatch: {0} and {1}")]
    CurrencyMismatch(Currency, Currency),
    #[error("amount overflow")]
    Overflow,
}

impl Money {
    pub fn zero(currency: Currency) -> Self {
        Self {
            amount: currency.zero(),
            currency,
        }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money {
            amount,
            currency: self.currency,
        })
    }
}

/// Serde helpers: decimals are JSON strings.
pub mod dec {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(d)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        let s = StrOnly::deserialize(d)?;
        parse(&s.0).map_err(serde::de::Error::custom)
    }

    pub(crate) fn parse(s: &str) -> Result<Decimal, String> {
        if s.is_empty() || s.len() > 40 {
            return Err(format!("'{s}' is not a decimal string"));
        }
        let ok = s
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_digit() || b == b'.' || (i == 0 && (b == b'-' || b == b'+')));
        if !ok {
            return Err(format!("'{s}' is not a decimal string"));
        }
        s.parse::<Decimal>()
            .map_err(|_| format!("'{s}' is not a decimal string in range"))
    }

    /// A string, refusing JSON numbers (which would go through floating point).
    pub(crate) struct StrOnly(pub String);

    impl<'de> Deserialize<'de> for StrOnly {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl serde::de::Visitor<'_> for V {
                type Value = StrOnly;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a decimal as a JSON string, e.g. \"100.00\"")
                }
                fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<StrOnly, E> {
                    Ok(StrOnly(v.to_string()))
                }
            }
            d.deserialize_str(V)
        }
    }

    /// `Option<Decimal>` as an optional string.
    pub mod opt {
        use rust_decimal::Decimal;
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(d: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => s.collect_str(d),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
            let s: Option<super::StrOnly> = Option::deserialize(d)?;
            match s {
                None => Ok(None),
                Some(s) => super::parse(&s.0)
                    .map(Some)
                    .map_err(serde::de::Error::custom),
            }
        }
    }

    /// Quantities: printed normalized ("1000", "2.5").
    pub mod qty {
        use rust_decimal::Decimal;
        use serde::{Deserializer, Serializer};

        pub fn serialize<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(&d.normalize())
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
            super::deserialize(d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn minor_units_come_from_the_iso_table() {
        assert_eq!(Currency::parse("USD").unwrap().minor_units(), 2);
        assert_eq!(Currency::parse("JPY").unwrap().minor_units(), 0);
        assert_eq!(Currency::parse("KWD").unwrap().minor_units(), 3);
        assert!(Currency::parse("XYZ").is_err());
        assert!(Currency::parse("XAU").is_err(), "gold has no minor unit");
    }

    #[test]
    fn rounding_is_half_away_from_zero_at_the_minor_unit() {
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(usd.round(d("1.005")).to_string(), "1.01");
        assert_eq!(usd.round(d("-1.005")).to_string(), "-1.01");
        assert_eq!(usd.round(d("1.004999")).to_string(), "1.00");
        assert_eq!(usd.round(d("7")).to_string(), "7.00");
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(jpy.round(d("0.5")).to_string(), "1");
        assert_eq!(jpy.round(d("-0.5")).to_string(), "-1");
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!(kwd.round(d("0.0005")).to_string(), "0.001");
        assert_eq!(
            usd.round(d("-0.004")).to_string(),
            "0.00",
            "no negative zero"
        );
    }

    #[test]
    fn money_refuses_to_add_across_currencies() {
        let usd = Money::zero(Currency::parse("USD").unwrap());
        let eur = Money::zero(Currency::parse("EUR").unwrap());
        assert!(matches!(
            usd.checked_add(eur),
            Err(MoneyError::CurrencyMismatch(_, _))
        ));
    }

    #[test]
    fn decimals_must_be_strings() {
        #[derive(serde::Deserialize)]
        struct W {
            #[serde(with = "dec")]
            v: Decimal,
        }
        assert!(serde_json::from_str::<W>(r#"{"v": 1.5}"#).is_err());
        assert!(serde_json::from_str::<W>(r#"{"v": "1e5"}"#).is_err());
        assert_eq!(
            serde_json::from_str::<W>(r#"{"v": "-1.50"}"#).unwrap().v,
            d("-1.50")
        );
    }
}
