//! Every error name greenlight hands to Step Functions, in one place.
//!
//! A Lambda function's error reaches the state machine as its `errorType`; the machine's
//! `Retry` and `Catch` rules match on it. Each name is a variant here, so a use case
//! raises `ErrorCode::AlarmFired`, never the string `"Greenlight.AlarmFired"`, and the
//! wiring test checks every `ErrorEquals` of the state machine against [`ErrorCode::ALL`].

use std::fmt;

/// A stable Step Functions error name (`Greenlight.…`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorCode {
    /// An AWS call failed in a way that can succeed on retry.
    Retryable,
    /// An AWS call failed in a way that will not fix itself.
    AwsError,
    /// The payload was not what the function takes (shape, field, value).
    InvalidInput,
    /// The event is not an ECR event greenlight acts on.
    InvalidEvent,
    NotConfigured,
    ImageNotFound,
    /// The environment is locked and its policy is `reject`.
    LockHeld,
    /// The environment is locked; this deployment waits its turn.
    Queued,
    /// This deployment no longer holds its environment's lock: it stops without touching
    /// traffic, because another deployment may own the listener now.
    LockLost,
    /// The request does not prove that the image may enter this environment.
    ProvenanceRefused,
    InconsistentTraffic,
    DeploymentFailed,
    StableTimeout,
    HealthCheckFailed,
    AlarmFired,
    WeightsNotApplied,
    /// A newer deployment replaced this one.
    Superseded,
    /// A person stopped this deployment.
    Aborted,
    Rejected,
    /// The state machine's own name for an approval that nobody answered.
    ApprovalTimedOut,
    UnknownDeployment,
    NotWaiting,
    Expired,
    /// The authenticated caller may not answer this approval (not in `approvers`, or the
    /// promoter of the change under `separate_approver`).
    NotAnApprover,
    PromotionRefused,
    RevertRefused,
    /// A bug: the handler panicked. The message says where; nothing more was done.
    Internal,
}

impl ErrorCode {
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::Retryable,
        ErrorCode::AwsError,
        ErrorCode::InvalidInput,
        ErrorCode::InvalidEvent,
        ErrorCode::NotConfigured,
        ErrorCode::ImageNotFound,
        ErrorCode::LockHeld,
        ErrorCode::Queued,
        ErrorCode::LockLost,
        ErrorCode::ProvenanceRefused,
        ErrorCode::InconsistentTraffic,
        ErrorCode::DeploymentFailed,
        ErrorCode::StableTimeout,
        ErrorCode::HealthCheckFailed,
        ErrorCode::AlarmFired,
        ErrorCode::WeightsNotApplied,
        ErrorCode::Superseded,
        ErrorCode::Aborted,
        ErrorCode::Rejected,
        ErrorCode::ApprovalTimedOut,
        ErrorCode::UnknownDeployment,
        ErrorCode::NotWaiting,
        ErrorCode::Expired,
        ErrorCode::NotAnApprover,
        ErrorCode::PromotionRefused,
        ErrorCode::RevertRefused,
        ErrorCode::Internal,
    ];

    /// The name Step Functions sees.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Retryable => "Greenlight.Retryable",
            ErrorCode::AwsError => "Greenlight.AwsError",
            ErrorCode::InvalidInput => "Greenlight.InvalidInput",
            ErrorCode::InvalidEvent => "Greenlight.InvalidEvent",
            ErrorCode::NotConfigured => "Greenlight.NotConfigured",
            ErrorCode::ImageNotFound => "Greenlight.ImageNotFound",
            ErrorCode::LockHeld => "Greenlight.LockHeld",
            ErrorCode::Queued => "Greenlight.Queued",
            ErrorCode::LockLost => "Greenlight.LockLost",
            ErrorCode::ProvenanceRefused => "Greenlight.ProvenanceRefused",
            ErrorCode::InconsistentTraffic => "Greenlight.InconsistentTraffic",
            ErrorCode::DeploymentFailed => "Greenlight.DeploymentFailed",
            ErrorCode::StableTimeout => "Greenlight.StableTimeout",
            ErrorCode::HealthCheckFailed => "Greenlight.HealthCheckFailed",
            ErrorCode::AlarmFired => "Greenlight.AlarmFired",
            ErrorCode::WeightsNotApplied => "Greenlight.WeightsNotApplied",
            ErrorCode::Superseded => "Greenlight.Superseded",
            ErrorCode::Aborted => "Greenlight.Aborted",
            ErrorCode::Rejected => "Greenlight.Rejected",
            ErrorCode::ApprovalTimedOut => "Greenlight.ApprovalTimedOut",
            ErrorCode::UnknownDeployment => "Greenlight.UnknownDeployment",
            ErrorCode::NotWaiting => "Greenlight.NotWaiting",
            ErrorCode::Expired => "Greenlight.Expired",
            ErrorCode::NotAnApprover => "Greenlight.NotAnApprover",
            ErrorCode::PromotionRefused => "Greenlight.PromotionRefused",
            ErrorCode::RevertRefused => "Greenlight.RevertRefused",
            ErrorCode::Internal => "Greenlight.Internal",
        }
    }

    /// The code of a name, if it is one of greenlight's.
    pub fn parse(name: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors with a stable name for Step Functions.
pub trait ErrorName: std::error::Error {
    fn error_code(&self) -> ErrorCode;

    fn error_name(&self) -> &'static str {
        self.error_code().as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        let mut seen = std::collections::BTreeSet::new();
        for c in ErrorCode::ALL {
            assert!(c.as_str().starts_with("Greenlight."), "{c}");
            assert!(seen.insert(c.as_str()), "{c} twice");
            assert_eq!(ErrorCode::parse(c.as_str()), Some(*c));
        }
        assert_eq!(ErrorCode::parse("States.Timeout"), None);
        assert_eq!(ErrorCode::parse("greenlight.retryable"), None);
    }
}
