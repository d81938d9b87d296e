//! The state a rollout carries from one step to the next through the state machine, and
//! the errors its steps raise.
//!
//! Every rollout step is a Lambda that takes the [`Rollout`] (or, for the first, the
//! [`StartInput`]) and returns it updated. The `control` fields are what the state
//! machine's Choice, Wait and timeout fields read.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::arn::Arn;
use crate::config::{Colour, Environment};
use crate::errors::ErrorCode;
pub use crate::errors::ErrorName;
use crate::image::ImageRef;
use crate::notify::Notification;
use crate::plan::Plan;
use crate::ports::{PortError, TriggerInfo};

/// What starts an execution of the rollout state machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartInput {
    /// The deployment ID, which is also the execution name.
    pub deployment: String,
    pub app: String,
    pub environment: String,
    pub image: ImageRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    pub trigger: TriggerInfo,
}

/// A notification rendered for the state machine's direct `sns:Publish` integration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub topic: String,
    pub subject: String,
    /// The body for `MessageStructure: json` (one rendering per protocol).
    pub message: String,
    /// `app`, `environment`, `event`, `severity`.
    pub attributes: BTreeMap<String, String>,
}

impl Notice {
    pub fn render(topic: &Arn, n: &Notification) -> Notice {
        Notice {
            topic: topic.to_string(),
            subject: n.subject(),
            message: n.sns_message(),
            attributes: n
                .attributes()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }
    }
}

/// The fields the state machine branches and waits on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Control {
    /// The new colour is running and healthy (set by the stable check).
    pub stable: bool,
    /// The pre-traffic checks passed.
    pub ready: bool,
    pub approval_required: bool,
    /// Whether no answer to an approval request means yes.
    pub approve_on_timeout: bool,
    pub approval_timeout_seconds: u64,
    /// Seconds between two checks.
    pub interval_seconds: u64,
    /// The current step's bake time has not run out yet.
    pub baking: bool,
    /// Seconds to wait before the next check while baking (at most `interval_seconds`).
    pub bake_wait_seconds: u64,
    /// Traffic steps remain after the current one.
    pub steps_remaining: bool,
    pub rollback_window_seconds: u64,
    /// The rollback window is watched: an alarm of the environment firing, or the checks
    /// failing `failure_threshold` rounds in a row, while the old colour is warm reverts
    /// the release.
    #[serde(default)]
    pub watch_window: bool,
    /// Seconds the watched window waits before its next round of checks.
    #[serde(default)]
    pub window_wait_seconds: u64,
    /// Seconds left in the rollback window when it was last looked at.
    #[serde(default)]
    pub window_left_seconds: u64,
    /// The watch goes on: the window is open and this release is still the live one.
    #[serde(default)]
    pub watching: bool,
    /// How long the state machine waits for the rounds of checks after deploy to say the
    /// new colour is stable and ready (its `TimeoutSecondsPath`); past it, the rounds are
    /// taken to have stopped and the rollout rolls back.
    #[serde(default)]
    pub settle_timeout_seconds: u64,
    /// The same for one traffic step: the longest bake of the plan, `failure_threshold`
    /// more rounds, and a grace period.
    #[serde(default)]
    pub step_timeout_seconds: u64,
    /// The same for the watched rollback window: the time left in it and a grace period.
    #[serde(default)]
    pub window_timeout_seconds: u64,
}

/// The production listener and the target group that served all traffic when the rollout
/// started, for the state machine's direct `elasticloadbalancingv2:modifyListener` call.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restore {
    pub listener: String,
    pub target_group: String,
}

/// A rollout in progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    pub deployment: String,
    pub app: String,
    pub environment: String,
    pub image: ImageRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    pub trigger: TriggerInfo,
    /// The environment's configuration as it was when the rollout started.
    pub env: Environment,
    /// The colour that served all traffic when the rollout started.
    pub live: Colour,
    /// The colour receiving the new image.
    pub target: Colour,
    /// The task definition revision the live colour ran.
    pub live_task_definition: String,
    /// The new task definition revision.
    pub task_definition: String,
    pub desired: u32,
    pub plan: Plan,
    /// Index of the next plan step to apply.
    pub step: usize,
    /// Percent of production traffic on the target colour.
    pub weight: u8,
    /// Consecutive failed checks.
    pub failures: u32,
    pub started_at: DateTime<Utc>,
    pub stable_deadline: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bake_until: Option<DateTime<Utc>>,
    /// When traffic moved to the current weight (set by shift): where the analysis's
    /// time range starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shifted_at: Option<DateTime<Utc>>,
    /// When the last round of checks ran (a worker's crashed tasks are counted since then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<DateTime<Utc>>,
    /// The canary analysis's last report, if the environment has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<crate::analysis::AnalysisReport>,
    /// When the rollback window ends (set by finalize).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_until: Option<DateTime<Utc>>,
    pub topic: String,
    /// How to put all traffic back on the live colour without a Lambda: the state
    /// machine's last resort when the rollback function cannot run.
    pub restore: Restore,
    pub control: Control,
    /// A notification for the next `sns:Publish` state, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<Notice>,
    /// The ARN of the execution running this rollout (its notifications link to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
    /// What the image's OCI labels say of its source (revision, build time).
    #[serde(default, skip_serializing_if = "crate::ports::ImageSource::is_empty")]
    pub source: crate::ports::ImageSource,
    /// Set in the answer of a traffic step's wait: what the step changed (the Traffic map
    /// keeps this of each step, not the whole rollout each time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_result: Option<StepResult>,
    /// Set by the Traffic map for Finalize: the last step's result, which Finalize takes
    /// back into the rollout (each step started from the rollout as deploy left it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<TrafficDone>,
}

/// What a traffic step changes in the rollout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    pub step: usize,
    pub weight: u8,
    pub failures: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bake_until: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shifted_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<crate::analysis::AnalysisReport>,
}

/// The Traffic map's result, as its `ResultSelector` shapes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrafficDone {
    pub last: StepResult,
}

impl Rollout {
    /// What the current traffic step has changed so far.
    pub fn step_result(&self) -> StepResult {
        StepResult {
            step: self.step,
            weight: self.weight,
            failures: self.failures,
            bake_until: self.bake_until,
            shifted_at: self.shifted_at,
            checked_at: self.checked_at,
            analysis: self.analysis.clone(),
        }
    }

    /// Takes the Traffic map's last step back into the rollout (Finalize's input), if it
    /// is there.
    pub fn take_traffic(&mut self) {
        self.step_result = None;
        let Some(TrafficDone { last }) = self.traffic.take() else {
            return;
        };
        self.step = last.step;
        self.weight = last.weight;
        self.failures = last.failures;
        self.bake_until = last.bake_until;
        self.shifted_at = last.shifted_at;
        self.checked_at = last.checked_at;
        self.analysis = last.analysis;
        self.control.steps_remaining = self.step < self.plan.steps.len();
    }

    /// The step reached at `weight` (the traffic the deployment record holds): how many
    /// of the plan's steps send at most that much traffic to the new colour.
    pub fn steps_at(&self, weight: u8) -> usize {
        self.plan
            .steps
            .iter()
            .take_while(|s| s.weight <= weight)
            .count()
    }
}

/// How a rollout step failed. Each variant has a stable Step Functions error name that the
/// state machine's `Retry` and `Catch` match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// An AWS call failed in a way that can succeed on retry.
    #[error("{0}")]
    Retryable(PortError),
    /// An AWS call failed in a way that will not fix itself.
    #[error("{0}")]
    Aws(PortError),
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("{0}")]
    NotConfigured(String),
    #[error("image {0} is not in ECR")]
    ImageNotFound(String),
    #[error("{app}/{environment} is locked by deployment {owner} until {until}")]
    LockHeld {
        app: String,
        environment: String,
        owner: String,
        until: DateTime<Utc>,
    },
    /// Another deployment holds the environment; this one waits its turn (retried by the
    /// state machine).
    #[error("waiting for deployment {owner} to finish with {app}/{environment}")]
    Queued {
        app: String,
        environment: String,
        owner: String,
    },
    #[error("{0}")]
    InconsistentTraffic(String),
    #[error("the new tasks failed to start: {0}")]
    DeploymentFailed(String),
    #[error("not stable after {0}")]
    StableTimeout(String),
    #[error("health checks failed: {0}")]
    HealthCheckFailed(String),
    #[error("alarm fired: {0}")]
    AlarmFired(String),
    #[error("listener weights did not apply: {0}")]
    WeightsNotApplied(String),
    #[error("superseded by deployment {0}")]
    Superseded(String),
    #[error("stopped by {0}")]
    Aborted(String),
    #[error("rejected: {0}")]
    Rejected(String),
    /// The environment's lock is no longer this deployment's: stop, touch nothing.
    #[error("lost the lock of {app}/{environment}: {detail}")]
    LockLost {
        app: String,
        environment: String,
        detail: String,
    },
    /// The request does not show that this image may enter this environment.
    #[error("refused: {0}")]
    ProvenanceRefused(String),
}

impl StepError {
    /// The Step Functions error name.
    pub fn code(&self) -> ErrorCode {
        match self {
            StepError::Retryable(_) => ErrorCode::Retryable,
            StepError::Aws(_) => ErrorCode::AwsError,
            StepError::InvalidInput(_) => ErrorCode::InvalidInput,
            StepError::NotConfigured(_) => ErrorCode::NotConfigured,
            StepError::ImageNotFound(_) => ErrorCode::ImageNotFound,
            StepError::LockHeld { .. } => ErrorCode::LockHeld,
            StepError::Queued { .. } => ErrorCode::Queued,
            StepError::InconsistentTraffic(_) => ErrorCode::InconsistentTraffic,
            StepError::DeploymentFailed(_) => ErrorCode::DeploymentFailed,
            StepError::StableTimeout(_) => ErrorCode::StableTimeout,
            StepError::HealthCheckFailed(_) => ErrorCode::HealthCheckFailed,
            StepError::AlarmFired(_) => ErrorCode::AlarmFired,
            StepError::WeightsNotApplied(_) => ErrorCode::WeightsNotApplied,
            StepError::Superseded(_) => ErrorCode::Superseded,
            StepError::Aborted(_) => ErrorCode::Aborted,
            StepError::Rejected(_) => ErrorCode::Rejected,
            StepError::LockLost { .. } => ErrorCode::LockLost,
            StepError::ProvenanceRefused(_) => ErrorCode::ProvenanceRefused,
        }
    }

    /// The Step Functions error name.
    pub fn error_name(&self) -> &'static str {
        self.code().as_str()
    }
}

/// `now + d`, as a typed error naming the setting (never a panic) when it does not fit.
pub fn deadline(
    now: DateTime<Utc>,
    d: crate::Duration,
    setting: &str,
) -> Result<DateTime<Utc>, StepError> {
    d.after(now)
        .ok_or_else(|| StepError::InvalidInput(format!("{setting} {d} is too long")))
}

impl From<PortError> for StepError {
    fn from(e: PortError) -> Self {
        if e.is_retryable() {
            StepError::Retryable(e)
        } else {
            StepError::Aws(e)
        }
    }
}

impl ErrorName for StepError {
    fn error_code(&self) -> ErrorCode {
        self.code()
    }
}

/// The error a `Catch` hands to the next state (`ResultPath: $.error`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error", default)]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

impl CaughtError {
    /// greenlight's name for the error, when it is one of greenlight's.
    pub fn code(&self) -> Option<ErrorCode> {
        ErrorCode::parse(&self.error)
    }

    /// The human-readable reason: Lambda errors arrive with a JSON `Cause` holding
    /// `errorMessage`; other errors with plain text.
    pub fn reason(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.cause)
            .ok()
            .and_then(|v| {
                v.get("errorMessage")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| {
                if self.cause.is_empty() {
                    self.error.clone()
                } else {
                    self.cause.clone()
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_errors_split_by_retryability() {
        let throttled = PortError::Throttled {
            operation: "x".into(),
            message: String::new(),
        };
        assert_eq!(
            StepError::from(throttled).error_name(),
            "Greenlight.Retryable"
        );
        assert_eq!(
            StepError::from(PortError::not_found("x")).error_name(),
            "Greenlight.AwsError"
        );
    }

    #[test]
    fn caught_lambda_errors_give_their_message() {
        let c = CaughtError {
            error: "Greenlight.AlarmFired".into(),
            cause: r#"{"errorType":"Greenlight.AlarmFired","errorMessage":"alarm fired: web-5xx"}"#
                .into(),
        };
        assert_eq!(c.reason(), "alarm fired: web-5xx");
        let t = CaughtError {
            error: "States.Timeout".into(),
            cause: String::new(),
        };
        assert_eq!(t.reason(), "States.Timeout");
    }
}
