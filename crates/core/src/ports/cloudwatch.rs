//! CloudWatch alarms.

#[allow(unused_imports)]
use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlarmValue {
    Ok,
    Alarm,
    InsufficientData,
}

impl std::fmt::Display for AlarmValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AlarmValue::Ok => "ok",
            AlarmValue::Alarm => "alarm",
            AlarmValue::InsufficientData => "insufficient_data",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AlarmState {
    pub name: String,
    pub value: AlarmValue,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// CloudWatch alarms.
pub trait Alarms: super::Reach + Send + Sync {
    /// The state of each named alarm that exists (missing names are absent from the result).
    fn alarm_states(
        &self,
        names: &[String],
    ) -> impl Future<Output = PortResult<Vec<AlarmState>>> + Send;
}

/// One statistic of one CloudWatch metric, read over a time range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricQuery {
    pub namespace: String,
    pub metric_name: String,
    /// Name and value of each dimension.
    pub dimensions: Vec<(String, String)>,
    /// `Sum`, `Average`, `Minimum`, `Maximum`, `SampleCount` or a percentile (`p99`).
    pub statistic: String,
}

/// CloudWatch metrics.
pub trait Metrics: super::Reach + Send + Sync {
    /// Each query's value over `[start, end)`, in the order asked: the sum of its
    /// datapoints for `Sum` and `SampleCount`, their mean for any other statistic, `None`
    /// where CloudWatch holds no datapoint (as for a count that stayed at zero).
    fn metric_values(
        &self,
        queries: &[MetricQuery],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> impl Future<Output = PortResult<Vec<Option<f64>>>> + Send;
}
