//! Waiting on people and alarms: the task tokens of `waitForTaskToken` states, stored so
//! that `greenlight approve` / `reject` and the alarm relay can answer them. Tokens live in
//! the state store only: never in a log line, a notification or an error message.

use serde::{Deserialize, Serialize};

use crate::errors::ErrorCode;
use crate::notify::EventKind;
use crate::ports::{Clock, Executions, Notifier, Phase, PortError, StateStore, TokenPurpose};
use crate::rollout::{Rollout, StepError};

use super::{notification, record};

/// What the `await` Lambda receives from a `lambda:invoke.waitForTaskToken` state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AwaitInput {
    pub purpose: TokenPurpose,
    pub token: String,
    pub rollout: Rollout,
}

/// Stores the token; for an approval, records the phase and asks the subscribers.
pub async fn await_token<P>(p: &P, input: &AwaitInput) -> Result<(), StepError>
where
    P: StateStore + Notifier + Clock,
{
    if input.token.is_empty() {
        return Err(StepError::InvalidInput("empty task token".into()));
    }
    let r = &input.rollout;
    // A wait is a long phase: the lease is renewed at its start, and a deployment that
    // lost its lock stops here.
    super::record::hold_lock(p, r).await?;
    let alarms: &[String] = match input.purpose {
        TokenPurpose::Bake => &r.env.checks.alarms,
        TokenPurpose::Approval => &[],
    };
    p.put_task_token(&r.deployment, input.purpose, &input.token, alarms)
        .await?;
    if input.purpose == TokenPurpose::Approval {
        let now = p.now();
        record(p, r, Phase::AwaitingApproval, now).await?;
        let mut n = notification(r, EventKind::ApprovalRequested, now);
        n.reason = Some(format!(
            "waiting up to {} for a decision",
            r.env.approval.timeout
        ));
        n.next_steps = vec![
            format!("greenlight approve {}", r.deployment),
            format!("greenlight reject {} --reason \"…\"", r.deployment),
        ];
        let topic = crate::arn::Arn::parse(&r.topic).map_err(StepError::InvalidInput)?;
        p.publish(&topic, &n).await?;
    }
    Ok(())
}

/// Why an approval answer could not be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error("no deployment {0}")]
    UnknownDeployment(String),
    #[error("deployment {0} is not waiting for approval")]
    NotWaiting(String),
    #[error("the approval of {0} timed out or was already answered")]
    Expired(String),
    #[error("{0}")]
    Aws(#[from] PortError),
}

impl crate::errors::ErrorName for ApprovalError {
    fn error_code(&self) -> ErrorCode {
        match self {
            ApprovalError::UnknownDeployment(_) => ErrorCode::UnknownDeployment,
            ApprovalError::NotWaiting(_) => ErrorCode::NotWaiting,
            ApprovalError::Expired(_) => ErrorCode::Expired,
            ApprovalError::Aws(e) if e.is_retryable() => ErrorCode::Retryable,
            ApprovalError::Aws(_) => ErrorCode::AwsError,
        }
    }
}

async fn answer<P>(
    p: &P,
    deployment: &str,
    verdict: Result<serde_json::Value, (&str, String)>,
) -> Result<(), ApprovalError>
where
    P: StateStore + Executions,
{
    if p.get_deployment(deployment).await?.is_none() {
        return Err(ApprovalError::UnknownDeployment(deployment.to_string()));
    }
    let token = p
        .get_task_token(deployment, TokenPurpose::Approval)
        .await?
        .ok_or_else(|| ApprovalError::NotWaiting(deployment.to_string()))?;
    let sent = match verdict {
        Ok(output) => p.send_task_success(&token, &output).await,
        Err((error, cause)) => p.send_task_failure(&token, error, &cause).await,
    };
    match sent {
        Ok(()) => {}
        // The token is no longer waited on (timed out, or answered by someone else).
        Err(PortError::NotFound { .. }) | Err(PortError::Invalid { .. }) => {
            p.delete_task_token(deployment, TokenPurpose::Approval)
                .await?;
            return Err(ApprovalError::Expired(deployment.to_string()));
        }
        Err(e) => return Err(e.into()),
    }
    p.delete_task_token(deployment, TokenPurpose::Approval)
        .await?;
    Ok(())
}

pub async fn approve<P>(p: &P, deployment: &str, by: &str) -> Result<(), ApprovalError>
where
    P: StateStore + Executions,
{
    answer(p, deployment, Ok(serde_json::json!({"approved_by": by}))).await
}

pub async fn reject<P>(p: &P, deployment: &str, by: &str, reason: &str) -> Result<(), ApprovalError>
where
    P: StateStore + Executions,
{
    answer(
        p,
        deployment,
        Err((
            ErrorCode::Rejected.as_str(),
            format!("rejected by {by}: {reason}"),
        )),
    )
    .await
}

/// The part of a CloudWatch "Alarm State Change" event the relay reads.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmChange {
    pub alarm_name: String,
    pub state: AlarmStateValue,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AlarmStateValue {
    pub value: String,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relayed {
    /// Deployments whose bake was cut short.
    pub failed: Vec<String>,
}

/// An alarm went to ALARM: every deployment baking with that alarm fails its wait now
/// instead of at its next check.
pub async fn relay_alarm<P>(p: &P, change: &AlarmChange) -> Result<Relayed, StepError>
where
    P: StateStore + Executions,
{
    let mut out = Relayed::default();
    if change.state.value != "ALARM" {
        return Ok(out);
    }
    for (deployment, token) in p.tokens_watching(&change.alarm_name).await? {
        let cause = format!(
            "alarm fired: {}{}",
            change.alarm_name,
            change
                .state
                .reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
        match p
            .send_task_failure(&token, ErrorCode::AlarmFired.as_str(), &cause)
            .await
        {
            Ok(()) => out.failed.push(deployment.clone()),
            Err(PortError::NotFound { .. }) | Err(PortError::Invalid { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        p.delete_task_token(&deployment, TokenPurpose::Bake).await?;
    }
    Ok(out)
}
