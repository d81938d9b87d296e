//! The invariant a rehearsal must end in.

#[allow(unused_imports)]
use super::*;

impl Simulation {
    /// The invariant after every execution has ended: in each environment the production
    /// listener sends all traffic to one colour, that colour runs a healthy revision with
    /// none of the environment's alarms in ALARM, the
    /// other colour is scaled to zero, the lock is free; and every execution published a
    /// terminal notification.
    pub fn invariant(&self) -> Vec<String> {
        let w = self.sim.world();
        let mut broken = Vec::new();
        for (app_name, app) in &self.config.apps {
            for (env_name, env) in &app.environments {
                let at = format!("{app_name}/{env_name}");
                match w.live_colour(env) {
                    None => {
                        let split = match env.load_balancer() {
                            Some(lb) => {
                                let weights = w
                                    .listeners
                                    .get(&lb.listeners.production)
                                    .map(|l| l.weights.clone())
                                    .unwrap_or_default();
                                greenlight_core::usecase::describe_weights(lb, &weights)
                            }
                            None => [Colour::Blue, Colour::Green]
                                .map(|c| {
                                    let key = (env.cluster.clone(), env.services.get(c).clone());
                                    format!(
                                        "{c} {} tasks",
                                        w.services.get(&key).map_or(0, |s| s.desired)
                                    )
                                })
                                .join(", "),
                        };
                        broken.push(format!("{at}: traffic is not all on one colour ({split})"));
                    }
                    Some(live) => {
                        let key = (env.cluster.clone(), env.services.get(live).clone());
                        if let Some(service) = w.services.get(&key) {
                            let state = w.service_state(service);
                            let behaviour = w.behaviour_of(&service.task_definition);
                            // Behind a load balancer: healthy targets; a worker: the tasks
                            // running pass their container health check.
                            let healthy = match env.load_balancer() {
                                Some(lb) => w
                                    .target_health(lb.target_groups.get(live))
                                    .iter()
                                    .filter(|t| t.state == HealthState::Healthy)
                                    .count() as u32,
                                None if w.health_failing(service) => 0,
                                None => state.running,
                            };
                            if state.desired == 0
                                || state.running < state.desired
                                || state.rollout != RolloutState::Completed
                                || healthy < state.desired
                                || behaviour.error_rate >= 0.05
                            {
                                broken.push(format!(
                                    "{at}: the live colour {live} is not healthy ({} of {} tasks, {healthy} healthy targets, error rate {:.0}%)",
                                    state.running,
                                    state.desired,
                                    behaviour.error_rate * 100.0
                                ));
                            }
                        }
                        // Production must not be left on a colour whose alarms say it
                        // is failing.
                        for alarm in &env.checks.alarms {
                            if w.alarm_value(alarm)
                                == Some(greenlight_core::ports::AlarmValue::Alarm)
                            {
                                broken.push(format!(
                                    "{at}: the live colour {live} is left with its alarm {alarm} in ALARM"
                                ));
                            }
                        }
                        // Once every execution has ended, nothing can need the other
                        // colour: it must be scaled to zero.
                        let idle = (env.cluster.clone(), env.services.get(live.other()).clone());
                        if let Some(service) = w.services.get(&idle) {
                            if service.desired > 0 {
                                broken.push(format!(
                                    "{at}: {} does not serve traffic but is left warm ({} tasks)",
                                    idle.1, service.desired
                                ));
                            }
                        }
                    }
                }
                if let Some(lock) = w.store.locks.get(&(app_name.clone(), env_name.clone())) {
                    if lock.expires_at > w.now {
                        broken.push(format!("{at}: still locked by {}", lock.owner));
                    }
                }
            }
        }
        for e in self.finished() {
            let terminal = w.published.iter().any(|p| {
                p.notification.deployment.as_deref() == Some(e.name.as_str())
                    && p.notification.event.is_terminal()
            });
            if !terminal {
                broken.push(format!(
                    "{}: ended {} without a terminal notification",
                    e.name, e.status
                ));
            }
        }
        broken
    }
}
