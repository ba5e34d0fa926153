//! What has been billed: watermarks of recurring charges (with the documents that billed
//! each period, for credits), billed marks of one-time charges, usage and adjustments, and
//! how many times each termed subscription was renewed.
//! A run's effect on one account is a list of [`StateChange`]s, applied atomically and
//! only when every precondition still holds; canceling a run reverts them.

use crate::book::{Adjustment, ChargeKind, Subscription, UsageRecord};
use crate::ids::*;
use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

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
    pub one_time_billed: BilledSet<ChargeId>,
    pub usage_billed: BilledSet<UsageId>,
    pub adjustments_billed: BilledSet<AdjustmentId>,
    /// Renewals per termed subscription (`k`; absent is 0). Kept beside the watermarks
    /// because a renewal moves the end billing stops at, and must commit and revert with
    /// the periods billed up to it. Left out of the stored JSON while empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub renewals: BTreeMap<SubscriptionId, u32>,
}

/// A sorted set of billed ids, kept in a vector: an account bills a handful, and a
/// `BTreeSet` allocates a whole node (eleven slots, ~190 bytes) for the first one.
/// Serialized, printed and compared exactly like the `BTreeSet` it replaces.
#[derive(Clone, PartialEq, Eq)]
pub struct BilledSet<T>(Vec<T>);

impl<T> Default for BilledSet<T> {
    fn default() -> Self {
        BilledSet(Vec::new())
    }
}

impl<T: Ord> BilledSet<T> {
    /// Adds `id`; false when it was already there.
    pub fn insert(&mut self, id: T) -> bool {
        match self.0.binary_search(&id) {
            Ok(_) => false,
            Err(i) => {
                self.0.insert(i, id);
                true
            }
        }
    }

    pub fn contains(&self, id: &T) -> bool {
        self.0.binary_search(id).is_ok()
    }

    /// Removes `id`; false when it was not there.
    pub fn remove(&mut self, id: &T) -> bool {
        match self.0.binary_search(id) {
            Ok(i) => {
                self.0.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// In ascending order.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }

    /// Releases the spare capacity growth left.
    pub fn shrink_to_fit(&mut self) {
        self.0.shrink_to_fit();
    }
}

impl<T: Ord> Extend<T> for BilledSet<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        for id in iter {
            self.insert(id);
        }
    }
}

impl<T: Ord> FromIterator<T> for BilledSet<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut v: Vec<T> = iter.into_iter().collect();
        v.sort();
        v.dedup();
        v.shrink_to_fit();
        BilledSet(v)
    }
}

impl<T> IntoIterator for BilledSet<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a, T> IntoIterator for &'a BilledSet<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<T: fmt::Debug> fmt::Debug for BilledSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.iter()).finish()
    }
}

impl<T: Serialize> Serialize for BilledSet<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter())
    }
}

impl<'de, T: Deserialize<'de> + Ord> Deserialize<'de> for BilledSet<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<T>::deserialize(d).map(|v| v.into_iter().collect())
    }
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
    /// Renews a termed subscription: its renewal count moves from `from` (as stored) to
    /// `to`, its term end from `term_end_from` to `term_end_to` (the dates are what the
    /// outcome reports; the counts are what the state holds and the checks compare).
    #[serde(rename_all = "camelCase")]
    Renewal {
        subscription_id: SubscriptionId,
        from: u32,
        to: u32,
        term_end_from: NaiveDate,
        term_end_to: NaiveDate,
    },
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

    /// How many times the subscription was renewed (0 when never).
    pub fn renewals(&self, sub: &SubscriptionId) -> u32 {
        self.renewals.get(sub).copied().unwrap_or(0)
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
                StateChange::Renewal {
                    subscription_id,
                    from,
                    ..
                } => {
                    let now = self.renewals(subscription_id);
                    if now != *from {
                        return Err(StateConflict(format!(
                            "renewals of subscription {subscription_id} moved from {from} to {now}"
                        )));
                    }
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
                StateChange::Renewal {
                    subscription_id,
                    to,
                    ..
                } => {
                    self.set_renewals(subscription_id, *to);
                }
            }
        }
        self.one_time_billed.shrink_to_fit();
        self.usage_billed.shrink_to_fit();
        self.adjustments_billed.shrink_to_fit();
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
                StateChange::Renewal {
                    subscription_id,
                    to,
                    ..
                } => self.renewals(subscription_id) == *to,
            };
            if !ok {
                let what = match c {
                    StateChange::Watermark { charge_id, .. } => format!("charge {charge_id}"),
                    StateChange::OneTime { charge_id } => format!("one-time charge {charge_id}"),
                    StateChange::Usage { usage_id } => format!("usage record {usage_id}"),
                    StateChange::Adjustment { adjustment_id } => {
                        format!("adjustment {adjustment_id}")
                    }
                    StateChange::Renewal {
                        subscription_id, ..
                    } => {
                        return Err(StateConflict(format!(
                            "a later run has renewed subscription {subscription_id} since"
                        )));
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
                StateChange::Renewal {
                    subscription_id,
                    from,
                    ..
                } => {
                    self.set_renewals(subscription_id, *from);
                }
            }
        }
    }

    /// Stores a renewal count; 0 is stored as no entry, as a never-renewed one is.
    fn set_renewals(&mut self, sub: &SubscriptionId, k: u32) {
        if k == 0 {
            self.renewals.remove(sub);
        } else {
            self.renewals.insert(sub.clone(), k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn a_billed_set_reads_writes_and_prints_like_a_btree_set() {
        let ids = ["U-3", "U-1", "U-2", "U-1"];
        let set: BilledSet<UsageId> = ids.iter().filter_map(|s| UsageId::parse(*s).ok()).collect();
        let tree: BTreeSet<UsageId> = ids.iter().filter_map(|s| UsageId::parse(*s).ok()).collect();
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(json, serde_json::to_string(&tree).unwrap());
        assert_eq!(format!("{set:?}"), format!("{tree:?}"));
        let back: BilledSet<UsageId> = serde_json::from_str(r#"["U-2","U-1","U-2"]"#).unwrap();
        assert_eq!(
            back.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
            ["U-1", "U-2"]
        );
        let mut s = back;
        let u3 = UsageId::parse("U-3").unwrap();
        assert!(s.insert(u3.clone()));
        assert!(!s.insert(u3.clone()));
        assert!(s.contains(&u3));
        assert!(s.remove(&u3));
        assert!(!s.remove(&u3));
        assert_eq!(s.len(), 2);
    }
}
