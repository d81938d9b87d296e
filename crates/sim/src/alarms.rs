//! CloudWatch alarms of the simulated account: what each measures, and its state now.

use greenlight_core::ports::AlarmValue;
use greenlight_core::Arn;

use crate::world::World;

/// Where an alarm's metric comes from.
#[derive(Clone, Debug)]
pub enum AlarmSource {
    Listener(Arn),
    /// A worker service: (cluster, blue service, green service).
    Tasks(String, String, String),
}

impl World {
    /// The failure rate an alarm's source shows now: a listener's 5xx rate, or the share of
    /// a worker's work that fails (each colour's error rate weighted by its tasks).
    pub fn source_error_rate(&self, source: &AlarmSource) -> f64 {
        match source {
            AlarmSource::Listener(l) => self.listener_error_rate(l),
            AlarmSource::Tasks(cluster, blue, green) => {
                let mut total = 0.0;
                let mut failing = 0.0;
                for name in [blue, green] {
                    let Some(s) = self.services.get(&(cluster.clone(), name.clone())) else {
                        continue;
                    };
                    let running = f64::from(self.service_state(s).running);
                    total += running;
                    failing += running * self.behaviour_of(&s.task_definition).error_rate;
                }
                if total == 0.0 {
                    0.0
                } else {
                    failing / total
                }
            }
        }
    }

    /// The 5xx rate of a listener's traffic, weighting each group's error rate.
    pub fn listener_error_rate(&self, listener: &Arn) -> f64 {
        let Some(l) = self.listeners.get(listener) else {
            return 0.0;
        };
        let total: u32 = l.weights.iter().map(|w| u32::from(w.weight)).sum();
        if total == 0 {
            return 1.0;
        }
        l.weights
            .iter()
            .map(|w| f64::from(w.weight) / f64::from(total) * self.error_rate(&w.target_group))
            .sum()
    }

    pub fn alarm_value(&self, name: &str) -> Option<AlarmValue> {
        let a = self.alarms.get(name)?;
        Some(a.forced.as_ref().map(|(v, _)| *v).unwrap_or_else(|| {
            if self.source_error_rate(&a.source) >= a.threshold {
                AlarmValue::Alarm
            } else {
                AlarmValue::Ok
            }
        }))
    }
}
