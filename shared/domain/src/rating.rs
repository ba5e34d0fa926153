//! Rating one account for one run: which periods and items are billable
//! (docs/billing-rules.md "What a run bills"), their amounts, credits, grouping into
//! documents and totals.

use crate::book::{Account, Adjustment, ChargeKind, Subscription, Term, Timing, UsageRecord};
use crate::calendar::{days, Grid};
use crate::document::{Document, DocumentKind, DocumentStatus, Line, LineType, Totals};
use crate::ids::*;
use crate::money::Currency;
use crate::request::{ExcludableType, Grouping, InvoiceDateType, RunRequest};
use crate::state::{AccountState, BilledPeriod, StateChange};
use chrono::{Datelike, Days, NaiveDate};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Most periods one charge may bill in one run (100 years of monthly catch-up). A book
/// that needs more fails the account with a reason instead of making a huge document.
pub const MAX_PERIODS_PER_CHARGE: usize = 1200;

/// Everything the rules need to know about one account.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountBook {
    pub account: Account,
    pub subscriptions: Vec<Subscription>,
    pub usage: Vec<UsageRecord>,
    pub adjustments: Vec<Adjustment>,
    /// Subscriptions under an invoice schedule: their recurring and one-time charges are
    /// billed only by the schedule.
    pub scheduled_subscriptions: BTreeSet<SubscriptionId>,
    pub state: AccountState,
}

/// A run request resolved into the dates and switches rating uses.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub run_id: RunId,
    /// `T`.
    pub target: NaiveDate,
    /// `[processFrom, processTo]` of a ReadyForInvoiceDate run.
    pub window: Option<(NaiveDate, NaiveDate)>,
    /// Usage dated before this is billed (default `T + 1 day`).
    pub usage_cutoff: NaiveDate,
    /// One-time charges and adjustments dated on or before this are billed (default `T`).
    pub transaction_cutoff: NaiveDate,
    pub invoice_date: Option<NaiveDate>,
    pub due_date: Option<NaiveDate>,
    pub product_ids: Vec<String>,
    pub location_ids: Vec<String>,
    pub excluded: Vec<ExcludableType>,
    pub grouping: Grouping,
    pub suppress_zero: bool,
    pub status: DocumentStatus,
    pub invoice_message: Option<String>,
    /// Renew auto-renewing subscriptions whose term ended by `T` before rating.
    pub renew: bool,
}

impl RunSpec {
    pub fn new(run_id: RunId, req: &RunRequest) -> RunSpec {
        let target = req.target();
        let window = match req.invoice_date_type {
            InvoiceDateType::ReadyForInvoiceDate => {
                Some((req.process_from.unwrap_or(target), target))
            }
            InvoiceDateType::TargetDate => None,
        };
        let status = req.document_status();
        RunSpec {
            run_id,
            target,
            window,
            usage_cutoff: req
                .usage_cutoff_date
                .unwrap_or_else(|| target.checked_add_days(Days::new(1)).unwrap_or(target)),
            transaction_cutoff: req.transaction_cutoff_date.unwrap_or(target),
            invoice_date: req.invoice_date,
            due_date: req.due_date,
            product_ids: req.filters.product_ids.clone(),
            location_ids: req.filters.location_ids.clone(),
            excluded: req.charge_types_excluded.clone(),
            grouping: req.grouping,
            suppress_zero: req.suppress_zero_invoices,
            status,
            invoice_message: req.invoice_message.clone(),
            renew: req.renew_subscriptions,
        }
    }

    fn excludes(&self, t: ExcludableType) -> bool {
        self.excluded.contains(&t)
    }

    /// Whether the product and location filters keep a subscription (a subscription
    /// without a location has its account's).
    pub fn keeps(&self, account: &Account, sub: &Subscription) -> bool {
        let product_ok = self.product_ids.is_empty() || self.product_ids.contains(&sub.product_id);
        let location = sub.location_id.as_ref().or(account.location_id.as_ref());
        let location_ok =
            self.location_ids.is_empty() || location.is_some_and(|l| self.location_ids.contains(l));
        product_ok && location_ok
    }

    /// Ready-date check: always `<= T`; in a window run also `>= processFrom`.
    fn in_window(&self, ready: NaiveDate) -> bool {
        ready <= self.target && self.window.is_none_or(|(from, _)| ready >= from)
    }

    /// Whether a one-time charge or adjustment dated `date` is due: on or before the
    /// transaction cutoff (`T` unless the run sets `transactionCutoffDate`, which then
    /// replaces `T`, later or earlier), and in a window run also inside the window.
    fn transaction_due(&self, date: NaiveDate) -> bool {
        date <= self.transaction_cutoff
            && self
                .window
                .is_none_or(|(from, to)| from <= date && date <= to)
    }

    fn group_key(&self, account: &Account, sub: Option<&Subscription>) -> String {
        match (self.grouping, sub) {
            (Grouping::Account, _) => account.id.to_string(),
            (Grouping::Subscription, Some(s)) => s.id.to_string(),
            (Grouping::Subscription, None) => account.id.to_string(),
            (Grouping::Location, s) => s
                .and_then(|s| s.location_id.clone())
                .or_else(|| account.location_id.clone())
                .unwrap_or_else(|| account.id.to_string()),
        }
    }
}

/// A document the run produces for an account, and whether zero suppression drops it.
#[derive(Debug, Clone, PartialEq)]
pub struct RatedDocument {
    pub document: Document,
    pub suppressed: bool,
}

/// The result of rating an account that did not fail.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rated {
    /// Sorted by group key.
    pub documents: Vec<RatedDocument>,
    pub changes: Vec<StateChange>,
}

struct Pending {
    key: String,
    ready: NaiveDate,
    line: Line,
}

/// Why an account cannot be rated: it fails (no document, no change) with this reason,
/// which its outcome stores as the text below.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RatingError {
    #[error("charge {charge} of subscription {subscription} is in {charge_currency} but account {account} bills in {account_currency}")]
    CurrencyMismatch {
        charge: ChargeId,
        subscription: SubscriptionId,
        charge_currency: Currency,
        account: AccountId,
        account_currency: Currency,
    },
    /// An amount, a quantity or a total beyond `Decimal`'s range.
    #[error("{0} overflow")]
    Overflow(&'static str),
    #[error("charge {charge} would {what} more than {MAX_PERIODS_PER_CHARGE} periods{scope}", what = if *.credit { "credit" } else { "bill" }, scope = if *.credit { "" } else { " in one run" })]
    TooManyPeriods { charge: ChargeId, credit: bool },
}

fn amount(c: Currency, factors: &[Decimal], divisor: i64) -> Result<Decimal, RatingError> {
    let overflow = || RatingError::Overflow("amount");
    let mut v = Decimal::ONE;
    for f in factors {
        v = v.checked_mul(*f).ok_or_else(overflow)?;
    }
    let v = v.checked_div(Decimal::from(divisor)).ok_or_else(overflow)?;
    Ok(c.round(v))
}

fn period_text(name: &str, start: NaiveDate, end: NaiveDate) -> String {
    format!("{name} {start} \u{2013} {end}")
}

/// Rates one account. `Err` is the reason the account fails (no document, no change).
pub fn rate_account(spec: &RunSpec, book: &AccountBook) -> Result<Rated, RatingError> {
    let acct = &book.account;
    let cur = acct.currency;
    let kept: Vec<&Subscription> = book
        .subscriptions
        .iter()
        .filter(|s| spec.keeps(acct, s))
        .collect();
    for s in &kept {
        for c in &s.charges {
            if let Some(cc) = c.currency {
                if cc != cur {
                    return Err(RatingError::CurrencyMismatch {
                        charge: c.id.clone(),
                        subscription: s.id.clone(),
                        charge_currency: cc,
                        account: acct.id.clone(),
                        account_currency: cur,
                    });
                }
            }
        }
    }
    let mut usage_by_charge: HashMap<&ChargeId, Vec<&UsageRecord>> = HashMap::new();
    if !spec.excludes(ExcludableType::Usage) {
        for u in &book.usage {
            usage_by_charge.entry(&u.charge_id).or_default().push(u);
        }
    }
    let mut rater = Rater {
        spec,
        book,
        cur,
        pending: Vec::new(),
        changes: Vec::new(),
    };
    for s in &kept {
        let end = rater.current_end(s)?;
        let scheduled = book.scheduled_subscriptions.contains(&s.id);
        let key = spec.group_key(acct, Some(s));
        let doc_id = DocumentId::derive(spec.run_id, &acct.id, &key);
        for c in &s.charges {
            match &c.kind {
                ChargeKind::Recurring {
                    price,
                    quantity,
                    period,
                    timing,
                    ..
                } if !scheduled && !spec.excludes(ExcludableType::Recurring) => {
                    let charge = RecurringCharge {
                        id: &c.id,
                        price: *price,
                        quantity: *quantity,
                        grid: Grid::new(s.start_date, acct.bill_cycle_day, *period),
                        timing: *timing,
                    };
                    rater.recurring(s, end, &charge, &key, doc_id)?;
                }
                ChargeKind::OneTime {
                    price,
                    quantity,
                    charge_date,
                    ..
                } if !scheduled && !spec.excludes(ExcludableType::OneTime) => {
                    let date = charge_date.unwrap_or(s.start_date);
                    // Not billed when dated on or after the effective end.
                    if end.is_none_or(|e| date < e) {
                        rater.one_time(s, &c.id, *price, *quantity, date, &key)?;
                    }
                }
                ChargeKind::Usage { unit_price } => {
                    if let Some(records) = usage_by_charge.get(&c.id) {
                        rater.usage(s, &c.id, *unit_price, records, &key)?;
                    }
                }
                _ => {}
            }
        }
    }
    rater.adjustments();
    let mut pending = rater.pending;
    stamp_revenue_codes(acct, &kept, &mut pending);
    let documents = assemble(spec, acct, pending)?;
    Ok(Rated {
        documents,
        changes: rater.changes,
    })
}

/// One account's rating under way: the lines found so far (with the document each goes
/// to) and the billing-state changes they make. One method per kind of charge.
struct Rater<'a> {
    spec: &'a RunSpec,
    book: &'a AccountBook,
    cur: Currency,
    pending: Vec<Pending>,
    changes: Vec<StateChange>,
}

impl Rater<'_> {
    /// The subscription's effective end: the earliest of `endDate`, `cancellationDate`
    /// and its current term end, after renewing the term first when the run renews
    /// (docs/billing-rules.md "Terms and renewals"). The renewal is a change of this
    /// account's commit, so it is written once with the periods it lets the run bill.
    fn current_end(&mut self, s: &Subscription) -> Result<Option<NaiveDate>, RatingError> {
        let end = s.effective_end();
        let Some(term) = &s.term else {
            return Ok(end);
        };
        let overflow = || RatingError::Overflow("term end");
        let k = self.book.state.renewals(&s.id);
        let mut term_end = term.end_after(k).ok_or_else(overflow)?;
        if self.spec.renew {
            if let Some((to, renewed_end)) = renewal(term, k, term_end, end, self.spec.target)? {
                self.changes.push(StateChange::Renewal {
                    subscription_id: s.id.clone(),
                    from: k,
                    to,
                    term_end_from: term_end,
                    term_end_to: renewed_end,
                });
                term_end = renewed_end;
            }
        }
        Ok(Some(end.map_or(term_end, |e| e.min(term_end))))
    }

    /// A one-time charge dated before its subscription's effective end, billed once
    /// when its date is due.
    fn one_time(
        &mut self,
        s: &Subscription,
        charge: &ChargeId,
        price: Decimal,
        quantity: Decimal,
        date: NaiveDate,
        key: &str,
    ) -> Result<(), RatingError> {
        if self.book.state.one_time_billed.contains(charge) {
            return Ok(());
        }
        if !self.spec.transaction_due(date) {
            return Ok(());
        }
        self.pending.push(Pending {
            key: key.to_string(),
            ready: date,
            line: Line {
                charge_id: Some(charge.clone()),
                subscription_id: Some(s.id.clone()),
                adjustment_id: None,
                line_type: LineType::OneTime,
                description: format!("{} one-time charge", s.display_name()),
                period_start: Some(date),
                period_end: None,
                quantity,
                amount: amount(self.cur, &[price, quantity], 1)?,
                credits_document: None,
                credits_document_id: None,
                gl_account: None,
            },
        });
        self.changes.push(StateChange::OneTime {
            charge_id: charge.clone(),
        });
        Ok(())
    }

    /// A usage charge: its unbilled records before the cutoff (and within the window)
    /// as one line.
    fn usage(
        &mut self,
        s: &Subscription,
        charge: &ChargeId,
        unit_price: Decimal,
        records: &[&UsageRecord],
        key: &str,
    ) -> Result<(), RatingError> {
        let spec = self.spec;
        let mut qty = Decimal::ZERO;
        let mut first: Option<NaiveDate> = None;
        for u in records {
            if self.book.state.usage_billed.contains(&u.id)
                || u.date >= spec.usage_cutoff
                || spec
                    .window
                    .is_some_and(|(from, to)| u.date < from || u.date > to)
            {
                continue;
            }
            qty = qty
                .checked_add(u.quantity)
                .ok_or(RatingError::Overflow("usage quantity"))?;
            first = Some(first.map_or(u.date, |f| f.min(u.date)));
            self.changes.push(StateChange::Usage {
                usage_id: u.id.clone(),
            });
        }
        let Some(first) = first else {
            return Ok(());
        };
        self.pending.push(Pending {
            key: key.to_string(),
            ready: first,
            line: Line {
                charge_id: Some(charge.clone()),
                subscription_id: Some(s.id.clone()),
                adjustment_id: None,
                line_type: LineType::Usage,
                description: format!("{} usage", s.display_name()),
                period_start: None,
                period_end: Some(spec.usage_cutoff),
                quantity: qty,
                amount: amount(self.cur, &[qty, unit_price], 1)?,
                credits_document: None,
                credits_document_id: None,
                gl_account: None,
            },
        });
        Ok(())
    }

    /// The account's unbilled adjustments that are due, when the run's filters keep
    /// account-level items.
    fn adjustments(&mut self) {
        let (spec, acct) = (self.spec, &self.book.account);
        let kept = !spec.excludes(ExcludableType::Adjustment)
            && spec.product_ids.is_empty()
            && (spec.location_ids.is_empty()
                || acct
                    .location_id
                    .as_ref()
                    .is_some_and(|l| spec.location_ids.contains(l)));
        if !kept {
            return;
        }
        let key = spec.group_key(acct, None);
        for a in &self.book.adjustments {
            if self.book.state.adjustments_billed.contains(&a.id) || !spec.transaction_due(a.date) {
                continue;
            }
            self.pending.push(Pending {
                key: key.clone(),
                ready: a.date,
                line: Line {
                    charge_id: None,
                    subscription_id: None,
                    adjustment_id: Some(a.id.clone()),
                    line_type: LineType::Adjustment,
                    description: a
                        .description
                        .clone()
                        .unwrap_or_else(|| "Adjustment".to_string()),
                    period_start: Some(a.date),
                    period_end: None,
                    quantity: Decimal::ONE,
                    amount: self.cur.round(a.amount),
                    credits_document: None,
                    credits_document_id: None,
                    gl_account: None,
                },
            });
            self.changes.push(StateChange::Adjustment {
                adjustment_id: a.id.clone(),
            });
        }
    }

    /// A recurring charge: its periods from the stored watermark up to the target and
    /// the subscription's effective end `end` (or the credit back from the watermark to
    /// a new end), each a line.
    fn recurring(
        &mut self,
        sub: &Subscription,
        end: Option<NaiveDate>,
        charge: &RecurringCharge<'_>,
        key: &str,
        doc_id: DocumentId,
    ) -> Result<(), RatingError> {
        let (spec, cur, state) = (self.spec, self.cur, &self.book.state);
        let (pending, changes) = (&mut self.pending, &mut self.changes);
        let stored = state.billed_through(charge.id);
        let line_type = if sub.is_evergreen() {
            LineType::Evergreen
        } else {
            LineType::Recurring
        };
        let name = sub.display_name();
        let line = |start: NaiveDate, stop: NaiveDate, amount: Decimal, description: String| Line {
            charge_id: Some(charge.id.clone()),
            subscription_id: Some(sub.id.clone()),
            adjustment_id: None,
            line_type,
            description,
            period_start: Some(start),
            period_end: Some(stop),
            quantity: charge.quantity,
            amount,
            credits_document: None,
            credits_document_id: None,
            gl_account: None,
        };

        // Billed past an earlier effective end: credit the overlap, move the watermark back.
        // Billing never starts before the subscription, so neither does the credit.
        if let (Some(bt), Some(e)) = (stored, end) {
            let credit_from = e.max(sub.start_date);
            if bt > credit_from {
                if !spec.in_window(e) {
                    return Ok(());
                }
                let history = state
                    .recurring
                    .get(charge.id)
                    .map(|r| r.history.as_slice())
                    .unwrap_or(&[]);
                let mut at = credit_from;
                let mut n = 0;
                while at < bt {
                    let (ps, pe) = charge.grid.period_containing(at);
                    let stop = pe.min(bt);
                    let credit = amount(
                        cur,
                        &[charge.price, charge.quantity, Decimal::from(days(at, stop))],
                        days(ps, pe),
                    )?;
                    let billed_by = history
                        .iter()
                        .rev()
                        .find(|h| h.start < stop && at < h.end)
                        .map(|h| h.document);
                    let mut l = line(
                        at,
                        stop,
                        -credit,
                        format!("Credit: {}", period_text(name, at, stop)),
                    );
                    l.credits_document = Some(None);
                    l.credits_document_id = billed_by;
                    pending.push(Pending {
                        key: key.to_string(),
                        ready: e,
                        line: l,
                    });
                    at = stop;
                    n += 1;
                    if n > MAX_PERIODS_PER_CHARGE {
                        return Err(RatingError::TooManyPeriods {
                            charge: charge.id.clone(),
                            credit: true,
                        });
                    }
                }
                changes.push(StateChange::Watermark {
                    charge_id: charge.id.clone(),
                    from: stored,
                    to: e,
                    billed: vec![],
                });
                return Ok(());
            }
        }

        let mut at = stored.unwrap_or(sub.start_date).max(sub.start_date);
        let mut billed = Vec::new();
        loop {
            if end.is_some_and(|e| at >= e) {
                break;
            }
            let (ps, pe) = charge.grid.period_containing(at);
            let stop = end.map_or(pe, |e| pe.min(e));
            let ready = match charge.timing {
                Timing::InAdvance => at,
                Timing::InArrears => stop,
            };
            if ready > spec.target {
                break;
            }
            if let Some((from, _)) = spec.window {
                if ready < from {
                    // The next period was ready before the window: periods stay in order,
                    // so this charge bills nothing in this run.
                    return Ok(());
                }
            }
            let a = amount(
                cur,
                &[charge.price, charge.quantity, Decimal::from(days(at, stop))],
                days(ps, pe),
            )?;
            pending.push(Pending {
                key: key.to_string(),
                ready,
                line: line(at, stop, a, period_text(name, at, stop)),
            });
            billed.push(BilledPeriod {
                start: at,
                end: stop,
                document: doc_id,
            });
            if billed.len() > MAX_PERIODS_PER_CHARGE {
                return Err(RatingError::TooManyPeriods {
                    charge: charge.id.clone(),
                    credit: false,
                });
            }
            at = stop;
        }
        if !billed.is_empty() {
            changes.push(StateChange::Watermark {
                charge_id: charge.id.clone(),
                from: stored,
                to: at,
                billed,
            });
        }
        Ok(())
    }
}

/// The renewal a renewing run makes to `term`, renewed `k` times so far and ending on
/// `current`, of a subscription whose own end (`endDate` / `cancellationDate`) is `cap`:
/// `None` unless it auto-renews and its term ended by `target`, before `cap`; else the
/// new count and term end: the fewest renewals past `k` that end after `target`,
/// stopping at the first that ends on or after `cap`.
fn renewal(
    term: &Term,
    k: u32,
    current: NaiveDate,
    cap: Option<NaiveDate>,
    target: NaiveDate,
) -> Result<Option<(u32, NaiveDate)>, RatingError> {
    let Some(months) = term.renewal_months.filter(|_| term.auto_renew) else {
        return Ok(None);
    };
    let done = |e: NaiveDate| e > target || cap.is_some_and(|c| e >= c);
    if done(current) {
        return Ok(None);
    }
    let overflow = || RatingError::Overflow("term end");
    // A term end in a month before that of `min(target, cap)` is before both, so no
    // renewal count below ceil(month gap / months) can be the answer: start there rather
    // than step through decades of monthly terms one by one.
    let bound = cap.map_or(target, |c| c.min(target));
    let month = |d: NaiveDate| i64::from(d.year()) * 12 + i64::from(d.month0());
    let gap = u64::try_from(month(bound) - month(term.end_date)).unwrap_or(0);
    let first = u32::try_from(gap.div_ceil(u64::from(months))).map_err(|_| overflow())?;
    let mut to = k.checked_add(1).ok_or_else(overflow)?.max(first);
    // Term ends grow strictly with the count, so this ends after a step or two.
    loop {
        let e = term.end_after(to).ok_or_else(overflow)?;
        if done(e) {
            return Ok(Some((to, e)));
        }
        to = to.checked_add(1).ok_or_else(overflow)?;
    }
}

struct RecurringCharge<'a> {
    id: &'a ChargeId,
    price: Decimal,
    quantity: Decimal,
    grid: Grid,
    timing: Timing,
}

/// Gives each line the revenue GL code in force now: its charge's, else the account's
/// (docs/decisions.md "GL codes are kept on the documents").
fn stamp_revenue_codes(acct: &Account, subs: &[&Subscription], pending: &mut [Pending]) {
    let by_charge: HashMap<&ChargeId, &str> = subs
        .iter()
        .flat_map(|s| &s.charges)
        .filter_map(|c| Some((&c.id, c.gl_account.as_deref()?)))
        .collect();
    for p in pending {
        let charge_code = p.line.charge_id.as_ref().and_then(|c| by_charge.get(c));
        p.line.gl_account = charge_code
            .map(|c| (*c).to_string())
            .or_else(|| acct.gl_accounts.revenue.clone());
    }
}

fn assemble(
    spec: &RunSpec,
    acct: &Account,
    pending: Vec<Pending>,
) -> Result<Vec<RatedDocument>, RatingError> {
    let mut groups: BTreeMap<String, (NaiveDate, Vec<Line>)> = BTreeMap::new();
    for p in pending {
        let g = groups.entry(p.key).or_insert((p.ready, Vec::new()));
        g.0 = g.0.min(p.ready);
        g.1.push(p.line);
    }
    let mut docs = Vec::with_capacity(groups.len());
    for (key, (earliest_ready, lines)) in groups {
        let totals = Totals::compute(&lines, acct.currency, acct.tax_rate)
            .ok_or(RatingError::Overflow("amount"))?;
        let kind = if totals.total.is_sign_negative() && !totals.total.is_zero() {
            DocumentKind::CreditMemo
        } else {
            DocumentKind::Invoice
        };
        let invoice_date = spec.invoice_date.unwrap_or(if spec.window.is_some() {
            earliest_ready
        } else {
            spec.target
        });
        let due_date = spec.due_date.unwrap_or_else(|| {
            invoice_date
                .checked_add_days(Days::new(u64::from(acct.payment_term_days)))
                .unwrap_or(invoice_date)
        });
        let suppressed = spec.suppress_zero && totals.total.is_zero();
        docs.push(RatedDocument {
            document: Document {
                id: DocumentId::derive(spec.run_id, &acct.id, &key),
                number: None,
                kind,
                run_id: spec.run_id,
                account_id: acct.id.clone(),
                group_key: key,
                currency: acct.currency,
                invoice_date,
                due_date,
                status: spec.status,
                invoice_message: spec.invoice_message.clone(),
                lines,
                totals,
                gl_accounts: acct.gl_accounts.clone(),
            },
            suppressed,
        });
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failed account's outcome stores the reason as this text: the variants keep the
    /// wording outcomes stored before the type existed.
    #[test]
    fn a_rating_error_reads_as_the_reason_outcomes_store() {
        let charge = ChargeId::parse("C-2").unwrap();
        let mismatch = RatingError::CurrencyMismatch {
            charge: charge.clone(),
            subscription: SubscriptionId::parse("S-2").unwrap(),
            charge_currency: Currency::parse("EUR").unwrap(),
            account: AccountId::parse("A-1").unwrap(),
            account_currency: Currency::parse("USD").unwrap(),
        };
        assert_eq!(
            mismatch.to_string(),
            "charge C-2 of subscription S-2 is in EUR but account A-1 bills in USD"
        );
        let credit = RatingError::TooManyPeriods {
            charge: charge.clone(),
            credit: true,
        };
        assert_eq!(
            credit.to_string(),
            format!("charge C-2 would credit more than {MAX_PERIODS_PER_CHARGE} periods")
        );
        let bill = RatingError::TooManyPeriods {
            charge,
            credit: false,
        };
        assert_eq!(
            bill.to_string(),
            format!("charge C-2 would bill more than {MAX_PERIODS_PER_CHARGE} periods in one run")
        );
        assert_eq!(
            RatingError::Overflow("usage quantity").to_string(),
            "usage quantity overflow"
        );
    }
}
