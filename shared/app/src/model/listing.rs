//! Where a listing stands, and which runs it keeps.

use super::RunRecord;
use billrun_domain::ids::{AccountId, RunId};
use billrun_domain::run::RunStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which runs a listing keeps. Every bound is inclusive except `id_after`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Only runs whose number (`BR-00000042` → 42) is greater.
    pub id_after: Option<u64>,
    pub created_since: Option<DateTime<Utc>>,
    pub updated_since: Option<DateTime<Utc>>,
    pub status: Option<RunStatus>,
    /// Leaves previews out (the compatibility listings: their clients know no preview).
    pub without_previews: bool,
}

/// The numeric part of a run number (`BR-00000042` → 42).
pub fn run_number(number: &str) -> Option<u64> {
    number
        .strip_prefix(RUN_NUMBER_PREFIX)
        .and_then(|n| n.parse().ok())
}

/// The run number a store assigns as the `n`-th of its runs (42 → `BR-00000042`).
pub fn format_run_number(n: u64) -> String {
    format!("{RUN_NUMBER_PREFIX}{n:08}")
}

const RUN_NUMBER_PREFIX: &str = "BR-";

impl RunFilter {
    pub fn keeps(&self, r: &RunRecord) -> bool {
        self.id_after
            .is_none_or(|after| run_number(&r.number).is_some_and(|n| n > after))
            && self.created_since.is_none_or(|t| r.created_at >= t)
            && self.updated_since.is_none_or(|t| r.updated_at >= t)
            && self.status.is_none_or(|s| r.status == s)
            && !(self.without_previews && r.is_preview())
    }
}

/// Where a run listing stands: runs are listed by (createdAt, id).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RunPosition {
    pub created_at: DateTime<Utc>,
    pub id: RunId,
}

impl RunPosition {
    pub fn of(r: &RunRecord) -> RunPosition {
        RunPosition {
            created_at: r.created_at,
            id: r.id,
        }
    }
}

/// A document's place in its run's numbering order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DocumentPosition {
    pub round: u32,
    pub account_id: AccountId,
    pub group_key: String,
}

impl DocumentPosition {
    pub fn of(d: &crate::model::StoredDocument) -> DocumentPosition {
        DocumentPosition {
            round: d.round,
            account_id: d.document.account_id.clone(),
            group_key: d.document.group_key.clone(),
        }
    }
}
