//! The canonical run request (docs/book-format.md "Run request"), parsed and validated.

use crate::book::Account;
use crate::calendar::{check_date, BillCycleDay};
use crate::document::DocumentStatus;
use crate::error::{parse_json, FieldError};
use crate::ids::AccountId;
use crate::money::Currency;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub const MAX_FILTER_VALUES: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum RunType {
    #[default]
    Immediate,
    Scheduled,
    Manual,
    /// A dry run: rated like the others, its documents kept for review only (no number,
    /// no billing state moved, never posted), and expiring.
    Preview,
}

impl RunType {
    /// Whether a run of this type is started (and planned) as soon as it is created.
    pub fn starts_at_once(self) -> bool {
        matches!(self, RunType::Immediate | RunType::Preview)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum InvoiceDateType {
    #[default]
    TargetDate,
    ReadyForInvoiceDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Grouping {
    #[default]
    Account,
    Subscription,
    Location,
}

/// Charge types a run may leave unbilled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ExcludableType {
    Recurring,
    OneTime,
    Usage,
    Adjustment,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Filters {
    #[serde(default)]
    pub account_ids: Vec<AccountId>,
    #[serde(default)]
    pub batches: Vec<String>,
    #[serde(default)]
    pub bill_cycle_days: Vec<BillCycleDay>,
    #[serde(default)]
    pub product_ids: Vec<String>,
    #[serde(default)]
    pub location_ids: Vec<String>,
    #[serde(default)]
    pub currencies: Vec<Currency>,
}

impl Filters {
    /// Whether an account passes the account-level filters (ids, batches, bill cycle
    /// days, currencies). An account without a batch does not match a batch filter.
    pub fn selects(
        &self,
        id: &AccountId,
        batch: Option<&str>,
        bcd: BillCycleDay,
        currency: Currency,
    ) -> bool {
        (self.account_ids.is_empty() || self.account_ids.contains(id))
            && (self.batches.is_empty()
                || batch.is_some_and(|b| self.batches.iter().any(|x| x == b)))
            && (self.bill_cycle_days.is_empty() || self.bill_cycle_days.contains(&bcd))
            && (self.currencies.is_empty() || self.currencies.contains(&currency))
    }
}

/// The accounts a run selects: its account-level filters and its subrun (a run with a
/// subrun selects only the accounts of that subrun; without one, accounts whatever
/// their subrun). Product and location filters act on subscriptions, when rating.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountSelection {
    pub filters: Filters,
    pub subrun: Option<String>,
}

impl AccountSelection {
    pub fn selects(&self, a: &Account) -> bool {
        self.filters
            .selects(&a.id, a.batch.as_deref(), a.bill_cycle_day, a.currency)
            && self
                .subrun
                .as_ref()
                .is_none_or(|s| a.subrun.as_ref() == Some(s))
    }
}

impl From<Filters> for AccountSelection {
    fn from(filters: Filters) -> Self {
        AccountSelection {
            filters,
            subrun: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub run_type: RunType,
    #[serde(default)]
    pub scheduled_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub target_date: Option<NaiveDate>,
    #[serde(default)]
    pub invoice_date: Option<NaiveDate>,
    #[serde(default)]
    pub invoice_date_type: InvoiceDateType,
    #[serde(default)]
    pub process_from: Option<NaiveDate>,
    #[serde(default)]
    pub process_to: Option<NaiveDate>,
    #[serde(default)]
    pub usage_cutoff_date: Option<NaiveDate>,
    #[serde(default)]
    pub transaction_cutoff_date: Option<NaiveDate>,
    #[serde(default)]
    pub due_date: Option<NaiveDate>,
    #[serde(default)]
    pub filters: Filters,
    #[serde(default)]
    pub charge_types_excluded: Vec<ExcludableType>,
    #[serde(default)]
    pub grouping: Grouping,
    #[serde(default)]
    pub suppress_zero_invoices: bool,
    #[serde(default)]
    pub auto_approve: bool,
    #[serde(default)]
    pub auto_post: bool,
    #[serde(default)]
    pub invoice_message: Option<String>,
    #[serde(default)]
    pub subrun: Option<String>,
    /// Renews auto-renewing subscriptions whose term ended by `T` before rating them
    /// (docs/billing-rules.md "Terms and renewals").
    #[serde(default)]
    pub renew_subscriptions: bool,
    /// Emails each document once the run is Posted (auto-post included).
    #[serde(default)]
    pub auto_email: bool,
    /// Whether invoices with a total of zero are emailed (Zuora's meaning: the invoice
    /// exists either way; `suppressZeroInvoices` decides whether it is generated).
    #[serde(default = "yes")]
    pub email_zero_amount_invoices: bool,
}

pub(crate) fn yes() -> bool {
    true
}

impl RunRequest {
    /// Every field's wire name, in the order of the API reference: the one list a use
    /// case that compares or restricts fields by name reads (a unit test checks it
    /// against what the type serializes).
    pub const FIELDS: [&'static str; 22] = [
        "name",
        "runType",
        "scheduledAt",
        "targetDate",
        "invoiceDate",
        "invoiceDateType",
        "processFrom",
        "processTo",
        "usageCutoffDate",
        "transactionCutoffDate",
        "dueDate",
        "filters",
        "chargeTypesExcluded",
        "grouping",
        "suppressZeroInvoices",
        "autoApprove",
        "autoPost",
        "invoiceMessage",
        "subrun",
        "renewSubscriptions",
        "autoEmail",
        "emailZeroAmountInvoices",
    ];

    /// The fields that are dates (a subset of [`RunRequest::FIELDS`]).
    pub const DATE_FIELDS: [&'static str; 8] = [
        "scheduledAt",
        "targetDate",
        "invoiceDate",
        "processFrom",
        "processTo",
        "usageCutoffDate",
        "transactionCutoffDate",
        "dueDate",
    ];

    /// Whether the field named `f` (a wire name) is a date.
    pub fn is_date_field(f: &str) -> bool {
        Self::DATE_FIELDS.contains(&f)
    }

    /// Parses, validates and fills in defaults (`targetDate` = `processTo` for a
    /// ReadyForInvoiceDate run).
    pub fn parse(bytes: &[u8]) -> Result<RunRequest, FieldError> {
        let req: RunRequest = parse_json(bytes)?;
        req.validated()
    }

    /// A request for `target` with every other field at its default.
    pub fn for_target(target: NaiveDate) -> RunRequest {
        RunRequest {
            name: None,
            run_type: RunType::Immediate,
            scheduled_at: None,
            target_date: Some(target),
            invoice_date: None,
            invoice_date_type: InvoiceDateType::TargetDate,
            process_from: None,
            process_to: None,
            usage_cutoff_date: None,
            transaction_cutoff_date: None,
            due_date: None,
            filters: Filters::default(),
            charge_types_excluded: vec![],
            grouping: Grouping::Account,
            suppress_zero_invoices: false,
            auto_approve: false,
            auto_post: false,
            invoice_message: None,
            subrun: None,
            renew_subscriptions: false,
            auto_email: false,
            email_zero_amount_invoices: true,
        }
    }

    /// The accounts this run selects.
    pub fn account_selection(&self) -> AccountSelection {
        AccountSelection {
            filters: self.filters.clone(),
            subrun: self.subrun.clone(),
        }
    }

    /// The status this run's documents are written with: Posted under `autoPost`, else
    /// Approved under `autoApprove`, else Draft.
    pub fn document_status(&self) -> DocumentStatus {
        if self.auto_post {
            DocumentStatus::Posted
        } else if self.auto_approve {
            DocumentStatus::Approved
        } else {
            DocumentStatus::Draft
        }
    }

    /// The target date `T` (set on every validated request).
    pub fn target(&self) -> NaiveDate {
        self.target_date
            .or(self.process_to)
            .unwrap_or(NaiveDate::MIN)
    }

    pub fn validated(mut self) -> Result<RunRequest, FieldError> {
        let e = |f: &str, m: &str| Err(FieldError::new(f, m));
        if let Some(n) = &self.name {
            if n.len() > 256 {
                return e("name", "must be at most 256 bytes");
            }
        }
        if let Some(m) = &self.invoice_message {
            if m.len() > 2000 {
                return e("invoiceMessage", "must be at most 2000 bytes");
            }
        }
        if let Some(s) = &self.subrun {
            crate::book::subrun("subrun", s)?;
        }
        match (self.run_type, self.scheduled_at) {
            (RunType::Scheduled, None) => {
                return e("scheduledAt", "is required when runType is Scheduled")
            }
            (RunType::Immediate | RunType::Manual | RunType::Preview, Some(_)) => {
                return e("scheduledAt", "is only allowed when runType is Scheduled")
            }
            _ => {}
        }
        // A preview is never posted nor emailed: asking for it is a mistake to report,
        // not a wish to drop silently.
        if self.run_type == RunType::Preview {
            if self.auto_post {
                return e("autoPost", "is not allowed when runType is Preview");
            }
            if self.auto_email {
                return e("autoEmail", "is not allowed when runType is Preview");
            }
        }
        for (f, d) in [
            ("targetDate", self.target_date),
            ("invoiceDate", self.invoice_date),
            ("processFrom", self.process_from),
            ("processTo", self.process_to),
            ("usageCutoffDate", self.usage_cutoff_date),
            ("transactionCutoffDate", self.transaction_cutoff_date),
            ("dueDate", self.due_date),
        ] {
            if let Some(d) = d {
                check_date(d).map_err(|m| FieldError::new(f, m))?;
            }
        }
        match self.invoice_date_type {
            InvoiceDateType::TargetDate => {
                if self.target_date.is_none() {
                    return e("targetDate", "is required");
                }
                if self.process_from.is_some() {
                    return e(
                        "processFrom",
                        "is only allowed when invoiceDateType is ReadyForInvoiceDate",
                    );
                }
                if self.process_to.is_some() {
                    return e(
                        "processTo",
                        "is only allowed when invoiceDateType is ReadyForInvoiceDate",
                    );
                }
            }
            InvoiceDateType::ReadyForInvoiceDate => {
                let Some(from) = self.process_from else {
                    return e(
                        "processFrom",
                        "is required when invoiceDateType is ReadyForInvoiceDate",
                    );
                };
                let Some(to) = self.process_to else {
                    return e(
                        "processTo",
                        "is required when invoiceDateType is ReadyForInvoiceDate",
                    );
                };
                if from > to {
                    return e("processTo", "must not be before processFrom");
                }
                match self.target_date {
                    Some(t) if t != to => {
                        return e(
                            "targetDate",
                            "must equal processTo in a ReadyForInvoiceDate run",
                        )
                    }
                    _ => self.target_date = Some(to),
                }
            }
        }
        if let (Some(i), Some(d)) = (self.invoice_date, self.due_date) {
            if d < i {
                return e("dueDate", "must not be before invoiceDate");
            }
        }
        let f = &self.filters;
        for (name, len) in [
            ("accountIds", f.account_ids.len()),
            ("batches", f.batches.len()),
            ("billCycleDays", f.bill_cycle_days.len()),
            ("productIds", f.product_ids.len()),
            ("locationIds", f.location_ids.len()),
            ("currencies", f.currencies.len()),
        ] {
            if len > MAX_FILTER_VALUES {
                return Err(FieldError::new(
                    format!("filters.{name}"),
                    format!("must have at most {MAX_FILTER_VALUES} values"),
                ));
            }
        }
        for (name, list) in [
            ("batches", &f.batches),
            ("productIds", &f.product_ids),
            ("locationIds", &f.location_ids),
        ] {
            for (i, v) in list.iter().enumerate() {
                if v.trim().is_empty() || v.len() > 1024 {
                    return Err(FieldError::new(
                        format!("filters.{name}[{i}]"),
                        "must be a non-empty string of at most 1024 bytes",
                    ));
                }
            }
        }
        self.charge_types_excluded.sort();
        self.charge_types_excluded.dedup();
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `FIELDS` is every field the type serializes, and `DATE_FIELDS` exactly those
    /// whose values are dates: a field added to the type and not to the lists fails here.
    #[test]
    fn the_field_lists_name_every_field_and_every_date() {
        let d = NaiveDate::from_ymd_opt(2024, 2, 1).unwrap();
        let mut r = RunRequest::for_target(d);
        r.scheduled_at = Some(d.and_hms_opt(0, 0, 0).unwrap().and_utc());
        (r.invoice_date, r.process_from, r.process_to) = (Some(d), Some(d), Some(d));
        (r.usage_cutoff_date, r.transaction_cutoff_date, r.due_date) = (Some(d), Some(d), Some(d));
        let serde_json::Value::Object(map) = serde_json::to_value(&r).unwrap() else {
            panic!("a request serializes as an object");
        };
        let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
        let mut fields = RunRequest::FIELDS.to_vec();
        keys.sort_unstable();
        fields.sort_unstable();
        assert_eq!(keys, fields);
        for (name, value) in &map {
            let is_date = value.as_str().is_some_and(|v| {
                v.parse::<NaiveDate>().is_ok() || v.parse::<DateTime<Utc>>().is_ok()
            });
            assert_eq!(RunRequest::is_date_field(name), is_date, "{name}: {value}");
        }
    }

    fn parse(s: &str) -> Result<RunRequest, FieldError> {
        RunRequest::parse(s.as_bytes())
    }

    #[test]
    fn defaults_are_filled_in() {
        let r = parse(r#"{"targetDate": "2024-02-01"}"#).unwrap();
        assert_eq!(r.grouping, Grouping::Account);
        assert_eq!(r.run_type, RunType::Immediate);
        assert!(!r.suppress_zero_invoices && !r.auto_approve && !r.auto_post);
    }

    #[test]
    fn ready_for_invoice_date_takes_process_to_as_target() {
        let r = parse(r#"{"invoiceDateType": "ReadyForInvoiceDate", "processFrom": "2024-02-01", "processTo": "2024-02-29"}"#).unwrap();
        assert_eq!(r.target_date, Some("2024-02-29".parse().unwrap()));
        let err = parse(r#"{"invoiceDateType": "ReadyForInvoiceDate", "processFrom": "2024-02-01", "processTo": "2024-02-29", "targetDate": "2024-02-28"}"#).unwrap_err();
        assert_eq!(err.field, "targetDate");
        let err = parse(r#"{"invoiceDateType": "ReadyForInvoiceDate", "processTo": "2024-02-29"}"#)
            .unwrap_err();
        assert_eq!(err.field, "processFrom");
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(parse(r#"{}"#).unwrap_err().field, "targetDate");
        assert_eq!(
            parse(r#"{"targetDate": "2024-02-30"}"#).unwrap_err().field,
            "targetDate"
        );
        assert_eq!(
            parse(r#"{"targetDate": "2024-02-01", "bogus": 1}"#)
                .unwrap_err()
                .field,
            "bogus"
        );
        let err = parse(r#"{"targetDate": "2024-02-01", "filters": {"billCycleDays": [1, 32]}}"#)
            .unwrap_err();
        assert_eq!(err.field, "filters.billCycleDays[1]");
        let err =
            parse(r#"{"targetDate": "2024-02-01", "filters": {"currencies": ["USD", "XXQ"]}}"#)
                .unwrap_err();
        assert_eq!(err.field, "filters.currencies[1]");
        let err = parse(r#"{"targetDate": "2024-02-01", "runType": "Scheduled"}"#).unwrap_err();
        assert_eq!(err.field, "scheduledAt");
        let err = parse(r#"{"targetDate": "2024-02-01", "grouping": "Planet"}"#).unwrap_err();
        assert_eq!(err.field, "grouping");
    }
}
