//! `analysis:` — the new colour judged against the old one while both take traffic: the
//! types, their decoding and their rules. The judging itself is [`crate::analysis`].

#[allow(unused_imports)]
use super::*;

/// Canary analysis: during every bake in which both colours take traffic, each metric of
/// the new colour is compared with the same metric of the old colour over the same time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Analysis {
    /// Requests each colour must have served at the current weight before a verdict; with
    /// fewer, the analysis is `inconclusive` and neither passes nor fails the step.
    #[serde(default = "default_min_requests")]
    pub min_requests: u64,
    /// The metrics compared, each with how much worse the new colour may be.
    pub metrics: Vec<MetricCheck>,
    /// How often, at most, a bake's rounds of checks run the analysis; it always runs in
    /// the round at the end of each bake. From 1m (the load balancer's metrics have a
    /// one-minute resolution) to 1h. Each analysis is one `GetMetricData` call, billed per
    /// metric it reads: the cadence is what an analysed bake costs.
    #[serde(default = "default_analysis_interval")]
    pub interval: Duration,
}

pub(super) fn default_min_requests() -> u64 {
    200
}

pub(super) fn default_analysis_interval() -> Duration {
    Duration::from_mins(1)
}

/// Which metric a check compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// The ALB's `HTTPCode_Target_5XX_Count` over `RequestCount`, per target group.
    ErrorRate,
    /// The ALB's `TargetResponseTime` p50, per target group.
    LatencyP50,
    /// The ALB's `TargetResponseTime` p99, per target group.
    LatencyP99,
    /// A metric of your own with a dimension naming the colour (`custom:`).
    Custom,
}

impl MetricKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::ErrorRate => "error_rate",
            MetricKind::LatencyP50 => "latency_p50",
            MetricKind::LatencyP99 => "latency_p99",
            MetricKind::Custom => "custom",
        }
    }
}

/// One metric compared between the colours.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricCheck {
    pub metric: MetricKind,
    /// How much worse the new colour may be than the old: `0.5pp` (percentage points, for
    /// `error_rate` only) or `20%` (relative to the old colour's value).
    pub max_increase: Tolerance,
    /// The CloudWatch metric, for `metric: custom` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomMetric>,
}

impl MetricCheck {
    /// The name reports use: the kind, or a custom metric's `name`.
    pub fn name(&self) -> &str {
        match &self.custom {
            Some(c) => &c.name,
            None => self.metric.as_str(),
        }
    }
}

/// A CloudWatch metric published per colour.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomMetric {
    /// How reports name it.
    pub name: String,
    pub namespace: String,
    pub metric_name: String,
    /// `Average` (default), `Minimum`, `Maximum`, or a percentile such as `p99` (not `Sum`
    /// or `SampleCount`, which grow with each colour's share of the work).
    #[serde(default = "default_statistic")]
    pub statistic: String,
    /// The dimension whose value names the colour.
    pub colour_dimension: String,
    /// That dimension's value for each colour.
    #[serde(default = "default_colour_values")]
    pub colour_values: Colours<String>,
    /// Further dimensions, the same for both colours.
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    /// Which way is a regression: `higher` (errors, latency) or `lower` (throughput,
    /// successes).
    #[serde(default)]
    pub worse: Worse,
}

fn default_statistic() -> String {
    "Average".into()
}

fn default_colour_values() -> Colours<String> {
    Colours {
        blue: "blue".into(),
        green: "green".into(),
    }
}

/// Which way a metric moves when the new colour is worse.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Worse {
    #[default]
    Higher,
    Lower,
}

/// How much worse the new colour may be than the old one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Tolerance {
    /// Percentage points of a rate: `0.5pp`.
    Points(f64),
    /// Percent of the old colour's value: `20%`.
    Percent(f64),
}

impl std::fmt::Display for Tolerance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tolerance::Points(p) => write!(f, "{p}pp"),
            Tolerance::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl std::str::FromStr for Tolerance {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad =
            || format!("`{s}` is not a tolerance; write `0.5pp` (percentage points) or `20%`");
        let t = s.trim();
        let (number, make): (&str, fn(f64) -> Tolerance) = if let Some(n) = t.strip_suffix("pp") {
            (n, Tolerance::Points)
        } else if let Some(n) = t.strip_suffix('%') {
            (n, Tolerance::Percent)
        } else {
            return Err(bad());
        };
        let v: f64 = number.trim().parse().map_err(|_| bad())?;
        if !v.is_finite() || !(0.0..=1000.0).contains(&v) {
            return Err(format!("`{s}`: a tolerance is from 0 to 1000"));
        }
        Ok(make(v))
    }
}

impl Serialize for Tolerance {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Tolerance {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Tolerance {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Tolerance".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]+(\\.[0-9]+)?(pp|%)$",
            "description": "How much worse the new colour may be: `0.5pp` (percentage points of a rate) or `20%` (relative to the old colour)."
        })
    }
}

impl Decode for Tolerance {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        let text = crate::decode::scalar(node, path, dx, "a tolerance such as `0.5pp` or `20%`")?;
        match text.parse() {
            Ok(t) => Some(t),
            Err(e) => {
                dx.error(path, Some(node.span), e);
                None
            }
        }
    }
}

impl Decode for MetricKind {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        one_of(
            node,
            path,
            dx,
            &[
                ("error_rate", MetricKind::ErrorRate),
                ("latency_p50", MetricKind::LatencyP50),
                ("latency_p99", MetricKind::LatencyP99),
                ("custom", MetricKind::Custom),
            ],
        )
    }
}

impl Decode for Worse {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        one_of(
            node,
            path,
            dx,
            &[("higher", Worse::Higher), ("lower", Worse::Lower)],
        )
    }
}

impl Decode for Analysis {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::new(node, path, dx)?;
        let min_requests = opt_or(&mut f, "min_requests", default_min_requests(), dx);
        let interval = opt_or(&mut f, "interval", default_analysis_interval(), dx);
        let metrics: Option<Vec<MetricCheck>> = f.required("metrics", dx);
        let span = f.span();
        f.finish(dx);
        let metrics = metrics?;
        if metrics.is_empty() {
            dx.error(path, Some(span), "`metrics` names no metric to compare");
        }
        if min_requests == 0 {
            dx.error(
                &join_path(path, "min_requests"),
                Some(span),
                "at least 1: a verdict needs traffic on both colours",
            );
        }
        if interval < default_analysis_interval() || interval > Duration::from_mins(60) {
            dx.error(
                &join_path(path, "interval"),
                Some(span),
                "between 1m (the load balancer's metrics have a one-minute resolution) and 1h",
            );
        }
        let mut names: Vec<&str> = Vec::new();
        for (i, m) in metrics.iter().enumerate() {
            if names.contains(&m.name()) {
                dx.error(
                    &format!("{path}.metrics[{i}]"),
                    Some(span),
                    format!("`{}` is compared twice", m.name()),
                );
            }
            names.push(m.name());
        }
        Some(Analysis {
            min_requests,
            metrics,
            interval,
        })
    }
}

impl Decode for MetricCheck {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::new(node, path, dx)?;
        let metric: Option<MetricKind> = f.required("metric", dx);
        let max_increase: Option<Tolerance> = f.required("max_increase", dx);
        let custom: Option<CustomMetric> = f.optional("custom", dx);
        let has_custom = f.has("custom");
        let span = f.span();
        f.finish(dx);
        let (metric, max_increase) = (metric?, max_increase?);
        if (metric == MetricKind::Custom) != has_custom {
            dx.error(
                path,
                Some(span),
                if has_custom {
                    "`custom:` goes with `metric: custom` only"
                } else {
                    "`metric: custom` needs `custom:` (namespace, metric_name, colour_dimension, …)"
                },
            );
            return None;
        }
        if matches!(max_increase, Tolerance::Points(_)) && metric != MetricKind::ErrorRate {
            dx.error(
                &join_path(path, "max_increase"),
                Some(span),
                format!(
                    "percentage points (`pp`) apply to error_rate only; give {} a relative tolerance such as `20%`",
                    metric.as_str()
                ),
            );
            return None;
        }
        if has_custom && custom.is_none() {
            return None;
        }
        Some(MetricCheck {
            metric,
            max_increase,
            custom,
        })
    }
}

const STATISTICS: &[&str] = &["Average", "Minimum", "Maximum"];

impl Decode for CustomMetric {
    fn decode(node: &Node, path: &str, dx: &mut Diagnostics) -> Option<Self> {
        let mut f = Fields::new(node, path, dx)?;
        let name: Option<String> = f.required("name", dx);
        let namespace: Option<String> = f.required("namespace", dx);
        let metric_name: Option<String> = f.required("metric_name", dx);
        let statistic = opt_or(&mut f, "statistic", default_statistic(), dx);
        let colour_dimension: Option<String> = f.required("colour_dimension", dx);
        let colour_values = opt_or(&mut f, "colour_values", default_colour_values(), dx);
        let dimensions = opt_or(&mut f, "dimensions", BTreeMap::new(), dx);
        let worse = opt_or(&mut f, "worse", Worse::default(), dx);
        let span = f.span();
        f.finish(dx);
        let percentile = statistic
            .strip_prefix('p')
            .and_then(|n| n.parse::<f64>().ok())
            .is_some_and(|n| n > 0.0 && n < 100.0);
        if matches!(statistic.as_str(), "Sum" | "SampleCount") {
            dx.error(
                &join_path(path, "statistic"),
                Some(span),
                format!(
                    "`{statistic}` grows with each colour's share of the work, so it cannot compare a 10% canary with the other 90%; publish a rate or a time per colour and compare its `Average`, `Minimum`, `Maximum` or a percentile"
                ),
            );
            return None;
        }
        if !percentile && !STATISTICS.contains(&statistic.as_str()) {
            dx.error(
                &join_path(path, "statistic"),
                Some(span),
                format!(
                    "`{statistic}` is not a CloudWatch statistic; use {} or a percentile such as p99",
                    STATISTICS.join(", ")
                ),
            );
            return None;
        }
        let colour_dimension = colour_dimension?;
        if dimensions.contains_key(&colour_dimension) {
            dx.error(
                &join_path(path, "dimensions"),
                Some(span),
                format!("`{colour_dimension}` is the colour dimension; it takes each colour's value from `colour_values`"),
            );
        }
        if dimensions.len() >= 30 {
            dx.error(
                &join_path(path, "dimensions"),
                Some(span),
                "a CloudWatch metric has at most 30 dimensions",
            );
        }
        Some(CustomMetric {
            name: name?,
            namespace: namespace?,
            metric_name: metric_name?,
            statistic,
            colour_dimension,
            colour_values,
            dimensions,
            worse,
        })
    }
}
