//! Payments under random fault schedules on the in-memory adapters: every port call may
//! fail, time out (its write landing or not) or fail after its write landed, and the
//! client retries each payment under its `Idempotency-Key` until it gets an answer.
//! Every payment must be recorded exactly once (the invoice's paid amount is the sum of
//! the distinct payments), a replay must answer the payment recorded, and the paid
//! amount must never pass the invoice's total. A failing schedule prints
//! `BILLRUN_FAULT_SEED=<seed>`.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fault_support;

use billrun_app::memory::{MemoryQueue, MemoryStore};
use billrun_app::payments::{PaymentInput, PaymentStatus};
use billrun_app::worker::{drain, WorkerConfig};
use billrun_app::{App, AppError, ConflictCode};
use billrun_domain::document::DocumentKind;
use billrun_testkit::faults::FaultPlan;
use fault_support::seeds;
use rust_decimal::Decimal;
use std::sync::Arc;

/// Schedules per test run (`BILLRUN_FAULT_SCHEDULES` overrides).
const SCHEDULES: u64 = 24;

/// A posted invoice (a prorated month and a month of 60.00), without faults, and its
/// total.
async fn posted_invoice() -> (App, billrun_domain::ids::DocumentId, Decimal) {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    let app = App::in_memory(
        store,
        queue.clone(),
        Arc::new(billrun_documents::PdfRenderer),
    );
    let book =
        billrun_testkit::fixtures::monthly_book(1, |_| "60.00".into(), |_| serde_json::json!({}));
    app.reference()
        .import_book(&serde_json::to_vec(&book).unwrap())
        .await
        .unwrap();
    let mut request = billrun_testkit::fixtures::request("2024-02-01");
    request.auto_post = true;
    let run = app
        .pipeline()
        .create_run(request, None)
        .await
        .unwrap()
        .run()
        .id;
    drain(Arc::new(app.clone()), queue, WorkerConfig::default()).await;
    let docs = app
        .queries()
        .run_documents_page(run, Some(DocumentKind::Invoice), None, 10)
        .await
        .unwrap();
    let invoice = &docs[0].document;
    assert!(invoice.totals.total > Decimal::TEN);
    (app, invoice.id, invoice.totals.total)
}

#[test]
fn payments_under_random_fault_schedules_are_recorded_once_each_and_never_beyond_the_total() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut failed = Vec::new();
    let mut retried = 0u64;
    for seed in seeds(SCHEDULES) {
        let result: Result<(), String> = runtime.block_on(async {
            let (app, invoice, total) = posted_invoice().await;
            let plan = FaultPlan::new(seed, 100 + seed % 200);
            let (faulty, _) = plan.wrap(&app);
            plan.set_active(true);
            // Payments of 10.00 and the remainder: they settle the total; one more
            // cent is an overpayment.
            let ten = Decimal::TEN;
            let mut amounts = vec![ten; (total / ten).floor().try_into().unwrap_or(0)];
            let rest = total - ten * Decimal::from(amounts.len());
            if !rest.is_zero() {
                amounts.push(rest);
            }
            amounts.push("0.01".parse().unwrap());
            let fitting = amounts.len() - 1;
            let mut accepted = 0;
            let mut overpaid = 0;
            for (i, amount) in amounts.iter().enumerate() {
                let key = format!("p-{i}");
                let input = PaymentInput {
                    amount: amount.to_string(),
                    date: Some("2024-02-15".into()),
                    reference: Some(format!("wire {i}")),
                };
                let mut tries = 0;
                loop {
                    tries += 1;
                    if tries > 200 {
                        return Err(format!("payment {i} got no answer in 200 tries"));
                    }
                    match faulty
                        .payments()
                        .pay(invoice, input.clone(), Some(&key))
                        .await
                    {
                        Ok(_) => {
                            accepted += 1;
                            break;
                        }
                        Err(AppError::Conflict {
                            code: ConflictCode::Overpayment,
                            ..
                        }) => {
                            overpaid += 1;
                            break;
                        }
                        Err(AppError::Transient(_) | AppError::Internal(_)) => retried += 1,
                        Err(e) => return Err(format!("payment {i}: {e}")),
                    }
                }
            }
            plan.set_active(false);
            let (payments, settlement) = app.payments().payments(invoice).await.unwrap();
            if (accepted, overpaid, payments.len()) != (fitting, 1, fitting) {
                return Err(format!(
                    "{accepted} accepted, {overpaid} overpaid, {} recorded",
                    payments.len()
                ));
            }
            if settlement.payment_status != PaymentStatus::Paid || settlement.amount_paid != total {
                return Err(format!("settled {settlement:?}"));
            }
            Ok(())
        });
        if let Err(e) = result {
            eprintln!("   FAILED: BILLRUN_FAULT_SEED={seed}: {e}");
            failed.push((seed, e));
        }
    }
    eprintln!("== payments under faults: {retried} retried calls");
    assert!(retried > 0, "no fault made a client retry");
    assert!(failed.is_empty(), "{failed:?}");
}
