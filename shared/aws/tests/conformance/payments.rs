//! The payment store on every backend: a payment recorded once by its id, an invoice's
//! paid amount never above its total, under concurrent payments too.

use super::at;
use crate::common::Backend;
use billrun_app::model::payments::{Payment, PaymentRecorded};
use billrun_domain::ids::{AccountId, DocumentId, PaymentId};
use billrun_domain::money::Currency;
use rust_decimal::Decimal;
use std::sync::Arc;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn payment(invoice: DocumentId, amount: &str, minute: u32) -> Payment {
    Payment {
        id: PaymentId(uuid::Uuid::new_v4()),
        invoice_id: invoice,
        account_id: AccountId::parse("A-1").unwrap(),
        currency: Currency::parse("USD").unwrap(),
        amount: d(amount),
        date: "2026-02-10".parse().unwrap(),
        reference: Some(format!("wire {minute}")),
        credit_memo_id: None,
        created_at: at(&format!("2026-02-10T10:{minute:02}:00Z")),
    }
}

pub(super) async fn payments_add_up_to_the_total_once_each_and_never_beyond(b: Backend) {
    let store = &b.app.payments;
    let invoice = DocumentId(uuid::Uuid::new_v4());
    let other = DocumentId(uuid::Uuid::new_v4());
    let total = d("100.00");
    assert_eq!(
        store.paid_amounts(&[invoice, other]).await.unwrap(),
        vec![Decimal::ZERO, Decimal::ZERO]
    );
    let first = payment(invoice, "30.00", 1);
    assert_eq!(
        store.record_payment(&first, total, None).await.unwrap(),
        PaymentRecorded::New { paid: d("30.00") }
    );
    // The same id again, whatever it holds: the stored payment, nothing added.
    let mut again = first.clone();
    again.amount = d("50.00");
    assert_eq!(
        store.record_payment(&again, total, None).await.unwrap(),
        PaymentRecorded::Exists(first.clone())
    );
    // Over the balance: refused with the paid amount, nothing written.
    let over = payment(invoice, "70.01", 2);
    assert_eq!(
        store.record_payment(&over, total, None).await.unwrap(),
        PaymentRecorded::ExceedsTotal { paid: d("30.00") }
    );
    let above_total = payment(invoice, "100.01", 3);
    assert_eq!(
        store
            .record_payment(&above_total, total, None)
            .await
            .unwrap(),
        PaymentRecorded::ExceedsTotal { paid: d("30.00") }
    );
    let rest = payment(invoice, "70.00", 4);
    assert_eq!(
        store.record_payment(&rest, total, None).await.unwrap(),
        PaymentRecorded::New { paid: d("100.00") }
    );
    assert_eq!(store.payments_of(invoice).await.unwrap(), vec![first, rest]);
    assert_eq!(
        store.paid_amounts(&[other, invoice]).await.unwrap(),
        vec![Decimal::ZERO, d("100.00")]
    );
    assert!(store.payments_of(other).await.unwrap().is_empty());
}

pub(super) async fn concurrent_payments_of_one_invoice_never_exceed_its_total(b: Backend) {
    let store: Arc<dyn billrun_app::ports::PaymentStore> = b.app.payments.clone();
    let invoice = DocumentId(uuid::Uuid::new_v4());
    let total = d("250.00");
    // 20 payments of 10 % each at once: exactly 10 fit.
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            let p = payment(invoice, "25.00", i);
            tokio::spawn(async move { store.record_payment(&p, total, None).await })
        })
        .collect();
    let mut accepted = 0;
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap().unwrap() {
            PaymentRecorded::New { .. } => accepted += 1,
            PaymentRecorded::ExceedsTotal { .. } => refused += 1,
            other => panic!("a payment of an invoice: {other:?}"),
        }
    }
    assert_eq!((accepted, refused), (10, 10));
    assert_eq!(store.paid_amounts(&[invoice]).await.unwrap(), vec![total]);
    assert_eq!(store.payments_of(invoice).await.unwrap().len(), 10);
}

pub(super) async fn a_credit_memo_applies_within_its_credit_and_the_invoices_balance(b: Backend) {
    let store = &b.app.payments;
    let memo = DocumentId(uuid::Uuid::new_v4());
    let (one, two) = (
        DocumentId(uuid::Uuid::new_v4()),
        DocumentId(uuid::Uuid::new_v4()),
    );
    let credit = Some(d("40.00"));
    let apply = |invoice: DocumentId, amount: &str, minute: u32| Payment {
        credit_memo_id: Some(memo),
        ..payment(invoice, amount, minute)
    };
    // 30.00 of the 40.00 credit to an invoice of 30.00: it is paid, 10.00 is left.
    let first = apply(one, "30.00", 1);
    assert_eq!(
        store
            .record_payment(&first, d("30.00"), credit)
            .await
            .unwrap(),
        PaymentRecorded::New { paid: d("30.00") }
    );
    // More than is left of the credit: refused with what is applied, nothing written.
    let over = apply(two, "10.01", 2);
    assert_eq!(
        store
            .record_payment(&over, d("100.00"), credit)
            .await
            .unwrap(),
        PaymentRecorded::ExceedsCredit {
            applied: d("30.00")
        }
    );
    // Within the credit but above the invoice's balance: the invoice's refusal.
    let too_much = apply(one, "5.00", 3);
    assert_eq!(
        store
            .record_payment(&too_much, d("30.00"), credit)
            .await
            .unwrap(),
        PaymentRecorded::ExceedsTotal { paid: d("30.00") }
    );
    let rest = apply(two, "10.00", 4);
    assert_eq!(
        store
            .record_payment(&rest, d("100.00"), credit)
            .await
            .unwrap(),
        PaymentRecorded::New { paid: d("10.00") }
    );
    assert_eq!(
        store.paid_amounts(&[memo, one, two]).await.unwrap(),
        vec![d("40.00"), d("30.00"), d("10.00")]
    );
    assert_eq!(store.payments_of(two).await.unwrap(), vec![rest]);
}
