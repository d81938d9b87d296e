//! A simulated AWS: every greenlight port implemented over an in-memory world on a
//! virtual clock. Deterministic for a seed. ECS tasks take time to start, targets become
//! healthy (or not) according to the image's behaviour, alarms go to ALARM from the error
//! rate of the traffic each colour actually receives, SNS messages land in inboxes, and
//! faults can be injected into any named call.
//!
//! `Sim` is a cheap handle (`Clone`); all clones share one world.

mod ports;
mod world;

use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, TimeZone, Utc};

pub use world::*;

/// A handle on a simulated AWS.
#[derive(Clone)]
pub struct Sim {
    world: Arc<Mutex<World>>,
}

impl Sim {
    /// An empty world starting at `start`, with a seed for everything random.
    pub fn new(seed: u64, start: DateTime<Utc>) -> Sim {
        Sim {
            world: Arc::new(Mutex::new(World::new(seed, start))),
        }
    }

    /// An empty world at a fixed date, for tests.
    pub fn at_epoch(seed: u64) -> Sim {
        Sim::new(seed, Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap())
    }

    /// Locks the world to read or change it directly.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Moves the virtual clock forward.
    pub fn advance(&self, secs: u64) {
        let mut w = self.world();
        w.now += chrono::Duration::seconds(secs as i64);
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.world().now
    }
}
