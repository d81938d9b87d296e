//! Amazon ECS: services and task definitions.

#[allow(unused_imports)]
use super::*;

/// The state of an ECS service's rollout (its primary deployment).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RolloutState {
    InProgress,
    Completed,
    Failed,
}

/// What the rollout needs to know about one ECS service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ServiceState {
    pub cluster: String,
    pub service: String,
    pub task_definition: String,
    pub desired: u32,
    pub running: u32,
    pub pending: u32,
    pub rollout: RolloutState,
    /// Why the rollout failed, or the newest service event worth showing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_reason: Option<String>,
    /// How many deployments the service has (more than one: a rollout is under way).
    pub deployments: u32,
}

/// Amazon ECS: services and task definitions.
pub trait ContainerService: super::Reach + Send + Sync {
    fn describe_service(
        &self,
        cluster: &str,
        service: &str,
    ) -> impl Future<Output = PortResult<ServiceState>> + Send;

    /// The image of `container` in a task definition.
    fn container_image(
        &self,
        task_definition: &str,
        container: &str,
    ) -> impl Future<Output = PortResult<String>> + Send;

    /// Registers a new revision of `task_definition`'s family that differs from it only in
    /// `container`'s image. Returns the new revision's ARN. Idempotent: when the family's
    /// newest revision is already exactly that (an earlier attempt registered it and its
    /// answer was lost), that revision is returned and nothing is registered.
    fn register_with_image(
        &self,
        task_definition: &str,
        container: &str,
        image: &str,
    ) -> impl Future<Output = PortResult<String>> + Send;

    /// Points a service at a task definition and/or sets its desired count.
    fn update_service(
        &self,
        cluster: &str,
        service: &str,
        task_definition: Option<&str>,
        desired: Option<u32>,
    ) -> impl Future<Output = PortResult<()>> + Send;
    /// The service's tasks: running ones by container health, and the ones that crashed
    /// since `since` (what a worker service without a load balancer is checked by).
    fn task_report(
        &self,
        cluster: &str,
        service: &str,
        since: DateTime<Utc>,
    ) -> impl Future<Output = PortResult<TaskReport>> + Send;
}

/// A task of a service that stopped because its application failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CrashedTask {
    /// The task's ID.
    pub task: String,
    /// The exit code of the essential container that stopped it (`None`: it never started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// ECS's reason, e.g. `Essential container in task exited`.
    pub reason: String,
}

/// How a service's tasks are doing: the running ones by container health, and the ones
/// that crashed since a given time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TaskReport {
    /// Running tasks whose container health checks pass, or that define none.
    pub healthy: u32,
    /// Running tasks whose container health check fails.
    pub unhealthy: u32,
    /// Tasks stopped since the time asked with a non-zero exit code of an essential
    /// container, or that failed to start.
    pub crashed: Vec<CrashedTask>,
}
