//! The deployment record and the environment's lock, as every rollout step sees them.
//!
//! Records are written under their version (`StateStore::put_deployment`): a step that read
//! version 3 cannot overwrite a stop request written as version 4 in between; it reads
//! again and applies its change again. Every step that acts first renews the lock's lease
//! and checks that nobody asked it to stop ([`guard`]).

use chrono::{DateTime, Utc};

use crate::ports::{DeploymentRecord, Phase, PortError, StateStore, StopKind, StopRequest};
use crate::rollout::{Rollout, StepError};

/// How many times a write re-reads after losing a race, or tries again after a transient
/// failure, before giving up.
const ATTEMPTS: usize = 8;

/// Reads record `id`, applies `change`, writes it under the version read. When the record
/// is missing, `fresh` makes it (or nothing is written when `fresh` gives `None`). When
/// `change` reports no change, nothing is written. Returns the record as stored.
pub async fn update<S: StateStore>(
    store: &S,
    id: &str,
    fresh: impl Fn() -> Option<DeploymentRecord>,
    change: impl Fn(&mut DeploymentRecord) -> bool,
) -> Result<Option<DeploymentRecord>, PortError> {
    for attempt in 1..=ATTEMPTS {
        // A throttled or failed call is tried again here too: an outcome that is never
        // written leaves a deployment that "never ended".
        let more = attempt < ATTEMPTS;
        let stored = match store.get_deployment(id).await {
            Ok(r) => r,
            Err(e) if e.is_retryable() && more => continue,
            Err(e) => return Err(e),
        };
        let (mut rec, created) = match stored {
            Some(rec) => (rec, false),
            None => match fresh() {
                Some(rec) => (DeploymentRecord { version: 0, ..rec }, true),
                None => return Ok(None),
            },
        };
        if !change(&mut rec) && !created {
            return Ok(Some(rec));
        }
        match store.put_deployment(&rec).await {
            Ok(version) => {
                rec.version = version;
                return Ok(Some(rec));
            }
            Err(PortError::Conflict { .. }) => continue,
            Err(e) if e.is_retryable() && more => continue,
            Err(e) => return Err(e),
        }
    }
    Err(PortError::Unavailable {
        operation: "put deployment record".into(),
        message: format!("record {id} kept changing while being written; retry"),
    })
}

/// The record of a rollout that has taken its environment: what [`for_input`] records,
/// with the colour, revision and weight it deploys.
fn fresh_record(r: &Rollout, phase: Phase) -> DeploymentRecord {
    let input = crate::rollout::StartInput {
        deployment: r.deployment.clone(),
        app: r.app.clone(),
        environment: r.environment.clone(),
        image: r.image.clone(),
        tag: r.tag.clone(),
        trigger: r.trigger.clone(),
    };
    DeploymentRecord {
        colour: Some(r.target),
        task_definition: Some(r.task_definition.clone()),
        weight: r.weight,
        source: r.source.clone(),
        ..for_input(&input, phase, r.started_at)
    }
}

/// The record of a deployment that has not taken its environment (yet): a queue ticket, or
/// a refusal. No colour, so it never counts as the environment's latest deployment.
pub fn for_input(
    input: &crate::rollout::StartInput,
    phase: Phase,
    now: DateTime<Utc>,
) -> DeploymentRecord {
    DeploymentRecord {
        announced: Vec::new(),
        id: input.deployment.clone(),
        app: input.app.clone(),
        environment: input.environment.clone(),
        image: input.image.clone(),
        tag: input.tag.clone(),
        trigger: input.trigger.clone(),
        phase,
        colour: None,
        task_definition: None,
        weight: 0,
        started_at: now,
        ended_at: None,
        outcome: None,
        reason: None,
        reverted_at: None,
        rollback_until: None,
        stop_requested: None,
        analysis: None,
        approved_by: None,
        source: Default::default(),
        version: 0,
    }
}

/// Whether `digest` has a `succeeded` deployment in (app, environment): what promotion and
/// provenance both require.
pub async fn succeeded_in<S: StateStore>(
    store: &S,
    app: &str,
    environment: &str,
    digest: &crate::image::Digest,
) -> Result<bool, PortError> {
    Ok(store
        .history(app, environment, 1000)
        .await?
        .iter()
        .any(|r| r.image.digest == *digest && r.outcome == Some(crate::ports::Outcome::Succeeded)))
}

/// Updates the deployment record of a rollout (creating it if missing) with its phase,
/// weight, colour and revision, then applies `more`.
pub async fn record_with<S: StateStore>(
    store: &S,
    r: &Rollout,
    phase: Phase,
    now: DateTime<Utc>,
    more: impl Fn(&mut DeploymentRecord),
) -> Result<DeploymentRecord, PortError> {
    let rec = update(
        store,
        &r.deployment,
        || Some(fresh_record(r, phase)),
        |rec| {
            rec.phase = phase;
            rec.weight = r.weight;
            rec.colour = Some(r.target);
            rec.task_definition = Some(r.task_definition.clone());
            if !r.source.is_empty() {
                rec.source = r.source.clone();
            }
            if r.analysis.is_some() {
                rec.analysis = r.analysis.clone();
            }
            if rec.ended_at.is_none() && phase == Phase::Done {
                rec.ended_at = Some(now);
            }
            more(rec);
            true
        },
    )
    .await?;
    // `fresh` always gives a record, so `update` always returns one.
    Ok(rec.unwrap_or_else(|| fresh_record(r, phase)))
}

/// Updates the deployment record of a rollout (creating it if missing).
pub async fn record<S: StateStore>(
    store: &S,
    r: &Rollout,
    phase: Phase,
    now: DateTime<Utc>,
) -> Result<DeploymentRecord, PortError> {
    record_with(store, r, phase, now, |_| {}).await
}

/// Marks a running deployment as asked to stop. Returns whether the mark is (now) there;
/// a finished deployment is left alone.
pub async fn mark_stop<S: StateStore>(
    store: &S,
    deployment: &str,
    by: &str,
    kind: StopKind,
) -> Result<bool, PortError> {
    let rec = update(
        store,
        deployment,
        || None,
        |rec| {
            if rec.stop_requested.is_some() || rec.outcome.is_some() {
                return false;
            }
            rec.stop_requested = Some(StopRequest {
                by: by.to_string(),
                kind,
            });
            true
        },
    )
    .await?;
    Ok(rec.is_some_and(|r| r.stop_requested.is_some() && r.outcome.is_none()))
}

/// Fails with `Superseded` or `Aborted` when someone asked this deployment to stop.
pub async fn ensure_not_stopped(store: &impl StateStore, r: &Rollout) -> Result<(), StepError> {
    if let Some(rec) = store.get_deployment(&r.deployment).await? {
        if let Some(stop) = rec.stop_requested {
            return Err(match stop.kind {
                StopKind::Supersede => StepError::Superseded(stop.by),
                StopKind::Abort => StepError::Aborted(stop.by),
            });
        }
    }
    Ok(())
}

/// Renews this deployment's lease on its environment's lock. `LockLost` when the lock is
/// no longer its own: another deployment may own the listener now, so nothing may be
/// touched.
pub async fn hold_lock<S>(store: &S, r: &Rollout) -> Result<(), StepError>
where
    S: StateStore + crate::ports::Clock,
{
    let lease = super::prepare::lease(&r.env);
    match store
        .renew_lock(&r.app, &r.environment, &r.deployment, lease, store.now())
        .await
    {
        Ok(_) => Ok(()),
        Err(PortError::Conflict { .. }) => {
            let holder = store.get_lock(&r.app, &r.environment).await.ok().flatten();
            Err(lock_lost(r, holder_of(holder.as_ref())))
        }
        Err(e) => Err(e.into()),
    }
}

/// Who holds a lock that is no longer this deployment's, for `LockLost`'s detail.
fn holder_of(lock: Option<&crate::ports::Lock>) -> String {
    match lock {
        Some(l) => format!("deployment {} holds it now", l.owner),
        None => "nobody holds it: it was released".into(),
    }
}

fn lock_lost(r: &Rollout, detail: String) -> StepError {
    StepError::LockLost {
        app: r.app.clone(),
        environment: r.environment.clone(),
        detail,
    }
}

/// What every step that acts does first: keep the lock, and stop if asked to.
pub async fn guard<S>(store: &S, r: &Rollout) -> Result<(), StepError>
where
    S: StateStore + crate::ports::Clock,
{
    hold_lock(store, r).await?;
    ensure_not_stopped(store, r).await
}

/// What every round of checks does first: the lock still this deployment's, and stop if
/// asked to. A round reads the lock (consistently) instead of renewing it: the step that
/// started the wait renewed the lease, which covers everything the rollout could take and
/// an hour ([`super::prepare::lease`]), and a round runs every interval — a read unit each
/// instead of a write. A lease run out counts as lost.
pub async fn guard_round<S>(store: &S, r: &Rollout) -> Result<(), StepError>
where
    S: StateStore + crate::ports::Clock,
{
    let lock = store.get_lock(&r.app, &r.environment).await?;
    match lock {
        Some(l) if l.owner == r.deployment && l.expires_at > store.now() => {}
        Some(l) if l.owner == r.deployment => {
            let at = l.expires_at.format("%Y-%m-%dT%H:%M:%SZ");
            return Err(lock_lost(r, format!("its lease ran out at {at}")));
        }
        other => return Err(lock_lost(r, holder_of(other.as_ref()))),
    }
    ensure_not_stopped(store, r).await
}

/// The newest deployment of (app, environment) that took the environment; refused
/// requests are skipped.
pub async fn latest<S: StateStore>(
    store: &S,
    app: &str,
    environment: &str,
) -> Result<Option<DeploymentRecord>, PortError> {
    Ok(store
        .history(app, environment, 50)
        .await?
        .into_iter()
        .find(DeploymentRecord::took_environment))
}

/// Releases a lock on a path that is already failing (the error that brought us here is
/// the one to report). Tried a few times, since a lock left behind blocks the environment
/// until its lease runs out; gives up quietly after that.
pub async fn release_quietly<S: StateStore>(store: &S, app: &str, environment: &str, owner: &str) {
    for _ in 0..5 {
        match store.release_lock(app, environment, owner).await {
            Ok(_) => return,
            Err(e) if e.is_retryable() => continue,
            Err(_) => return,
        }
    }
}
