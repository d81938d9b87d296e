//! Ports: the traits through which every AWS capability is reached. The use cases are
//! written against these; `greenlight-aws` implements them with the AWS SDK, and the
//! simulator implements them over a simulated AWS with a virtual clock.
//!
//! Conventions shared by every port:
//! - Every method returns [`PortError`]; [`PortError::is_retryable`] says whether the same
//!   call can succeed later (throttling, 5xx, timeouts). Adapters classify SDK errors by
//!   their type, never by message text.
//! - Lists are complete: adapters follow pagination.
//! - Futures are `Send`, so handlers can run on a multi-threaded runtime.

use std::future::Future;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::arn::Arn;
use crate::config::{Colour, Config};
use crate::duration::Duration;
use crate::image::{Digest, ImageRef};
use crate::notify::Notification;

/// What went wrong in a call to AWS, in terms the domain acts on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// The service asked us to slow down. Retry with backoff.
    #[error("{operation}: throttled: {message}")]
    Throttled { operation: String, message: String },
    /// The service or the network failed (5xx, timeout, connection). Retry with backoff.
    #[error("{operation}: service unavailable: {message}")]
    Unavailable { operation: String, message: String },
    /// The named resource does not exist.
    #[error("{what} not found")]
    NotFound { what: String },
    /// The call conflicts with the current state (e.g. a conditional write lost a race).
    #[error("{operation}: conflict: {message}")]
    Conflict { operation: String, message: String },
    /// Our role may not do this: an IAM problem a person must fix.
    #[error("{operation}: access denied: {message}")]
    AccessDenied { operation: String, message: String },
    /// The service refused the request as invalid.
    #[error("{operation}: invalid request: {message}")]
    Invalid { operation: String, message: String },
    /// Anything else.
    #[error("{operation}: {message}")]
    Other { operation: String, message: String },
}

impl PortError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            PortError::Throttled { .. } | PortError::Unavailable { .. }
        )
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        PortError::NotFound { what: what.into() }
    }
}

pub type PortResult<T> = Result<T, PortError>;

// ---------------------------------------------------------------------------------------
// Time

/// The current time. Production reads the system clock; the simulator a virtual one.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

// ---------------------------------------------------------------------------------------
// ECS

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
pub trait ContainerService: Send + Sync {
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
}

// ---------------------------------------------------------------------------------------
// Elastic Load Balancing

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

/// Where a listener can be reached, for HTTP probes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ListenerEndpoint {
    pub dns_name: String,
    pub port: u16,
    /// `http` or `https`.
    pub scheme: String,
}

/// Application Load Balancer listeners and target groups.
pub trait LoadBalancer: Send + Sync {
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

// ---------------------------------------------------------------------------------------
// ECR

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ImageInfo {
    pub image: ImageRef,
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_at: Option<DateTime<Utc>>,
}

/// Amazon ECR.
pub trait ImageRegistry: Send + Sync {
    /// The image with this digest; `NotFound` when the repository or image is missing.
    fn image_by_digest(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> impl Future<Output = PortResult<ImageInfo>> + Send;

    /// The image a tag points at now.
    fn image_by_tag(
        &self,
        repository: &str,
        tag: &str,
    ) -> impl Future<Output = PortResult<ImageInfo>> + Send;

    /// Every tagged image in the repository (ECR `DescribeImages`, all pages), in no
    /// particular order; `pushed_at` is when the digest first arrived in the repository.
    fn tagged_images(
        &self,
        repository: &str,
    ) -> impl Future<Output = PortResult<Vec<ImageInfo>>> + Send;

    /// `123456789012.dkr.ecr.eu-west-1.amazonaws.com/web`.
    fn repository_uri(&self, repository: &str) -> impl Future<Output = PortResult<String>> + Send;
}

// ---------------------------------------------------------------------------------------
// CloudWatch

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

// ---------------------------------------------------------------------------------------
// SNS

/// Amazon SNS.
pub trait Notifier: Send + Sync {
    /// Publishes one notification with its message attributes. Returns the message ID.
    fn publish(
        &self,
        topic: &Arn,
        notification: &Notification,
    ) -> impl Future<Output = PortResult<String>> + Send;
}

/// One subscription to a notification topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Subscription {
    pub arn: String,
    /// `email`, `sqs`, `https`, `lambda`, …
    pub protocol: String,
    pub endpoint: String,
    /// The SNS filter policy on the message attributes, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<serde_json::Value>,
}

/// Subscriptions to notification topics (SNS).
pub trait Subscriptions: Send + Sync {
    /// Subscribes `endpoint`, delivering only messages whose attributes match `filter`.
    /// Returns the subscription ARN (`pending confirmation` for e-mail until confirmed).
    fn subscribe(
        &self,
        topic: &Arn,
        protocol: &str,
        endpoint: &str,
        filter: Option<&serde_json::Value>,
    ) -> impl Future<Output = PortResult<String>> + Send;

    fn unsubscribe(&self, subscription: &str) -> impl Future<Output = PortResult<()>> + Send;

    /// Every subscription of the topic, with its filter policy.
    fn subscriptions(
        &self,
        topic: &Arn,
    ) -> impl Future<Output = PortResult<Vec<Subscription>>> + Send;
}

// ---------------------------------------------------------------------------------------
// Step Functions

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

// ---------------------------------------------------------------------------------------
// State store (DynamoDB)

/// The lock of one (app, environment).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Lock {
    pub app: String,
    pub environment: String,
    /// The deployment holding it.
    pub owner: String,
    pub acquired_at: DateTime<Utc>,
    /// After this, the lock counts as free (its holder died without releasing it).
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum LockOutcome {
    Acquired { lock: Lock },
    Held { lock: Lock },
}

/// How a deployment came to be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TriggerInfo {
    Push {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tag: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
    },
    Promotion {
        from: String,
        by: String,
    },
    Manual {
        by: String,
    },
}

/// Where a deployment is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Queued,
    Preparing,
    Deploying,
    WaitingStable,
    PreTrafficChecks,
    AwaitingApproval,
    Shifting,
    Finalizing,
    RollingBack,
    Done,
}

/// How a deployment ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    RolledBack,
    RollbackFailed,
    Rejected,
    Superseded,
    /// Stopped by a person while it ran; traffic went back as for any rollback.
    Aborted,
    /// Rolled back by a person after it had succeeded.
    Reverted,
    /// It lost its environment's lock (its lease ran out) and stopped without touching
    /// traffic; a person must look at the environment.
    LockLost,
}

impl Outcome {
    /// The one name people read, the same in text and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::RolledBack => "rolled_back",
            Outcome::RollbackFailed => "rollback_failed",
            Outcome::Rejected => "rejected",
            Outcome::Superseded => "superseded",
            Outcome::Aborted => "aborted",
            Outcome::Reverted => "reverted",
            Outcome::LockLost => "lock_lost",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Phase {
    /// The one name people read, the same in text and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Queued => "queued",
            Phase::Preparing => "preparing",
            Phase::Deploying => "deploying",
            Phase::WaitingStable => "waiting_stable",
            Phase::PreTrafficChecks => "pre_traffic_checks",
            Phase::AwaitingApproval => "awaiting_approval",
            Phase::Shifting => "shifting",
            Phase::Finalizing => "finalizing",
            Phase::RollingBack => "rolling_back",
            Phase::Done => "done",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a running deployment was asked to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StopKind {
    /// A newer deployment of the environment replaces it (`concurrency: supersede`).
    Supersede,
    /// A person stopped it (`greenlight rollback` while it ran).
    Abort,
}

/// A request that a running deployment stop; its next step rolls it back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StopRequest {
    /// The newer deployment, or the person.
    pub by: String,
    pub kind: StopKind,
}

/// One deployment as the history keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeploymentRecord {
    /// The Step Functions execution name.
    pub id: String,
    pub app: String,
    pub environment: String,
    pub image: ImageRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    pub trigger: TriggerInfo,
    pub phase: Phase,
    /// The colour receiving the new image, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colour: Option<Colour>,
    /// The new task definition revision, once registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
    /// Percent of production traffic on the new colour.
    pub weight: u8,
    pub started_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Until when a finished deployment can be rolled back by a listener flip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_until: Option<DateTime<Utc>>,
    /// Set when a newer deployment (or a person) asked this one to stop; its next step
    /// rolls it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_requested: Option<StopRequest>,
    /// The principal (as AWS authenticated it) who approved the deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// Increases by one with every write; a write names the version it read, so two
    /// writers never overwrite each other's changes (see [`StateStore::put_deployment`]).
    #[serde(default)]
    pub version: u64,
}

impl DeploymentRecord {
    /// Whether this deployment ever took its environment (prepare passed: a colour was
    /// chosen). A refused request, or one that gave up waiting in the queue, never did,
    /// and never counts as the environment's latest deployment.
    pub fn took_environment(&self) -> bool {
        self.colour.is_some()
    }
}

/// What a stored task token is waiting for.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TokenPurpose {
    /// A person's approval.
    Approval,
    /// A bake interval that an alarm may cut short.
    Bake,
}

/// The configuration as stored, with a version for optimistic concurrency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredConfig {
    pub config: Config,
    /// Increases by one with every write.
    pub version: u64,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

/// Locks, deployment history, task tokens and configuration (DynamoDB in production).
pub trait StateStore: Send + Sync {
    /// Takes the (app, environment) lock for `owner` when it is free, expired, or already
    /// `owner`'s; otherwise reports who holds it.
    fn acquire_lock(
        &self,
        app: &str,
        environment: &str,
        owner: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> impl Future<Output = PortResult<LockOutcome>> + Send;

    /// Extends `owner`'s lease. `Conflict` when the lock is no longer `owner`'s.
    fn renew_lock(
        &self,
        app: &str,
        environment: &str,
        owner: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> impl Future<Output = PortResult<Lock>> + Send;

    /// Releases the lock if `owner` holds it; returns whether it did. Releasing a lock one
    /// does not hold is not an error (a retried release must be harmless).
    fn release_lock(
        &self,
        app: &str,
        environment: &str,
        owner: &str,
    ) -> impl Future<Output = PortResult<bool>> + Send;

    fn get_lock(
        &self,
        app: &str,
        environment: &str,
    ) -> impl Future<Output = PortResult<Option<Lock>>> + Send;

    /// Writes a deployment record if the stored one is still at `record.version` (0: none
    /// is stored), storing it as `record.version + 1`, which it returns. `Conflict` when
    /// someone wrote in between: read again, apply the change again
    /// (`usecase::record::update`).
    fn put_deployment(
        &self,
        record: &DeploymentRecord,
    ) -> impl Future<Output = PortResult<u64>> + Send;

    fn get_deployment(
        &self,
        id: &str,
    ) -> impl Future<Output = PortResult<Option<DeploymentRecord>>> + Send;

    /// Deployments of (app, environment), newest first.
    fn history(
        &self,
        app: &str,
        environment: &str,
        limit: usize,
    ) -> impl Future<Output = PortResult<Vec<DeploymentRecord>>> + Send;

    /// Stores the task token a deployment waits on, with the alarms that should cut the
    /// wait short. Tokens never appear in logs or notifications; only the store holds them.
    fn put_task_token(
        &self,
        deployment: &str,
        purpose: TokenPurpose,
        token: &str,
        alarms: &[String],
    ) -> impl Future<Output = PortResult<()>> + Send;

    /// The waiting tokens that watch `alarm`, as (deployment, token).
    fn tokens_watching(
        &self,
        alarm: &str,
    ) -> impl Future<Output = PortResult<Vec<(String, String)>>> + Send;

    fn get_task_token(
        &self,
        deployment: &str,
        purpose: TokenPurpose,
    ) -> impl Future<Output = PortResult<Option<String>>> + Send;

    fn delete_task_token(
        &self,
        deployment: &str,
        purpose: TokenPurpose,
    ) -> impl Future<Output = PortResult<()>> + Send;

    fn get_config(&self) -> impl Future<Output = PortResult<Option<StoredConfig>>> + Send;

    /// Writes the configuration if the stored version is still `expected_version`
    /// (0: nothing stored yet); `Conflict` otherwise. Returns the new version.
    fn put_config(
        &self,
        config: &Config,
        expected_version: u64,
        by: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = PortResult<u64>> + Send;
}

// ---------------------------------------------------------------------------------------
// Dead letters (SQS)

/// An event greenlight could not act on, waiting in the dead-letter queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeadLetter {
    pub id: String,
    /// What deleting it takes (valid until the message becomes visible again).
    #[serde(skip)]
    pub receipt: String,
    /// The message body as queued: an EventBridge event (undeliverable), or Lambda's
    /// on-failure record with the event as `requestPayload`.
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
}

/// Who the caller is, as AWS says (STS `GetCallerIdentity`): what a promotion and a manual
/// rollback record as their author, so that `separate_approver` compares identities AWS
/// established, not names people typed.
pub trait CallerIdentity: Send + Sync {
    /// The caller's principal ARN.
    fn caller(&self) -> impl Future<Output = PortResult<String>> + Send;
}

/// The stack's approval URL: a Lambda function URL with `AWS_IAM` auth, so that AWS, not
/// the caller, says who answers an approval.
pub trait ApprovalUrl: Send + Sync {
    /// Sends a decision signed with the caller's own credentials (SigV4, service
    /// `lambda`). Returns the URL's HTTP status and its message.
    fn send_decision(
        &self,
        url: &str,
        decision: &crate::usecase::approval::Decision,
    ) -> impl Future<Output = PortResult<(u16, String)>> + Send;
}

/// The dead-letter queue (Amazon SQS).
pub trait DeadLetters: Send + Sync {
    /// Up to `max` messages, hidden from other readers for `hide` while this one works.
    fn dead_letters(
        &self,
        queue: &str,
        max: usize,
        hide: Duration,
    ) -> impl Future<Output = PortResult<Vec<DeadLetter>>> + Send;

    fn delete_dead_letter(
        &self,
        queue: &str,
        receipt: &str,
    ) -> impl Future<Output = PortResult<()>> + Send;

    /// Shows a message that a reader hid to other readers again at once.
    fn show_dead_letter(
        &self,
        queue: &str,
        receipt: &str,
    ) -> impl Future<Output = PortResult<()>> + Send;
}

// ---------------------------------------------------------------------------------------
// HTTP probes

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProbeResult {
    /// The HTTP status, when a response arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why no response arrived (timeout, connection refused, TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub elapsed_ms: u64,
}

/// HTTP requests for health probes (not an AWS call, but outside the domain all the same).
pub trait Prober: Send + Sync {
    fn get(&self, url: &str, timeout: Duration) -> impl Future<Output = ProbeResult> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_errors_are_retryable() {
        let op = || "UpdateService".to_string();
        assert!(PortError::Throttled {
            operation: op(),
            message: String::new()
        }
        .is_retryable());
        assert!(PortError::Unavailable {
            operation: op(),
            message: String::new()
        }
        .is_retryable());
        assert!(!PortError::not_found("service web-blue").is_retryable());
        assert!(!PortError::AccessDenied {
            operation: op(),
            message: String::new()
        }
        .is_retryable());
        assert!(!PortError::Conflict {
            operation: op(),
            message: String::new()
        }
        .is_retryable());
    }

    /// Every enum a person reads shows the same name in text and in `--json`.
    #[test]
    fn display_names_are_the_json_names() {
        fn same<T: Serialize + std::fmt::Display>(all: &[T]) {
            for v in all {
                assert_eq!(
                    serde_json::to_value(v).unwrap(),
                    serde_json::json!(v.to_string())
                );
            }
        }
        same(&[
            Outcome::Succeeded,
            Outcome::RolledBack,
            Outcome::RollbackFailed,
            Outcome::Rejected,
            Outcome::Superseded,
            Outcome::Aborted,
            Outcome::Reverted,
            Outcome::LockLost,
        ]);
        same(&[
            Phase::Queued,
            Phase::Preparing,
            Phase::Deploying,
            Phase::WaitingStable,
            Phase::PreTrafficChecks,
            Phase::AwaitingApproval,
            Phase::Shifting,
            Phase::Finalizing,
            Phase::RollingBack,
            Phase::Done,
        ]);
        same(&[
            AlarmValue::Ok,
            AlarmValue::Alarm,
            AlarmValue::InsufficientData,
        ]);
        same(&[
            HealthState::Initial,
            HealthState::Healthy,
            HealthState::Unhealthy,
            HealthState::Unused,
            HealthState::Draining,
            HealthState::Unavailable,
        ]);
        same(&[
            ExecutionStatus::Running,
            ExecutionStatus::Succeeded,
            ExecutionStatus::Failed,
            ExecutionStatus::TimedOut,
            ExecutionStatus::Aborted,
            ExecutionStatus::PendingRedrive,
        ]);
        same(&crate::notify::EventKind::ALL);
        same(&[crate::config::Colour::Blue, crate::config::Colour::Green]);
    }

    #[test]
    fn start_outcomes_serialize_with_a_tag() {
        let v = serde_json::to_value(StartOutcome::AlreadyExists {
            name: "web-prod-1".into(),
        })
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"outcome": "already_exists", "name": "web-prod-1"})
        );
    }
}
