//! Invoice schedules as stored, run schedules, and due entries.

use billrun_domain::book::{InvoiceSchedule, ScheduleItemStatus};
use billrun_domain::ids::{DocumentId, RunId, RunScheduleId, ScheduleId, ScheduleItemId};
use billrun_domain::recurrence::{Occurrence, RunScheduleSpec};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// An executed invoice-schedule item: the run and the document it produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessedItem {
    pub item_id: ScheduleItemId,
    pub run_id: RunId,
    pub document_id: DocumentId,
    pub processed_at: DateTime<Utc>,
}

/// A stored invoice schedule: the schedule as imported, with the items executed here.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSchedule {
    /// Item statuses are effective: Processed when the book says so or it was executed.
    pub schedule: InvoiceSchedule,
    pub processed: Vec<ProcessedItem>,
}

impl StoredSchedule {
    /// Sets each executed item's status to Processed.
    pub fn new(mut schedule: InvoiceSchedule, processed: Vec<ProcessedItem>) -> StoredSchedule {
        for it in &mut schedule.items {
            if processed.iter().any(|p| p.item_id == it.id) {
                it.status = ScheduleItemStatus::Processed;
            }
        }
        StoredSchedule {
            schedule,
            processed,
        }
    }
}

const RUN_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x0f7c_51a4_92d3_4b8e_a1c6_3e5d_7b29_8c40);

/// The run of a schedule's occurrence: the same (schedule, occurrence) always gives
/// the same id.
pub fn occurrence_run_id(schedule: &RunScheduleId, at: DateTime<Utc>) -> RunId {
    let name = format!("{schedule}\u{0}{}", at.timestamp());
    RunId(uuid::Uuid::new_v5(&RUN_NAMESPACE, name.as_bytes()))
}

/// What a due entry points at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all_fields = "camelCase")]
pub enum DueTarget {
    /// A Scheduled run, started at its `scheduledAt`.
    Run { run_id: RunId },
    /// An invoice-schedule item, executed on its invoice date.
    InvoiceItem {
        schedule_id: ScheduleId,
        item_id: ScheduleItemId,
    },
}

impl DueTarget {
    /// A stable key (ids never hold `#`).
    pub fn key(&self) -> String {
        match self {
            DueTarget::Run { run_id } => format!("RUN#{run_id}"),
            DueTarget::InvoiceItem {
                schedule_id,
                item_id,
            } => format!("ITEM#{schedule_id}#{item_id}"),
        }
    }
}

/// Something that falls due at `at`. Identity is (`at`, `target`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DueEntry {
    pub at: DateTime<Utc>,
    pub target: DueTarget,
    /// When the entry was noted (orphans are dropped [`ORPHAN_GRACE`] after).
    pub noted_at: DateTime<Utc>,
}

/// The instant an invoice-schedule item falls due: 00:00 UTC of its invoice date.
pub fn item_due_at(date: NaiveDate) -> DateTime<Utc> {
    date.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// An occurrence claimed by a schedule, with the run it creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaterializedOccurrence {
    #[serde(flatten)]
    pub occurrence: Occurrence,
    pub run_id: RunId,
}

/// A stored run schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunScheduleRecord {
    pub id: RunScheduleId,
    pub spec: RunScheduleSpec,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Occurrences at or before this instant never run: when the schedule was created
    /// or last resumed.
    pub after: DateTime<Utc>,
    /// The latest occurrence claimed.
    pub last: Option<MaterializedOccurrence>,
    /// Optimistic-concurrency version: 1 when created, +1 on every write.
    pub version: u64,
}

impl RunScheduleRecord {
    /// The instant after which the next occurrence lies.
    pub fn cursor(&self) -> DateTime<Utc> {
        self.last
            .as_ref()
            .map_or(self.after, |l| l.occurrence.at.max(self.after))
    }
}

/// A run schedule as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunScheduleView {
    pub id: RunScheduleId,
    #[serde(flatten)]
    pub spec: RunScheduleSpec,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The next occurrence not yet claimed (`null` while paused).
    pub next_occurrence: Option<Occurrence>,
    pub last_occurrence: Option<MaterializedOccurrence>,
}

impl RunScheduleView {
    pub fn of(r: RunScheduleRecord) -> RunScheduleView {
        let next_occurrence = if r.spec.enabled {
            r.spec.next_occurrence(r.cursor())
        } else {
            None
        };
        RunScheduleView {
            id: r.id,
            spec: r.spec,
            created_at: r.created_at,
            updated_at: r.updated_at,
            next_occurrence,
            last_occurrence: r.last,
        }
    }
}
