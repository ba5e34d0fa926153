//! The book: accounts and what they are billed for.

use super::StoreResult;
use crate::model::AccountPage;
use async_trait::async_trait;
use billrun_domain::book::Book;
use billrun_domain::ids::AccountId;
use billrun_domain::rating::AccountBook;
use billrun_domain::request::AccountSelection;
/// The book: accounts and what they are billed for, with the billing state.
#[async_trait]
pub trait BookStore: Send + Sync {
    /// Upserts a validated book.
    async fn import_book(&self, book: &Book) -> StoreResult<()>;
    /// Everything rating needs about one account, with its current billing state.
    async fn account_book(&self, id: &AccountId) -> StoreResult<Option<AccountBook>>;
    /// Up to `limit` ids of the accounts `selection` selects, starting at `cursor`
    /// (`None`: the beginning).
    async fn select_accounts(
        &self,
        selection: &AccountSelection,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<AccountPage>;
}
