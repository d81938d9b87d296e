//! rollback and what follows a failure: traffic back to the old colour (verified), the new
//! colour scaled down, the lock released, and the notification that says why. When the
//! rollback itself cannot complete, `escalate` says what a person must do.

use crate::notify::{EventKind, Notification, Severity};
use crate::ports::{
    Clock, ContainerService, DeploymentRecord, LoadBalancer, Outcome, Phase, StateStore,
    TokenPurpose,
};
use crate::rollout::{CaughtError, Notice, Rollout, StartInput, StepError};

use super::{notice, notification, record, set_and_verify};

/// How a failure is recorded and announced.
pub fn outcome_of(error: &CaughtError) -> (Outcome, EventKind) {
    match error.error.as_str() {
        "Greenlight.Rejected" | "Greenlight.ApprovalTimedOut" => {
            (Outcome::Rejected, EventKind::Rejected)
        }
        "Greenlight.Superseded" => (Outcome::Superseded, EventKind::Superseded),
        _ => (Outcome::RolledBack, EventKind::RolledBack),
    }
}

/// Rolls a rollout back. Every step is idempotent, so the state machine can retry it.
pub async fn rollback<P>(p: &P, mut r: Rollout, error: &CaughtError) -> Result<Rollout, StepError>
where
    P: StateStore + LoadBalancer + ContainerService + Clock,
{
    set_and_verify(p, &r.env, r.target, 0).await?;
    r.weight = 0;
    p.update_service(&r.env.cluster, r.env.services.get(r.target), None, Some(0))
        .await?;
    for purpose in [TokenPurpose::Bake, TokenPurpose::Approval] {
        p.delete_task_token(&r.deployment, purpose).await?;
    }
    let now = p.now();
    let (outcome, kind) = outcome_of(error);
    let mut rec = record(p, &r, Phase::Done, now).await?;
    rec.outcome = Some(outcome);
    rec.reason = Some(error.reason());
    p.put_deployment(&rec).await?;
    p.release_lock(&r.app, &r.environment, &r.deployment)
        .await?;
    let mut n = notification(&r, kind, now);
    n.reason = Some(error.reason());
    r.notice = notice(&r, &n);
    Ok(r)
}

/// The rollback failed for good: record it (best effort) and produce the `critical`
/// notification. Never fails: the notification is what matters now.
pub async fn escalate<P>(p: &P, mut r: Rollout, error: &CaughtError) -> Rollout
where
    P: StateStore + Clock,
{
    let now = p.now();
    if let Ok(mut rec) = record(p, &r, Phase::RollingBack, now).await {
        rec.outcome = Some(Outcome::RollbackFailed);
        rec.reason = Some(error.reason());
        let _ = p.put_deployment(&rec).await;
    }
    let mut n = notification(&r, EventKind::RollbackFailed, now);
    n.reason = Some(format!("the rollback failed: {}", error.reason()));
    n.next_steps = vec![
        format!(
            "Check listener {}: all traffic must go to the {} target group {}.",
            r.env.listeners.production,
            r.live,
            r.env.target_groups.get(r.live)
        ),
        format!(
            "Then run `greenlight rollback {} --env {}`, or fix the weights in the console.",
            r.app, r.environment
        ),
        format!(
            "The environment stays locked by {} until that is done or its lease runs out.",
            r.deployment
        ),
    ];
    r.notice = notice(&r, &n);
    r
}

/// A deployment that never started (prepare refused it): record and announce why.
/// Best effort on the record; the notice is always produced.
pub async fn refused<P>(
    p: &P,
    input: &StartInput,
    error: &CaughtError,
    default_topic: &str,
) -> Notice
where
    P: StateStore + Clock,
{
    let now = p.now();
    let topic = match p.get_config().await {
        Ok(Some(stored)) => stored
            .config
            .environment(&input.app, &input.environment)
            .and_then(|(_, e)| e.notifications.as_ref().map(|n| n.topic.to_string())),
        _ => None,
    }
    .unwrap_or_else(|| default_topic.to_string());
    let rec = DeploymentRecord {
        id: input.deployment.clone(),
        app: input.app.clone(),
        environment: input.environment.clone(),
        image: input.image.clone(),
        tag: input.tag.clone(),
        trigger: input.trigger.clone(),
        phase: Phase::Done,
        colour: None,
        task_definition: None,
        weight: 0,
        started_at: now,
        ended_at: Some(now),
        outcome: Some(Outcome::Rejected),
        reason: Some(error.reason()),
        rollback_until: None,
        stop_requested: None,
    };
    let _ = p.put_deployment(&rec).await;
    let mut n = Notification::new(EventKind::Rejected, &input.app, &input.environment, now);
    n.deployment = Some(input.deployment.clone());
    n.image = Some(input.image.to_string());
    n.tag = input.tag.clone();
    n.reason = Some(error.reason());
    n.severity = match error.error.as_str() {
        "Greenlight.LockHeld" | "Greenlight.Queued" => Severity::Warn,
        _ => Severity::Error,
    };
    let topic = crate::arn::Arn::parse(&topic).unwrap_or_else(|_| {
        crate::arn::Arn::parse(default_topic).expect("the stack's topic is an ARN")
    });
    Notice::render(&topic, &n)
}
