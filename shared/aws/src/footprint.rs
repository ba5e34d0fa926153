//! What a run leaves in the table, measured: every item's size by DynamoDB's rules, grouped
//! by kind, and the write request units the run's writes cost, computed from those sizes
//! (DynamoDB Local and moto do not report consumed capacity faithfully, so the bench
//! computes it from the items themselves).
//!
//! The write pattern of one account (docs/aws.md): one `TransactWriteItems` putting the
//! outcome and each document and updating the billing state (transactional writes cost
//! 2 WRU per started KB of each item); per batch of accounts, one plain `UpdateItem` of a
//! run progress item (the `COUNT` items); and at finalization, per page of numbered
//! documents, one `PutItem` of a number page per outcome partition (`NUM` items, 1 WRU
//! per started KB). Documents are not indexed (a run's are found through its outcomes)
//! and not rewritten when numbered.

use crate::dynamo::{follow_pages, PK, SK};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{BTreeMap, HashMap};

/// Size of one attribute value in bytes, by DynamoDB's item size rules.
fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        // Numbers: about one byte per two significant digits, plus one.
        AttributeValue::N(n) => {
            let digits = n
                .trim_start_matches('-')
                .chars()
                .filter(char::is_ascii_digit)
                .count();
            digits.div_ceil(2) + 1
        }
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(list) => list.iter().map(String::len).sum(),
        AttributeValue::Ns(list) => list.iter().map(|n| n.len().div_ceil(2) + 1).sum(),
        AttributeValue::Bs(list) => list.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(list) => 3 + list.iter().map(|e| value_size(e) + 1).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, e)| k.len() + value_size(e) + 1)
                .sum::<usize>()
        }
        _ => 0,
    }
}

/// Size of an item in bytes: attribute names plus values.
pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

/// Write request units of one standard write of an item of `bytes`.
pub fn wru(bytes: usize) -> u64 {
    bytes.div_ceil(1024).max(1) as u64
}

/// The kind of an item from its keys: the key prefixes before the first `#`
/// (`RUN#…`/`ACCT#…` → `RUN/ACCT`), with the per-run shard partition told apart.
pub fn kind(pk: &str, sk: &str) -> String {
    crate::dynamo::item_kind(pk, sk)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindStats {
    pub items: u64,
    pub bytes: u64,
    pub max_bytes: u64,
    /// Σ WRU of one standard write of each item.
    pub write_units: u64,
}

impl KindStats {
    pub fn mean_bytes(&self) -> u64 {
        self.bytes.checked_div(self.items).unwrap_or(0)
    }
}

/// Item statistics of a whole table, by kind.
#[derive(Debug, Clone, Default)]
pub struct Footprint {
    pub kinds: BTreeMap<String, KindStats>,
}

impl Footprint {
    pub fn add(&mut self, item: &HashMap<String, AttributeValue>) {
        let key = |name: &str| match item.get(name) {
            Some(AttributeValue::S(s)) => s.as_str(),
            _ => "",
        };
        let size = item_size(item);
        let stats = self.kinds.entry(kind(key(PK), key(SK))).or_default();
        stats.items += 1;
        stats.bytes += size as u64;
        stats.max_bytes = stats.max_bytes.max(size as u64);
        stats.write_units += wru(size);
    }

    fn get(&self, kind: &str) -> KindStats {
        self.kinds.get(kind).copied().unwrap_or_default()
    }

    /// Write request units of a run, by the write pattern in the module docs, from the
    /// sizes of the items the run left (a table holding that run only, besides the book)
    /// and the number of progress updates its workers made (one per batch and run).
    /// Returns (label, WRU) rows; their sum is the run's total.
    pub fn run_write_units(&self, progress_updates: u64) -> Vec<(&'static str, u64)> {
        let documents = self.get("DOC/DOC");
        let outcomes = self.get("RUN#shard/ACCT");
        let shards = self.get("RUN#shard/COUNT");
        let states = self.get("ACCT/STATE");
        let marks = self.get("ACCT/MARK");
        let number_pages = self.get("RUN#shard/NUM");
        let per_item = |k: KindStats| k.write_units.checked_div(k.items).unwrap_or(1).max(1);
        // Each committed account updates its state once.
        let committed = outcomes.items;
        vec![
            ("transaction: outcome puts", 2 * outcomes.write_units),
            (
                "transaction: billing state updates",
                2 * committed * per_item(states),
            ),
            ("transaction: document puts", 2 * documents.write_units),
            ("transaction: billed marks", 2 * marks.write_units),
            (
                "progress updates (per batch)",
                progress_updates * per_item(shards),
            ),
            ("finalize: number pages", number_pages.write_units),
        ]
    }
}

/// Scans the whole table (paged) into a [`Footprint`].
pub async fn scan(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<Footprint, String> {
    let mut footprint = Footprint::default();
    let send = |_: &Footprint, start| {
        let request = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start);
        async move {
            let page = request.send().await.map_err(|e| {
                format!(
                    "scan {table}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(e)
                )
            })?;
            Ok((page.items.unwrap_or_default(), page.last_evaluated_key))
        }
    };
    let page = |footprint: &mut Footprint, items: Vec<HashMap<String, AttributeValue>>| {
        for item in &items {
            footprint.add(item);
        }
        Ok::<_, String>(true)
    };
    follow_pages(&mut footprint, send, page).await?;
    Ok(footprint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.to_string())
    }

    #[test]
    fn sizes_follow_dynamodb_rules() {
        let item = HashMap::from([
            ("pk".to_string(), s("DOC#1")),                       // 2 + 5
            ("n".to_string(), AttributeValue::N("12345".into())), // 1 + 4
            ("b".to_string(), AttributeValue::Bool(true)),        // 1 + 1
            (
                "m".to_string(),
                AttributeValue::M(HashMap::from([("ab".to_string(), s("xyz"))])), // 1 + 3 + (2+3+1)
            ),
        ]);
        assert_eq!(item_size(&item), 7 + 5 + 2 + 10);
        assert_eq!(wru(0), 1);
        assert_eq!(wru(1024), 1);
        assert_eq!(wru(1025), 2);
    }

    #[test]
    fn kinds_tell_shards_from_runs() {
        assert_eq!(kind("RUN#abc", "RUN"), "RUN/RUN");
        assert_eq!(kind("RUN#abc#3", "COUNT"), "RUN#shard/COUNT");
        assert_eq!(kind("RUN#abc#3", "ACCT#a1"), "RUN#shard/ACCT");
        assert_eq!(kind("ACCT#a1", "STATE"), "ACCT/STATE");
    }

    #[test]
    fn run_write_units_double_transactional_writes() {
        let mut f = Footprint::default();
        let big = "x".repeat(1500);
        f.add(&HashMap::from([
            ("pk".to_string(), s("DOC#1")),
            ("sk".to_string(), s("DOC")),
            ("data".to_string(), s(&big)),
        ]));
        f.add(&HashMap::from([
            ("pk".to_string(), s("RUN#r#1")),
            ("sk".to_string(), s("ACCT#a")),
        ]));
        f.add(&HashMap::from([
            ("pk".to_string(), s("RUN#r#1")),
            ("sk".to_string(), s("COUNT")),
        ]));
        f.add(&HashMap::from([
            ("pk".to_string(), s("ACCT#a")),
            ("sk".to_string(), s("STATE")),
        ]));
        f.add(&HashMap::from([
            ("pk".to_string(), s("RUN#r#1")),
            ("sk".to_string(), s("NUM#00000#a")),
        ]));
        let rows = f.run_write_units(3);
        let total: u64 = rows.iter().map(|(_, w)| w).sum();
        // outcome 2 + state 2 + doc put 4 + 3 progress updates + number page 1
        assert_eq!(total, 12);
    }
}
