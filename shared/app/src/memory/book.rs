//! The book in memory.

use super::{store_schedule, upsert, MemoryStore};
use crate::error::StoreError;
use crate::model::*;
use crate::ports::*;
use async_trait::async_trait;
use billrun_domain::book::Book;
use billrun_domain::ids::AccountId;
use billrun_domain::rating::AccountBook;
use billrun_domain::request::AccountSelection;
use billrun_domain::state::AccountState;
use std::ops::Bound;

#[async_trait]
impl BookStore for MemoryStore {
    async fn import_book(&self, book: &Book) -> StoreResult<()> {
        let mut g = self.inner.lock();
        for a in &book.accounts {
            match g.accounts.get_mut(&a.id) {
                Some(existing) => existing.account = a.clone(),
                None => {
                    g.accounts.insert(
                        a.id.clone(),
                        AccountBook {
                            account: a.clone(),
                            subscriptions: vec![],
                            usage: vec![],
                            adjustments: vec![],
                            scheduled_subscriptions: Default::default(),
                            state: AccountState::default(),
                        },
                    );
                }
            }
        }
        let missing =
            |id: &AccountId| StoreError::fatal(format!("account {id} is not in the book"));
        for s in &book.subscriptions {
            let ab = g
                .accounts
                .get_mut(&s.account_id)
                .ok_or_else(|| missing(&s.account_id))?;
            // Billing state the book carries only adds what the store does not know yet.
            ab.state
                .merge_imported(AccountState::from_book(std::slice::from_ref(s), &[], &[]));
            upsert(&mut ab.subscriptions, s.clone(), |x| &x.id);
            g.subscription_accounts
                .insert(s.id.clone(), s.account_id.clone());
        }
        for u in &book.usage {
            let ab = g
                .accounts
                .get_mut(&u.account_id)
                .ok_or_else(|| missing(&u.account_id))?;
            if ab.usage.iter().any(|x| x.id == u.id) {
                continue; // usage is idempotent by id: a re-sent record changes nothing
            }
            ab.state
                .merge_imported(AccountState::from_book(&[], std::slice::from_ref(u), &[]));
            ab.usage.push(u.clone());
        }
        for a in &book.adjustments {
            let ab = g
                .accounts
                .get_mut(&a.account_id)
                .ok_or_else(|| missing(&a.account_id))?;
            ab.state
                .merge_imported(AccountState::from_book(&[], &[], std::slice::from_ref(a)));
            upsert(&mut ab.adjustments, a.clone(), |x| &x.id);
        }
        for s in &book.invoice_schedules {
            if !g.accounts.contains_key(&s.account_id) {
                return Err(missing(&s.account_id));
            }
            store_schedule(&mut g, s);
        }
        Ok(())
    }

    async fn account_book(&self, id: &AccountId) -> StoreResult<Option<AccountBook>> {
        Ok(self.inner.lock().accounts.get(id).cloned())
    }

    async fn select_accounts(
        &self,
        selection: &AccountSelection,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<AccountPage> {
        let g = self.inner.lock();
        // The cursor is the last account id of the previous page.
        let after = cursor
            .map(AccountId::parse)
            .transpose()
            .map_err(|e| StoreError::fatal(format!("bad planning cursor: {e}")))?;
        let lower = after.as_ref().map_or(Bound::Unbounded, Bound::Excluded);
        let ids: Vec<AccountId> = g
            .accounts
            .range((lower, Bound::Unbounded))
            .filter(|(_, ab)| selection.selects(&ab.account))
            .take(limit)
            .map(|(id, _)| id.clone())
            .collect();
        let next = match ids.last() {
            Some(last) if ids.len() == limit => Some(last.to_string()),
            _ => None,
        };
        Ok(AccountPage { ids, next })
    }
}
