//! Use cases of the HTTP API beyond the run pipeline: reference data by entity
//! (validated against what is stored, whole before any write), listings with positions,
//! changing a Pending run, executing an invoice-schedule item, document templates.

use crate::catalog::*;
use crate::error::{AppError, StoreError};
use crate::model::*;
use billrun_domain::book::{Account, Adjustment, Book, InvoiceSchedule, Subscription, UsageRecord};
use billrun_domain::document::{Document, DocumentKind, DocumentStatus};
use billrun_domain::error::parse_json;
use billrun_domain::ids::{AccountId, RunId, ScheduleId, ScheduleItemId, SubscriptionId};
use billrun_domain::rating::AccountBook;
use billrun_domain::request::{ExcludableType, RunRequest, RunType};
use billrun_domain::run::{Counters, Outcome, RunStatus};
use billrun_domain::schedule::{installment_document, pick_item, PickError};
use billrun_domain::FieldError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most usage records (or adjustments) one call may carry.
pub const MAX_RECORDS_PER_CALL: usize = 1000;
/// Longest document template content, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 1 << 20;

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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TemplateInput {
    name: String,
    /// The template JSON, as an object or as a string holding it.
    content: serde_json::Value,
}

/// What executing an invoice-schedule item did.
#[derive(Debug, Clone)]
pub struct ScheduleExecution {
    pub run: RunView,
    pub schedule: InvoiceSchedule,
    /// The item id the caller named (`None`: the next pending item was taken).
    pub requested_item: Option<ScheduleItemId>,
    pub executed_item: ScheduleItemId,
    pub document: Document,
}

impl crate::App {
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
                    code: "currency_locked",
                    message: format!(
                        "account {} bills in {}; its currency cannot change once it has subscriptions, usage or adjustments",
                        account.id, ab.account.currency
                    ),
                    field: Some("currency".into()),
                });
            }
        }
        self.book.import_book(&book).await?;
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

    pub async fn list_accounts(
        &self,
        batch: Option<&str>,
        after: Option<&AccountId>,
        limit: usize,
    ) -> Result<Vec<Account>, AppError> {
        Ok(self.catalog.list_accounts(batch, after, limit).await?)
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
        let owner = self.catalog.subscription_account(&sub.id).await?;
        if let Some(owner) = &owner {
            if owner != &sub.account_id {
                return Err(AppError::Conflict {
                    code: "account_locked",
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
        Ok((sub, owner.is_none()))
    }

    pub async fn get_subscription(&self, id: &SubscriptionId) -> Result<Subscription, AppError> {
        let not_found = || AppError::NotFound(format!("subscription {id}"));
        let account = self
            .catalog
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
        let schedule: InvoiceSchedule = parse_json(bytes)?;
        id_matches(id, schedule.id.as_str())?;
        let ab = self
            .account_book_or(&schedule.account_id, "accountId")
            .await?;
        let existing = self.catalog.get_schedule(&schedule.id).await?;
        if let Some(e) = &existing {
            if e.schedule.account_id != schedule.account_id {
                return Err(AppError::Conflict {
                    code: "account_locked",
                    message: format!(
                        "invoice schedule {} belongs to account {}; it cannot move",
                        schedule.id, e.schedule.account_id
                    ),
                    field: Some("accountId".into()),
                });
            }
        }
        let mut schedules: Vec<InvoiceSchedule> = self
            .catalog
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
        self.catalog.put_schedule(&schedule).await?;
        let stored = self.get_schedule(&schedule.id).await?;
        Ok((stored, existing.is_none()))
    }

    pub async fn get_schedule(&self, id: &ScheduleId) -> Result<StoredSchedule, AppError> {
        self.catalog
            .get_schedule(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("invoice schedule {id}")))
    }

    /// Executes one invoice-schedule item (docs/billing-rules.md "Invoice schedules"): a run
    /// filtered to the item's account whose single document has one line "Installment
    /// k of n" for the item's amount plus tax. The item becomes Processed and records
    /// the run and document. Without `item`, the earliest Pending item dated on or
    /// before the end of the schedule's subscriptions is taken (none: NotFound); a
    /// Processed item is a Conflict.
    pub async fn execute_schedule(
        &self,
        schedule_id: &ScheduleId,
        item: Option<ScheduleItemId>,
    ) -> Result<ScheduleExecution, AppError> {
        let stored = self.get_schedule(schedule_id).await?;
        let schedule = stored.schedule;
        let ab = self
            .book
            .account_book(&schedule.account_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("account {}", schedule.account_id)))?;
        let index =
            pick_item(&schedule, item.as_ref(), &ab.subscriptions).map_err(|e| match e {
                PickError::NotFound(_) => AppError::NotFound(match &item {
                    Some(i) => format!("pending item {i} of invoice schedule {schedule_id}"),
                    None => format!("pending item of invoice schedule {schedule_id}"),
                }),
                PickError::Processed(m) => AppError::Conflict {
                    code: "schedule_item_processed",
                    message: m,
                    field: Some("scheduleItemId".into()),
                },
            })?;
        let it = schedule.items[index].clone();
        let mut request = RunRequest::for_target(it.invoice_date);
        request.name = Some(format!("Invoice schedule {schedule_id} item {}", it.id));
        request.run_type = RunType::Manual;
        request.invoice_date = Some(it.invoice_date);
        request.filters.account_ids = vec![schedule.account_id.clone()];
        request.charge_types_excluded = vec![ExcludableType::Usage];
        let request = request.validated()?;
        let run_id = RunId(uuid::Uuid::new_v4());
        let document =
            installment_document(run_id, &ab.account, &schedule, index, DocumentStatus::Draft)
                .ok_or_else(|| {
                    AppError::Validation(FieldError::new(
                        format!("items[{index}].amount"),
                        "amount overflow",
                    ))
                })?;
        let now = self.clock.now();
        // Claim the item first: of two concurrent executions, one wins.
        self.catalog
            .mark_processed(
                schedule_id,
                &ProcessedItem {
                    item_id: it.id.clone(),
                    run_id,
                    document_id: document.id,
                    processed_at: now,
                },
            )
            .await
            .map_err(|e| match e {
                StoreError::Conflict(m) => AppError::Conflict {
                    code: "schedule_item_processed",
                    message: m,
                    field: Some("scheduleItemId".into()),
                },
                other => other.into(),
            })?;
        let record = new_run_record(run_id, request, None, now);
        self.runs.create_run(record).await?;
        // One account, planned at once: the run goes straight to its commit.
        self.modify_run(run_id, |r| {
            if r.status != RunStatus::Pending {
                return Ok(false);
            }
            r.status = RunStatus::Processing;
            r.commenced_at = Some(now);
            r.plan = PlanState {
                cursor: None,
                selected: 1,
                pages: 1,
                done: true,
            };
            Ok(true)
        })
        .await?;
        let counters = Counters::for_account(Outcome::Billed, std::slice::from_ref(&document), 0);
        // Committed now or by an earlier attempt that may have stopped before its
        // progress: reported either way (a progress that leads costs one exact count).
        self.ledger
            .commit_account(&AccountCommit {
                outcome: AccountOutcomeRecord {
                    run_id,
                    account_id: schedule.account_id.clone(),
                    outcome: Outcome::Billed,
                    reason: None,
                    document_ids: vec![document.id],
                    changes: vec![],
                    counters: counters.clone(),
                    round: 0,
                },
                documents: vec![document.clone()],
            })
            .await?;
        self.runs.add_progress(run_id, &counters).await?;
        self.try_finalize(run_id).await?;
        let document = self
            .documents
            .get_document(document.id)
            .await?
            .map_or(document, |d| d.document);
        let schedule = self.get_schedule(schedule_id).await?.schedule;
        Ok(ScheduleExecution {
            run: self.run_view(run_id).await?,
            schedule,
            requested_item: item,
            executed_item: it.id,
            document,
        })
    }

    /// The run with its counters.
    pub async fn view_of(&self, r: RunRecord) -> Result<RunView, AppError> {
        let counters = self.view_counters(&r).await?;
        let documents = self.run_document_counters(r.id).await?;
        Ok(RunView {
            id: r.id,
            number: r.number,
            name: r.name,
            status: r.status,
            request: r.request,
            target_date: r.target_date,
            created_at: r.created_at,
            updated_at: r.updated_at,
            commenced_at: r.commenced_at,
            completed_at: r.completed_at,
            transition: r.transition.map(|t| t.kind),
            counters,
            documents,
        })
    }

    pub async fn run_by_number(&self, number: u64) -> Result<RunRecord, AppError> {
        self.catalog
            .run_by_number(number)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("invoice run {number}")))
    }

    pub async fn list_runs(
        &self,
        filter: &RunFilter,
        after: Option<&RunPosition>,
        limit: usize,
    ) -> Result<Vec<RunView>, AppError> {
        let runs = self.catalog.list_runs(filter, after, limit).await?;
        let mut out = Vec::with_capacity(runs.len());
        for r in runs {
            out.push(self.view_of(r).await?);
        }
        Ok(out)
    }

    /// Changes fields of a run's request (a JSON merge patch over the canonical
    /// request, validated whole). While the run is Pending every field may change;
    /// after processing has started only `name` may, and a change to any other field
    /// is a Conflict naming it (`field_locked`).
    pub async fn patch_run(&self, id: RunId, bytes: &[u8]) -> Result<RunView, AppError> {
        let patch: serde_json::Value = parse_json(bytes)?;
        let serde_json::Value::Object(patch) = patch else {
            return Err(AppError::Validation(FieldError::new(
                "$",
                "must be a JSON object",
            )));
        };
        let run = self.get_run(id).await?;
        let mut merged = serde_json::to_value(&run.request)
            .map_err(|e| AppError::Internal(format!("encode request: {e}")))?;
        if let serde_json::Value::Object(m) = &mut merged {
            for (k, v) in patch {
                match (m.get_mut(&k), v) {
                    (Some(serde_json::Value::Object(inner)), serde_json::Value::Object(p)) => {
                        for (ik, iv) in p {
                            inner.insert(ik, iv);
                        }
                    }
                    (_, v) => {
                        m.insert(k, v);
                    }
                }
            }
        }
        let bytes = serde_json::to_vec(&merged)
            .map_err(|e| AppError::Internal(format!("encode request: {e}")))?;
        let request = RunRequest::parse(&bytes)?;
        if request.scheduled_at != run.request.scheduled_at {
            self.note_scheduled_run(id, &request).await?;
        }
        let updated = self
            .modify_run(id, |r| {
                if r.request == request {
                    return Ok(false);
                }
                let changed = changed_fields(&r.request, &request)?;
                let locked = |f: &str| {
                    f == "runType" || (r.status != RunStatus::Pending && f != "name")
                };
                if let Some(field) = changed.into_iter().find(|f| locked(f)) {
                    return Err(AppError::Conflict {
                        code: "field_locked",
                        message: if field == "runType" {
                            "runType cannot change; create another run".to_string()
                        } else {
                            format!(
                                "{field} cannot change: run {} is {:?}, and fields lock once processing has started",
                                r.number, r.status
                            )
                        },
                        field: Some(field),
                    });
                }
                r.target_date = request.target();
                r.name = request
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("Invoice run {}", r.target_date));
                r.request = request.clone();
                Ok(true)
            })
            .await?;
        self.view_of(updated).await
    }

    /// One page of a run's documents in numbering order, of one kind when given.
    pub async fn run_documents_page(
        &self,
        run: RunId,
        kind: Option<DocumentKind>,
        after: Option<&DocumentPosition>,
        limit: usize,
    ) -> Result<Vec<StoredDocument>, AppError> {
        self.get_run(run).await?;
        Ok(self
            .catalog
            .list_run_documents(run, kind, after, limit)
            .await?)
    }

    pub async fn get_document(
        &self,
        id: billrun_domain::ids::DocumentId,
    ) -> Result<Document, AppError> {
        self.documents
            .get_document(id)
            .await?
            .map(|d| d.document)
            .ok_or_else(|| AppError::NotFound(format!("document {id}")))
    }

    /// One page of a run's account outcomes by account id, of one outcome when given.
    pub async fn outcomes_page(
        &self,
        run: RunId,
        outcome: Option<Outcome>,
        after: Option<AccountId>,
        limit: usize,
    ) -> Result<Vec<AccountOutcomeView>, AppError> {
        self.get_run(run).await?;
        let limit = limit.max(1);
        let mut out = Vec::new();
        let mut after = after;
        loop {
            let page = self
                .runs
                .outcomes(run, after.as_ref(), limit.max(100))
                .await?;
            let exhausted = page.len() < limit.max(100);
            for o in page {
                after = Some(o.account_id.clone());
                if outcome.is_some_and(|x| x != o.outcome) {
                    continue;
                }
                let mut numbers = Vec::with_capacity(o.document_ids.len());
                for d in &o.document_ids {
                    if let Some(n) = self
                        .documents
                        .get_document(*d)
                        .await?
                        .and_then(|s| s.document.number)
                    {
                        numbers.push(n);
                    }
                }
                out.push(AccountOutcomeView {
                    account_id: o.account_id,
                    outcome: o.outcome,
                    document_numbers: numbers,
                    reason: o.reason,
                });
                if out.len() == limit {
                    return Ok(out);
                }
            }
            if exhausted {
                return Ok(out);
            }
        }
    }

    pub async fn put_template(&self, id: &str, bytes: &[u8]) -> Result<DocumentTemplate, AppError> {
        AccountId::parse(id).map_err(|m| AppError::Validation(FieldError::new("id", m)))?;
        let input: TemplateInput = parse_json(bytes)?;
        if input.name.trim().is_empty() || input.name.len() > 256 {
            return Err(AppError::Validation(FieldError::new(
                "name",
                "must be a non-empty string of at most 256 bytes",
            )));
        }
        let content = match input.content {
            serde_json::Value::String(s) => s,
            v @ serde_json::Value::Object(_) => v.to_string(),
            _ => {
                return Err(AppError::Validation(FieldError::new(
                    "content",
                    "must be the template as a JSON object (or a string holding it)",
                )))
            }
        };
        if content.len() > MAX_TEMPLATE_BYTES {
            return Err(AppError::Validation(FieldError::new(
                "content",
                format!("must be at most {MAX_TEMPLATE_BYTES} bytes"),
            )));
        }
        if let Err(e) = billrun_documents::DocumentTemplate::from_json(content.as_bytes()) {
            let field = if e.field.is_empty() {
                "content".to_string()
            } else {
                format!("content.{}", e.field)
            };
            return Err(AppError::Validation(FieldError::new(field, e.message)));
        }
        Ok(self
            .catalog
            .put_template(&DocumentTemplate {
                id: id.to_string(),
                name: input.name,
                content,
                active: false,
                updated_at: self.clock.now(),
            })
            .await?)
    }

    pub async fn activate_template(&self, id: &str) -> Result<DocumentTemplate, AppError> {
        self.catalog
            .activate_template(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("document template {id}")))
    }
}

/// A new Pending run record (its number is assigned when it is stored).
pub(crate) fn new_run_record(
    id: RunId,
    request: RunRequest,
    idempotency_key: Option<String>,
    now: chrono::DateTime<chrono::Utc>,
) -> RunRecord {
    let target = request.target();
    RunRecord {
        id,
        number: String::new(),
        name: request
            .name
            .clone()
            .unwrap_or_else(|| format!("Invoice run {target}")),
        status: RunStatus::Pending,
        target_date: target,
        request,
        created_at: now,
        updated_at: now,
        commenced_at: None,
        completed_at: None,
        idempotency_key,
        plan: PlanState::default(),
        round: 0,
        number_blocks: vec![],
        finalize: None,
        sweep: crate::model::SweepState::default(),
        transition: None,
        version: 1,
    }
}

/// The top-level request fields whose values differ, date fields first.
fn changed_fields(a: &RunRequest, b: &RunRequest) -> Result<Vec<String>, AppError> {
    let enc = |r: &RunRequest| {
        serde_json::to_value(r).map_err(|e| AppError::Internal(format!("encode request: {e}")))
    };
    let (va, vb) = (enc(a)?, enc(b)?);
    const ORDER: [&str; 19] = [
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
    ];
    // Dates first: they are the fields a caller most needs to hear are locked.
    let mut order: Vec<&str> = ORDER.iter().copied().filter(|f| is_date_field(f)).collect();
    order.extend(ORDER.iter().copied().filter(|f| !is_date_field(f)));
    Ok(order
        .into_iter()
        .filter(|f| va.get(*f) != vb.get(*f))
        .map(str::to_string)
        .collect())
}

/// The request fields that are dates.
pub fn is_date_field(f: &str) -> bool {
    matches!(
        f,
        "scheduledAt"
            | "targetDate"
            | "invoiceDate"
            | "processFrom"
            | "processTo"
            | "usageCutoffDate"
            | "transactionCutoffDate"
            | "dueDate"
    )
}
