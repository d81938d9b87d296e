//! `EventBus` on Amazon EventBridge (the default event bus).

use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use greenlight_core::notify::BusEvent;
use greenlight_core::ports::{EventBus, PortError, PortResult};

use crate::error::classify;
use crate::AwsCloud;

impl EventBus for AwsCloud {
    async fn put_events(&self, events: &[BusEvent]) -> PortResult<()> {
        const OP: &str = "events:PutEvents";
        if events.is_empty() {
            return Ok(());
        }
        let entries = events
            .iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .event_bus_name("default")
                    .source(&e.source)
                    .detail_type(&e.detail_type)
                    .detail(e.detail.to_string())
                    .set_resources(Some(e.resources.clone()))
                    .time(DateTime::from_millis(e.time.timestamp_millis()))
                    .build()
            })
            .collect();
        let out = self
            .events
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        let failed: Vec<String> = out
            .entries()
            .iter()
            .filter_map(|e| {
                e.error_code()
                    .map(|c| format!("{c}: {}", e.error_message().unwrap_or_default()))
            })
            .collect();
        if out.failed_entry_count() > 0 || !failed.is_empty() {
            // EventBridge refused some entries (usually throttled): the caller retries all.
            return Err(PortError::Unavailable {
                operation: OP.into(),
                message: format!(
                    "{} of {} events not accepted: {}",
                    out.failed_entry_count().max(failed.len() as i32),
                    events.len(),
                    failed.join("; ")
                ),
            });
        }
        Ok(())
    }
}
