//! The stack's tick queue: SQS delivers each scheduled tick to the `check` function after
//! its delay (the event source mapping, one message per batch). An invocation that fails
//! leaves the message on the queue, to be delivered again once its visibility timeout has
//! passed, until the queue's retention period drops it (template.yaml's `TickQueue`).

#[allow(unused_imports)]
use super::*;
use greenlight_core::ports::Tick;

/// template.yaml's `TickQueue` `VisibilityTimeout` (seconds).
pub const TICK_VISIBILITY: u64 = 90;
/// template.yaml's `TickQueue` `MessageRetentionPeriod` (seconds).
pub const TICK_RETENTION: u64 = 3600;

/// One tick the queue delivered to the `check` function (each a Lambda invocation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub at: DateTime<Utc>,
    pub purpose: greenlight_core::ports::TickPurpose,
    pub deployment: String,
}

impl Simulation {
    /// Every tick delivered so far, in order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Delivers the ticks the functions schedule, as the queue and its event source
    /// mapping do.
    pub(super) fn subscribe_ticks(&self) {
        let s = self.clone();
        self.sim.world().tick_sink = Some(Arc::new(move |tick: Tick, delay| {
            let queue = s.clone();
            s.spawn(async move {
                tokio::time::sleep(std::time::Duration::from_secs(delay.as_secs())).await;
                queue.deliver_tick(tick).await;
            });
        }));
    }

    async fn deliver_tick(&self, tick: Tick) {
        self.deliveries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Delivery {
                at: self.now(),
                purpose: tick.purpose,
                deployment: tick.rollout.deployment.clone(),
            });
        let id = format!("tick-{}", self.sim.world().next_seq());
        let body = serde_json::to_string(&tick).expect("a tick serializes");
        let event = json!({"Records": [{"messageId": id, "body": body, "eventSource": "aws:sqs"}]});
        let mut waited = 0;
        loop {
            let (sim, settings) = (self.sim.clone(), self.settings.clone());
            let result = run_as("check", handlers::check, sim, settings, event.clone()).await;
            let Err(f) = result else { return };
            waited += TICK_VISIBILITY;
            if waited >= TICK_RETENTION {
                let environment = format!("{}/{}", tick.rollout.app, tick.rollout.environment);
                self.note(
                    &environment,
                    format!(
                        "✗ a {} tick of {} failed for an hour ({}: {}); the queue dropped it",
                        tick.purpose, tick.rollout.deployment, f.name, f.message
                    ),
                );
                return;
            }
            tokio::time::sleep(std::time::Duration::from_secs(TICK_VISIBILITY)).await;
        }
    }
}
