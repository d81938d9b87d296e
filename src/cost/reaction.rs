//! Rollback reaction time, per strategy, in the simulator's virtual time: from the moment a
//! failure becomes observable in the first traffic step's bake to all production traffic
//! back on the old colour (the listener's weights as the rollback verified them), next to
//! the physical limit of the path that saw it.
//!
//! - An alarm going to ALARM: the alarm relay fails the step's wait at once; the limit is
//!   the event's delivery and one listener update (no virtual time in the simulator).
//! - Targets turning unhealthy with no alarm to see it: only the rounds of checks see it;
//!   `failure_threshold` failed rounds in a row fail the step, so the limit is that many
//!   check intervals (the first failing round comes within one interval).

use chrono::{DateTime, Utc};
use greenlight_core::config::{Colour, Config};
use greenlight_core::ports::AlarmValue;

use crate::simulation::{alarm_event, digest_for, Async};

/// What one failure cost in reaction time.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Reaction {
    pub strategy: String,
    /// Seconds from the alarm's change to all traffic back on the old colour.
    pub alarm_secs: i64,
    /// Seconds from the targets turning unhealthy to all traffic back on the old colour.
    pub unhealthy_secs: i64,
    /// The polled path's limit: `failure_threshold` × `checks.interval`, in seconds.
    pub unhealthy_limit_secs: i64,
}

/// How a failure is brought about.
#[derive(Clone, Copy)]
enum Failure {
    Alarm,
    Unhealthy,
}

/// Seconds into the first step's bake at which the failure is made observable.
const INTO_BAKE: u64 = 45;

/// Measures both failures for every strategy of [`super::strategies`] on `web/staging`.
pub fn reaction_times(example: &Config) -> Vec<Reaction> {
    let rt = super::paused_runtime();
    super::strategies()
        .into_iter()
        .map(|(name, strategy)| {
            let config = super::with_staging(example, |env| env.strategy = strategy);
            let env = &config.apps["web"].environments["staging"];
            let interval = env.checks.interval.as_secs() as i64;
            Reaction {
                strategy: name,
                alarm_secs: rt.block_on(measure(&config, Failure::Alarm)),
                unhealthy_secs: rt.block_on(measure(&config, Failure::Unhealthy)),
                unhealthy_limit_secs: i64::from(env.checks.failure_threshold) * interval,
            }
        })
        .collect()
}

/// One release of `web/staging` that fails [`INTO_BAKE`] seconds into its first step's
/// bake; the seconds until all its traffic is back on the old colour (-1: never).
async fn measure(config: &Config, failure: Failure) -> i64 {
    let s = super::simulation(config);
    let env = config.apps["web"].environments["staging"].clone();
    let Some(lb) = env.load_balancer() else {
        return -1;
    };
    let (listener, old) = (lb.listeners.production.clone(), Colour::Blue);
    let new_group = lb.target_groups.get(Colour::Green).clone();
    let old_group = lb.target_groups.get(old).clone();
    let mut behaviour = greenlight_sim::Behaviour::healthy();
    if let Failure::Unhealthy = failure {
        // Unhealthy far enough out that only the bake sees it; set exactly below.
        behaviour.unhealthy_after_secs = Some(u64::MAX / 4);
    }
    let _ = s.push("web", "v2.0.0", &digest_for("v2"), behaviour).await;
    // The first step: the first time the new colour takes traffic.
    loop {
        let moved = s.sim.world().traffic.iter().any(|t| {
            t.listener == listener
                && t.weights
                    .iter()
                    .any(|w| w.target_group == new_group && w.weight > 0)
        });
        if moved {
            break;
        }
        if s.finished().len() == 1 {
            return -1;
        }
        s.sleep(1).await;
    }
    s.sleep(INTO_BAKE).await;
    let observable: DateTime<Utc> = s.now();
    match failure {
        Failure::Alarm => {
            let name = env.checks.alarms.first().cloned().unwrap_or_default();
            let _ =
                s.sim
                    .world()
                    .force_alarm(&name, Some(AlarmValue::Alarm), "forced by the bench");
            let origin = s.sim.world().accounts.owner(&format!("alarm:{name}"));
            let event = alarm_event(
                &name,
                "forced by the bench",
                observable,
                (&origin.0, &origin.1),
            );
            let _ = s.deliver_async(Async::AlarmRelay, event).await;
        }
        Failure::Unhealthy => {
            // Every task of the new colour turns unhealthy now.
            let running = {
                let w = s.sim.world();
                w.services
                    .values()
                    .filter(|svc| &svc.name == env.services.get(Colour::Green))
                    .map(|svc| w.running_for(svc))
                    .max()
                    .unwrap_or(0)
            };
            let mut w = s.sim.world();
            for b in w.behaviours.values_mut() {
                if b.unhealthy_after_secs.is_some() {
                    b.unhealthy_after_secs = Some(running);
                }
            }
        }
    }
    s.settle().await;
    let back = s.sim.world().traffic.iter().find_map(|t| {
        let all_old = t.listener == listener
            && t.at >= observable
            && t.weights
                .iter()
                .all(|w| (w.target_group == old_group) == (w.weight == 100) || w.weight == 0)
            && t.weights
                .iter()
                .any(|w| w.target_group == old_group && w.weight == 100);
        all_old.then_some(t.at)
    });
    s.close();
    back.map_or(-1, |at| (at - observable).num_seconds())
}

/// The table the bench prints and docs/PERFORMANCE.md holds.
pub fn table(reactions: &[Reaction]) -> String {
    let mut out = String::from(
        "| strategy | alarm → all traffic back | limit | unhealthy targets (no alarm) → all traffic back | limit |\n|---|---:|---:|---:|---:|\n",
    );
    for r in reactions {
        out.push_str(&format!(
            "| {} | {} s | 0 s | {} s | {} s |\n",
            r.strategy, r.alarm_secs, r.unhealthy_secs, r.unhealthy_limit_secs
        ));
    }
    out
}
