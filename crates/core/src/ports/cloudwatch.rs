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
pub trait Alarms: Send + Sync {
    /// The state of each named alarm that exists (missing names are absent from the result).
    fn alarm_states(
        &self,
        names: &[String],
    ) -> impl Future<Output = PortResult<Vec<AlarmState>>> + Send;
}
