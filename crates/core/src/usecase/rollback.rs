//! rollback and what follows a failure: traffic back to the old colour (verified), the new
//! colour scaled down, the lock released, and the notification that says why. When the
//! rollback itself cannot complete, `escalate` says what a person must do.

use crate::notify::{EventKind, Notification, Severity};
use crate::ports::{
    Clock, ContainerService, DeploymentRecord, LoadBalancer, Outcome, Phase, StateStore,
    TokenPurpose,
};
use crate::rollout::{CaughtError, Notice, Rollout, StartInput, StepError};

use super::record::{hold_lock, record_with, update};
use super::{notice, notification, set_and_verify};
use crate::arn::Arn;
use crate::errors::ErrorCode;

/// How a failure is recorded and announced.
pub fn outcome_of(error: &CaughtError) -> (Outcome, EventKind) {
    match error.code() {
        Some(ErrorCode::Rejected | ErrorCode::ApprovalTimedOut) => {
            (Outcome::Rejected, EventKind::Rejected)
        }
        Some(ErrorCode::Superseded) => (Outcome::Superseded, EventKind::Superseded),
        Some(ErrorCode::Aborted) => (Outcome::Aborted, EventKind::Aborted),
        _ => (Outcome::RolledBack, EventKind::RolledBack),
    }
}

/// Rolls a rollout back. Every step is idempotent, so the state machine can retry it.
pub async fn rollback<P>(p: &P, mut r: Rollout, error: &CaughtError) -> Result<Rollout, StepError>
where
    P: StateStore + LoadBalancer + ContainerService + Clock,
{
    let p = &*super::reach::ports_for(p, &r.env, &r.deployment)?;
    let (outcome, kind) = outcome_of(error);
    let announce = |r: &mut Rollout, now| {
        let mut n = notification(r, kind, now);
        n.reason = Some(error.reason());
        r.notice = notice(r, &n);
    };
    // A retried rollback whose first attempt recorded the outcome: traffic and the new
    // colour were handled then; only the lock release (the last step) may be left to do.
    if let Some(rec) = p.get_deployment(&r.deployment).await? {
        catch_up(&mut r, &rec);
        if rec.outcome.is_some() {
            p.release_lock(&r.app, &r.environment, &r.deployment)
                .await?;
            r.weight = 0;
            announce(&mut r, p.now());
            return Ok(r);
        }
    }
    // Traffic is only ours to move while the lock is: otherwise another deployment may
    // own the listener now.
    hold_lock(p, &r).await?;
    set_and_verify(p, &r.env, r.target, 0, r.desired).await?;
    r.weight = 0;
    p.update_service(&r.env.cluster, r.env.services.get(r.target), None, Some(0))
        .await?;
    // Best effort: a token left behind belongs to a wait that has ended, and answering it
    // later fails harmlessly; it must not keep the environment locked.
    for purpose in [TokenPurpose::Bake, TokenPurpose::Approval] {
        let _ = p.delete_task_token(&r.deployment, purpose).await;
    }
    let now = p.now();
    record_with(p, &r, Phase::Done, now, |rec| {
        rec.outcome = Some(outcome);
        rec.reason = Some(error.reason());
    })
    .await?;
    p.release_lock(&r.app, &r.environment, &r.deployment)
        .await?;
    announce(&mut r, now);
    Ok(r)
}

/// A failed traffic step reaches the failure states with the rollout as deploy left it
/// (the Traffic map's input, each step having started from it): the deployment record
/// says how far traffic went.
fn catch_up(r: &mut Rollout, rec: &DeploymentRecord) {
    if rec.weight > r.weight {
        r.weight = rec.weight;
        r.step = r.steps_at(rec.weight);
    }
}

/// [`catch_up`] from the stored record, best effort: the notices of the failure paths
/// say what traffic the new colour had.
async fn caught_up<P: StateStore>(p: &P, r: &mut Rollout) {
    if let Ok(Some(rec)) = p.get_deployment(&r.deployment).await {
        catch_up(r, &rec);
    }
}

/// The rollback failed for good: record it (best effort) and produce the `critical`
/// notification. Never fails: the notification is what matters now.
pub async fn escalate<P>(p: &P, mut r: Rollout, error: &CaughtError) -> Rollout
where
    P: StateStore + Clock,
{
    caught_up(p, &mut r).await;
    let now = p.now();
    let _ = record_with(p, &r, Phase::RollingBack, now, |rec| {
        rec.outcome = Some(Outcome::RollbackFailed);
        rec.reason = Some(error.reason());
    })
    .await;
    let mut n = notification(&r, EventKind::RollbackFailed, now);
    n.reason = Some(format!("the rollback failed: {}", error.reason()));
    n.next_steps = vec![
        match r.env.load_balancer() {
            Some(lb) => format!(
                "Check listener {}: all traffic must go to the {} target group {}.",
                lb.listeners.production,
                r.live,
                lb.target_groups.get(r.live)
            ),
            None => format!(
                "Check the services in cluster {}: {} must run {} task(s), {} none.",
                r.env.cluster,
                r.env.services.get(r.live),
                r.desired,
                r.env.services.get(r.target)
            ),
        },
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
    default_topic: &Arn,
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
    .and_then(|t| Arn::parse(&t).ok())
    .unwrap_or_else(|| default_topic.clone());
    let rec = DeploymentRecord {
        ended_at: Some(now),
        outcome: Some(Outcome::Rejected),
        reason: Some(match error.code() {
            Some(ErrorCode::Queued) => format!(
                "gave up after waiting {} in the queue: {}",
                super::prepare::QUEUE_GIVE_UP,
                error.reason()
            ),
            _ => error.reason(),
        }),
        ..super::record::for_input(input, Phase::Done, now)
    };
    // A record that exists already is ended here if it is still open (a queue ticket of a
    // deployment that gave up waiting); a finished one is left as it is.
    let reason = rec.reason.clone();
    let _ = update(
        p,
        &input.deployment,
        || Some(rec.clone()),
        |r| {
            if r.outcome.is_some() {
                return false;
            }
            r.phase = Phase::Done;
            r.ended_at = Some(now);
            r.outcome = Some(Outcome::Rejected);
            r.reason = reason.clone();
            true
        },
    )
    .await;
    let mut n = Notification::new(EventKind::Rejected, &input.app, &input.environment, now);
    n.deployment = Some(input.deployment.clone());
    n.image = Some(input.image.to_string());
    n.tag = input.tag.clone();
    n.reason = rec.reason.clone();
    n.severity = match error.code() {
        Some(ErrorCode::LockHeld | ErrorCode::Queued) => Severity::Warn,
        _ => Severity::Error,
    };
    Notice::render(&topic, &n)
}

/// The deployment lost its environment's lock (its lease ran out while a step could not
/// run). It stops here without touching traffic, because another deployment may own the
/// listener now. Recorded (best effort) and announced as `critical`: a person must look.
pub async fn lock_lost<P>(p: &P, mut r: Rollout, error: &CaughtError) -> Rollout
where
    P: StateStore + Clock,
{
    caught_up(p, &mut r).await;
    let now = p.now();
    let _ = update(
        p,
        &r.deployment,
        || None,
        |rec| {
            if rec.outcome.is_some() {
                return false;
            }
            rec.phase = Phase::Done;
            rec.ended_at = Some(now);
            rec.outcome = Some(Outcome::LockLost);
            rec.reason = Some(error.reason());
            true
        },
    )
    .await;
    let mut n = notification(&r, EventKind::LockLost, now);
    n.reason = Some(format!(
        "stopped without touching traffic: {}",
        error.reason()
    ));
    n.next_steps = vec![
        format!(
            "Run `greenlight status {} --env {}` and check {}: traffic may still be split between {} and {}.",
            r.app,
            r.environment,
            r.env
                .listeners
                .as_ref()
                .map_or_else(|| format!("the services in cluster {}", r.env.cluster), |l| format!("listener {}", l.production)),
            r.live,
            r.target
        ),
        format!(
            "If it is split and no other deployment runs, run `greenlight rollback {} --env {}`.",
            r.app, r.environment
        ),
    ];
    r.notice = notice(&r, &n);
    r
}
