//! CloudWatch metrics of the simulated load balancer. Each production listener serves
//! [`REQUESTS_PER_SECOND`]; a target group receives its share by the listener's weights
//! over time, and answers as the image it runs behaves: its error rate and its response
//! time percentiles, observed with the sampling noise of the requests it served. The noise
//! is drawn per minute from the seed and the metric (not from the order of calls), so
//! adding a metric read changes nothing else in a run, and reads of overlapping time see
//! the same noise in their common minutes.
//!
//! The noise model: a 5XX count is binomial (normal approximation); an observed
//! percentile q over n requests is off by a relative standard error of
//! `sqrt(q / (n (1 - q))) / ln(1 / (1 - q))` — the error of an estimated quantile of an
//! exponential tail, the model the analysis's margin assumes too.

use chrono::{DateTime, Utc};
use greenlight_core::analysis::{
    load_balancer_dimension, quantile_relative_error, target_group_dimension,
};
use greenlight_core::ports::MetricQuery;
use greenlight_core::Arn;

use crate::world::World;

/// Requests per second each production listener serves.
pub const REQUESTS_PER_SECOND: f64 = 100.0;

impl World {
    /// The target group a `TargetGroup` (and `LoadBalancer`) dimension names, with the
    /// production listener that routes to it.
    fn dimension_target(&self, q: &MetricQuery) -> Option<(Arn, Arn)> {
        let dim = |name: &str| {
            q.dimensions
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let (tg_dim, lb_dim) = (dim("TargetGroup")?, dim("LoadBalancer")?);
        self.listeners.iter().find_map(|(arn, l)| {
            if !l.production || load_balancer_dimension(arn).as_deref() != Some(lb_dim) {
                return None;
            }
            l.weights
                .iter()
                .find(|w| target_group_dimension(&w.target_group).as_deref() == Some(tg_dim))
                .map(|w| (w.target_group.clone(), arn.clone()))
        })
    }

    /// The share of a listener's traffic (0 to 1) a target group had at time `t`.
    fn share_at(&self, listener: &Arn, tg: &Arn, t: DateTime<Utc>) -> f64 {
        // The last change at or before `t`; with none, the listener's weights now (the
        // analysis reads from the moment of a change on, so this is only a fallback).
        let weights = self
            .traffic
            .iter()
            .rfind(|c| &c.listener == listener && c.at <= t)
            .map(|c| c.weights.clone())
            .or_else(|| self.listeners.get(listener).map(|l| l.weights.clone()))
            .unwrap_or_default();
        let total: u32 = weights.iter().map(|w| u32::from(w.weight)).sum();
        if total == 0 {
            return 0.0;
        }
        weights
            .iter()
            .filter(|w| &w.target_group == tg)
            .map(|w| f64::from(w.weight) / f64::from(total))
            .sum()
    }

    /// Requests a target group served over `[start, end)`.
    fn served(&self, listener: &Arn, tg: &Arn, start: DateTime<Utc>, end: DateTime<Utc>) -> f64 {
        let mut cuts: Vec<DateTime<Utc>> = self
            .traffic
            .iter()
            .filter(|c| &c.listener == listener && c.at > start && c.at < end)
            .map(|c| c.at)
            .collect();
        cuts.push(end);
        let mut from = start;
        let mut total = 0.0;
        for to in cuts {
            let secs = (to - from).num_milliseconds().max(0) as f64 / 1000.0;
            total += secs * self.share_at(listener, tg, from) * REQUESTS_PER_SECOND;
            from = to;
        }
        total.round()
    }

    /// What CloudWatch would answer for one query over `[start, end)`: `None` where it
    /// holds no datapoint (no request served, or a metric the simulation does not produce).
    pub fn metric_value(
        &self,
        q: &MetricQuery,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Option<f64> {
        if q.namespace != "AWS/ApplicationELB" {
            return None;
        }
        let (tg, listener) = self.dimension_target(q)?;
        let n = self.served(&listener, &tg, start, end);
        if n <= 0.0 {
            return None;
        }
        let b = self
            .target_groups
            .get(&tg)
            .and_then(|k| self.services.get(k))
            .map(|s| self.behaviour_of(&s.task_definition))
            .unwrap_or_default();
        let noise = |salt: u64| self.sampling_noise(q, (&listener, &tg), start, end, salt);
        match (q.metric_name.as_str(), q.statistic.as_str()) {
            ("RequestCount", "Sum") => Some(n),
            ("HTTPCode_Target_5XX_Count", "Sum") => {
                let p = b.error_rate.clamp(0.0, 1.0);
                let errors = (n * p + (n * p * (1.0 - p)).sqrt() * noise(1)).round();
                // CloudWatch publishes no datapoint for a count that stayed at zero.
                (errors >= 1.0).then_some(errors.min(n))
            }
            ("TargetResponseTime", stat) => {
                let (q_level, true_ms) = match stat {
                    "p50" => (0.50, b.latency_p50_ms),
                    "p99" => (0.99, b.latency_p99_ms),
                    _ => return None,
                };
                let error = quantile_relative_error(q_level, n);
                let observed = true_ms * (1.0 + error * noise(2)).max(0.05);
                Some(observed / 1000.0)
            }
            _ => None,
        }
    }

    /// A standard normal draw for the sampling error over `[start, end)`, made of one draw
    /// per minute weighted by the requests of that minute: two ranges that share minutes
    /// share their draws, as two reads of overlapping traffic share its requests.
    fn sampling_noise(
        &self,
        q: &MetricQuery,
        (listener, tg): (&Arn, &Arn),
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        salt: u64,
    ) -> f64 {
        let (mut weighted, mut total) = (0.0, 0.0);
        let mut from = start;
        while from < end {
            let minute = from.timestamp().div_euclid(60);
            let to =
                DateTime::from_timestamp((minute + 1) * 60, 0).map_or(end, |next| next.min(end));
            let n = self.served(listener, tg, from, to);
            weighted += n.sqrt() * self.gaussian(q, minute, salt);
            total += n;
            from = to;
        }
        if total > 0.0 {
            weighted / total.sqrt()
        } else {
            0.0
        }
    }

    /// A standard normal draw fixed by the seed, the metric, the minute and `salt`.
    fn gaussian(&self, q: &MetricQuery, minute: i64, salt: u64) -> f64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (
            self.seed,
            salt,
            &q.dimensions,
            &q.metric_name,
            &q.statistic,
            minute,
        )
            .hash(&mut h);
        let bits = h.finish();
        let u1 = ((bits >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let mut h2 = std::collections::hash_map::DefaultHasher::new();
        (bits, 0x5EED_u64).hash(&mut h2);
        let u2 = ((h2.finish() >> 11) as f64) / (1u64 << 53) as f64;
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}
