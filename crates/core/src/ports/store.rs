//! The state store (DynamoDB): locks, deployment history, task tokens, configuration, and who the caller is.

#[allow(unused_imports)]
use super::*;

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

impl TriggerInfo {
    /// For people: `push`, `promotion from staging by …`, `manual by …`.
    pub fn describe(&self) -> String {
        match self {
            TriggerInfo::Push { .. } => "push".to_string(),
            TriggerInfo::Promotion { from, by } => format!("promotion from {from} by {by}"),
            TriggerInfo::Manual { by } => format!("manual by {by}"),
        }
    }
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
    /// When a successful deployment was reverted (traffic back on the colour before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverted_at: Option<DateTime<Utc>>,
    /// Until when a finished deployment can be rolled back by a listener flip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_until: Option<DateTime<Utc>>,
    /// Set when a newer deployment (or a person) asked this one to stop; its next step
    /// rolls it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_requested: Option<StopRequest>,
    /// The canary analysis's last report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<crate::analysis::AnalysisReport>,
    /// The principal (as AWS authenticated it) who approved the deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// What the image's OCI labels say of its source (revision, build time).
    #[serde(default, skip_serializing_if = "ImageSource::is_empty")]
    pub source: ImageSource,
    /// The notices of this deployment its functions have published themselves (`started`,
    /// `succeeded`): a retried step announces only what is not listed
    /// (`usecase::notices::announce_once`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub announced: Vec<crate::notify::EventKind>,
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
    /// The rollback window after a success, which an alarm ends with a revert.
    Window,
}

impl TokenPurpose {
    /// The one name people read, the same in text and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Approval => "approval",
            TokenPurpose::Bake => "bake",
            TokenPurpose::Window => "window",
        }
    }
}

/// The configuration as stored, with a version for optimistic concurrency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredConfig {
    /// Shared: every reader of the stored configuration gets the same one, not a copy.
    pub config: std::sync::Arc<Config>,
    /// Increases by one with every write.
    pub version: u64,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
    /// The YAML as written (comments and all), when it was stored with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
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
        source: &str,
        expected_version: u64,
        by: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = PortResult<u64>> + Send;
}
