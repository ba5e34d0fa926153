//! The invoice document template: the seller block and the look of a document, as
//! `PUT /v1/document-templates/{id}` receives it:
//!
//! ```json
//! {"companyName": "Acme Analytics Inc.",
//!  "address": {"line1": "500 Market Street", "city": "San Francisco",
//!              "postalCode": "94105", "country": "United States"},
//!  "taxId": "US 12-3456789", "logoPngBase64": "iVBORw0…", "accentColor": "#1F4E79",
//!  "footer": "Thank you for your business.", "locale": "en-US",
//!  "email": {"subject": "Invoice {number} from {company}", "replyTo": "billing@acme.example"}}
//! ```
//!
//! `email` (optional, every field of it too) says what the email carrying a document
//! reads: [`crate::email`].

use crate::email::TemplateEmail;
use crate::format::Locale;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// Longest decoded logo, in bytes.
pub const MAX_LOGO_BYTES: usize = 512 * 1024;
const MAX_TEXT: usize = 200;
const MAX_FOOTER: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DocumentTemplate {
    pub company_name: String,
    #[serde(default)]
    pub address: TemplateAddress,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_id: Option<String>,
    /// A PNG image, base64 (standard alphabet, padded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_png_base64: Option<String>,
    /// `#RRGGBB`.
    #[serde(default = "default_accent")]
    pub accent_color: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footer: Option<String>,
    /// `en-US`, `en-GB`, `de-DE` or `fr-FR` (see [`Locale`]).
    #[serde(default = "default_locale")]
    pub locale: String,
    /// The email that carries a document; absent, the defaults ([`crate::email`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<TemplateEmail>,
}

fn default_accent() -> String {
    "#1F4E79".to_string()
}

fn default_locale() -> String {
    "en-US".to_string()
}

/// What is wrong with a template: the field (camelCase path) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct TemplateError {
    pub field: String,
    pub message: String,
}

fn err(field: &str, message: impl Into<String>) -> TemplateError {
    TemplateError {
        field: field.to_string(),
        message: message.into(),
    }
}

/// A colour as 8-bit sRGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// Parses `#RRGGBB`.
    pub fn parse(s: &str) -> Option<Rgb> {
        let hex = s.strip_prefix('#')?;
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let c = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        Some(Rgb(c(0)?, c(2)?, c(4)?))
    }

    /// This colour mixed with white: `amount` 0 is white, 1 is the colour.
    pub fn tint(self, amount: f32) -> Rgb {
        let mix = |c: u8| {
            (255.0 - (255.0 - f32::from(c)) * amount)
                .round()
                .clamp(0.0, 255.0) as u8
        };
        Rgb(mix(self.0), mix(self.1), mix(self.2))
    }
}

impl DocumentTemplate {
    /// Parses and validates a template from its JSON body.
    pub fn from_json(bytes: &[u8]) -> Result<DocumentTemplate, TemplateError> {
        let t: DocumentTemplate =
            serde_json::from_slice(bytes).map_err(|e| err("", e.to_string()))?;
        t.validate()?;
        Ok(t)
    }

    /// Checks every field; the first problem is reported with its field path.
    pub fn validate(&self) -> Result<(), TemplateError> {
        let text = |field: &str, v: &str, max: usize| {
            if v.chars().count() > max {
                Err(err(field, format!("must be at most {max} characters")))
            } else {
                Ok(())
            }
        };
        if self.company_name.trim().is_empty() {
            return Err(err("companyName", "must not be empty"));
        }
        text("companyName", &self.company_name, MAX_TEXT)?;
        let a = &self.address;
        for (field, v) in [
            ("address.line1", &a.line1),
            ("address.line2", &a.line2),
            ("address.city", &a.city),
            ("address.postalCode", &a.postal_code),
            ("address.country", &a.country),
            ("taxId", &self.tax_id),
        ] {
            if let Some(v) = v {
                text(field, v, MAX_TEXT)?;
            }
        }
        if let Some(f) = &self.footer {
            text("footer", f, MAX_FOOTER)?;
        }
        self.accent()?;
        self.parsed_locale()?;
        self.logo_png()?;
        if let Some(e) = &self.email {
            e.validate()?;
        }
        Ok(())
    }

    pub fn accent(&self) -> Result<Rgb, TemplateError> {
        Rgb::parse(&self.accent_color).ok_or_else(|| err("accentColor", "must be a colour #RRGGBB"))
    }

    pub fn parsed_locale(&self) -> Result<Locale, TemplateError> {
        Locale::parse(&self.locale).map_err(|e| err("locale", e.to_string()))
    }

    /// The decoded logo, checked to be a PNG of at most [`MAX_LOGO_BYTES`].
    pub fn logo_png(&self) -> Result<Option<Vec<u8>>, TemplateError> {
        let Some(b64) = &self.logo_png_base64 else {
            return Ok(None);
        };
        if b64.len() > MAX_LOGO_BYTES * 4 / 3 + 4 {
            return Err(err(
                "logoPngBase64",
                format!("must be at most {MAX_LOGO_BYTES} bytes"),
            ));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| err("logoPngBase64", format!("is not base64: {e}")))?;
        if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Err(err("logoPngBase64", "is not a PNG image"));
        }
        Ok(Some(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_without_logo_parses_with_defaults_for_missing_fields() {
        let t = DocumentTemplate::from_json(
            br##"{"companyName": "Acme", "address": {"line1": "1 Main St", "city": "Springfield",
                 "postalCode": "12345", "country": "US"}, "taxId": "US-1",
                 "accentColor": "#1F4E79", "footer": "Thanks", "locale": "en-US"}"##,
        )
        .unwrap();
        assert_eq!(t.accent().unwrap(), Rgb(0x1F, 0x4E, 0x79));
        let minimal = DocumentTemplate::from_json(br#"{"companyName": "Acme"}"#).unwrap();
        assert_eq!(minimal.locale, "en-US");
        assert_eq!(minimal.accent_color, "#1F4E79");
    }

    #[test]
    fn a_bad_colour_locale_or_logo_is_refused_with_its_field() {
        let field = |json: &str| {
            DocumentTemplate::from_json(json.as_bytes())
                .unwrap_err()
                .field
        };
        assert_eq!(
            field(r#"{"companyName": "A", "accentColor": "blue"}"#),
            "accentColor"
        );
        assert_eq!(field(r#"{"companyName": "A", "locale": "tlh"}"#), "locale");
        assert_eq!(
            field(r#"{"companyName": "A", "logoPngBase64": "bm90IGEgcG5n"}"#),
            "logoPngBase64"
        );
        assert_eq!(field(r#"{"companyName": " "}"#), "companyName");
    }

    #[test]
    fn tints_move_towards_white() {
        assert_eq!(Rgb(0, 0, 0).tint(0.0), Rgb(255, 255, 255));
        assert_eq!(Rgb(10, 20, 30).tint(1.0), Rgb(10, 20, 30));
    }
}
