//! The event bus on EventBridge (`billrun_app::ports::EventBus`): each run event one
//! entry on the deployment's custom bus, `source` `billrun`, `detail-type` the event's
//! type, `detail` its envelope (docs/events/event.v1.schema.json). `PutEvents` takes ten
//! entries a call; entries EventBridge reports failed are put again, and a publish that
//! still leaves some fails whole (the dispatcher's invocation is retried, which may
//! repeat entries that landed: receivers deduplicate on the envelope's `id`).

use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use billrun_app::error::StoreError;
use billrun_app::model::events::EventEnvelope;
use billrun_app::ports::{EventBus, StoreResult};

/// Every entry's `source`: what rules match on.
pub const SOURCE: &str = "billrun";

/// Entries per `PutEvents` call (EventBridge's limit).
const ENTRIES_PER_CALL: usize = 10;

/// Puts of the failed entries of one call before the publish fails.
const ATTEMPTS: usize = 4;

pub struct EventBridgeBus {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBridgeBus {
    /// The bus `bus` through `client` (whose interceptor records `events:PutEvents`).
    pub fn new(client: aws_sdk_eventbridge::Client, bus: String) -> Self {
        EventBridgeBus { client, bus }
    }

    /// The bus's name.
    pub fn bus(&self) -> &str {
        &self.bus
    }

    fn entry(&self, event: &EventEnvelope) -> StoreResult<PutEventsRequestEntry> {
        let detail = serde_json::to_string(event)
            .map_err(|e| StoreError::fatal(format!("event {}: {e}", event.id)))?;
        Ok(PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(billrun_domain::export::wire_name(&event.event_type))
            .detail(detail)
            .time(aws_smithy_types::DateTime::from_secs(
                event.timestamp.timestamp(),
            ))
            .build())
    }
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn publish(&self, events: &[EventEnvelope]) -> StoreResult<()> {
        for chunk in events.chunks(ENTRIES_PER_CALL) {
            let mut pending: Vec<PutEventsRequestEntry> = chunk
                .iter()
                .map(|e| self.entry(e))
                .collect::<StoreResult<_>>()?;
            for attempt in 1..=ATTEMPTS {
                let out = self
                    .client
                    .put_events()
                    .set_entries(Some(pending.clone()))
                    .send()
                    .await
                    .map_err(|e| {
                        StoreError::transient_from(
                            format!(
                                "EventBridge PutEvents: {}",
                                aws_sdk_eventbridge::error::DisplayErrorContext(&e)
                            ),
                            e,
                        )
                    })?;
                if out.failed_entry_count() == 0 {
                    break;
                }
                // Results are in the order of the entries; a failed one has an error code.
                let retry: Vec<PutEventsRequestEntry> = out
                    .entries()
                    .iter()
                    .zip(pending.iter())
                    .filter(|(r, _)| r.error_code().is_some())
                    .map(|(_, e)| e.clone())
                    .collect();
                if attempt == ATTEMPTS {
                    return Err(StoreError::transient(format!(
                        "EventBridge refused {} of the run's events",
                        retry.len()
                    )));
                }
                pending = retry;
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
        }
        Ok(())
    }
}
