//! A simulated AWS: every greenlight port implemented over an in-memory world on a
//! virtual clock. Deterministic for a seed. ECS tasks take time to start, targets become
//! healthy (or not) according to the image's behaviour, alarms go to ALARM from the error
//! rate of the traffic each colour actually receives, SNS messages land in inboxes, and
//! faults can be injected into any named call.
//!
//! `Sim` is a cheap handle (`Clone`); all clones share one world.

mod accounts;
mod alarms;
mod behaviour;
mod install;
mod metrics;
mod ports;
mod world;

use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, TimeZone, Utc};

pub use accounts::Accounts;
pub use behaviour::Behaviour;
pub use world::*;

/// A handle on a simulated AWS.
#[derive(Clone)]
pub struct Sim {
    world: Arc<Mutex<World>>,
    /// Where this handle's ECS, ELB, CloudWatch and ECR calls are made: another account or
    /// region reached through its role, or (`None`) the stack's own.
    place: Option<greenlight_core::config::Place>,
}

impl Sim {
    /// An empty world starting at `start`, with a seed for everything random.
    pub fn new(seed: u64, start: DateTime<Utc>) -> Sim {
        Sim {
            world: Arc::new(Mutex::new(World::new(seed, start))),
            place: None,
        }
    }

    /// An empty world at a fixed date, for tests.
    pub fn at_epoch(seed: u64) -> Sim {
        Sim::new(seed, Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap())
    }

    /// Locks the world to read or change it directly. When the world follows tokio's
    /// clock ([`Sim::follow_tokio_clock`]), its time is brought up to date first.
    pub fn world(&self) -> MutexGuard<'_, World> {
        let mut w = self
            .world
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((origin, instant)) = w.tokio_origin {
            let elapsed = tokio::time::Instant::now() - instant;
            w.now = origin + chrono::Duration::from_std(elapsed).unwrap_or_default();
        }
        w.accounts.acting = self.place.as_ref().map(|p| p.role.to_string());
        w
    }

    /// The account and region this handle's calls are made in.
    pub fn here(&self) -> (&str, &str) {
        self.place.as_ref().map_or((ACCOUNT, REGION), |p| {
            (p.account.as_str(), p.region.as_str())
        })
    }

    /// From now on the world's time is tokio's (virtual when the runtime's clock is
    /// paused), starting from the world's current time.
    pub fn follow_tokio_clock(&self) {
        let mut w = self.world();
        w.tokio_origin = Some((w.now, tokio::time::Instant::now()));
    }

    /// Moves the virtual clock forward (manual clock only).
    pub fn advance(&self, secs: u64) {
        let mut w = self.world();
        assert!(
            w.tokio_origin.is_none(),
            "the world follows tokio's clock: sleep instead"
        );
        w.now += chrono::Duration::seconds(secs as i64);
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.world().now
    }
}
