//! The book: accounts (with their billing state), subscriptions, usage, adjustments and
//! invoice schedules; the account listing and the subscription index.

use crate::error::fatal;
use crate::schema::*;
use crate::{from_json, limit, to_json, Error, SqliteStore};
use async_trait::async_trait;
use billrun_app::model::AccountPage;
use billrun_app::ports::{AccountListing, BookStore, StoreResult, SubscriptionIndex};
use billrun_domain::book::{Account, Book, InvoiceSchedule};
use billrun_domain::ids::{AccountId, SubscriptionId};
use billrun_domain::rating::AccountBook;
use billrun_domain::request::AccountSelection;
use billrun_domain::state::AccountState;
use rusqlite::{params, OptionalExtension, Transaction};
use std::collections::BTreeSet;

/// Accounts read per statement while planning selects from them.
const SELECT_BATCH: i64 = 1000;

/// An account's billing state, read for a change in the same transaction.
pub(crate) fn read_state(
    tx: &Transaction<'_>,
    account: &AccountId,
) -> Result<Option<AccountState>, Error> {
    let json: Option<String> = tx
        .query_row(
            &format!("SELECT state FROM {ACCOUNTS} WHERE id = ?1"),
            [account.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    json.map(|j| from_json(&j)).transpose()
}

pub(crate) fn write_state(
    tx: &Transaction<'_>,
    account: &AccountId,
    state: &AccountState,
) -> Result<(), Error> {
    tx.execute(
        &format!("UPDATE {ACCOUNTS} SET state = ?2 WHERE id = ?1"),
        params![account.as_str(), to_json(state)?],
    )?;
    Ok(())
}

/// Billing state the book carries only adds what the store does not know yet
/// ([`AccountState::merge_imported`]).
fn merge_state(tx: &Transaction<'_>, account: &AccountId, from: AccountState) -> Result<(), Error> {
    let mut state = read_state(tx, account)?
        .ok_or_else(|| fatal(format!("account {account} is not in the book")))?;
    if from == AccountState::default() {
        return Ok(());
    }
    let before = state.clone();
    state.merge_imported(from);
    if state != before {
        write_state(tx, account, &state)?;
    }
    Ok(())
}

fn account_exists(tx: &Transaction<'_>, account: &AccountId) -> Result<bool, Error> {
    Ok(tx
        .query_row(
            &format!("SELECT 1 FROM {ACCOUNTS} WHERE id = ?1"),
            [account.as_str()],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Upserts an invoice schedule of an account that exists.
pub(crate) fn put_schedule(tx: &Transaction<'_>, s: &InvoiceSchedule) -> Result<(), Error> {
    if !account_exists(tx, &s.account_id)? {
        return Err(fatal(format!(
            "account {} is not in the book",
            s.account_id
        )));
    }
    tx.execute(
        &format!(
            "INSERT INTO {INVOICE_SCHEDULES} (id, account_id, data) VALUES (?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET account_id = excluded.account_id, data = excluded.data"
        ),
        params![s.id.as_str(), s.account_id.as_str(), to_json(s)?],
    )?;
    Ok(())
}

/// The entities of `table` whose column `key` is `value`, in id order.
fn rows_of<T: serde::de::DeserializeOwned>(
    c: &rusqlite::Connection,
    table: &str,
    key: &str,
    value: &str,
) -> Result<Vec<T>, Error> {
    let mut st = c.prepare(&format!(
        "SELECT data FROM {table} WHERE {key} = ?1 ORDER BY id"
    ))?;
    let rows = st.query_map([value], |r| r.get::<_, String>(0))?;
    rows.map(|j| from_json(&j?)).collect()
}

#[async_trait]
impl BookStore for SqliteStore {
    async fn import_book(&self, book: &Book) -> StoreResult<()> {
        let book = book.clone();
        self.write(move |tx| {
            for a in &book.accounts {
                tx.execute(
                    &format!(
                        "INSERT INTO {ACCOUNTS} (id, batch, data, state) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (id) DO UPDATE SET batch = excluded.batch, data = excluded.data"
                    ),
                    params![
                        a.id.as_str(),
                        a.batch.as_deref(),
                        to_json(a)?,
                        to_json(&AccountState::default())?
                    ],
                )?;
            }
            for s in &book.subscriptions {
                merge_state(tx, &s.account_id, AccountState::from_book(std::slice::from_ref(s), &[], &[]))?;
                upsert(tx, SUBSCRIPTIONS, &s.account_id, s.id.as_str(), to_json(s)?)?;
            }
            for u in &book.usage {
                if !account_exists(tx, &u.account_id)? {
                    return Err(fatal(format!("account {} is not in the book", u.account_id)));
                }
                // Usage is idempotent by id: a re-sent record changes nothing.
                let added = tx.execute(
                    &format!(
                        "INSERT INTO {USAGE} (account_id, id, data) VALUES (?1, ?2, ?3)
                         ON CONFLICT (account_id, id) DO NOTHING"
                    ),
                    params![u.account_id.as_str(), u.id.as_str(), to_json(u)?],
                )?;
                if added == 1 {
                    merge_state(tx, &u.account_id, AccountState::from_book(&[], std::slice::from_ref(u), &[]))?;
                }
            }
            for a in &book.adjustments {
                merge_state(tx, &a.account_id, AccountState::from_book(&[], &[], std::slice::from_ref(a)))?;
                upsert(tx, ADJUSTMENTS, &a.account_id, a.id.as_str(), to_json(a)?)?;
            }
            for s in &book.invoice_schedules {
                put_schedule(tx, s)?;
            }
            Ok(())
        })
        .await
    }

    async fn account_book(&self, id: &AccountId) -> StoreResult<Option<AccountBook>> {
        let id = id.clone();
        self.call(move |c| {
            let row: Option<(String, String)> = c
                .query_row(
                    &format!("SELECT data, state FROM {ACCOUNTS} WHERE id = ?1"),
                    [id.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((account, state)) = row else {
                return Ok(None);
            };
            let schedules: Vec<InvoiceSchedule> =
                rows_of(c, INVOICE_SCHEDULES, "account_id", id.as_str())?;
            // Subscriptions under an invoice schedule of the account (any of them).
            let scheduled: BTreeSet<SubscriptionId> = schedules
                .into_iter()
                .flat_map(|s| s.subscription_ids)
                .collect();
            Ok(Some(AccountBook {
                account: from_json(&account)?,
                subscriptions: rows_of(c, SUBSCRIPTIONS, "account_id", id.as_str())?,
                usage: rows_of(c, USAGE, "account_id", id.as_str())?,
                adjustments: rows_of(c, ADJUSTMENTS, "account_id", id.as_str())?,
                scheduled_subscriptions: scheduled,
                state: from_json(&state)?,
            }))
        })
        .await
    }

    async fn select_accounts(
        &self,
        selection: &AccountSelection,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<AccountPage> {
        let selection = selection.clone();
        // The cursor is the last account id of the previous page.
        let mut after = cursor.map(str::to_string);
        self.call(move |c| {
            let mut ids = Vec::new();
            let mut st = c.prepare(&format!(
                "SELECT id, data FROM {ACCOUNTS} WHERE ?1 IS NULL OR id > ?1 ORDER BY id LIMIT ?2"
            ))?;
            while ids.len() < limit {
                let rows: Vec<(String, String)> = st
                    .query_map(params![after, SELECT_BATCH], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?;
                let Some((last, _)) = rows.last() else { break };
                after = Some(last.clone());
                let batch_full = rows.len() as i64 == SELECT_BATCH;
                for (_, data) in &rows {
                    let a: Account = from_json(data)?;
                    if selection.selects(&a) {
                        ids.push(a.id);
                        if ids.len() == limit {
                            break;
                        }
                    }
                }
                if !batch_full {
                    break;
                }
            }
            let next = match ids.last() {
                Some(last) if ids.len() == limit => Some(last.to_string()),
                _ => None,
            };
            Ok(AccountPage { ids, next })
        })
        .await
    }
}

#[async_trait]
impl AccountListing for SqliteStore {
    async fn list_accounts(
        &self,
        batch: Option<&str>,
        after: Option<&AccountId>,
        n: usize,
    ) -> StoreResult<Vec<Account>> {
        let batch = batch.map(str::to_string);
        let after = after.map(|a| a.to_string());
        self.call(move |c| {
            let mut st = c.prepare(&format!(
                "SELECT data FROM {ACCOUNTS}
                 WHERE (?1 IS NULL OR batch = ?1) AND (?2 IS NULL OR id > ?2)
                 ORDER BY id LIMIT ?3"
            ))?;
            let rows = st.query_map(params![batch, after, limit(n)], |r| r.get::<_, String>(0))?;
            rows.map(|j| from_json(&j?)).collect()
        })
        .await
    }
}

#[async_trait]
impl SubscriptionIndex for SqliteStore {
    async fn subscription_account(&self, id: &SubscriptionId) -> StoreResult<Option<AccountId>> {
        let id = id.clone();
        self.call(move |c| {
            let account: Option<String> = c
                .query_row(
                    &format!("SELECT account_id FROM {SUBSCRIPTIONS} WHERE id = ?1 ORDER BY rowid DESC LIMIT 1"),
                    [id.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            account
                .map(|a| AccountId::parse(a).map_err(|e| fatal(format!("stored account id: {e}"))))
                .transpose()
        })
        .await
    }
}

/// Writes (or replaces) an entity of `table` keyed by (account, id): subscriptions and
/// adjustments are replaced whole on a re-import.
fn upsert(
    tx: &Transaction<'_>,
    table: &str,
    account: &AccountId,
    id: &str,
    data: String,
) -> Result<(), Error> {
    tx.execute(
        &format!(
            "INSERT INTO {table} (account_id, id, data) VALUES (?1, ?2, ?3)
             ON CONFLICT (account_id, id) DO UPDATE SET data = excluded.data"
        ),
        params![account.as_str(), id, data],
    )?;
    Ok(())
}
