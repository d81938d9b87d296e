//! prepare: validate the request, take the environment's lock (or apply its concurrency
//! policy), read the live colour, check the image, register the new task definition.
//! Nothing is left behind on failure: a lock taken here is released before the error
//! returns.

use crate::config::{Concurrency, Trigger};
use crate::errors::ErrorCode;
use crate::notify::EventKind;
use crate::ports::{
    Alarms, Clock, ContainerService, Executions, ImageRegistry, LoadBalancer, LockOutcome, Phase,
    PortError, StateStore, StopKind, TokenPurpose, TriggerInfo,
};
use crate::rollout::{deadline, Control, Rollout, StartInput, StepError};

use super::{live_colour, notice, notification, record};

/// How long a lock lasts without its holder: everything the rollout could take, plus an
/// hour. A holder that dies frees the environment when this runs out.
pub fn lease(env: &crate::config::Environment) -> crate::Duration {
    use crate::Duration;
    let c = &env.checks;
    let plan = env.plan().map_or(Duration::ZERO, |p| {
        p.total_bake()
            .saturating_add(c.interval.saturating_mul(p.steps.len() as u64))
    });
    let approval = if env.approval.required {
        env.approval.timeout
    } else {
        Duration::ZERO
    };
    let pre_traffic = c.interval.saturating_mul(u64::from(c.failure_threshold));
    c.stable_timeout
        .saturating_add(pre_traffic)
        .saturating_add(approval)
        .saturating_add(plan)
        .saturating_add(Duration::from_secs(3600))
}

pub async fn prepare<P>(p: &P, input: StartInput, default_topic: &str) -> Result<Rollout, StepError>
where
    P: StateStore + LoadBalancer + ImageRegistry + ContainerService + Alarms + Executions + Clock,
{
    prepare_in(p, input, default_topic, None).await
}

/// [`prepare`] inside the stack's state machine (`state_machine`, its ARN): the rollout
/// carries its execution's ARN, which its notifications link to.
pub async fn prepare_in<P>(
    p: &P,
    input: StartInput,
    default_topic: &str,
    state_machine: Option<&str>,
) -> Result<Rollout, StepError>
where
    P: StateStore + LoadBalancer + ImageRegistry + ContainerService + Alarms + Executions + Clock,
{
    if input.deployment.is_empty() || input.app.is_empty() || input.environment.is_empty() {
        return Err(StepError::InvalidInput(
            "deployment, app and environment must not be empty".into(),
        ));
    }
    let stored = p.get_config().await?.ok_or_else(|| {
        StepError::NotConfigured(
            "no configuration is stored; run `greenlight config apply greenlight.yaml`".into(),
        )
    })?;
    let (app, env) = stored
        .config
        .environment(&input.app, &input.environment)
        .ok_or_else(|| {
            StepError::NotConfigured(format!(
                "{}/{} is not configured",
                input.app, input.environment
            ))
        })?;
    if app.repository != input.image.repository {
        return Err(StepError::InvalidInput(format!(
            "image {} is not from {}'s repository `{}`",
            input.image, input.app, app.repository
        )));
    }
    provenance(p, &input, &env.trigger).await?;
    let env = env.clone();
    let now = p.now();

    match p
        .acquire_lock(
            &input.app,
            &input.environment,
            &input.deployment,
            lease(&env),
            now,
        )
        .await?
    {
        LockOutcome::Acquired { .. } => {
            // First in, first out: a free lock goes to the oldest deployment waiting for
            // it, not to whoever retries first.
            if env.concurrency == Concurrency::Queue {
                if let Some(older) = older_waiter(p, &input, now).await? {
                    super::record::release_quietly(
                        p,
                        &input.app,
                        &input.environment,
                        &input.deployment,
                    )
                    .await;
                    take_ticket(p, &input, now).await?;
                    return Err(StepError::Queued {
                        app: input.app,
                        environment: input.environment,
                        owner: older,
                    });
                }
            }
        }
        LockOutcome::Held { lock } => {
            return Err(match env.concurrency {
                Concurrency::Reject => StepError::LockHeld {
                    app: input.app,
                    environment: input.environment,
                    owner: lock.owner,
                    until: lock.expires_at,
                },
                Concurrency::Queue => {
                    take_ticket(p, &input, now).await?;
                    StepError::Queued {
                        app: input.app,
                        environment: input.environment,
                        owner: lock.owner,
                    }
                }
                Concurrency::Supersede => {
                    request_stop(p, &lock.owner, &input.deployment, StopKind::Supersede).await?;
                    StepError::Queued {
                        app: input.app,
                        environment: input.environment,
                        owner: lock.owner,
                    }
                }
            });
        }
    }

    let container = app.container.clone();
    let execution = state_machine
        .and_then(|sm| crate::arn::Arn::parse(sm).ok())
        .and_then(|sm| crate::arn::execution_arn(&sm, &input.deployment));
    match locked(p, &input, env, &container, default_topic, execution).await {
        Ok(r) => Ok(r),
        Err(e) => {
            super::record::release_quietly(p, &input.app, &input.environment, &input.deployment)
                .await;
            Err(e)
        }
    }
}

/// How long a deployment waits in the queue before it gives up (the state machine's retries
/// of `Greenlight.Queued`: every 10 s, 720 times).
pub const QUEUE_GIVE_UP: crate::Duration = crate::Duration::from_secs(2 * 3600);

/// Records this deployment's place in the queue (once): a `queued` record whose
/// `started_at` is when it first asked.
async fn take_ticket<P: StateStore>(
    p: &P,
    input: &StartInput,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StepError> {
    let ticket = super::record::for_input(input, Phase::Queued, now);
    super::record::update(p, &input.deployment, || Some(ticket.clone()), |_| false).await?;
    Ok(())
}

/// The oldest deployment still waiting in the queue ahead of this one, if any (tickets
/// older than the give-up time belong to deployments that gave up or died).
async fn older_waiter<P: StateStore>(
    p: &P,
    input: &StartInput,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<String>, StepError> {
    let history = p.history(&input.app, &input.environment, 200).await?;
    let mine = history
        .iter()
        .find(|r| r.id == input.deployment)
        .map_or(now, |r| r.started_at);
    let cutoff = now - chrono::TimeDelta::seconds(QUEUE_GIVE_UP.as_secs() as i64 + 60);
    Ok(history
        .iter()
        .filter(|r| {
            r.phase == Phase::Queued
                && r.outcome.is_none()
                && r.id != input.deployment
                && r.started_at > cutoff
                && (r.started_at, &r.id) < (mine, &input.deployment)
        })
        .min_by(|a, b| (a.started_at, &a.id).cmp(&(b.started_at, &b.id)))
        .map(|r| r.id.clone()))
}

/// Re-proves, from the state store and ECR, that this digest may enter this environment:
/// the execution's input is never trusted on its word, so a hand-started execution with a
/// forged trigger deploys nothing.
/// - a push: the environment deploys on push, the tag matches its patterns, and the tag
///   points at this digest in ECR now;
/// - a promotion: the environment takes promotions from `from`, and the digest succeeded
///   there through greenlight;
/// - anything else (`manual`): the digest succeeded in this environment before.
pub async fn provenance<P>(p: &P, input: &StartInput, trigger: &Trigger) -> Result<(), StepError>
where
    P: StateStore + ImageRegistry,
{
    let (app, environment) = (&input.app, &input.environment);
    let refuse = |why: String| Err(StepError::ProvenanceRefused(why));
    match (&input.trigger, trigger) {
        (TriggerInfo::Push { tag, .. }, Trigger::OnPush(on_push)) => {
            let Some(tag) = tag.as_deref().filter(|t| Some(*t) == input.tag.as_deref()) else {
                return refuse(format!(
                    "a push to {app}/{environment} must name its tag, the same in the trigger and the input"
                ));
            };
            if on_push.pattern_for(tag).is_none() {
                return refuse(format!(
                    "tag `{tag}` matches none of {app}/{environment}'s patterns ({})",
                    on_push.tags.join(", ")
                ));
            }
            match p.image_by_tag(&input.image.repository, tag).await {
                Ok(info) if info.image.digest == input.image.digest => Ok(()),
                Ok(info) => refuse(format!(
                    "tag `{tag}` points at {}, not {}",
                    info.image.digest, input.image.digest
                )),
                Err(PortError::NotFound { .. }) => refuse(format!(
                    "tag `{tag}` is not in repository `{}`",
                    input.image.repository
                )),
                Err(e) => Err(e.into()),
            }
        }
        (TriggerInfo::Push { .. }, Trigger::PromoteFrom(source)) => refuse(format!(
            "{app}/{environment} deploys only by promotion from `{source}`"
        )),
        (TriggerInfo::Promotion { from, .. }, Trigger::PromoteFrom(source)) => {
            if from != source {
                return refuse(format!(
                    "{app}/{environment} takes promotions from `{source}`, not `{from}`"
                ));
            }
            if !super::record::succeeded_in(p, app, from, &input.image.digest).await? {
                return refuse(format!(
                    "{} never succeeded in {app}/{from}",
                    input.image.digest
                ));
            }
            Ok(())
        }
        (TriggerInfo::Promotion { from, .. }, Trigger::OnPush(_)) => refuse(format!(
            "{app}/{environment} deploys on push; it takes no promotion from `{from}`"
        )),
        (TriggerInfo::Manual { .. }, _) => {
            if super::record::succeeded_in(p, app, environment, &input.image.digest).await? {
                Ok(())
            } else {
                refuse(format!(
                    "a manual deployment may only bring back a digest that succeeded in {app}/{environment} before; {} never did",
                    input.image.digest
                ))
            }
        }
    }
}

/// Asks a running deployment to stop: marks its record (its next step rolls it back) and
/// fails whatever it is waiting on, so it notices now rather than at its next check.
pub async fn request_stop<P>(
    p: &P,
    deployment: &str,
    by: &str,
    kind: StopKind,
) -> Result<(), StepError>
where
    P: StateStore + Executions,
{
    super::record::mark_stop(p, deployment, by, kind).await?;
    let (code, cause) = match kind {
        StopKind::Supersede => (ErrorCode::Superseded, format!("superseded by {by}")),
        StopKind::Abort => (ErrorCode::Aborted, format!("stopped by {by}")),
    };
    for purpose in [TokenPurpose::Bake, TokenPurpose::Approval] {
        if let Some(token) = p.get_task_token(deployment, purpose).await? {
            match p.send_task_failure(&token, code.as_str(), &cause).await {
                // A token that timed out already is no longer waited on: nothing to stop.
                Ok(()) | Err(PortError::NotFound { .. }) | Err(PortError::Invalid { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            p.delete_task_token(deployment, purpose).await?;
        }
    }
    Ok(())
}

/// The image is in ECR, and what its OCI labels say of its source. The labels only inform
/// (notifications, history, lead time from the build): an image without them, or whose
/// labels cannot be read, deploys all the same.
async fn image_source<P: ImageRegistry>(
    p: &P,
    input: &StartInput,
) -> Result<crate::ports::ImageSource, StepError> {
    match p
        .image_by_digest(&input.image.repository, &input.image.digest)
        .await
    {
        Ok(_) => {}
        Err(PortError::NotFound { .. }) => {
            return Err(StepError::ImageNotFound(input.image.to_string()))
        }
        Err(e) => return Err(e.into()),
    }
    Ok(p.image_labels(&input.image.repository, &input.image.digest)
        .await
        .map(|labels| crate::ports::ImageSource::from_labels(&labels))
        .unwrap_or_default())
}

/// The repository URI the new task definition pulls the digest from. In the stack's own
/// account and region: the app's repository. For an environment elsewhere (`there`, its
/// ports): a replica in its own registry (ECR replication; the same digest), else the app's
/// repository when it is in the environment's account or its policy lets that account pull.
/// Anything else is refused before anything is changed, naming the two fixes.
async fn pull_from<P: ImageRegistry>(
    home: &P,
    there: &P,
    env: &crate::config::Environment,
    input: &StartInput,
) -> Result<String, StepError> {
    let repository = &input.image.repository;
    let Some(place) = env.place() else {
        return Ok(home.repository_uri(repository).await?);
    };
    match there.image_by_digest(repository, &input.image.digest).await {
        Ok(_) => return Ok(there.repository_uri(repository).await?),
        Err(PortError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let uri = home.repository_uri(repository).await?;
    let registry = uri.split('.').next().unwrap_or_default();
    if registry == place.account {
        return Ok(uri);
    }
    let policy = home.repository_policy(repository).await?;
    if policy
        .as_deref()
        .is_some_and(|p| super::reach::grants_pull(p, &place.account))
    {
        return Ok(uri);
    }
    Err(StepError::NotConfigured(format!(
        "{} can't be pulled in account {} ({}): repository `{repository}` of account {registry} has no policy letting account {} pull ({}), and account {}'s registry in {} has no replica of it. Replicate the repository there (ECR replication), or add a statement to its repository policy allowing arn:aws:iam::{}:root both actions",
        input.image.digest,
        place.account,
        place.region,
        place.account,
        super::reach::PULL_ACTIONS.join(", "),
        place.account,
        place.region,
        place.account,
    )))
}

async fn locked<P>(
    p: &P,
    input: &StartInput,
    env: crate::config::Environment,
    app_container: &str,
    default_topic: &str,
    execution: Option<String>,
) -> Result<Rollout, StepError>
where
    P: StateStore + LoadBalancer + ImageRegistry + ContainerService + Alarms + Clock,
{
    let now = p.now();
    let source = image_source(p, input).await?;
    let home = p;
    let p = &*super::reach::ports_for(p, &env, &input.deployment)?;
    let live = live_colour(p, &env).await?;
    let target = live.other();
    if !env.checks.alarms.is_empty() {
        let found = p.alarm_states(&env.checks.alarms).await?;
        let missing: Vec<&str> = env
            .checks
            .alarms
            .iter()
            .filter(|a| !found.iter().any(|f| &f.name == *a))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(StepError::NotConfigured(format!(
                "CloudWatch alarm(s) not found: {}",
                missing.join(", ")
            )));
        }
    }
    let live_service = p
        .describe_service(&env.cluster, env.services.get(live))
        .await?;
    let uri = pull_from(home, p, &env, input).await?;
    let task_definition = p
        .register_with_image(
            &live_service.task_definition,
            app_container,
            &input.image.pull_reference(&uri),
        )
        .await
        .map_err(|e| match e {
            PortError::NotFound { what } => {
                StepError::NotConfigured(format!("{what}; check `container` in greenlight.yaml"))
            }
            e => e.into(),
        })?;
    let plan = env
        .plan()
        .map_err(|e| StepError::NotConfigured(e.to_string()))?;
    let topic = env
        .notifications
        .as_ref()
        .map_or_else(|| default_topic.to_string(), |n| n.topic.to_string());
    let stable_deadline = deadline(now, env.checks.stable_timeout, "checks.stable_timeout")?;
    let control = Control {
        approval_required: env.approval.required,
        approve_on_timeout: env.approval.on_timeout == crate::config::TimeoutAction::Approve,
        approval_timeout_seconds: env.approval.timeout.as_secs().max(1),
        interval_seconds: env.checks.interval.as_secs().max(1),
        rollback_window_seconds: env.rollback_window.as_secs(),
        watch_window: env.rollback_window_watch && !env.rollback_window.is_zero(),
        window_left_seconds: env.rollback_window.as_secs(),
        steps_remaining: true,
        ..Control::default()
    };
    let mut r = Rollout {
        deployment: input.deployment.clone(),
        app: input.app.clone(),
        environment: input.environment.clone(),
        image: input.image.clone(),
        tag: input.tag.clone(),
        trigger: input.trigger.clone(),
        live,
        target,
        live_task_definition: live_service.task_definition.clone(),
        task_definition,
        // A live colour scaled to zero still deploys one task, so that there is something
        // to check.
        desired: live_service.desired.max(1),
        plan,
        step: 0,
        weight: 0,
        failures: 0,
        started_at: now,
        stable_deadline,
        bake_until: None,
        window_until: None,
        shifted_at: None,
        checked_at: None,
        analysis: None,
        topic,
        // A worker service has no listener to restore: its last resort is the escalation.
        restore: env
            .load_balancer()
            .map(|lb| crate::rollout::Restore {
                listener: lb.listeners.production.to_string(),
                target_group: lb.target_groups.get(live).to_string(),
            })
            .unwrap_or_default(),
        control,
        step_result: None,
        traffic: None,
        notice: None,
        execution,
        source,
        env,
    };
    super::tick::set_timeouts(&mut r);
    record(p, &r, Phase::Deploying, now).await?;
    // The prepare function announces `started` itself (`notices::announce_once`). The
    // rendered notice still rides in the rollout for an execution started under a
    // definition that publishes it from an `sns:publish` state (one in flight while the
    // stack is updated).
    r.notice = notice(&r, &notification(&r, EventKind::Started, now));
    Ok(r)
}
