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

    /// The Step Functions error name a failed call stands for: `Greenlight.Retryable` when
    /// the same call can succeed later, `Greenlight.AwsError` otherwise.
    pub fn error_code(&self) -> crate::errors::ErrorCode {
        if self.is_retryable() {
            crate::errors::ErrorCode::Retryable
        } else {
            crate::errors::ErrorCode::AwsError
        }
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
// Place

/// Reaching an environment's own resources where they are: in another account or region,
/// through the role its configuration names ([`crate::config::Place`]).
pub trait Reach: Clone + Send + Sync {
    /// These ports, with the calls to ECS, Elastic Load Balancing, CloudWatch and ECR made in
    /// `place` under the role's credentials, the role session named `session` (CloudTrail
    /// in the target account shows it); calls to greenlight's own table, executions, topics
    /// and bus are made as before. Credentials are fetched when first needed, so a role
    /// that can't be assumed fails the first call made there (`AccessDenied`).
    fn reach(&self, place: &crate::config::Place, session: &str) -> PortResult<Self>;
}

mod cloudwatch;
mod ecr;
mod ecs;
mod elb;
mod events;
mod http;
mod inventory;
mod sfn;
mod sns;
mod sqs;
mod store;

pub use cloudwatch::*;
pub use ecr::*;
pub use ecs::*;
pub use elb::*;
pub use events::*;
pub use http::*;
pub use inventory::*;
pub use sfn::*;
pub use sns::*;
pub use sqs::*;
pub use store::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_purposes_read_the_same_in_text_and_json() {
        for p in [
            TokenPurpose::Approval,
            TokenPurpose::Bake,
            TokenPurpose::Window,
        ] {
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
        for p in [TickPurpose::Settle, TickPurpose::Bake, TickPurpose::Window] {
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
            assert_eq!(p.to_string(), p.as_str());
        }
    }

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
