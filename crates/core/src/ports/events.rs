//! Amazon EventBridge: greenlight's deployment events on the account's default event bus.

#[allow(unused_imports)]
use super::*;
use crate::notify::BusEvent;

/// Amazon EventBridge.
pub trait EventBus: Send + Sync {
    /// Puts events on the default event bus. Fails unless every one of them was accepted
    /// (a partial failure is retryable: putting the same events again is harmless, each
    /// rule sees them at least once either way).
    fn put_events(&self, events: &[BusEvent]) -> impl Future<Output = PortResult<()>> + Send;
}
