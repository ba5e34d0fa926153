//! Invoice schedules (docs/billing-rules.md "Invoice schedules"): which item an execution
//! bills, and the single document it produces.

use crate::book::{Account, InvoiceSchedule, ScheduleItemStatus, Subscription};
use crate::document::{Document, DocumentKind, DocumentStatus, Line, LineType, Totals};
use crate::ids::{DocumentId, RunId, ScheduleItemId};
use chrono::{Days, NaiveDate};
use rust_decimal::Decimal;

/// Why no item can be executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickError {
    /// The named item is not in the schedule, or no Pending item is left (HTTP 404).
    NotFound(String),
    /// The named item was executed already (HTTP 409).
    Processed(String),
}

/// The item an execution bills, as an index into `schedule.items`.
///
/// With an item id: that item, unless it is Processed. Without one: the earliest
/// Pending item (by invoice date, then schedule order) dated on or before the end date
/// of the schedule's subscriptions (the latest effective end among them; none when one
/// of them has no end).
pub fn pick_item(
    schedule: &InvoiceSchedule,
    item: Option<&ScheduleItemId>,
    subscriptions: &[Subscription],
) -> Result<usize, PickError> {
    if let Some(id) = item {
        let Some(i) = schedule.items.iter().position(|it| &it.id == id) else {
            return Err(PickError::NotFound(format!(
                "invoice schedule {} has no item {id}",
                schedule.id
            )));
        };
        if schedule.items[i].status == ScheduleItemStatus::Processed {
            return Err(PickError::Processed(format!(
                "item {id} of invoice schedule {} is already processed",
                schedule.id
            )));
        }
        return Ok(i);
    }
    let end = schedule_end(schedule, subscriptions);
    schedule
        .items
        .iter()
        .enumerate()
        .filter(|(_, it)| it.status == ScheduleItemStatus::Pending)
        .filter(|(_, it)| end.is_none_or(|e| it.invoice_date <= e))
        .min_by_key(|(i, it)| (it.invoice_date, *i))
        .map(|(i, _)| i)
        .ok_or_else(|| {
            PickError::NotFound(format!(
                "invoice schedule {} has no pending item left",
                schedule.id
            ))
        })
}

/// The latest end date among the schedule's subscriptions; `None` when one of them has
/// no end (or none is known).
fn schedule_end(schedule: &InvoiceSchedule, subscriptions: &[Subscription]) -> Option<NaiveDate> {
    let mut end: Option<NaiveDate> = None;
    for id in &schedule.subscription_ids {
        let sub = subscriptions.iter().find(|s| &s.id == id)?;
        let e = sub.effective_end()?;
        end = Some(end.map_or(e, |x| x.max(e)));
    }
    end
}

/// The one document executing item `index` produces: one line "Installment k of n"
/// (type Recurring) for the item's amount, plus tax by the account's rate. Its id is
/// derived from (run, account, schedule id), so a repeated execution writes the same.
pub fn installment_document(
    run_id: RunId,
    account: &Account,
    schedule: &InvoiceSchedule,
    index: usize,
    status: DocumentStatus,
) -> Option<Document> {
    let item = schedule.items.get(index)?;
    let currency = account.currency;
    let amount = currency.round(item.amount);
    let line = Line {
        charge_id: None,
        subscription_id: schedule.subscription_ids.first().cloned(),
        adjustment_id: None,
        line_type: LineType::Recurring,
        description: format!("Installment {} of {}", index + 1, schedule.items.len()),
        period_start: Some(item.invoice_date),
        period_end: None,
        quantity: Decimal::ONE,
        amount,
        credits_document: None,
        credits_document_id: None,
        gl_account: account.gl_accounts.revenue.clone(),
    };
    let totals = Totals::compute(std::slice::from_ref(&line), currency, account.tax_rate)?;
    let kind = if totals.total.is_sign_negative() && !totals.total.is_zero() {
        DocumentKind::CreditMemo
    } else {
        DocumentKind::Invoice
    };
    let group_key = schedule.id.to_string();
    let due_date = item
        .invoice_date
        .checked_add_days(Days::new(u64::from(account.payment_term_days)))
        .unwrap_or(item.invoice_date);
    Some(Document {
        id: DocumentId::derive(run_id, &account.id, &group_key),
        number: None,
        kind,
        run_id,
        account_id: account.id.clone(),
        group_key,
        currency,
        invoice_date: item.invoice_date,
        due_date,
        status,
        invoice_message: None,
        lines: vec![line],
        totals,
        gl_accounts: account.gl_accounts.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::Book;

    fn book() -> Book {
        Book::parse(
            br#"{
            "accounts": [{"id": "A", "name": "A", "currency": "USD", "billCycleDay": 1, "taxRate": "0.1", "paymentTermDays": 10}],
            "subscriptions": [{"id": "S", "accountId": "A", "productId": "P", "startDate": "2024-01-01", "endDate": "2024-06-01"}],
            "invoiceSchedules": [{"id": "IS", "accountId": "A", "subscriptionIds": ["S"], "items": [
                {"id": "I3", "invoiceDate": "2024-07-01", "amount": "10.00"},
                {"id": "I2", "invoiceDate": "2024-03-01", "amount": "20.00"},
                {"id": "I1", "invoiceDate": "2024-02-01", "amount": "30.00", "status": "Processed"}
            ]}]
        }"#,
        )
        .unwrap()
    }

    #[test]
    fn without_an_item_the_earliest_pending_item_before_the_end_is_picked() {
        let b = book();
        let s = &b.invoice_schedules[0];
        assert_eq!(pick_item(s, None, &b.subscriptions), Ok(1));
        let mut s2 = s.clone();
        s2.items[1].status = ScheduleItemStatus::Processed;
        // I3 lies after the subscription's end: nothing is left.
        assert!(matches!(
            pick_item(&s2, None, &b.subscriptions),
            Err(PickError::NotFound(_))
        ));
    }

    #[test]
    fn a_named_processed_item_is_a_conflict_and_an_unknown_one_not_found() {
        let b = book();
        let s = &b.invoice_schedules[0];
        let id = |x: &str| ScheduleItemId::parse(x).unwrap();
        assert!(matches!(
            pick_item(s, Some(&id("I1")), &b.subscriptions),
            Err(PickError::Processed(_))
        ));
        assert!(matches!(
            pick_item(s, Some(&id("nope")), &b.subscriptions),
            Err(PickError::NotFound(_))
        ));
        assert_eq!(pick_item(s, Some(&id("I3")), &b.subscriptions), Ok(0));
    }

    #[test]
    fn the_installment_document_has_one_recurring_line_plus_tax() {
        let b = book();
        let run = RunId(uuid::Uuid::nil());
        let d = installment_document(
            run,
            &b.accounts[0],
            &b.invoice_schedules[0],
            1,
            DocumentStatus::Draft,
        )
        .unwrap();
        assert_eq!(d.lines.len(), 1);
        assert_eq!(d.lines[0].description, "Installment 2 of 3");
        assert_eq!(d.lines[0].line_type, LineType::Recurring);
        assert_eq!(d.totals.recurring.to_string(), "20.00");
        assert_eq!(d.totals.tax.to_string(), "2.00");
        assert_eq!(d.totals.total.to_string(), "22.00");
        assert_eq!(d.invoice_date.to_string(), "2024-03-01");
        assert_eq!(d.due_date.to_string(), "2024-03-11");
        assert_eq!(d.kind, DocumentKind::Invoice);
    }
}
