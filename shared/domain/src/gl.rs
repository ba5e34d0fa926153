//! General-ledger account codes: the optional codes a book gives charges and accounts
//! (docs/book-format.md "GL accounts"), and the placeholders a journal uses where the
//! book gives none (docs/accounting.md).

use crate::error::FieldError;
use serde::{Deserialize, Serialize};

/// Longest GL account code, in bytes: ledgers use short codes ("4000", "1200-US").
pub const MAX_GL_CODE: usize = 32;

/// The journal's account where neither the charge nor the account names a revenue code.
pub const PLACEHOLDER_REVENUE: &str = "REVENUE";
/// The journal's account where the account names no receivable code.
pub const PLACEHOLDER_RECEIVABLE: &str = "RECEIVABLE";
/// The journal's account where the account names no tax payable code.
pub const PLACEHOLDER_TAX_PAYABLE: &str = "TAX_PAYABLE";

/// Why a GL code is refused, or `None` when it is a valid code: not blank, at most
/// [`MAX_GL_CODE`] bytes, no control characters (it is a CSV cell and a ledger key).
pub fn code_problem(v: &str) -> Option<String> {
    if v.trim().is_empty() {
        Some("must not be empty".to_string())
    } else if v.len() > MAX_GL_CODE {
        Some(format!("must be at most {MAX_GL_CODE} bytes"))
    } else if v.chars().any(char::is_control) {
        Some("must not contain control characters".to_string())
    } else {
        None
    }
}

/// An account's GL codes (`"glAccounts"` on an account of the book). A document keeps
/// its account's codes as they were when it was rated, so a later book change does not
/// rewrite a posted journal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GlAccounts {
    /// Debited with the documents' totals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receivable: Option<String>,
    /// Credited with the documents' tax.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_payable: Option<String>,
    /// Credited with the lines whose charge names no code of its own (adjustments,
    /// installments included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue: Option<String>,
}

impl GlAccounts {
    pub fn is_empty(&self) -> bool {
        self.receivable.is_none() && self.tax_payable.is_none() && self.revenue.is_none()
    }

    /// Checks each code, naming `{p}.receivable` and so on.
    pub fn validate(&self, p: &str) -> Result<(), FieldError> {
        for (f, v) in [
            ("receivable", &self.receivable),
            ("taxPayable", &self.tax_payable),
            ("revenue", &self.revenue),
        ] {
            if let Some(problem) = v.as_deref().and_then(code_problem) {
                return Err(FieldError::new(format!("{p}.{f}"), problem));
            }
        }
        Ok(())
    }

    pub fn receivable_or_placeholder(&self) -> &str {
        self.receivable.as_deref().unwrap_or(PLACEHOLDER_RECEIVABLE)
    }

    pub fn tax_payable_or_placeholder(&self) -> &str {
        self.tax_payable
            .as_deref()
            .unwrap_or(PLACEHOLDER_TAX_PAYABLE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_short_printable_and_not_blank() {
        assert_eq!(code_problem("4000"), None);
        assert_eq!(code_problem("4000-US sales"), None);
        assert_eq!(code_problem(&"9".repeat(MAX_GL_CODE)), None);
        assert_eq!(code_problem(" ").as_deref(), Some("must not be empty"));
        assert!(code_problem(&"9".repeat(MAX_GL_CODE + 1)).is_some());
        assert!(code_problem("40\n00").is_some());
        assert!(code_problem("40\u{7f}").is_some());
    }

    #[test]
    fn the_first_bad_code_is_named_by_its_path() {
        let gl = GlAccounts {
            receivable: Some("1200".into()),
            tax_payable: Some(String::new()),
            revenue: None,
        };
        let e = gl.validate("accounts[2].glAccounts").unwrap_err();
        assert_eq!(e.field, "accounts[2].glAccounts.taxPayable");
    }
}
