//! Attribute values in and out of items. Entities are stored as JSON in `data`, mapped
//! in one function pair per entity; the attributes that conditions, counters and
//! indexes need are top-level.

use aws_sdk_dynamodb::types::AttributeValue;
use billrun_app::error::StoreError;
use billrun_app::ports::StoreResult;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;

pub(super) type Item = HashMap<String, AttributeValue>;

/// The entity, as JSON (deflated when large).
pub(super) const DATA: &str = "data";
/// The version an optimistic write is conditioned on.
pub(super) const VER: &str = "ver";
/// When the item expires, in epoch seconds: the table's TTL attribute (a preview's
/// items carry it; DynamoDB deletes them some time after).
pub const TTL: &str = "ttl";

/// Sets the item's expiry ([`TTL`]) when it has one.
pub(super) fn expire_at(item: &mut Item, at: Option<chrono::DateTime<chrono::Utc>>) {
    if let Some(at) = at {
        item.insert(TTL.to_string(), n(at.timestamp()));
    }
}

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn get_s<'a>(item: &'a Item, k: &str) -> Option<&'a str> {
    item.get(k).and_then(|v| v.as_s().ok()).map(String::as_str)
}

/// A signed number attribute: 0 when absent, an error when it is not an integer.
pub(super) fn get_i64(item: &Item, k: &str) -> StoreResult<i64> {
    match item.get(k) {
        None => Ok(0),
        Some(v) => v
            .as_n()
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| StoreError::fatal(format!("attribute {k} is not an integer"))),
    }
}

pub(super) fn get_u64(item: &Item, k: &str) -> u64 {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `data` JSON over this many bytes is stored deflated, as a binary attribute: write
/// units are charged per started KB (2 per KB in a transaction, again for each index
/// entry), and a document's or outcome's JSON (~1–2 KB, repetitive field names) deflates
/// to well under a KB. Small items stay readable JSON.
const DEFLATE_OVER: usize = 400;
/// The most a stored `data` may inflate to (an item is at most 400 KB deflated).
const INFLATE_LIMIT: usize = 64 << 20;

pub(super) fn encode<T: Serialize>(v: &T) -> StoreResult<AttributeValue> {
    let json =
        serde_json::to_vec(v).map_err(|e| StoreError::fatal_from("cannot encode item", e))?;
    if json.len() <= DEFLATE_OVER {
        return String::from_utf8(json)
            .map(AttributeValue::S)
            .map_err(|e| StoreError::fatal_from("cannot encode item", e));
    }
    Ok(AttributeValue::B(aws_smithy_types::Blob::new(
        miniz_oxide::deflate::compress_to_vec(&json, 9),
    )))
}

pub(super) fn decode<T: DeserializeOwned>(item: &Item) -> StoreResult<T> {
    match item.get(DATA) {
        Some(AttributeValue::S(raw)) => {
            serde_json::from_str(raw).map_err(|e| StoreError::fatal_from("corrupt item", e))
        }
        Some(AttributeValue::B(raw)) => {
            let json =
                miniz_oxide::inflate::decompress_to_vec_with_limit(raw.as_ref(), INFLATE_LIMIT)
                    .map_err(|e| {
                        StoreError::fatal(format!("corrupt item: data does not inflate: {e}"))
                    })?;
            serde_json::from_slice(&json).map_err(|e| StoreError::fatal_from("corrupt item", e))
        }
        _ => Err(StoreError::fatal("item has no data")),
    }
}

/// An item of `key`'s attributes and the entity in `data`.
pub(super) fn entity<T: Serialize>(key: &super::keys::Key, v: &T) -> StoreResult<Item> {
    let mut item = key.item();
    item.insert(DATA.to_string(), encode(v)?);
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(data: AttributeValue) -> Item {
        HashMap::from([(DATA.to_string(), data)])
    }

    #[test]
    fn large_data_is_stored_deflated_and_reads_back_small_data_stays_json() {
        let small = vec!["U-1".to_string(); 3];
        let AttributeValue::S(json) = encode(&small).unwrap() else {
            panic!("small data is JSON text");
        };
        assert_eq!(json, r#"["U-1","U-1","U-1"]"#);
        let large: Vec<String> = (0..200).map(|i| format!("line {i}: Widget, USD")).collect();
        let encoded = encode(&large).unwrap();
        let AttributeValue::B(blob) = &encoded else {
            panic!("large data is deflated");
        };
        let plain = serde_json::to_vec(&large).unwrap().len();
        assert!(
            blob.as_ref().len() * 3 < plain,
            "{} of {plain}",
            blob.as_ref().len()
        );
        let back: Vec<String> = decode(&item(encoded)).unwrap();
        assert_eq!(back, large);
        let text: Vec<String> = decode(&item(AttributeValue::S(json))).unwrap();
        assert_eq!(text, small);
    }

    #[test]
    fn data_that_does_not_inflate_is_a_fatal_corruption_not_a_panic() {
        let bad = item(AttributeValue::B(aws_smithy_types::Blob::new(vec![
            0xff;
            16
        ])));
        match decode::<Vec<String>>(&bad) {
            Err(StoreError::Fatal(m)) => assert!(m.message().contains("does not inflate"), "{m}"),
            other => panic!("expected a fatal error, got {other:?}"),
        }
        assert!(matches!(
            decode::<Vec<String>>(&HashMap::new()),
            Err(StoreError::Fatal(_))
        ));
    }
}
