//! What exists already, for `greenlight init`: an ECS service, its task definition, its
//! target group, the listeners and rules in front of it, the alarms that name it. Describe
//! and list calls only; the operator's CLI uses it, never the functions.

#[allow(unused_imports)]
use super::*;

/// One of a service's load balancer attachments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub target_group: Arn,
    pub container: String,
    pub port: u16,
}

/// How a service's tasks are placed and reached (what a second service must copy).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// `FARGATE`, `EC2`, `EXTERNAL`; `None` when a capacity provider strategy is used.
    pub launch_type: Option<String>,
    /// Capacity providers as (name, weight, base).
    pub capacity_providers: Vec<(String, u32, u32)>,
    pub platform_version: Option<String>,
    /// The awsvpc network configuration: subnets, security groups, public IP.
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub public_ip: bool,
    pub health_check_grace_seconds: Option<u32>,
}

/// An existing ECS service, as `init` needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceFacts {
    pub cluster: String,
    pub name: String,
    pub arn: String,
    pub task_definition: String,
    pub desired: u32,
    /// `ECS`, `CODE_DEPLOY` or `EXTERNAL`.
    pub deployment_controller: String,
    /// ECS's own deployment strategy (`ROLLING`, `BLUE_GREEN`, …) when it says one.
    pub strategy: Option<String>,
    /// `REPLICA` or `DAEMON`.
    pub scheduling: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Classic Load Balancers the service is registered with (by name).
    pub classic_load_balancers: Vec<String>,
    pub placement: Placement,
    pub tags: Vec<(String, String)>,
}

/// A container of a task definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerFacts {
    pub name: String,
    pub image: String,
    pub essential: bool,
}

/// A target group and its health check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroupFacts {
    pub arn: Arn,
    pub name: String,
    pub protocol: Option<String>,
    pub port: Option<u16>,
    pub vpc: Option<String>,
    pub target_type: Option<String>,
    pub load_balancers: Vec<Arn>,
    pub health_check_protocol: Option<String>,
    pub health_check_path: Option<String>,
    pub health_check_interval: Option<u32>,
    pub health_check_timeout: Option<u32>,
    pub healthy_threshold: Option<u32>,
    pub unhealthy_threshold: Option<u32>,
    /// The HTTP codes a healthy target answers (`200`, `200-299`).
    pub matcher: Option<String>,
}

/// A listener or one of its rules, and the target groups its forward action names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteFacts {
    pub arn: Arn,
    pub port: Option<u16>,
    pub protocol: Option<String>,
    /// `default` for a listener, the rule's priority otherwise.
    pub priority: String,
    pub forwards_to: Vec<Arn>,
}

/// One metric of an alarm: the alarm's own, or one of a metric-math alarm's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmMetric {
    /// The id a metric-math expression refers to it by (empty for a single-metric alarm).
    pub id: String,
    /// A metric-math expression (then no namespace, metric or dimensions).
    pub expression: Option<String>,
    pub namespace: Option<String>,
    pub metric: Option<String>,
    pub dimensions: Vec<(String, String)>,
    /// `Sum`, `Average`, `p99`, …
    pub stat: Option<String>,
    pub period: Option<u32>,
    pub label: Option<String>,
    /// Whether it is the alarm's value (metric math).
    pub return_data: Option<bool>,
}

/// A metric alarm, as much of it as a copy for another colour needs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlarmFacts {
    pub name: String,
    /// A single-metric alarm's metric, or a metric-math alarm's metrics and expressions.
    pub metrics: Vec<AlarmMetric>,
    /// Whether `metrics` are metric math (`Metrics` in CloudFormation).
    pub math: bool,
    pub evaluation_periods: Option<u32>,
    pub datapoints_to_alarm: Option<u32>,
    pub threshold: Option<f64>,
    pub comparison: Option<String>,
    pub treat_missing_data: Option<String>,
}

impl AlarmFacts {
    /// Every dimension of every metric of the alarm.
    pub fn dimensions(&self) -> impl Iterator<Item = &(String, String)> {
        self.metrics.iter().flat_map(|m| m.dimensions.iter())
    }
}

/// Reading what exists (Describe and List calls only).
pub trait Inventory: Send + Sync {
    /// An ECS service, with its tags.
    fn service_facts(
        &self,
        cluster: &str,
        service: &str,
    ) -> impl Future<Output = PortResult<ServiceFacts>> + Send;

    /// The containers of a task definition.
    fn containers(
        &self,
        task_definition: &str,
    ) -> impl Future<Output = PortResult<Vec<ContainerFacts>>> + Send;

    fn target_group_facts(
        &self,
        target_group: &Arn,
    ) -> impl Future<Output = PortResult<TargetGroupFacts>> + Send;

    /// A load balancer's listeners (priority `default`, their default action).
    fn listeners(
        &self,
        load_balancer: &Arn,
    ) -> impl Future<Output = PortResult<Vec<RouteFacts>>> + Send;

    /// A listener's rules other than its default one.
    fn rules(&self, listener: &Arn) -> impl Future<Output = PortResult<Vec<RouteFacts>>> + Send;

    /// Every metric alarm of the account and region.
    fn metric_alarms(&self) -> impl Future<Output = PortResult<Vec<AlarmFacts>>> + Send;
}
