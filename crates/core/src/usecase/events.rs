//! The event relay: every notification published on the stack's topic, put on the
//! account's default EventBridge bus as a `Greenlight Deployment State Change` event.

use crate::notify::{BusEvent, Notification};
use crate::ports::{EventBus, PortError};

/// What the relay did with one delivery.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Forwarded {
    /// Events put on the bus.
    pub forwarded: usize,
    /// Messages that are not a greenlight notification, with why (left, not retried).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

/// PutEvents takes at most this many entries per call.
const BATCH: usize = 10;

/// Puts each message that is a greenlight notification (its JSON form: the body SNS
/// delivers to a function) on the bus. A message that is not one is skipped with its
/// reason; a failure of the bus fails the whole delivery, for Lambda to retry it.
pub async fn forward(p: &impl EventBus, messages: &[String]) -> Result<Forwarded, PortError> {
    let mut out = Forwarded::default();
    let mut events: Vec<BusEvent> = Vec::new();
    for m in messages {
        match serde_json::from_str::<Notification>(m) {
            Ok(n) => events.push(n.bus_event()),
            Err(e) => out
                .skipped
                .push(format!("not a greenlight notification: {e}")),
        }
    }
    for batch in events.chunks(BATCH) {
        p.put_events(batch).await?;
        out.forwarded += batch.len();
    }
    Ok(out)
}
