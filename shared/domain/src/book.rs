//! The book: accounts, subscriptions with charges, usage, adjustments and invoice
//! schedules, parsed from JSON (docs/book-format.md) and validated whole.

use crate::calendar::{check_date, BillCycleDay, BillingPeriod};
use crate::error::{parse_json, FieldError, SUBFIELD_MARK};
use crate::gl::{self, GlAccounts};
use crate::ids::*;
use crate::money::{dec, Currency};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// Largest absolute price, quantity or amount accepted. Keeps `price × quantity × days`
/// far inside `Decimal`'s range, so rating cannot overflow on a valid book.
pub const MAX_MAGNITUDE: i64 = 1_000_000_000_000;
/// Longest free-text field, in bytes.
pub const MAX_TEXT: usize = 1024;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Book {
    #[serde(default)]
    pub accounts: Vec<Account>,
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
    #[serde(default)]
    pub usage: Vec<UsageRecord>,
    #[serde(default)]
    pub adjustments: Vec<Adjustment>,
    #[serde(default)]
    pub invoice_schedules: Vec<InvoiceSchedule>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Address {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub line1: Option<String>,
    #[serde(default)]
    pub line2: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    /// Where the account's documents are emailed (`billTo` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Who receives a copy (`billTo` only; at most [`crate::email::MAX_CC`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc_emails: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub currency: Currency,
    pub bill_cycle_day: BillCycleDay,
    #[serde(default)]
    pub batch: Option<String>,
    #[serde(default)]
    pub payment_term_days: u32,
    #[serde(default)]
    pub payment_term_name: Option<String>,
    #[serde(default = "zero", with = "dec")]
    pub tax_rate: Decimal,
    #[serde(default)]
    pub bill_to: Option<Address>,
    #[serde(default)]
    pub ship_to: Option<Address>,
    #[serde(default)]
    pub location_id: Option<String>,
    /// The subrun the account belongs to: a run with a subrun selects only its accounts
    /// (docs/billing-rules.md "Subruns").
    #[serde(default)]
    pub subrun: Option<String>,
    /// The account's GL codes (docs/book-format.md "GL accounts"); absent on most.
    #[serde(default, skip_serializing_if = "GlAccounts::is_empty")]
    pub gl_accounts: GlAccounts,
}

fn zero() -> Decimal {
    Decimal::ZERO
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub account_id: AccountId,
    pub product_id: String,
    #[serde(default)]
    pub product_name: Option<String>,
    #[serde(default)]
    pub location_id: Option<String>,
    pub start_date: NaiveDate,
    #[serde(default)]
    pub end_date: Option<NaiveDate>,
    #[serde(default)]
    pub cancellation_date: Option<NaiveDate>,
    #[serde(default)]
    pub charges: Vec<Charge>,
    /// The subscription's term (docs/billing-rules.md "Terms and renewals"); absent on
    /// most, so it is left out of the stored JSON when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<Term>,
}

/// Longest renewal a term may have, in months (ten years).
pub const MAX_RENEWAL_MONTHS: u32 = 120;

/// A subscription's term: its first term ends on `end_date` (exclusive); an
/// auto-renewing one is renewed by `renewal_months` at a time by runs that renew.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Term {
    pub end_date: NaiveDate,
    #[serde(default)]
    pub auto_renew: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_months: Option<u32>,
}

impl Term {
    /// The term end after `renewals` renewals: `endDate` plus `renewals × renewalMonths`
    /// calendar months, always counted from `endDate` so the day of month is clamped
    /// afresh each time (Jan 31 → Feb 29 → Mar 31). `None` past the calendar's range.
    pub fn end_after(&self, renewals: u32) -> Option<NaiveDate> {
        let months = renewals.checked_mul(self.renewal_months.unwrap_or(0))?;
        self.end_date
            .checked_add_months(chrono::Months::new(months))
    }
}

impl Subscription {
    /// Whether its recurring lines are Evergreen: no `endDate` and no term.
    pub fn is_evergreen(&self) -> bool {
        self.end_date.is_none() && self.term.is_none()
    }

    /// The earlier of `endDate` and `cancellationDate` (both exclusive), without the
    /// term: the bound renewals stop at.
    pub fn effective_end(&self) -> Option<NaiveDate> {
        match (self.end_date, self.cancellation_date) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The name printed on lines: the product name, else the product id.
    pub fn display_name(&self) -> &str {
        self.product_name.as_deref().unwrap_or(&self.product_id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Timing {
    #[default]
    InAdvance,
    InArrears,
}

/// A charge as the book states it. Deserialized from the flat JSON shape with the fields
/// each type needs checked (`price` on a Recurring charge, `unitPrice` on Usage...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ChargeJson", into = "ChargeJson")]
pub struct Charge {
    pub id: ChargeId,
    pub currency: Option<Currency>,
    pub kind: ChargeKind,
    /// The revenue GL code of its lines; none: the account's revenue code.
    pub gl_account: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ChargeKind {
    Recurring {
        price: Decimal,
        quantity: Decimal,
        period: BillingPeriod,
        timing: Timing,
        /// Watermark imported from a system that billed it before.
        billed_through: Option<NaiveDate>,
    },
    OneTime {
        price: Decimal,
        quantity: Decimal,
        charge_date: Option<NaiveDate>,
        billed: bool,
    },
    Usage {
        unit_price: Decimal,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum ChargeTypeJson {
    Recurring,
    OneTime,
    Usage,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ChargeJson {
    id: ChargeId,
    #[serde(rename = "type")]
    kind: ChargeTypeJson,
    #[serde(default, with = "dec::opt", skip_serializing_if = "Option::is_none")]
    price: Option<Decimal>,
    #[serde(default, with = "dec::opt", skip_serializing_if = "Option::is_none")]
    quantity: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    billing_period: Option<BillingPeriod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timing: Option<Timing>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    charge_date: Option<NaiveDate>,
    #[serde(default, with = "dec::opt", skip_serializing_if = "Option::is_none")]
    unit_price: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    currency: Option<Currency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    billed_through: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    billed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gl_account: Option<String>,
}

fn sub_err(field: &str, msg: impl std::fmt::Display) -> String {
    format!("{SUBFIELD_MARK}{field}: {msg}")
}

fn check_magnitude(field: &str, v: Decimal) -> Result<Decimal, String> {
    if v.abs() > Decimal::from(MAX_MAGNITUDE) {
        return Err(sub_err(
            field,
            format!("must be at most {MAX_MAGNITUDE} in magnitude"),
        ));
    }
    Ok(v)
}

fn check_quantity(field: &str, v: Option<Decimal>) -> Result<Decimal, String> {
    let q = check_magnitude(field, v.unwrap_or(Decimal::ONE))?;
    if q.is_sign_negative() && !q.is_zero() {
        return Err(sub_err(field, "must be >= 0"));
    }
    Ok(q)
}

impl TryFrom<ChargeJson> for Charge {
    type Error = String;

    fn try_from(c: ChargeJson) -> Result<Self, String> {
        let not_for = |field: &str, present: bool, ty: &str| -> Result<(), String> {
            if present {
                Err(sub_err(field, format!("is not allowed on a {ty} charge")))
            } else {
                Ok(())
            }
        };
        for (field, d) in [
            ("chargeDate", c.charge_date),
            ("billedThrough", c.billed_through),
        ] {
            if let Some(d) = d {
                check_date(d).map_err(|e| sub_err(field, e))?;
            }
        }
        let kind = match c.kind {
            ChargeTypeJson::Recurring => {
                let ty = "Recurring";
                not_for("chargeDate", c.charge_date.is_some(), ty)?;
                not_for("unitPrice", c.unit_price.is_some(), ty)?;
                not_for("billed", c.billed.is_some(), ty)?;
                ChargeKind::Recurring {
                    price: check_magnitude(
                        "price",
                        c.price
                            .ok_or_else(|| sub_err("price", "is required on a Recurring charge"))?,
                    )?,
                    quantity: check_quantity("quantity", c.quantity)?,
                    period: c.billing_period.ok_or_else(|| {
                        sub_err("billingPeriod", "is required on a Recurring charge")
                    })?,
                    timing: c.timing.unwrap_or_default(),
                    billed_through: c.billed_through,
                }
            }
            ChargeTypeJson::OneTime => {
                let ty = "OneTime";
                not_for("billingPeriod", c.billing_period.is_some(), ty)?;
                not_for("timing", c.timing.is_some(), ty)?;
                not_for("unitPrice", c.unit_price.is_some(), ty)?;
                not_for("billedThrough", c.billed_through.is_some(), ty)?;
                ChargeKind::OneTime {
                    price: check_magnitude(
                        "price",
                        c.price
                            .ok_or_else(|| sub_err("price", "is required on a OneTime charge"))?,
                    )?,
                    quantity: check_quantity("quantity", c.quantity)?,
                    charge_date: c.charge_date,
                    billed: c.billed.unwrap_or(false),
                }
            }
            ChargeTypeJson::Usage => {
                let ty = "Usage";
                for (f, p) in [
                    ("price", c.price.is_some()),
                    ("quantity", c.quantity.is_some()),
                    ("billingPeriod", c.billing_period.is_some()),
                    ("timing", c.timing.is_some()),
                    ("chargeDate", c.charge_date.is_some()),
                    ("billedThrough", c.billed_through.is_some()),
                    ("billed", c.billed.is_some()),
                ] {
                    not_for(f, p, ty)?;
                }
                ChargeKind::Usage {
                    unit_price: check_magnitude(
                        "unitPrice",
                        c.unit_price
                            .ok_or_else(|| sub_err("unitPrice", "is required on a Usage charge"))?,
                    )?,
                }
            }
        };
        if let Some(problem) = c.gl_account.as_deref().and_then(gl::code_problem) {
            return Err(sub_err("glAccount", problem));
        }
        Ok(Charge {
            id: c.id,
            currency: c.currency,
            kind,
            gl_account: c.gl_account,
        })
    }
}

impl From<Charge> for ChargeJson {
    fn from(c: Charge) -> Self {
        let mut j = ChargeJson {
            id: c.id,
            kind: ChargeTypeJson::Usage,
            price: None,
            quantity: None,
            billing_period: None,
            timing: None,
            charge_date: None,
            unit_price: None,
            currency: c.currency,
            billed_through: None,
            billed: None,
            gl_account: c.gl_account,
        };
        match c.kind {
            ChargeKind::Recurring {
                price,
                quantity,
                period,
                timing,
                billed_through,
            } => {
                j.kind = ChargeTypeJson::Recurring;
                j.price = Some(price);
                j.quantity = Some(quantity);
                j.billing_period = Some(period);
                j.timing = Some(timing);
                j.billed_through = billed_through;
            }
            ChargeKind::OneTime {
                price,
                quantity,
                charge_date,
                billed,
            } => {
                j.kind = ChargeTypeJson::OneTime;
                j.price = Some(price);
                j.quantity = Some(quantity);
                j.charge_date = charge_date;
                j.billed = billed.then_some(true);
            }
            ChargeKind::Usage { unit_price } => j.unit_price = Some(unit_price),
        }
        j
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UsageRecord {
    pub id: UsageId,
    pub account_id: AccountId,
    pub charge_id: ChargeId,
    pub date: NaiveDate,
    #[serde(with = "dec::qty")]
    pub quantity: Decimal,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub billed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Adjustment {
    pub id: AdjustmentId,
    pub account_id: AccountId,
    pub date: NaiveDate,
    #[serde(with = "dec")]
    pub amount: Decimal,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub billed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ScheduleItemStatus {
    #[default]
    Pending,
    Processed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InvoiceScheduleItem {
    pub id: ScheduleItemId,
    pub invoice_date: NaiveDate,
    #[serde(with = "dec")]
    pub amount: Decimal,
    #[serde(default)]
    pub status: ScheduleItemStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InvoiceSchedule {
    pub id: ScheduleId,
    pub account_id: AccountId,
    pub subscription_ids: Vec<SubscriptionId>,
    pub items: Vec<InvoiceScheduleItem>,
    /// The runs that execute its items post their documents at once (seed 004's
    /// `autoPost`); default false: they stay Draft until posted.
    #[serde(default)]
    pub auto_post: bool,
    /// The runs that execute its items email their documents once posted (seed 004's
    /// `autoEmail`; the canonical run's `autoEmail`).
    #[serde(default)]
    pub auto_email: bool,
    /// Whether their zero-amount invoices are emailed (default true; seed 004's
    /// `noEmailForZeroAmountInvoice` is its negation).
    #[serde(default = "crate::request::yes")]
    pub email_zero_amount_invoices: bool,
}

impl Book {
    /// Parses and validates a whole book; the first problem is reported with its path.
    pub fn parse(bytes: &[u8]) -> Result<Book, FieldError> {
        let book: Book = parse_json(bytes)?;
        book.validate()?;
        Ok(book)
    }

    /// Checks what serde alone cannot: unique ids, references, currencies of amounts,
    /// date ranges, text lengths.
    pub fn validate(&self) -> Result<(), FieldError> {
        let mut accounts: HashMap<&AccountId, &Account> = HashMap::new();
        for (i, a) in self.accounts.iter().enumerate() {
            check_account(&format!("accounts[{i}]"), a, &mut accounts)?;
        }
        let mut subs: HashMap<&SubscriptionId, &Subscription> = HashMap::new();
        // charge id -> (account, is usage)
        let mut charges: HashMap<&ChargeId, (&AccountId, bool)> = HashMap::new();
        for (i, s) in self.subscriptions.iter().enumerate() {
            let p = format!("subscriptions[{i}]");
            check_subscription(&p, s, &accounts, &mut subs, &mut charges)?;
        }
        let mut seen = HashSet::new();
        for (i, u) in self.usage.iter().enumerate() {
            check_usage(&format!("usage[{i}]"), u, &charges, &mut seen)?;
        }
        let mut seen = HashSet::new();
        for (i, a) in self.adjustments.iter().enumerate() {
            check_adjustment(&format!("adjustments[{i}]"), a, &accounts, &mut seen)?;
        }
        let mut seen = HashSet::new();
        let mut scheduled = HashSet::new();
        for (i, s) in self.invoice_schedules.iter().enumerate() {
            let p = format!("invoiceSchedules[{i}]");
            check_invoice_schedule(&p, s, &accounts, &subs, &mut seen, &mut scheduled)?;
        }
        Ok(())
    }
}

/// One account of a book: unique id, text fields, tax rate, payment term.
fn check_account<'a>(
    p: &str,
    a: &'a Account,
    accounts: &mut HashMap<&'a AccountId, &'a Account>,
) -> Result<(), FieldError> {
    if accounts.insert(&a.id, a).is_some() {
        return Err(FieldError::new(
            format!("{p}.id"),
            format!("duplicate account id '{}'", a.id),
        ));
    }
    text(&format!("{p}.name"), &a.name, true)?;
    for (f, v) in [
        ("batch", &a.batch),
        ("paymentTermName", &a.payment_term_name),
        ("locationId", &a.location_id),
    ] {
        if let Some(v) = v {
            text(&format!("{p}.{f}"), v, true)?;
        }
    }
    if let Some(s) = &a.subrun {
        subrun(&format!("{p}.subrun"), s)?;
    }
    a.gl_accounts.validate(&format!("{p}.glAccounts"))?;
    for (f, addr) in [("billTo", &a.bill_to), ("shipTo", &a.ship_to)] {
        let Some(addr) = addr else { continue };
        for (g, v) in [
            ("name", &addr.name),
            ("line1", &addr.line1),
            ("line2", &addr.line2),
            ("city", &addr.city),
            ("state", &addr.state),
            ("postalCode", &addr.postal_code),
            ("country", &addr.country),
        ] {
            if let Some(v) = v {
                text(&format!("{p}.{f}.{g}"), v, false)?;
            }
        }
        emails(&format!("{p}.{f}"), f == "billTo", addr)?;
    }
    if a.tax_rate.is_sign_negative() && !a.tax_rate.is_zero() || a.tax_rate > Decimal::ONE {
        return Err(FieldError::new(
            format!("{p}.taxRate"),
            "must be a fraction between 0 and 1",
        ));
    }
    if a.payment_term_days > 3650 {
        return Err(FieldError::new(
            format!("{p}.paymentTermDays"),
            "must be at most 3650",
        ));
    }
    Ok(())
}

/// One subscription: unique id, a known account, text fields, dates, charge ids unique
/// across the book (each noted with its account and whether it is a usage charge).
fn check_subscription<'a>(
    p: &str,
    s: &'a Subscription,
    accounts: &HashMap<&AccountId, &Account>,
    subs: &mut HashMap<&'a SubscriptionId, &'a Subscription>,
    charges: &mut HashMap<&'a ChargeId, (&'a AccountId, bool)>,
) -> Result<(), FieldError> {
    if subs.insert(&s.id, s).is_some() {
        return Err(FieldError::new(
            format!("{p}.id"),
            format!("duplicate subscription id '{}'", s.id),
        ));
    }
    known_account(p, &s.account_id, accounts)?;
    text(&format!("{p}.productId"), &s.product_id, true)?;
    if let Some(n) = &s.product_name {
        text(&format!("{p}.productName"), n, true)?;
    }
    if let Some(l) = &s.location_id {
        text(&format!("{p}.locationId"), l, true)?;
    }
    for (f, d) in [
        ("startDate", Some(s.start_date)),
        ("endDate", s.end_date),
        ("cancellationDate", s.cancellation_date),
    ] {
        if let Some(d) = d {
            check_date(d).map_err(|e| FieldError::new(format!("{p}.{f}"), e))?;
        }
    }
    if let Some(t) = &s.term {
        check_term(&format!("{p}.term"), t, s.start_date)?;
    }
    for (j, c) in s.charges.iter().enumerate() {
        let cp = format!("{p}.charges[{j}]");
        if charges
            .insert(
                &c.id,
                (&s.account_id, matches!(c.kind, ChargeKind::Usage { .. })),
            )
            .is_some()
        {
            return Err(FieldError::new(
                format!("{cp}.id"),
                format!("duplicate charge id '{}'", c.id),
            ));
        }
    }
    Ok(())
}

/// A subscription's term: its end after the start, a renewal length when it renews.
fn check_term(p: &str, t: &Term, start: NaiveDate) -> Result<(), FieldError> {
    let end = format!("{p}.endDate");
    check_date(t.end_date).map_err(|e| FieldError::new(&end, e))?;
    if t.end_date <= start {
        return Err(FieldError::new(
            end,
            "must be after the subscription's startDate",
        ));
    }
    let field = format!("{p}.renewalMonths");
    match t.renewal_months {
        None if t.auto_renew => Err(FieldError::new(field, "is required when autoRenew is true")),
        Some(m) if !(1..=MAX_RENEWAL_MONTHS).contains(&m) => Err(FieldError::new(
            field,
            format!("must be between 1 and {MAX_RENEWAL_MONTHS}"),
        )),
        _ => Ok(()),
    }
}

/// One usage record: unique id, a usage charge of its own account, date, quantity.
fn check_usage<'a>(
    p: &str,
    u: &'a UsageRecord,
    charges: &HashMap<&ChargeId, (&AccountId, bool)>,
    seen: &mut HashSet<&'a UsageId>,
) -> Result<(), FieldError> {
    first_seen(p, "usage", &u.id, seen)?;
    match charges.get(&u.charge_id) {
        None => {
            return Err(FieldError::new(
                format!("{p}.chargeId"),
                format!("unknown charge '{}'", u.charge_id),
            ))
        }
        Some((_, false)) => {
            return Err(FieldError::new(
                format!("{p}.chargeId"),
                format!("charge '{}' is not a Usage charge", u.charge_id),
            ))
        }
        Some((acct, true)) if **acct != u.account_id => {
            return Err(FieldError::new(
                format!("{p}.accountId"),
                format!("charge '{}' belongs to account '{}'", u.charge_id, acct),
            ))
        }
        Some(_) => {}
    }
    check_date(u.date).map_err(|e| FieldError::new(format!("{p}.date"), e))?;
    if u.quantity.is_sign_negative() && !u.quantity.is_zero() {
        return Err(FieldError::new(
            format!("{p}.quantity"),
            "must be >= 0 (credits are adjustments)",
        ));
    }
    if u.quantity > Decimal::from(MAX_MAGNITUDE) {
        return Err(FieldError::new(
            format!("{p}.quantity"),
            format!("must be at most {MAX_MAGNITUDE}"),
        ));
    }
    Ok(())
}

/// One adjustment: unique id, a known account, date, an amount in its currency.
fn check_adjustment<'a>(
    p: &str,
    a: &'a Adjustment,
    accounts: &HashMap<&AccountId, &Account>,
    seen: &mut HashSet<&'a AdjustmentId>,
) -> Result<(), FieldError> {
    first_seen(p, "adjustment", &a.id, seen)?;
    let acct = known_account(p, &a.account_id, accounts)?;
    check_date(a.date).map_err(|e| FieldError::new(format!("{p}.date"), e))?;
    money_amount(&format!("{p}.amount"), a.amount, acct.currency)?;
    if let Some(d) = &a.description {
        text(&format!("{p}.description"), d, false)?;
    }
    Ok(())
}

/// One invoice schedule: unique id, a known account, subscriptions of that account
/// under no other schedule, items with unique ids, dates and amounts in its currency.
fn check_invoice_schedule<'a>(
    p: &str,
    s: &'a InvoiceSchedule,
    accounts: &HashMap<&AccountId, &Account>,
    subs: &HashMap<&SubscriptionId, &Subscription>,
    seen: &mut HashSet<&'a ScheduleId>,
    scheduled: &mut HashSet<&'a SubscriptionId>,
) -> Result<(), FieldError> {
    first_seen(p, "invoice schedule", &s.id, seen)?;
    let acct = known_account(p, &s.account_id, accounts)?;
    if s.subscription_ids.is_empty() {
        return Err(FieldError::new(
            format!("{p}.subscriptionIds"),
            "must name at least one subscription",
        ));
    }
    for (j, sid) in s.subscription_ids.iter().enumerate() {
        let sp = format!("{p}.subscriptionIds[{j}]");
        match subs.get(sid) {
            None => return Err(FieldError::new(sp, format!("unknown subscription '{sid}'"))),
            Some(sub) if sub.account_id != s.account_id => {
                return Err(FieldError::new(
                    sp,
                    format!("subscription '{sid}' belongs to another account"),
                ))
            }
            Some(_) => {}
        }
        if !scheduled.insert(sid) {
            return Err(FieldError::new(
                sp,
                format!("subscription '{sid}' is already under an invoice schedule"),
            ));
        }
    }
    let mut items = HashSet::new();
    for (j, it) in s.items.iter().enumerate() {
        let ip = format!("{p}.items[{j}]");
        first_seen(&ip, "item", &it.id, &mut items)?;
        check_date(it.invoice_date).map_err(|e| FieldError::new(format!("{ip}.invoiceDate"), e))?;
        money_amount(&format!("{ip}.amount"), it.amount, acct.currency)?;
    }
    Ok(())
}

/// Notes the id of the `what` at `p` as seen: a second one is an error at `{p}.id`.
fn first_seen<'a, T: Eq + std::hash::Hash + std::fmt::Display>(
    p: &str,
    what: &str,
    id: &'a T,
    seen: &mut HashSet<&'a T>,
) -> Result<(), FieldError> {
    if seen.insert(id) {
        return Ok(());
    }
    Err(FieldError::new(
        format!("{p}.id"),
        format!("duplicate {what} id '{id}'"),
    ))
}

/// The account the entity at `p` names, which the book must hold.
fn known_account<'a>(
    p: &str,
    id: &AccountId,
    accounts: &HashMap<&AccountId, &'a Account>,
) -> Result<&'a Account, FieldError> {
    accounts
        .get(id)
        .copied()
        .ok_or_else(|| FieldError::new(format!("{p}.accountId"), format!("unknown account '{id}'")))
}

/// The longest subrun, on an account or a run request.
pub const MAX_SUBRUN: usize = 64;

/// A subrun name: not empty, at most [`MAX_SUBRUN`] bytes.
pub fn subrun(field: &str, v: &str) -> Result<(), FieldError> {
    if v.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if v.len() > MAX_SUBRUN {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAX_SUBRUN} bytes"),
        ));
    }
    Ok(())
}

/// The address's `email` and `ccEmails`: plain addresses, on `billTo` only.
fn emails(p: &str, bill_to: bool, addr: &Address) -> Result<(), FieldError> {
    if !bill_to && (addr.email.is_some() || !addr.cc_emails.is_empty()) {
        let f = if addr.email.is_some() {
            "email"
        } else {
            "ccEmails"
        };
        return Err(FieldError::new(
            format!("{p}.{f}"),
            "documents are emailed to billTo; shipTo carries no email addresses",
        ));
    }
    if let Some(e) = &addr.email {
        if let Some(why) = crate::email::address_problem(e) {
            return Err(FieldError::new(format!("{p}.email"), why));
        }
    }
    if addr.cc_emails.len() > crate::email::MAX_CC {
        return Err(FieldError::new(
            format!("{p}.ccEmails"),
            format!("must list at most {} addresses", crate::email::MAX_CC),
        ));
    }
    for (i, e) in addr.cc_emails.iter().enumerate() {
        if let Some(why) = crate::email::address_problem(e) {
            return Err(FieldError::new(format!("{p}.ccEmails[{i}]"), why));
        }
    }
    if !addr.cc_emails.is_empty() && addr.email.is_none() {
        return Err(FieldError::new(
            format!("{p}.ccEmails"),
            "needs an email address to copy",
        ));
    }
    Ok(())
}

fn text(field: &str, v: &str, required: bool) -> Result<(), FieldError> {
    if required && v.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if v.len() > MAX_TEXT {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAX_TEXT} bytes"),
        ));
    }
    Ok(())
}

fn money_amount(field: &str, v: Decimal, currency: Currency) -> Result<(), FieldError> {
    if v.abs() > Decimal::from(MAX_MAGNITUDE) {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAX_MAGNITUDE} in magnitude"),
        ));
    }
    if !currency.is_exact(v) {
        return Err(FieldError::new(
            field,
            format!(
                "has more decimals than {currency} allows ({})",
                currency.minor_units()
            ),
        ));
    }
    Ok(())
}
