//! Canary analysis: the new colour's metrics against the old colour's over the same time,
//! a verdict per metric and one overall. Pure: the queries to ask CloudWatch, and the
//! judgement of what it answered.
//!
//! - **error_rate**: `HTTPCode_Target_5XX_Count` / `RequestCount` of each colour's target
//!   group. It fails when the new colour's rate exceeds the old one's by more than the
//!   tolerance *with 95% confidence* (a one-sided two-proportion z-test on the excess), so
//!   a handful of unlucky requests on a small canary does not roll a release back.
//! - **latency_p50 / latency_p99**: `TargetResponseTime` percentiles of each target group.
//!   They fail when the new colour's value is more than the tolerance above the old one's.
//! - **custom**: any metric with a dimension naming the colour, compared the same way in
//!   the direction that is worse.
//!
//! No verdict is given (`inconclusive`) while either colour has served fewer than
//! `min_requests` requests at the current weight, or where a metric has no datapoint.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::arn::Arn;
use crate::config::{Analysis, Colour, Environment, MetricCheck, MetricKind, Tolerance, Worse};
use crate::ports::MetricQuery;

/// z of a one-sided 95% confidence.
const Z_95: f64 = 1.645;

/// The relative standard error of a quantile `q` estimated from `n` requests, for an
/// exponential tail: `sqrt(q / (n (1 - q))) / ln(1 / (1 - q))`. About 5% for a p99 over
/// 2,000 requests, 10% over 500.
pub fn quantile_relative_error(q: f64, n: f64) -> f64 {
    if n <= 0.0 || !(0.0..1.0).contains(&q) || q == 0.0 {
        return f64::INFINITY;
    }
    (q / (n * (1.0 - q))).sqrt() / (1.0 / (1.0 - q)).ln()
}

/// The ALB's CloudWatch namespace.
const ALB: &str = "AWS/ApplicationELB";

/// A verdict, for one metric or for the whole analysis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    Inconclusive,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One metric compared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MetricVerdict {
    pub metric: String,
    pub verdict: Verdict,
    /// The old colour's value: a rate in percent, a latency in milliseconds, a custom
    /// metric in its own unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<f64>,
    /// The new colour's value, in the same unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<f64>,
    /// The comparison, in words.
    pub detail: String,
}

/// The analysis of one round: both colours over the time at the current weight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AnalysisReport {
    pub verdict: Verdict,
    /// Percent of production traffic on the new colour.
    pub weight: u8,
    pub old_colour: Colour,
    pub new_colour: Colour,
    /// Requests each colour served since the weight was set.
    pub old_requests: u64,
    pub new_requests: u64,
    pub since: DateTime<Utc>,
    pub at: DateTime<Utc>,
    pub metrics: Vec<MetricVerdict>,
}

// The values are finite numbers (rates are clamped, a relative change needs a positive
// base, and JSON carries no NaN), so equality is an equivalence.
impl Eq for MetricVerdict {}
impl Eq for AnalysisReport {}

impl AnalysisReport {
    /// One line: the verdict and each metric's comparison (only the failing ones when it
    /// failed).
    pub fn summary(&self) -> String {
        let shown: Vec<&MetricVerdict> = if self.verdict == Verdict::Fail {
            self.metrics
                .iter()
                .filter(|m| m.verdict == Verdict::Fail)
                .collect()
        } else {
            self.metrics.iter().collect()
        };
        let details: Vec<String> = shown
            .iter()
            .map(|m| format!("{} {}: {}", m.metric, m.verdict, m.detail))
            .collect();
        format!(
            "analysis at {}%: {} ({})",
            self.weight,
            self.verdict,
            details.join("; ")
        )
    }
}

/// The dimension value CloudWatch gives a load balancer: `app/NAME/ID`, from the ARN of one
/// of its listeners (or listener rules).
pub fn load_balancer_dimension(listener: &Arn) -> Option<String> {
    let resource = listener.parts().ok()?.resource;
    let rest = resource
        .strip_prefix("listener/")
        .or_else(|| resource.strip_prefix("listener-rule/"))?;
    let parts: Vec<&str> = rest.split('/').collect();
    (parts.len() >= 3).then(|| parts[..3].join("/"))
}

/// The dimension value CloudWatch gives a target group: `targetgroup/NAME/ID`.
pub fn target_group_dimension(tg: &Arn) -> Option<String> {
    let resource = tg.parts().ok()?.resource;
    resource
        .starts_with("targetgroup/")
        .then(|| resource.to_string())
}

fn alb_query(env: &Environment, colour: Colour, metric: &str, statistic: &str) -> MetricQuery {
    // A worker service has no load balancer: validation allows it custom metrics only.
    let lb = env.load_balancer();
    let lb_dim = lb
        .and_then(|lb| load_balancer_dimension(&lb.listeners.production))
        .unwrap_or_default();
    let tg = lb
        .and_then(|lb| target_group_dimension(lb.target_groups.get(colour)))
        .unwrap_or_default();
    MetricQuery {
        namespace: ALB.into(),
        metric_name: metric.into(),
        dimensions: vec![("TargetGroup".into(), tg), ("LoadBalancer".into(), lb_dim)],
        statistic: statistic.into(),
    }
}

fn metric_query(env: &Environment, check: &MetricCheck, colour: Colour) -> MetricQuery {
    match (check.metric, &check.custom) {
        (MetricKind::Custom, Some(c)) => {
            let mut dimensions = vec![(
                c.colour_dimension.clone(),
                c.colour_values.get(colour).clone(),
            )];
            dimensions.extend(c.dimensions.iter().map(|(k, v)| (k.clone(), v.clone())));
            MetricQuery {
                namespace: c.namespace.clone(),
                metric_name: c.metric_name.clone(),
                dimensions,
                statistic: c.statistic.clone(),
            }
        }
        (MetricKind::ErrorRate, _) => alb_query(env, colour, "HTTPCode_Target_5XX_Count", "Sum"),
        (MetricKind::LatencyP50, _) => alb_query(env, colour, "TargetResponseTime", "p50"),
        // latency_p99 (a `custom` without its metric does not decode).
        _ => alb_query(env, colour, "TargetResponseTime", "p99"),
    }
}

/// What to ask CloudWatch, in this order: behind a load balancer the requests of the old
/// and the new colour (a worker service has no request count: its custom metrics are
/// judged without that gate), then for each metric its value for the old and the new colour.
pub fn queries(
    env: &Environment,
    analysis: &Analysis,
    old: Colour,
    new: Colour,
) -> Vec<MetricQuery> {
    let mut q = Vec::new();
    if env.load_balancer().is_some() {
        q.push(alb_query(env, old, "RequestCount", "Sum"));
        q.push(alb_query(env, new, "RequestCount", "Sum"));
    }
    for m in &analysis.metrics {
        q.push(metric_query(env, m, old));
        q.push(metric_query(env, m, new));
    }
    q
}

/// What a round of the analysis is about.
#[derive(Clone, Copy, Debug)]
pub struct Round {
    pub old: Colour,
    pub new: Colour,
    pub weight: u8,
    pub since: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

/// Judges the values CloudWatch gave for [`queries`] (in the same order).
pub fn judge(analysis: &Analysis, values: &[Option<f64>], round: Round) -> AnalysisReport {
    let value = |i: usize| values.get(i).copied().flatten();
    let count = |i: usize| value(i).unwrap_or(0.0).max(0.0);
    // With the two request counts first (behind a load balancer), or without (a worker).
    let gated = values.len() >= 2 + 2 * analysis.metrics.len();
    let base = if gated { 2 } else { 0 };
    let (old_requests, new_requests) = if gated {
        (count(0), count(1))
    } else {
        (0.0, 0.0)
    };
    let enough = !gated
        || (old_requests >= analysis.min_requests as f64
            && new_requests >= analysis.min_requests as f64);
    let names = (round.old, round.new);
    let metrics: Vec<MetricVerdict> = analysis
        .metrics
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let (o, n) = (base + 2 * i, base + 1 + 2 * i);
            if !enough {
                return MetricVerdict {
                    metric: m.name().to_string(),
                    verdict: Verdict::Inconclusive,
                    old: None,
                    new: None,
                    detail: format!(
                        "{} requests on {} and {} on {}, fewer than the {} needed",
                        old_requests, names.0, new_requests, names.1, analysis.min_requests
                    ),
                };
            }
            match m.metric {
                MetricKind::ErrorRate => {
                    error_rate(m, (count(o), old_requests), (count(n), new_requests), names)
                }
                MetricKind::LatencyP50 | MetricKind::LatencyP99 => {
                    let q = if m.metric == MetricKind::LatencyP50 {
                        0.5
                    } else {
                        0.99
                    };
                    let margin = quantile_relative_error(q, old_requests)
                        .hypot(quantile_relative_error(q, new_requests));
                    relative(
                        m,
                        (value(o).map(|s| s * 1000.0), value(n).map(|s| s * 1000.0)),
                        Worse::Higher,
                        margin,
                        "ms",
                        names,
                    )
                }
                MetricKind::Custom => relative(
                    m,
                    (value(o), value(n)),
                    m.custom.as_ref().map_or(Worse::Higher, |c| c.worse),
                    0.0,
                    "",
                    names,
                ),
            }
        })
        .collect();
    let verdict = if metrics.iter().any(|m| m.verdict == Verdict::Fail) {
        Verdict::Fail
    } else if !enough || metrics.iter().any(|m| m.verdict == Verdict::Inconclusive) {
        Verdict::Inconclusive
    } else {
        Verdict::Pass
    };
    AnalysisReport {
        verdict,
        weight: round.weight,
        old_colour: round.old,
        new_colour: round.new,
        old_requests: old_requests as u64,
        new_requests: new_requests as u64,
        since: round.since,
        at: round.at,
        metrics,
    }
}

fn error_rate(
    m: &MetricCheck,
    (old_errors, old_n): (f64, f64),
    (new_errors, new_n): (f64, f64),
    (old, new): (Colour, Colour),
) -> MetricVerdict {
    let p_old = (old_errors / old_n).clamp(0.0, 1.0);
    let p_new = (new_errors / new_n).clamp(0.0, 1.0);
    let allowed = match m.max_increase {
        Tolerance::Points(pp) => pp / 100.0,
        Tolerance::Percent(pct) => p_old * pct / 100.0,
    };
    let se = (p_new * (1.0 - p_new) / new_n + p_old * (1.0 - p_old) / old_n).sqrt();
    let excess = p_new - p_old - allowed;
    let fail = excess > Z_95 * se;
    let detail = format!(
        "{:.2}% on {new} against {:.2}% on {old} ({:+.2}pp, tolerated {})",
        p_new * 100.0,
        p_old * 100.0,
        (p_new - p_old) * 100.0,
        m.max_increase
    );
    MetricVerdict {
        metric: m.name().to_string(),
        verdict: if fail { Verdict::Fail } else { Verdict::Pass },
        old: Some(p_old * 100.0),
        new: Some(p_new * 100.0),
        detail,
    }
}

/// A relative comparison: fails when the change in the worse direction exceeds the
/// tolerance by more than `Z_95` × `error` (the standard error of the relative difference,
/// 0 when unknown).
fn relative(
    m: &MetricCheck,
    (old_value, new_value): (Option<f64>, Option<f64>),
    worse: Worse,
    error: f64,
    unit: &str,
    (old, new): (Colour, Colour),
) -> MetricVerdict {
    let verdict = |verdict, detail| MetricVerdict {
        metric: m.name().to_string(),
        verdict,
        old: old_value,
        new: new_value,
        detail,
    };
    let (Some(o), Some(n)) = (old_value, new_value) else {
        return verdict(
            Verdict::Inconclusive,
            format!(
                "no datapoint for {}",
                match (old_value, new_value) {
                    (None, None) => format!("{old} or {new}"),
                    (None, _) => old.to_string(),
                    _ => new.to_string(),
                }
            ),
        );
    };
    if o <= 0.0 {
        return verdict(
            Verdict::Inconclusive,
            format!("{old}'s value is {o}: no relative change to measure"),
        );
    }
    let change = (n - o) / o * 100.0;
    let pct = match m.max_increase {
        Tolerance::Percent(p) | Tolerance::Points(p) => p,
    };
    let margin = Z_95 * error * 100.0;
    let fail = match worse {
        Worse::Higher => change - pct > margin,
        Worse::Lower => -change - pct > margin,
    };
    let detail = format!(
        "{} on {new} against {} on {old} ({change:+.1}%, tolerated {}{})",
        number(n, unit),
        number(o, unit),
        if worse == Worse::Lower { "-" } else { "+" },
        m.max_increase
    );
    verdict(if fail { Verdict::Fail } else { Verdict::Pass }, detail)
}

fn number(v: f64, unit: &str) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}{unit}")
    } else {
        format!("{v:.2}{unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analysis(metrics: &str) -> Analysis {
        let yaml = format!("min_requests: 100\nmetrics:\n{metrics}");
        let node = crate::yaml::load(&yaml).unwrap();
        let mut dx = crate::decode::Diagnostics::default();
        let a = <Analysis as crate::decode::Decode>::decode(&node, "analysis", &mut dx);
        assert!(!dx.has_errors(), "{dx:?}");
        a.unwrap()
    }

    fn round() -> Round {
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        Round {
            old: Colour::Blue,
            new: Colour::Green,
            weight: 10,
            since: t,
            at: t,
        }
    }

    #[test]
    fn a_latency_regression_past_the_tolerance_fails_with_both_values() {
        let a = analysis("  - { metric: latency_p99, max_increase: 20% }\n");
        let r = judge(
            &a,
            &[Some(9000.0), Some(1000.0), Some(0.480), Some(0.672)],
            round(),
        );
        assert_eq!(r.verdict, Verdict::Fail);
        let s = r.summary();
        assert!(
            s.contains("672ms on green against 480ms on blue (+40.0%"),
            "{s}"
        );
        let ok = judge(
            &a,
            &[Some(9000.0), Some(1000.0), Some(0.480), Some(0.560)],
            round(),
        );
        assert_eq!(ok.verdict, Verdict::Pass, "{}", ok.summary());
    }

    #[test]
    fn an_error_rate_fails_only_beyond_the_tolerance_with_confidence() {
        let a = analysis("  - { metric: error_rate, max_increase: 0.5pp }\n");
        // 0.1% against 1.5% on 2,000 requests: well past +0.5pp.
        let bad = judge(
            &a,
            &[Some(18000.0), Some(2000.0), Some(18.0), Some(30.0)],
            round(),
        );
        assert_eq!(bad.verdict, Verdict::Fail, "{}", bad.summary());
        assert_eq!(bad.metrics[0].old, Some(0.1));
        // 3 errors in 200 requests (1.5%) is not evidence of more than +0.5pp.
        let noisy = judge(
            &a,
            &[Some(1800.0), Some(200.0), Some(2.0), Some(3.0)],
            round(),
        );
        assert_eq!(noisy.verdict, Verdict::Pass, "{}", noisy.summary());
        // A 5XX count with no datapoint is zero.
        let none = judge(&a, &[Some(1800.0), Some(200.0), None, None], round());
        assert_eq!(none.verdict, Verdict::Pass, "{}", none.summary());
    }

    #[test]
    fn too_little_traffic_or_no_data_is_inconclusive() {
        let a = analysis("  - { metric: latency_p99, max_increase: 20% }\n");
        let r = judge(
            &a,
            &[Some(9000.0), Some(99.0), Some(0.4), Some(4.0)],
            round(),
        );
        assert_eq!(r.verdict, Verdict::Inconclusive, "{}", r.summary());
        assert!(r.summary().contains("fewer than the 100 needed"));
        let r = judge(&a, &[Some(9000.0), Some(900.0), Some(0.4), None], round());
        assert_eq!(r.verdict, Verdict::Inconclusive, "{}", r.summary());
    }

    #[test]
    fn a_custom_metric_is_judged_in_the_direction_that_is_worse() {
        let a = analysis(
            "  - metric: custom\n    max_increase: 10%\n    custom: { name: checkout_rate, namespace: Shop, metric_name: CheckoutRate, statistic: Average, colour_dimension: Colour, worse: lower }\n",
        );
        let r = judge(
            &a,
            &[Some(900.0), Some(900.0), Some(100.0), Some(85.0)],
            round(),
        );
        assert_eq!(r.verdict, Verdict::Fail, "{}", r.summary());
        let r = judge(
            &a,
            &[Some(900.0), Some(900.0), Some(100.0), Some(130.0)],
            round(),
        );
        assert_eq!(r.verdict, Verdict::Pass, "{}", r.summary());
    }

    #[test]
    fn the_queries_name_each_colours_target_group_and_the_load_balancer() {
        let lb = Arn::parse("arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2").unwrap();
        assert_eq!(
            load_balancer_dimension(&lb).as_deref(),
            Some("app/web/50dc6c495c0c9188")
        );
        let tg = Arn::parse("arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web-blue/73e2d6bc24d8a067").unwrap();
        assert_eq!(
            target_group_dimension(&tg).as_deref(),
            Some("targetgroup/web-blue/73e2d6bc24d8a067")
        );
    }
}
