//! The book: accounts (listed through gsi2) and the subscriptions, usage records,
//! adjustments and invoice schedules in each account's partition, read together with
//! the account's billing state.

use super::client::{backoff, Limit, SortKey};
use super::codec::{decode, entity, get_s, s, Item};
use super::keys::{self, AccountItem, Index};
use super::ledger;
use super::DynamoStore;
use async_trait::async_trait;
use billrun_app::error::StoreError;
use billrun_app::model::AccountPage;
use billrun_app::ports::{BookStore, StoreResult};
use billrun_domain::book::{Account, Book, InvoiceSchedule};
use billrun_domain::ids::AccountId;
use billrun_domain::rating::AccountBook;
use billrun_domain::request::AccountSelection;
use billrun_domain::state::AccountState;
use std::collections::{BTreeMap, BTreeSet};

/// Accounts read per request while planning selects from them.
const PLAN_PAGE: usize = 1000;
/// How often merging an imported state reads the state again after a concurrent write.
const MERGE_ATTEMPTS: u32 = 8;

#[async_trait]
impl BookStore for DynamoStore {
    async fn import_book(&self, book: &Book) -> StoreResult<()> {
        let mut items: Vec<Item> = Vec::new();
        for a in &book.accounts {
            let mut item = entity(&keys::account(&a.id), a)?;
            item.insert(Index::Gsi2.pk().to_string(), s(keys::ACCOUNTS));
            item.insert(Index::Gsi2.sk().to_string(), s(a.id.to_string()));
            items.push(item);
        }
        for x in &book.subscriptions {
            items.push(entity(&keys::subscription(&x.account_id, &x.id), x)?);
            items.push(super::catalog::subscription_ref(&x.id, &x.account_id));
        }
        for x in &book.usage {
            items.push(entity(&keys::usage(&x.account_id, &x.id), x)?);
        }
        for x in &book.adjustments {
            items.push(entity(&keys::adjustment(&x.account_id, &x.id), x)?);
        }
        for x in &book.invoice_schedules {
            items.push(super::catalog::schedule_item(x)?);
            items.push(super::catalog::schedule_ref(&x.id, &x.account_id));
        }
        self.batch_put(items).await?;
        // Billing state the book carries (imported watermarks, billed marks) is merged
        // into each account's state: it only adds what the store does not have yet.
        let mut imported: BTreeMap<&AccountId, AccountState> = BTreeMap::new();
        for x in &book.subscriptions {
            let st = AccountState::from_book(std::slice::from_ref(x), &[], &[]);
            imported
                .entry(&x.account_id)
                .or_default()
                .merge_imported(st);
        }
        for x in &book.usage {
            let st = AccountState::from_book(&[], std::slice::from_ref(x), &[]);
            imported
                .entry(&x.account_id)
                .or_default()
                .merge_imported(st);
        }
        for x in &book.adjustments {
            let st = AccountState::from_book(&[], &[], std::slice::from_ref(x));
            imported
                .entry(&x.account_id)
                .or_default()
                .merge_imported(st);
        }
        for (account, st) in imported {
            if st == AccountState::default() {
                continue;
            }
            for attempt in 0..MERGE_ATTEMPTS {
                let mut row = self.read_state(account).await?;
                let before = row.state.clone();
                row.state.merge_imported(st.clone());
                if row.state == before {
                    break;
                }
                match self.put_alone(&self.state_put(account, &row)?).await {
                    Ok(()) => break,
                    Err(StoreError::Conflict(_)) if attempt < MERGE_ATTEMPTS - 1 => {
                        backoff(attempt).await
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    async fn account_book(&self, id: &AccountId) -> StoreResult<Option<AccountBook>> {
        let items = self
            .query(None, keys::account_pk(id), SortKey::Any, Limit::All)
            .await?;
        let mut account = None;
        // Billed-mark items with the run that wrote them; only runs the state lists as
        // committed count (a partially written commit's marks do not).
        let mut marks: Vec<(&str, &str)> = Vec::new();
        let mut runs = BTreeSet::new();
        let kind = |i: &Item| keys::account_item(get_s(i, keys::SK).unwrap_or_default());
        let mut book = AccountBook {
            account: match items.iter().find(|i| kind(i) == AccountItem::Account) {
                Some(i) => decode(i)?,
                None => return Ok(None),
            },
            subscriptions: vec![],
            usage: vec![],
            adjustments: vec![],
            scheduled_subscriptions: Default::default(),
            state: AccountState::default(),
        };
        for item in &items {
            let sk = get_s(item, keys::SK).unwrap_or_default();
            match keys::account_item(sk) {
                AccountItem::Account => account = Some(()),
                AccountItem::Subscription => book.subscriptions.push(decode(item)?),
                AccountItem::Usage => book.usage.push(decode(item)?),
                AccountItem::Adjustment => book.adjustments.push(decode(item)?),
                AccountItem::Schedule => {
                    let sched: InvoiceSchedule = decode(item)?;
                    book.scheduled_subscriptions.extend(sched.subscription_ids);
                }
                AccountItem::Mark => marks.push((sk, get_s(item, ledger::BY).unwrap_or_default())),
                AccountItem::State => {
                    book.state = decode(item)?;
                    runs = ledger::state_runs(item);
                }
                AccountItem::Other => {}
            }
        }
        for (sk, by) in marks {
            if runs.contains(by) {
                ledger::add_mark(&mut book.state, sk)?;
            }
        }
        Ok(account.map(|_| book))
    }

    /// Reads the account index a page at a time, keeping the accounts the filters
    /// select, until the page of ids is full or the index is exhausted; the cursor is
    /// the last account read.
    async fn select_accounts(
        &self,
        selection: &AccountSelection,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<AccountPage> {
        let mut ids: Vec<AccountId> = Vec::new();
        let mut after: Option<String> = None;
        let mut full = false;
        let sk = match cursor {
            Some(a) => SortKey::After(a, ""),
            None => SortKey::Any,
        };
        self.query_each(
            Some(Index::Gsi2),
            keys::ACCOUNTS.into(),
            sk,
            Limit::PagesOf(PLAN_PAGE),
            |item| {
                let a: Account = decode(item)?;
                after = Some(a.id.to_string());
                if selection.selects(&a) {
                    ids.push(a.id);
                    full = ids.len() == limit;
                }
                Ok(!full)
            },
        )
        .await?;
        Ok(AccountPage {
            ids,
            next: after.filter(|_| full),
        })
    }
}
