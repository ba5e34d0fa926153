//! The DynamoDB single-table adapter of every storage port.
//!
//! By concern: `keys` builds and parses every key (the table's items are listed
//! there), `codec` maps attribute values and the `data` attribute, `error` maps SDK
//! errors to store errors, `client` holds the requests every port is written with
//! (one helper follows every paginated read). One file per port group: `runs`, `book`,
//! `documents`, `ledger` (account commits and their revert), `sequences`, `catalog`
//! (the API's listings, schedules and templates), `docgen`, `deliveries` (email
//! delivery), `scheduling`.

use crate::config::AwsConfig;
use crate::metrics::Metrics;
use billrun_domain::ids::{AccountId, RunId};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

mod audit;
mod book;
mod catalog;
mod client;
mod codec;
mod corrections;
mod deliveries;
mod docgen;
mod documents;
mod error;
mod exports;
mod keys;
mod ledger;
mod payments;
mod runs;
mod scheduling;
mod sequences;
pub mod stream;
mod webhooks;

pub(crate) use client::follow_pages;
pub use codec::TTL;
pub(crate) use keys::item_kind;
pub use keys::{Index, PK, SK};

pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    shards: u32,
    metrics: Arc<Metrics>,
    /// Fault injection for tests: the account commit stops (as a crash would) before
    /// writing its chunk with this index; `usize::MAX`: never.
    crash_before_chunk: AtomicUsize,
}

impl DynamoStore {
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        config: &AwsConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        DynamoStore {
            client,
            table: config.table.clone(),
            shards: config.shards.max(1),
            metrics,
            crash_before_chunk: AtomicUsize::new(usize::MAX),
        }
    }

    /// The run partition that holds the account's items.
    fn shard(&self, account: &AccountId) -> u32 {
        keys::shard(account, self.shards)
    }

    /// The key of the account's outcome in the run.
    fn outcome_key(&self, run: RunId, account: &AccountId) -> keys::Key {
        keys::outcome(run, self.shard(account), account)
    }
}
