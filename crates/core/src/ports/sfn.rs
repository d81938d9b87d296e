//! AWS Step Functions: executions and task tokens.

#[allow(unused_imports)]
use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
    PendingRedrive,
}

impl ExecutionStatus {
    /// The one name people read, the same in text and JSON (Step Functions' own).
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
            ExecutionStatus::PendingRedrive => "PENDING_REDRIVE",
        }
    }
}

impl std::fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExecutionInfo {
    pub arn: String,
    pub name: String,
    pub status: ExecutionStatus,
    pub started_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum StartOutcome {
    Started {
        arn: String,
    },
    /// An execution with this name exists already (a duplicate event, or a digest that was
    /// deployed before): nothing new was started.
    AlreadyExists {
        name: String,
    },
}

/// AWS Step Functions.
pub trait Executions: Send + Sync {
    fn start(
        &self,
        state_machine: &Arn,
        name: &str,
        input: &serde_json::Value,
    ) -> impl Future<Output = PortResult<StartOutcome>> + Send;

    fn describe(&self, execution: &str) -> impl Future<Output = PortResult<ExecutionInfo>> + Send;

    /// Executions of a state machine, newest first, optionally only with one status.
    fn list(
        &self,
        state_machine: &Arn,
        status: Option<ExecutionStatus>,
    ) -> impl Future<Output = PortResult<Vec<ExecutionInfo>>> + Send;

    fn stop(
        &self,
        execution: &str,
        error: &str,
        cause: &str,
    ) -> impl Future<Output = PortResult<()>> + Send;

    fn send_task_success(
        &self,
        token: &str,
        output: &serde_json::Value,
    ) -> impl Future<Output = PortResult<()>> + Send;

    fn send_task_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> impl Future<Output = PortResult<()>> + Send;
}

/// CloudFormation, for the operator's CLI: a deployed stack's outputs by name.
pub trait Stacks: Send + Sync {
    /// The outputs of stack `name` (`OutputKey` → `OutputValue`).
    fn stack_outputs(
        &self,
        name: &str,
    ) -> impl Future<Output = PortResult<std::collections::BTreeMap<String, String>>> + Send;
}
