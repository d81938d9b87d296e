//! Waiting on people and alarms: the task tokens of `waitForTaskToken` states, stored so
//! that `greenlight approve` / `reject` and the alarm relay can answer them. Tokens live in
//! the state store only: never in a log line, a notification or an error message.

use serde::{Deserialize, Serialize};

use crate::errors::ErrorCode;
use crate::notify::EventKind;
use crate::ports::{
    Clock, Executions, Notifier, Phase, PortError, StateStore, TokenPurpose, TriggerInfo,
};
use crate::rollout::{Rollout, StepError};

use super::{notification, record};

/// What the `await` Lambda receives from a `lambda:invoke.waitForTaskToken` state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AwaitInput {
    pub purpose: TokenPurpose,
    pub token: String,
    pub rollout: Rollout,
}

/// The approval's wait: renews the lease (a deployment that lost its lock stops here),
/// stores the token, records the phase and asks the subscribers. The other waits are
/// started by their step's function (`usecase::tick`), which also schedules their rounds:
/// any other purpose is refused.
pub async fn await_token<P>(p: &P, input: &AwaitInput) -> Result<(), StepError>
where
    P: StateStore + Notifier + Clock,
{
    require_token(&input.token)?;
    if input.purpose != TokenPurpose::Approval {
        return Err(StepError::InvalidInput(format!(
            "the await function stores approval waits only, not a {} wait",
            input.purpose.as_str()
        )));
    }
    let r = &input.rollout;
    super::record::hold_lock(p, r).await?;
    p.put_task_token(&r.deployment, TokenPurpose::Approval, &input.token, &[])
        .await?;
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
    Ok(())
}

/// Refuses an empty task token, before a wait's function changes anything.
pub(super) fn require_token(token: &str) -> Result<(), StepError> {
    if token.is_empty() {
        return Err(StepError::InvalidInput("empty task token".into()));
    }
    Ok(())
}

/// Stores the token of a wait with the alarms that should cut it short (a bake's or the
/// window's: the environment's alarms; an approval's: none), then reads those alarms once:
/// one that went to ALARM before the token was there for the alarm relay to fail fails
/// the wait at once.
pub async fn watch_alarms<P>(
    p: &P,
    purpose: TokenPurpose,
    token: &str,
    r: &Rollout,
) -> Result<(), StepError>
where
    P: StateStore + crate::ports::Alarms + Clock,
{
    require_token(token)?;
    let alarms: &[String] = match purpose {
        TokenPurpose::Bake | TokenPurpose::Window => &r.env.checks.alarms,
        TokenPurpose::Approval => &[],
    };
    let place = r.env.place();
    let keys: Vec<String> = alarms
        .iter()
        .map(|a| super::reach::alarm_key(place.as_ref(), a))
        .collect();
    p.put_task_token(&r.deployment, purpose, token, &keys)
        .await?;
    if !alarms.is_empty() {
        let there = super::reach::ports_for(p, &r.env, &r.deployment)?;
        let states = there.alarm_states(alarms).await?;
        if let Some(a) = states
            .iter()
            .find(|a| a.value == crate::ports::AlarmValue::Alarm)
        {
            return Err(super::check::fired(a));
        }
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
    NotAnApprover(String),
    #[error("no configuration is stored; run `greenlight config apply greenlight.yaml`")]
    NotConfigured,
    #[error("{0}")]
    Aws(#[from] PortError),
}

impl crate::errors::ErrorName for ApprovalError {
    fn error_code(&self) -> ErrorCode {
        match self {
            ApprovalError::UnknownDeployment(_) => ErrorCode::UnknownDeployment,
            ApprovalError::NotWaiting(_) => ErrorCode::NotWaiting,
            ApprovalError::Expired(_) => ErrorCode::Expired,
            ApprovalError::NotAnApprover(_) => ErrorCode::NotAnApprover,
            ApprovalError::NotConfigured => ErrorCode::NotConfigured,
            ApprovalError::Aws(e) => e.error_code(),
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

/// An answer to an approval request, as the approval URL receives it in its body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub deployment: String,
    pub decision: Verdict,
    /// Why (a rejection's reason; optional for an approval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What `greenlight approve`/`reject --json` prints: the answer given and the URL's message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answered {
    pub deployment: String,
    pub decision: Verdict,
    pub message: String,
}

/// Why the approval URL did not take an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// The URL refused it (not an approver, nothing waiting, …): its message and status.
    #[error("{message} (HTTP {status})")]
    Refused { status: u16, message: String },
    #[error("{0}")]
    Aws(#[from] crate::ports::PortError),
}

impl crate::errors::ErrorName for AnswerError {
    fn error_code(&self) -> ErrorCode {
        match self {
            AnswerError::Refused { status: 403, .. } => ErrorCode::NotAnApprover,
            AnswerError::Refused { .. } => ErrorCode::InvalidInput,
            AnswerError::Aws(e) => e.error_code(),
        }
    }
}

/// `greenlight approve` / `reject`: the decision on `deployment` (a rejection when
/// `reject_reason` is given), sent to the approval URL signed with the caller's own
/// credentials; the URL decides whether the caller may answer. The answer given, with the
/// URL's message.
pub async fn send<P: crate::ports::ApprovalUrl>(
    p: &P,
    url: &str,
    deployment: &str,
    reject_reason: Option<&str>,
) -> Result<Answered, AnswerError> {
    let decision = Decision {
        deployment: deployment.to_string(),
        decision: if reject_reason.is_some() {
            Verdict::Reject
        } else {
            Verdict::Approve
        },
        reason: reject_reason.map(str::to_string),
    };
    match p.send_decision(url, &decision).await? {
        (200, message) => Ok(Answered {
            deployment: decision.deployment,
            decision: decision.decision,
            message,
        }),
        (status, message) => Err(AnswerError::Refused { status, message }),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approve,
    Reject,
}

/// Answers an approval as `principal`, the caller AWS authenticated (the approval URL's
/// IAM identity, never a name the caller typed): refused unless the principal is one of
/// the environment's `approval.approvers` and, under `separate_approver`, not the one who
/// promoted the deployment. An approval is recorded on the deployment as `approved_by`.
/// Returns what was done, for the caller.
pub async fn decide<P>(p: &P, principal: &str, d: &Decision) -> Result<String, ApprovalError>
where
    P: StateStore + Executions,
{
    let who =
        crate::approvers::Principal::parse(principal).map_err(ApprovalError::NotAnApprover)?;
    let record = p
        .get_deployment(&d.deployment)
        .await?
        .ok_or_else(|| ApprovalError::UnknownDeployment(d.deployment.clone()))?;
    let config = p
        .get_config()
        .await?
        .ok_or(ApprovalError::NotConfigured)?
        .config;
    let approval = config
        .environment(&record.app, &record.environment)
        .map(|(_, env)| env.approval.clone())
        .unwrap_or_default();
    if !crate::approvers::admits(&approval.approvers, &who) {
        return Err(ApprovalError::NotAnApprover(format!(
            "{principal} is not an approver of {}/{} (approval.approvers in greenlight.yaml)",
            record.app, record.environment
        )));
    }
    if approval.separate_approver {
        if let TriggerInfo::Promotion { by, .. } = &record.trigger {
            if by == principal {
                return Err(ApprovalError::NotAnApprover(format!(
                    "{principal} promoted {} and may not approve it (separate_approver)",
                    d.deployment
                )));
            }
        }
    }
    match d.decision {
        Verdict::Approve => {
            approve(p, &d.deployment, principal).await?;
            record::update(
                p,
                &d.deployment,
                || None,
                |rec| {
                    rec.approved_by = Some(principal.to_string());
                    true
                },
            )
            .await?;
            Ok(format!("approved {} as {principal}", d.deployment))
        }
        Verdict::Reject => {
            let reason = d.reason.as_deref().unwrap_or("no reason given");
            reject(p, &d.deployment, principal, reason).await?;
            Ok(format!(
                "rejected {} as {principal}: it rolls back",
                d.deployment
            ))
        }
    }
}

/// The part of a CloudWatch "Alarm State Change" event's `detail` the relay reads.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmChange {
    pub alarm_name: String,
    pub state: AlarmStateValue,
}

/// Where an alarm state change comes from (the event's `account` and `region`), and where
/// the stack is: an alarm of another account or region only fails the deployments of
/// environments there (names are unique within one account and region only).
#[derive(Clone, Copy, Debug, Default)]
pub struct AlarmOrigin<'a> {
    pub from: Option<(&'a str, &'a str)>,
    pub home: Option<(&'a str, &'a str)>,
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
pub async fn relay_alarm<P>(
    p: &P,
    change: &AlarmChange,
    origin: AlarmOrigin<'_>,
) -> Result<Relayed, StepError>
where
    P: StateStore + Executions,
{
    let mut out = Relayed::default();
    if change.state.value != "ALARM" {
        return Ok(out);
    }
    let mut watching = Vec::new();
    for key in super::reach::alarm_keys(origin.from, origin.home, &change.alarm_name) {
        watching.extend(p.tokens_watching(&key).await?);
    }
    for (deployment, token) in watching {
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
        for purpose in [TokenPurpose::Bake, TokenPurpose::Window] {
            p.delete_task_token(&deployment, purpose).await?;
        }
    }
    Ok(out)
}
