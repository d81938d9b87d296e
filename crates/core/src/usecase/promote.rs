//! promote and revert: the two things a person asks for by name. Promotion takes the newest
//! digest that succeeded in one environment through greenlight to the next; revert flips a finished
//! deployment back within its rollback window, or stops one in flight.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::arn::Arn;
use crate::config::{Colour, Config, Environment, Trigger};
use crate::errors::{ErrorCode, ErrorName};
use crate::image::{Digest, ImageRef};
use crate::matching::execution_name;
use crate::notify::{EventKind, Notification};
use crate::ports::{
    Clock, ContainerService, Executions, HealthState, ImageRegistry, LoadBalancer, LockOutcome,
    Notifier, Outcome, PortError, StartOutcome, StateStore, StopKind, TriggerInfo,
};
use crate::rollout::{StartInput, StepError};

use super::prepare::request_stop;
use super::{live_colour, set_and_verify, task_counts};

/// Why an operator's command (`promote`, `rollback`) did nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("{0}")]
    NotConfigured(String),
    /// The command's own rule refused it: the rule's error name, and why.
    #[error("{reason}")]
    Refused { code: ErrorCode, reason: String },
    #[error("{0}")]
    Step(#[from] StepError),
}

impl CommandError {
    pub fn promotion_refused(reason: impl Into<String>) -> Self {
        CommandError::Refused {
            code: ErrorCode::PromotionRefused,
            reason: reason.into(),
        }
    }

    pub fn revert_refused(reason: impl Into<String>) -> Self {
        CommandError::Refused {
            code: ErrorCode::RevertRefused,
            reason: reason.into(),
        }
    }
}

impl From<PortError> for CommandError {
    fn from(e: PortError) -> Self {
        CommandError::Step(e.into())
    }
}

impl ErrorName for CommandError {
    fn error_code(&self) -> ErrorCode {
        match self {
            CommandError::NotConfigured(_) => ErrorCode::NotConfigured,
            CommandError::Refused { code, .. } => *code,
            CommandError::Step(e) => e.code(),
        }
    }
}

/// What runs in an environment now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveImage {
    pub digest: Digest,
    pub image: String,
    pub healthy: bool,
    pub detail: String,
}

/// The colour serving all production traffic, its service, and the image (pinned to a
/// digest) that service runs.
pub async fn live_service<P>(
    p: &P,
    env: &Environment,
    container: &str,
) -> Result<(Colour, crate::ports::ServiceState, String, Digest), StepError>
where
    P: LoadBalancer + ContainerService,
{
    let live = live_colour(p, env).await?;
    let service = p
        .describe_service(&env.cluster, env.services.get(live))
        .await?;
    let image = p
        .container_image(&service.task_definition, container)
        .await?;
    let digest = image
        .rsplit_once('@')
        .and_then(|(_, d)| Digest::parse(d).ok())
        .ok_or_else(|| {
            StepError::InconsistentTraffic(format!(
                "the live colour runs `{image}`, which is not pinned to a digest"
            ))
        })?;
    Ok((live, service, image, digest))
}

/// The digest the live colour of `env` runs, and whether it is healthy.
pub async fn live_image<P>(
    p: &P,
    env: &Environment,
    container: &str,
) -> Result<LiveImage, StepError>
where
    P: LoadBalancer + ContainerService,
{
    let (live, service, image, digest) = live_service(p, env, container).await?;
    let running = service.desired > 0 && service.running >= service.desired;
    let Some(lb) = env.load_balancer() else {
        return Ok(LiveImage {
            digest,
            image,
            healthy: running,
            detail: format!(
                "{live}: {} of {} tasks running",
                service.running, service.desired
            ),
        });
    };
    let health = p.target_health(lb.target_groups.get(live)).await?;
    let healthy_targets = health
        .iter()
        .filter(|t| t.state == HealthState::Healthy)
        .count() as u32;
    Ok(LiveImage {
        digest,
        image,
        healthy: running && healthy_targets >= service.desired,
        detail: format!(
            "{live}: {} of {} tasks running, {healthy_targets} targets healthy",
            service.running, service.desired
        ),
    })
}

/// The one promotion rule: what goes from `from` is the newest digest that *succeeded*
/// there through greenlight — or `digest`, which must have succeeded there. A rollout still
/// running in `from` is not promoted from under it.
async fn promotable<P: StateStore>(
    p: &P,
    app: &str,
    from: &str,
    digest: Option<&Digest>,
) -> Result<Digest, CommandError> {
    if let Some(d) = digest {
        return if super::record::succeeded_in(p, app, from, d).await? {
            Ok(d.clone())
        } else {
            Err(CommandError::promotion_refused(format!(
                "{d} never succeeded in {app}/{from}; only a digest greenlight rolled out there successfully can be promoted"
            )))
        };
    }
    let history = p.history(app, from, 1000).await?;
    let succeeded = |d: &crate::ports::DeploymentRecord| d.outcome == Some(Outcome::Succeeded);
    let took: Vec<_> = history.iter().filter(|r| r.took_environment()).collect();
    if let Some(running) = took.first().filter(|r| r.outcome.is_none()) {
        return Err(CommandError::promotion_refused(format!(
            "{app}/{from} is rolling out {} ({}); promote after it succeeds, or pass --digest",
            running
                .tag
                .as_deref()
                .map_or_else(|| running.image.digest.to_string(), str::to_string),
            running.id
        )));
    }
    took.into_iter()
        .find(|r| succeeded(r))
        .map(|r| r.image.digest.clone())
        .ok_or_else(|| {
            CommandError::promotion_refused(format!(
                "nothing has succeeded in {app}/{from} yet; promote after a deployment there succeeds"
            ))
        })
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promotion {
    pub deployment: String,
    pub image: ImageRef,
    pub start: StartOutcome,
}

/// Starts the deployment of `from`'s live digest (or of `digest`, if it was live and
/// succeeded there) to `to`.
#[allow(clippy::too_many_arguments)]
pub async fn promote<P>(
    p: &P,
    config: &Config,
    state_machine: &Arn,
    app: &str,
    from: &str,
    to: &str,
    digest: Option<&Digest>,
    by: &str,
) -> Result<Promotion, CommandError>
where
    P: StateStore + LoadBalancer + ContainerService + ImageRegistry + Executions,
{
    let a = config
        .apps
        .get(app)
        .ok_or_else(|| CommandError::NotConfigured(format!("no app `{app}`")))?;
    if !a.environments.contains_key(from) {
        return Err(CommandError::NotConfigured(format!(
            "no environment {app}/{from}"
        )));
    }
    let target = a
        .environments
        .get(to)
        .ok_or_else(|| CommandError::NotConfigured(format!("no environment {app}/{to}")))?;
    if target.trigger != Trigger::PromoteFrom(from.to_string()) {
        return Err(CommandError::promotion_refused(format!(
            "{app}/{to} does not take promotions from `{from}` (see its trigger)"
        )));
    }
    let chosen = promotable(p, app, from, digest).await?;
    // Promoting what the target runs already starts nothing.
    let session = super::reach::session_name(&format!("promote-by-{by}"));
    let there = super::reach::ports_for(p, target, &session)?;
    if let Ok(running) = live_image(&*there, target, &a.container).await {
        if running.digest == chosen {
            return Err(CommandError::promotion_refused(format!(
                "{app}/{to} already runs {chosen}; nothing to promote"
            )));
        }
    }
    let image = ImageRef {
        repository: a.repository.clone(),
        digest: chosen.clone(),
    };
    // A deliberate new promotion of a digest tried before is a new attempt (Step Functions
    // refuses an execution name used within 90 days).
    let tried = p
        .history(app, to, 1000)
        .await?
        .iter()
        .filter(|r| r.image.digest == chosen)
        .count() as u32;
    let deployment = execution_name(app, to, &chosen, tried + 1);
    // The tag people know the image by, if it still has one (for notifications).
    let tag = match p.image_by_digest(&a.repository, &chosen).await {
        Ok(info) => info.tags.into_iter().next(),
        Err(PortError::NotFound { .. }) => {
            return Err(CommandError::promotion_refused(format!(
                "{}@{chosen} is no longer in ECR",
                a.repository
            )))
        }
        Err(e) => return Err(e.into()),
    };
    let input = StartInput {
        deployment: deployment.clone(),
        app: app.to_string(),
        environment: to.to_string(),
        image: image.clone(),
        tag,
        trigger: TriggerInfo::Promotion {
            from: from.to_string(),
            by: by.to_string(),
        },
    };
    let start = p
        .start(
            state_machine,
            &deployment,
            &serde_json::to_value(&input).expect("serializes"),
        )
        .await?;
    Ok(Promotion {
        deployment,
        image,
        start,
    })
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Reverted {
    /// A deployment was running: it was asked to stop and will roll back by itself.
    StopRequested { deployment: String },
    /// Traffic went back to the previous colour.
    Flipped {
        deployment: String,
        to: crate::config::Colour,
    },
}

/// `greenlight rollback APP --env ENV`.
pub async fn revert<P>(
    p: &P,
    config: &Config,
    topic: &Arn,
    state_machine: Option<&Arn>,
    app: &str,
    environment: &str,
    by: &str,
) -> Result<Reverted, CommandError>
where
    P: StateStore + LoadBalancer + ContainerService + Executions + Notifier + Clock,
{
    let (_, env) = config.environment(app, environment).ok_or_else(|| {
        CommandError::NotConfigured(format!("no environment {app}/{environment}"))
    })?;
    let now: DateTime<Utc> = p.now();
    let me = format!(
        "revert-by-{}",
        by.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect::<String>()
    );
    // Taking the lock again as the same owner is allowed, so a try whose answer was lost
    // (it may have taken the lock) is simply made again; a lock that may be ours is
    // released before an error is reported.
    let mut tries = 0;
    let taken = loop {
        tries += 1;
        match p
            .acquire_lock(app, environment, &me, crate::Duration::from_mins(10), now)
            .await
        {
            Err(e) if e.is_retryable() && tries < 4 => continue,
            Err(e) => {
                super::record::release_quietly(p, app, environment, &me).await;
                return Err(e.into());
            }
            Ok(taken) => break taken,
        }
    };
    // A lock whose execution is no longer running (stopped, failed, timed out) was left
    // by a dead deployment: it is released, so the environment can be healed now instead
    // of when its lease ends.
    let taken = match (taken, state_machine) {
        (LockOutcome::Held { lock }, Some(sm)) => {
            if still_running(p, sm, &lock.owner).await? {
                LockOutcome::Held { lock }
            } else {
                p.release_lock(app, environment, &lock.owner).await?;
                p.acquire_lock(app, environment, &me, crate::Duration::from_mins(10), now)
                    .await?
            }
        }
        (taken, _) => taken,
    };
    match taken {
        LockOutcome::Held { lock } => {
            request_stop(p, &lock.owner, by, StopKind::Abort).await?;
            return Ok(Reverted::StopRequested {
                deployment: lock.owner,
            });
        }
        LockOutcome::Acquired { .. } => {}
    }
    let result = match super::reach::ports_for(p, env, &me) {
        Ok(there) => flip_back(&*there, env, topic, app, environment, by, now).await,
        Err(e) => Err(e.into()),
    };
    super::record::release_quietly(p, app, environment, &me).await;
    result
}

/// The watched rollback window: an alarm of the environment fired after `r` succeeded,
/// while its old colour is still warm. Traffic goes back to the old colour (verified), the
/// deployment is recorded `reverted` with `cause`, and the topic is told — the same flip as
/// `greenlight rollback`. Nothing is done (`None`) when a later deployment holds the
/// environment or has replaced this one, or when this one is no longer the live
/// success (an operator reverted it already): the alarm is then theirs to act on.
pub async fn revert_in_window<P>(
    p: &P,
    r: &crate::rollout::Rollout,
    cause: &str,
) -> Result<Option<Reverted>, CommandError>
where
    P: StateStore + LoadBalancer + ContainerService + Notifier + Clock,
{
    let (app, environment) = (r.app.as_str(), r.environment.as_str());
    let latest = super::record::latest(p, app, environment).await?;
    if !latest.is_some_and(|l| l.id == r.deployment && l.outcome == Some(Outcome::Succeeded)) {
        return Ok(None);
    }
    let topic = Arn::parse(&r.topic).map_err(|e| StepError::InvalidInput(e.to_string()))?;
    let now = p.now();
    let me = format!("revert-{}", r.deployment);
    match p
        .acquire_lock(app, environment, &me, crate::Duration::from_mins(10), now)
        .await
    {
        Ok(LockOutcome::Acquired { .. }) => {}
        Ok(LockOutcome::Held { .. }) => return Ok(None),
        Err(e) => {
            super::record::release_quietly(p, app, environment, &me).await;
            return Err(e.into());
        }
    }
    let by = format!("the rollback window's watch ({cause})");
    let result = match super::reach::ports_for(p, &r.env, &me) {
        Ok(there) => flip_back(&*there, &r.env, &topic, app, environment, &by, now).await,
        Err(e) => Err(e.into()),
    };
    super::record::release_quietly(p, app, environment, &me).await;
    result.map(Some)
}

/// Whether the execution named `owner` runs (true when it cannot be found: the owner may
/// be something else than an execution, such as another operator's rollback).
async fn still_running<P: Executions>(p: &P, sm: &Arn, owner: &str) -> Result<bool, PortError> {
    let Some(arn) = crate::arn::execution_arn(sm, owner) else {
        return Ok(true);
    };
    match p.describe(&arn).await {
        Ok(info) => Ok(info.status == crate::ports::ExecutionStatus::Running),
        Err(PortError::NotFound { .. }) => Ok(true),
        Err(e) => Err(e),
    }
}

async fn flip_back<P>(
    p: &P,
    env: &Environment,
    topic: &Arn,
    app: &str,
    environment: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Reverted, CommandError>
where
    P: StateStore + LoadBalancer + ContainerService + Notifier,
{
    let last = super::record::latest(p, app, environment)
        .await?
        .ok_or_else(|| {
            CommandError::revert_refused(format!(
                "{app}/{environment} has no deployment to roll back"
            ))
        })?;
    let colour = last.colour.ok_or_else(|| {
        CommandError::revert_refused(format!("{} has no colour recorded", last.id))
    })?;
    // A deployment that never ended although we hold its environment's lock was
    // interrupted: its execution was stopped or timed out, or its lease ran out. It may
    // have left traffic split; its colour goes back to the one that was live before it.
    let interrupted = last.outcome.is_none();
    if !interrupted {
        if last.outcome != Some(Outcome::Succeeded) {
            return Err(CommandError::revert_refused(format!(
                "the last deployment {} did not succeed ({}); nothing to roll back",
                last.id,
                last.outcome.map_or("still running", |o| o.as_str())
            )));
        }
        match last.rollback_until {
            Some(until) if until > now => {}
            _ => {
                return Err(CommandError::revert_refused(format!(
                    "the rollback window of {} has closed; deploy the previous digest instead",
                    last.id
                )))
            }
        }
        if live_colour(p, env).await? != colour {
            return Err(CommandError::revert_refused(format!(
                "{colour} does not serve {app}/{environment} any more"
            )));
        }
    }
    let previous = colour.other();
    let total = match env.load_balancer() {
        Some(lb) => {
            let service = p
                .describe_service(&env.cluster, env.services.get(previous))
                .await?;
            let health = p.target_health(lb.target_groups.get(previous)).await?;
            let healthy = health
                .iter()
                .filter(|t| t.state == HealthState::Healthy)
                .count() as u32;
            if service.desired == 0
                || service.running < service.desired
                || healthy < service.desired
            {
                return Err(CommandError::revert_refused(format!(
                    "{previous} is not warm ({} of {} tasks, {healthy} healthy targets); deploy the previous digest instead",
                    service.running, service.desired
                )));
            }
            service.desired
        }
        // A worker's previous colour is not kept warm (its tasks would take work): it is
        // scaled back to the tasks the environment runs now, on the revision it still has.
        None => {
            let (blue, green) = task_counts(p, env).await?;
            (blue + green).max(1)
        }
    };
    set_and_verify(p, env, previous, 100, total).await?;
    if interrupted {
        // Nothing will ever need the interrupted deployment's colour.
        p.update_service(&env.cluster, env.services.get(colour), None, Some(0))
            .await?;
    }
    let reason = if interrupted {
        format!("interrupted before it ended; rolled back by {by}: traffic is back on {previous}")
    } else {
        format!("rolled back by {by}: traffic is back on {previous}")
    };
    super::record::update(
        p,
        &last.id,
        || None,
        |rec| {
            if interrupted {
                rec.outcome = Some(Outcome::Aborted);
                rec.ended_at = Some(now);
                rec.phase = crate::ports::Phase::Done;
            } else {
                rec.outcome = Some(Outcome::Reverted);
                rec.reverted_at = Some(now);
            }
            rec.reason = Some(reason.clone());
            rec.rollback_until = None;
            true
        },
    )
    .await?;
    let mut n = Notification::new(EventKind::RolledBack, app, environment, now);
    n.deployment = Some(last.id.clone());
    n.image = Some(last.image.to_string());
    n.tag = last.tag.clone();
    n.reason = Some(reason);
    let topic = env.notifications.as_ref().map_or(topic, |n| &n.topic);
    p.publish(topic, &n).await?;
    Ok(Reverted::Flipped {
        deployment: last.id,
        to: previous,
    })
}
