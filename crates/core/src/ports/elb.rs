//! Elastic Load Balancing: listener weights, target health, endpoints.

#[allow(unused_imports)]
use super::*;

/// One target group in a listener's weighted forward action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TargetWeight {
    pub target_group: Arn,
    pub weight: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    Initial,
    Healthy,
    Unhealthy,
    Unused,
    Draining,
    Unavailable,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TargetHealth {
    pub id: String,
    pub port: Option<u16>,
    pub state: HealthState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl HealthState {
    /// The one name people read, the same in text and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Initial => "initial",
            HealthState::Healthy => "healthy",
            HealthState::Unhealthy => "unhealthy",
            HealthState::Unused => "unused",
            HealthState::Draining => "draining",
            HealthState::Unavailable => "unavailable",
        }
    }
}

impl std::fmt::Display for HealthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether an ARN names a listener rule (`…:listener-rule/app/…`) rather than a listener:
/// an environment on a shared load balancer, routed by host or path, moves the weights of
/// its rule's forward action instead of a listener's default action.
pub fn is_listener_rule(arn: &Arn) -> bool {
    arn.parts()
        .is_ok_and(|p| p.resource.starts_with("listener-rule/"))
}

/// The listener a listener rule belongs to (the rule ARN without its last segment).
pub fn listener_of_rule(rule: &Arn) -> Option<Arn> {
    let text = rule.as_str().replacen(":listener-rule/", ":listener/", 1);
    let (listener, _rule_id) = text.rsplit_once('/')?;
    Arn::parse(listener).ok()
}

/// Where a listener can be reached, for HTTP probes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ListenerEndpoint {
    pub dns_name: String,
    pub port: u16,
    /// `http` or `https`.
    pub scheme: String,
}

/// Application Load Balancer listeners and target groups.
pub trait LoadBalancer: super::Reach + Send + Sync {
    /// The target groups and weights of the listener's default forward action.
    fn listener_weights(
        &self,
        listener: &Arn,
    ) -> impl Future<Output = PortResult<Vec<TargetWeight>>> + Send;

    /// Replaces the listener's default action with a weighted forward to these groups.
    fn set_listener_weights(
        &self,
        listener: &Arn,
        weights: &[TargetWeight],
    ) -> impl Future<Output = PortResult<()>> + Send;

    fn target_health(
        &self,
        target_group: &Arn,
    ) -> impl Future<Output = PortResult<Vec<TargetHealth>>> + Send;

    fn listener_endpoint(
        &self,
        listener: &Arn,
    ) -> impl Future<Output = PortResult<ListenerEndpoint>> + Send;
}
