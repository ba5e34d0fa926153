//! What has been billed: watermarks of recurring charges (with the documents that billed
//! each period, for credits) and billed marks of one-time charges, usage and adjustments.
//! A run's effect on one account is a list of [`StateChange`]s, applied atomically and
//! only when every precondition still holds; canceling a run reverts them.

use crate::book::{Adjustment, ChargeKind, Subscription, UsageRecord};
use crate::ids::*;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BilledPeriod {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub document: DocumentId,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecurringState {
    pub billed_through: Option<NaiveDate>,
    #[serde(default)]
    pub history: Vec<BilledPeriod>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountState {
    pub recurring: BTreeMap<ChargeId, RecurringState>,
    pub one_time_billed: BTreeSet<ChargeId>,
    pub usage_billed: BTreeSet<UsageId>,
    pub adjustments_billed: BTreeSet<AdjustmentId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum StateChange {
    /// Moves a charge's watermark from `from` (as stored) to `to`, recording the periods
    /// it billed.
    #[serde(rename_all = "camelCase")]
    Watermark {
        charge_id: ChargeId,
        from: Option<NaiveDate>,
        to: NaiveDate,
        billed: Vec<BilledPeriod>,
    },
    #[serde(rename_all = "camelCase")]
    OneTime { charge_id: ChargeId },
    #[serde(rename_all = "camelCase")]
    Usage { usage_id: UsageId },
    #[serde(rename_all = "camelCase")]
    Adjustment { adjustment_id: AdjustmentId },
}

/// Why a set of changes cannot be applied (or reverted): somebody else moved first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StateConflict(pub String);

impl AccountState {
    /// The state a freshly imported book describes (`billedThrough`, `billed: true`).
    pub fn from_book(
        subs: &[Subscription],
        usage: &[UsageRecord],
        adjustments: &[Adjustment],
    ) -> Self {
        let mut st = AccountState::default();
        for s in subs {
            for c in &s.charges {
                match &c.kind {
                    ChargeKind::Recurring {
                        billed_through: Some(bt),
                        ..
                    } => {
                        st.recurring.insert(
                            c.id.clone(),
                            RecurringState {
                                billed_through: Some(*bt),
                                history: vec![],
                            },
                        );
                    }
                    ChargeKind::OneTime { billed: true, .. } => {
                        st.one_time_billed.insert(c.id.clone());
                    }
                    _ => {}
                }
            }
        }
        st.usage_billed = usage
            .iter()
            .filter(|u| u.billed)
            .map(|u| u.id.clone())
            .collect();
        st.adjustments_billed = adjustments
            .iter()
            .filter(|a| a.billed)
            .map(|a| a.id.clone())
            .collect();
        st
    }

    /// Merges billing state from an imported book: it only adds what is not known yet (a
    /// watermark for a charge without one, billed marks); it never moves a watermark.
    pub fn merge_imported(&mut self, from: AccountState) {
        for (charge, st) in from.recurring {
            self.recurring.entry(charge).or_insert(st);
        }
        self.one_time_billed.extend(from.one_time_billed);
        self.usage_billed.extend(from.usage_billed);
        self.adjustments_billed.extend(from.adjustments_billed);
    }

    pub fn billed_through(&self, charge: &ChargeId) -> Option<NaiveDate> {
        self.recurring.get(charge).and_then(|r| r.billed_through)
    }

    /// Checks that every change's precondition holds now.
    pub fn check(&self, changes: &[StateChange]) -> Result<(), StateConflict> {
        for c in changes {
            match c {
                StateChange::Watermark {
                    charge_id, from, ..
                } => {
                    let now = self.billed_through(charge_id);
                    if now != *from {
                        return Err(StateConflict(format!(
                            "watermark of charge {charge_id} moved from {from:?} to {now:?}"
                        )));
                    }
                }
                StateChange::OneTime { charge_id } if self.one_time_billed.contains(charge_id) => {
                    return Err(StateConflict(format!(
                        "one-time charge {charge_id} is already billed"
                    )));
                }
                StateChange::Usage { usage_id } if self.usage_billed.contains(usage_id) => {
                    return Err(StateConflict(format!(
                        "usage record {usage_id} is already billed"
                    )));
                }
                StateChange::Adjustment { adjustment_id }
                    if self.adjustments_billed.contains(adjustment_id) =>
                {
                    return Err(StateConflict(format!(
                        "adjustment {adjustment_id} is already billed"
                    )));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Applies changes whose preconditions were checked.
    pub fn apply(&mut self, changes: &[StateChange]) {
        for c in changes {
            match c {
                StateChange::Watermark {
                    charge_id,
                    to,
                    billed,
                    ..
                } => {
                    let r = self.recurring.entry(charge_id.clone()).or_default();
                    r.billed_through = Some(*to);
                    r.history.extend(billed.iter().cloned());
                    // A first push reserves four periods; keep what is used (this
                    // history stays in memory for every charge of the book).
                    r.history.shrink_to_fit();
                }
                StateChange::OneTime { charge_id } => {
                    self.one_time_billed.insert(charge_id.clone());
                }
                StateChange::Usage { usage_id } => {
                    self.usage_billed.insert(usage_id.clone());
                }
                StateChange::Adjustment { adjustment_id } => {
                    self.adjustments_billed.insert(adjustment_id.clone());
                }
            }
        }
    }

    /// Checks that `changes` are still the latest word on everything they touched, so
    /// they can be reverted.
    pub fn check_revert(&self, changes: &[StateChange]) -> Result<(), StateConflict> {
        for c in changes {
            let ok = match c {
                StateChange::Watermark { charge_id, to, .. } => {
                    self.billed_through(charge_id) == Some(*to)
                }
                StateChange::OneTime { charge_id } => self.one_time_billed.contains(charge_id),
                StateChange::Usage { usage_id } => self.usage_billed.contains(usage_id),
                StateChange::Adjustment { adjustment_id } => {
                    self.adjustments_billed.contains(adjustment_id)
                }
            };
            if !ok {
                let what = match c {
                    StateChange::Watermark { charge_id, .. } => format!("charge {charge_id}"),
                    StateChange::OneTime { charge_id } => format!("one-time charge {charge_id}"),
                    StateChange::Usage { usage_id } => format!("usage record {usage_id}"),
                    StateChange::Adjustment { adjustment_id } => {
                        format!("adjustment {adjustment_id}")
                    }
                };
                return Err(StateConflict(format!(
                    "a later run has billed {what} since"
                )));
            }
        }
        Ok(())
    }

    /// Reverts checked changes: watermarks back to where they were, billed marks removed.
    pub fn revert(&mut self, changes: &[StateChange]) {
        for c in changes {
            match c {
                StateChange::Watermark {
                    charge_id,
                    from,
                    billed,
                    ..
                } => {
                    let r = self.recurring.entry(charge_id.clone()).or_default();
                    r.billed_through = *from;
                    r.history.retain(|h| !billed.contains(h));
                }
                StateChange::OneTime { charge_id } => {
                    self.one_time_billed.remove(charge_id);
                }
                StateChange::Usage { usage_id } => {
                    self.usage_billed.remove(usage_id);
                }
                StateChange::Adjustment { adjustment_id } => {
                    self.adjustments_billed.remove(adjustment_id);
                }
            }
        }
    }
}
