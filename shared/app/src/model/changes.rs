//! What a change did to an item's fields: each field's value before and after, compared
//! over the item's JSON form. The audit trail's entries and a run's `run.updated` event
//! carry them.

use serde::{Deserialize, Serialize};

/// One field's value before and after a change (absent: the field had no value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// Fields a change never shows the values of: secrets (a webhook
/// endpoint's signing secret) are named as changed, nothing more.
const SECRET_FIELDS: [&str; 2] = ["secret", "secrets"];

/// Values longer than this are recorded by their SHA-256 (a template's logo): the
/// trail says that they changed without copying them.
const LONGEST_VALUE: usize = 256;

/// The top-level fields whose values differ between two JSON objects, in name order,
/// with secrets named only and long values by their digest (a null is no value).
pub fn field_changes(
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> Vec<FieldChange> {
    use serde_json::{Map, Value};
    let object = |v: Option<Value>| match v {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let (before, after) = (object(before), object(after));
    let mut fields: Vec<&String> = before.keys().chain(after.keys()).collect();
    fields.sort();
    fields.dedup();
    fields
        .into_iter()
        .filter(|f| before.get(*f) != after.get(*f))
        .map(|f| {
            let shown =
                |v: Option<&Value>| v.filter(|v| !v.is_null()).map(|v| recorded_value(f, v));
            FieldChange {
                field: f.clone(),
                before: shown(before.get(f)),
                after: shown(after.get(f)),
            }
        })
        .collect()
}

/// How a field's value is written into the trail.
fn recorded_value(field: &str, v: &serde_json::Value) -> String {
    if SECRET_FIELDS.contains(&field) {
        return "(secret)".to_string();
    }
    let text = match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.len() > LONGEST_VALUE {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(text.as_bytes());
        return format!("sha256:{}", super::lower_hex(&digest));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_changed_fields_are_listed_secrets_by_name_and_long_values_by_digest() {
        let long = "x".repeat(LONGEST_VALUE + 1);
        let before = json!({"a": 1, "b": "same", "secrets": ["s1"], "gone": true, "n": null});
        let after = json!({"a": 2, "b": "same", "secrets": ["s2"], "new": long, "n": null});
        let changes = field_changes(Some(before), Some(after));
        let fields: Vec<(&str, Option<&str>, Option<&str>)> = changes
            .iter()
            .map(|c| (c.field.as_str(), c.before.as_deref(), c.after.as_deref()))
            .collect();
        assert_eq!(fields[0], ("a", Some("1"), Some("2")));
        assert_eq!(fields[1], ("gone", Some("true"), None));
        assert_eq!(fields[2].0, "new");
        assert!(fields[2]
            .2
            .is_some_and(|v| v.starts_with("sha256:") && v.len() == 7 + 64));
        assert_eq!(fields[3], ("secrets", Some("(secret)"), Some("(secret)")));
        assert_eq!(fields.len(), 4);
        assert!(field_changes(None, None).is_empty());
    }
}
