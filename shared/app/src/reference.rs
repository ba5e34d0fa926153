//! Reference data: the book imported whole, or by entity (accounts, subscriptions,
//! usage, adjustments, invoice schedules), each validated against what is stored, whole
//! before any write.

use crate::error::AppError;
use crate::error::{ConflictCode, StoreError};
use crate::model::audit::{AuditEvent, ConfigChange, ResourceKind};
use crate::model::schedules::{item_due_at, DueEntry, DueTarget, StoredSchedule};
use crate::ports::*;
use billrun_domain::book::{
    Account, Adjustment, Book, InvoiceSchedule, ScheduleItemStatus, Subscription, UsageRecord,
};
use billrun_domain::error::parse_json;
use billrun_domain::ids::{AccountId, ScheduleId, SubscriptionId};
use billrun_domain::rating::AccountBook;
use billrun_domain::FieldError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Most usage records (or adjustments) one call may carry.
pub const MAX_RECORDS_PER_CALL: usize = 1000;

/// Rewrites an error's field path from the validated mini-book (`subscriptions[3].x`)
/// to the request's own (`x`).
fn rebase(e: FieldError, from: &str) -> FieldError {
    let field = if e.field == from {
        "$".to_string()
    } else if let Some(rest) = e.field.strip_prefix(from) {
        rest.trim_start_matches('.').to_string()
    } else {
        e.field
    };
    FieldError {
        field,
        message: e.message,
    }
}

fn id_matches(path_id: &str, body_id: &str) -> Result<(), AppError> {
    if path_id != body_id {
        return Err(AppError::Validation(FieldError::new(
            "id",
            format!("must equal the id in the path ('{path_id}')"),
        )));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UsageBatch {
    usage: Vec<UsageRecord>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AdjustmentBatch {
    adjustments: Vec<Adjustment>,
}

/// What a usage or adjustment call stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordsStored {
    pub received: usize,
    /// New records, or replaced adjustments.
    pub stored: usize,
    /// Usage records already stored under their id, left as they were.
    pub already_stored: usize,
}

/// Reference data over the ports it uses.
#[derive(Clone)]
pub struct Reference {
    pub book: Arc<dyn BookStore>,
    pub subscriptions: Arc<dyn SubscriptionIndex>,
    pub invoice_schedules: Arc<dyn ScheduleStore>,
    /// Invoice-schedule items are noted as due before their schedule is written.
    pub due: Arc<dyn DueIndex>,
    /// Changes of the book are recorded once stored (an import is not one atomic
    /// write on every store: a failed one is retried by its caller, and records then).
    pub audit: Arc<dyn AuditLog>,
    pub clock: Arc<dyn Clock>,
}

impl Reference {
    /// Parses and validates a whole book, then stores it: an invalid book writes nothing.
    pub async fn import_book(&self, bytes: &[u8]) -> Result<Book, AppError> {
        let book = Book::parse(bytes)?;
        self.note_schedule_items(&book.invoice_schedules).await?;
        self.book.import_book(&book).await?;
        self.record(ConfigChange::of_book(&[
            ("accounts", book.accounts.len()),
            ("subscriptions", book.subscriptions.len()),
            ("usage", book.usage.len()),
            ("adjustments", book.adjustments.len()),
            ("invoiceSchedules", book.invoice_schedules.len()),
        ]))
        .await?;
        Ok(book)
    }

    /// Records a change of the book, made by the request's caller, once it is stored.
    async fn record(&self, change: ConfigChange) -> Result<(), AppError> {
        let entry: AuditEvent = change.entry(None, crate::actor::current(), self.clock.now());
        Ok(self.audit.record_audit(&[entry]).await?)
    }

    async fn account_book_or(&self, id: &AccountId, field: &str) -> Result<AccountBook, AppError> {
        self.book.account_book(id).await?.ok_or_else(|| {
            AppError::Validation(FieldError::new(field, format!("unknown account '{id}'")))
        })
    }

    /// Upserts one account; returns it and whether it is new.
    pub async fn put_account(&self, id: &str, bytes: &[u8]) -> Result<(Account, bool), AppError> {
        let account: Account = parse_json(bytes)?;
        id_matches(id, account.id.as_str())?;
        let book = Book {
            accounts: vec![account.clone()],
            ..Book::default()
        };
        book.validate().map_err(|e| rebase(e, "accounts[0]"))?;
        let existing = self.book.account_book(&account.id).await?;
        if let Some(ab) = &existing {
            let has_data =
                !ab.subscriptions.is_empty() || !ab.usage.is_empty() || !ab.adjustments.is_empty();
            if ab.account.currency != account.currency && has_data {
                return Err(AppError::Conflict {
                    code: ConflictCode::CurrencyLocked,
                    message: format!(
                        "account {} bills in {}; its currency cannot change once it has subscriptions, usage or adjustments",
                        account.id, ab.account.currency
                    ),
                    field: Some("currency".into()),
                });
            }
        }
        self.book.import_book(&book).await?;
        let before = existing.as_ref().map(|ab| &ab.account);
        let change = ConfigChange::between(
            ResourceKind::Account,
            account.id.to_string(),
            before,
            Some(&account),
        );
        self.record(change.without_values()).await?;
        Ok((account, existing.is_none()))
    }

    pub async fn get_account(&self, id: &AccountId) -> Result<Account, AppError> {
        Ok(self
            .book
            .account_book(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("account {id}")))?
            .account)
    }

    /// Upserts one subscription of an existing account; returns it and whether it is new.
    pub async fn put_subscription(
        &self,
        id: &str,
        bytes: &[u8],
    ) -> Result<(Subscription, bool), AppError> {
        let sub: Subscription = parse_json(bytes)?;
        id_matches(id, sub.id.as_str())?;
        let ab = self.account_book_or(&sub.account_id, "accountId").await?;
        let owner = self.subscriptions.subscription_account(&sub.id).await?;
        if let Some(owner) = &owner {
            if owner != &sub.account_id {
                return Err(AppError::Conflict {
                    code: ConflictCode::AccountLocked,
                    message: format!(
                        "subscription {} belongs to account {owner}; it cannot move",
                        sub.id
                    ),
                    field: Some("accountId".into()),
                });
            }
        }
        let mut subs: Vec<Subscription> = ab
            .subscriptions
            .iter()
            .filter(|s| s.id != sub.id)
            .cloned()
            .collect();
        let at = format!("subscriptions[{}]", subs.len());
        subs.push(sub.clone());
        Book {
            accounts: vec![ab.account.clone()],
            subscriptions: subs,
            ..Book::default()
        }
        .validate()
        .map_err(|e| rebase(e, &at))?;
        self.book
            .import_book(&Book {
                subscriptions: vec![sub.clone()],
                ..Book::default()
            })
            .await?;
        let before = ab.subscriptions.iter().find(|s| s.id == sub.id);
        self.record(ConfigChange::between(
            ResourceKind::Subscription,
            sub.id.to_string(),
            before,
            Some(&sub),
        ))
        .await?;
        Ok((sub, owner.is_none()))
    }

    pub async fn get_subscription(&self, id: &SubscriptionId) -> Result<Subscription, AppError> {
        let not_found = || AppError::NotFound(format!("subscription {id}"));
        let account = self
            .subscriptions
            .subscription_account(id)
            .await?
            .ok_or_else(not_found)?;
        self.book
            .account_book(&account)
            .await?
            .and_then(|ab| ab.subscriptions.into_iter().find(|s| &s.id == id))
            .ok_or_else(not_found)
    }

    /// The books of the accounts records name (`field(i)` is the path of record `i`'s
    /// account id).
    async fn books_of(
        &self,
        accounts: impl Iterator<Item = &AccountId>,
        field: impl Fn(usize) -> String,
    ) -> Result<BTreeMap<AccountId, AccountBook>, AppError> {
        let mut books = BTreeMap::new();
        for (i, a) in accounts.enumerate() {
            if !books.contains_key(a) {
                let ab = self.account_book_or(a, &field(i)).await?;
                books.insert(a.clone(), ab);
            }
        }
        Ok(books)
    }

    /// Stores up to 1,000 usage records, idempotent by record id: a record already
    /// stored is left as it is.
    pub async fn post_usage(&self, bytes: &[u8]) -> Result<RecordsStored, AppError> {
        let batch: UsageBatch = parse_json(bytes)?;
        if batch.usage.len() > MAX_RECORDS_PER_CALL {
            return Err(AppError::Validation(FieldError::new(
                "usage",
                format!("must have at most {MAX_RECORDS_PER_CALL} records per call"),
            )));
        }
        let books = self
            .books_of(batch.usage.iter().map(|u| &u.account_id), |i| {
                format!("usage[{i}].accountId")
            })
            .await?;
        Book {
            accounts: books.values().map(|b| b.account.clone()).collect(),
            subscriptions: books
                .values()
                .flat_map(|b| b.subscriptions.iter().cloned())
                .collect(),
            usage: batch.usage.clone(),
            ..Book::default()
        }
        .validate()?;
        let received = batch.usage.len();
        let new: Vec<UsageRecord> = batch
            .usage
            .into_iter()
            .filter(|u| {
                !books
                    .get(&u.account_id)
                    .is_some_and(|b| b.usage.iter().any(|x| x.id == u.id))
            })
            .collect();
        let stored = new.len();
        if !new.is_empty() {
            self.book
                .import_book(&Book {
                    usage: new,
                    ..Book::default()
                })
                .await?;
            self.record(ConfigChange::of_book(&[("usage", stored)]))
                .await?;
        }
        Ok(RecordsStored {
            received,
            stored,
            already_stored: received - stored,
        })
    }

    /// Upserts up to 1,000 adjustments (replaced by id).
    pub async fn post_adjustments(&self, bytes: &[u8]) -> Result<RecordsStored, AppError> {
        let batch: AdjustmentBatch = parse_json(bytes)?;
        if batch.adjustments.len() > MAX_RECORDS_PER_CALL {
            return Err(AppError::Validation(FieldError::new(
                "adjustments",
                format!("must have at most {MAX_RECORDS_PER_CALL} records per call"),
            )));
        }
        let books = self
            .books_of(batch.adjustments.iter().map(|a| &a.account_id), |i| {
                format!("adjustments[{i}].accountId")
            })
            .await?;
        Book {
            accounts: books.values().map(|b| b.account.clone()).collect(),
            adjustments: batch.adjustments.clone(),
            ..Book::default()
        }
        .validate()?;
        let received = batch.adjustments.len();
        if received > 0 {
            self.book
                .import_book(&Book {
                    adjustments: batch.adjustments,
                    ..Book::default()
                })
                .await?;
            self.record(ConfigChange::of_book(&[("adjustments", received)]))
                .await?;
        }
        Ok(RecordsStored {
            received,
            stored: received,
            already_stored: 0,
        })
    }

    /// Upserts one invoice schedule of an existing account; items it executed stay
    /// Processed.
    pub async fn put_schedule(
        &self,
        id: &str,
        bytes: &[u8],
    ) -> Result<(StoredSchedule, bool), AppError> {
        self.write_schedule(id, bytes, false).await
    }

    /// Creates an invoice schedule, refusing an id that is taken
    /// (`invoice_schedule_exists`, at `id`): a form that makes a new schedule must not
    /// replace one by typing its id. The store's conditional write makes the refusal
    /// hold under a race.
    pub async fn create_schedule(
        &self,
        id: &str,
        bytes: &[u8],
    ) -> Result<StoredSchedule, AppError> {
        Ok(self.write_schedule(id, bytes, true).await?.0)
    }

    async fn write_schedule(
        &self,
        id: &str,
        bytes: &[u8],
        create_only: bool,
    ) -> Result<(StoredSchedule, bool), AppError> {
        let schedule: InvoiceSchedule = parse_json(bytes)?;
        id_matches(id, schedule.id.as_str())?;
        let ab = self
            .account_book_or(&schedule.account_id, "accountId")
            .await?;
        let existing = self.invoice_schedules.get_schedule(&schedule.id).await?;
        let taken = || AppError::Conflict {
            code: ConflictCode::InvoiceScheduleExists,
            message: format!("an invoice schedule {} exists", schedule.id),
            field: Some("id".into()),
        };
        if create_only && existing.is_some() {
            return Err(taken());
        }
        if let Some(e) = &existing {
            if e.schedule.account_id != schedule.account_id {
                return Err(AppError::Conflict {
                    code: ConflictCode::AccountLocked,
                    message: format!(
                        "invoice schedule {} belongs to account {}; it cannot move",
                        schedule.id, e.schedule.account_id
                    ),
                    field: Some("accountId".into()),
                });
            }
        }
        let mut schedules: Vec<InvoiceSchedule> = self
            .invoice_schedules
            .account_schedules(&schedule.account_id)
            .await?
            .into_iter()
            .filter(|s| s.id != schedule.id)
            .collect();
        let at = format!("invoiceSchedules[{}]", schedules.len());
        schedules.push(schedule.clone());
        Book {
            accounts: vec![ab.account.clone()],
            subscriptions: ab.subscriptions.clone(),
            invoice_schedules: schedules,
            ..Book::default()
        }
        .validate()
        .map_err(|e| rebase(e, &at))?;
        self.note_schedule_items(std::slice::from_ref(&schedule))
            .await?;
        let entry = ConfigChange::between(
            ResourceKind::InvoiceSchedule,
            schedule.id.to_string(),
            existing.as_ref().map(|e| &e.schedule),
            Some(&schedule),
        )
        .entry(None, crate::actor::current(), self.clock.now());
        if create_only {
            match self
                .invoice_schedules
                .create_schedule(&schedule, &entry)
                .await
            {
                Err(StoreError::Conflict(_)) => return Err(taken()),
                other => other?,
            }
        } else {
            self.invoice_schedules
                .put_schedule(&schedule, &entry)
                .await?;
        }
        let stored = self.get_schedule(&schedule.id).await?;
        Ok((stored, existing.is_none()))
    }

    /// A page of invoice schedules in id order, after `after`, at most `limit`, as they
    /// were put (which items are executed: [`Self::get_schedule`]).
    pub async fn list_schedules(
        &self,
        after: Option<&ScheduleId>,
        limit: usize,
    ) -> Result<Vec<InvoiceSchedule>, AppError> {
        Ok(self.invoice_schedules.list_schedules(after, limit).await?)
    }

    pub async fn get_schedule(&self, id: &ScheduleId) -> Result<StoredSchedule, AppError> {
        self.invoice_schedules
            .get_schedule(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("invoice schedule {id}")))
    }

    /// Notes the due entries of invoice-schedule items still Pending (before the
    /// schedules are written).
    async fn note_schedule_items(
        &self,
        schedules: &[billrun_domain::book::InvoiceSchedule],
    ) -> Result<(), AppError> {
        let now = self.clock.now();
        let entries: Vec<DueEntry> = schedules
            .iter()
            .flat_map(|s| {
                s.items
                    .iter()
                    .filter(|i| i.status == ScheduleItemStatus::Pending)
                    .map(|i| DueEntry {
                        at: item_due_at(i.invoice_date),
                        target: DueTarget::InvoiceItem {
                            schedule_id: s.id.clone(),
                            item_id: i.id.clone(),
                        },
                        noted_at: now,
                    })
            })
            .collect();
        if !entries.is_empty() {
            self.due.note_due(&entries).await?;
        }
        Ok(())
    }
}
