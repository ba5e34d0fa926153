//! Records of the table's stream as Lambda hands them (`Records[].dynamodb` with `Keys`,
//! `OldImage`, `NewImage` in DynamoDB's JSON): which are writes of a run's record that
//! moved its version, and from which version their events are new.

use super::codec::VER;
use super::keys;
use billrun_domain::ids::RunId;
use serde_json::Value;

/// A write of a run's record: the run, and the versions it wrote (the events of those
/// versions are the write's; a record may span several writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunWrite {
    pub run: RunId,
    pub from_version: u64,
    pub through_version: u64,
}

fn string<'a>(image: &'a Value, attribute: &str) -> Option<&'a str> {
    image.get(attribute)?.get("S")?.as_str()
}

fn number(image: &Value, attribute: &str) -> Option<u64> {
    image.get(attribute)?.get("N")?.as_str()?.parse().ok()
}

/// The run write of a stream record, or `None` for another item, a removal, or a
/// write that left the run's version as it was.
pub fn run_write(record: &Value) -> Option<RunWrite> {
    let change = record.get("dynamodb")?;
    let k = change.get("Keys")?;
    let run = keys::run_of(string(k, keys::PK)?, string(k, keys::SK)?)?;
    let new = number(change.get("NewImage")?, VER)?;
    let from_version = match change.get("OldImage").and_then(|old| number(old, VER)) {
        Some(old) if old >= new => return None,
        Some(old) => old + 1,
        None => 0,
    };
    Some(RunWrite {
        run,
        from_version,
        through_version: new,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(sk: &str, old: Option<u64>, new: Option<u64>) -> Value {
        let id = "0f4b1c1e-8f5d-4a52-9d31-3b9d6f3e2a10";
        let mut d = json!({"Keys": {"pk": {"S": format!("RUN#{id}")}, "sk": {"S": sk}},
            "SequenceNumber": "4421584500000000017450439091", "StreamViewType": "NEW_AND_OLD_IMAGES"});
        if let Some(v) = old {
            d["OldImage"] = json!({"ver": {"N": v.to_string()}});
        }
        if let Some(v) = new {
            d["NewImage"] = json!({"ver": {"N": v.to_string()}});
        }
        json!({"eventName": "MODIFY", "eventSource": "aws:dynamodb", "dynamodb": d})
    }

    #[test]
    fn only_run_records_that_moved_their_version_are_writes() {
        let w = run_write(&record("RUN", Some(3), Some(5))).unwrap();
        assert_eq!((w.from_version, w.through_version), (4, 5));
        assert_eq!(
            run_write(&record("RUN", None, Some(1)))
                .unwrap()
                .from_version,
            0
        );
        assert_eq!(run_write(&record("RUN", Some(5), Some(5))), None);
        assert_eq!(run_write(&record("RUN", Some(5), None)), None, "a removal");
        assert_eq!(run_write(&record("DOCREQ", Some(1), Some(2))), None);
    }
}
