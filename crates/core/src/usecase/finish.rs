//! finalize and retire: the end of a successful rollout, and the old colour's scale-down
//! once the rollback window has passed.

use serde::{Deserialize, Serialize};

use crate::notify::EventKind;
use crate::ports::{
    Clock, ContainerService, LoadBalancer, Outcome, Phase, StateStore, TokenPurpose,
};
use crate::rollout::{Rollout, StepError};

use super::record::{hold_lock, latest, record_with};
use super::{live_colour, notice, notification};

/// Verifies all traffic is on the new colour, records the success with its rollback
/// window, and releases the lock.
pub async fn finalize<P>(p: &P, mut r: Rollout) -> Result<Rollout, StepError>
where
    P: StateStore + LoadBalancer + ContainerService + Clock,
{
    let p = &*super::reach::ports_for(p, &r.env, &r.deployment)?;
    r.take_traffic();
    let now = p.now();
    // A retried finalize whose first attempt completed: change nothing (the function
    // announces `succeeded` again: a lost answer must not lose the notice).
    if let Some(rec) = p.get_deployment(&r.deployment).await? {
        if rec.outcome == Some(Outcome::Succeeded) {
            p.release_lock(&r.app, &r.environment, &r.deployment)
                .await?;
            if let Some(until) = rec.rollback_until {
                open_window(&mut r, until, now);
            }
            r.notice = notice(&r, &notification(&r, EventKind::Succeeded, now));
            return Ok(r);
        }
    }
    hold_lock(p, &r).await?;
    let live = live_colour(p, &r.env).await?;
    if live != r.target {
        return Err(StepError::WeightsNotApplied(format!(
            "finalize expected all traffic on {}, the listener sends it to {live}",
            r.target
        )));
    }
    let until = crate::rollout::deadline(now, r.env.rollback_window, "rollback_window")?;
    record_with(p, &r, Phase::Done, now, |rec| {
        rec.outcome = Some(Outcome::Succeeded);
        rec.rollback_until = Some(until);
    })
    .await?;
    // An approval answered by its timeout leaves its token behind: nothing waits on it now.
    for purpose in [TokenPurpose::Approval, TokenPurpose::Bake] {
        p.delete_task_token(&r.deployment, purpose).await?;
    }
    p.release_lock(&r.app, &r.environment, &r.deployment)
        .await?;
    open_window(&mut r, until, now);
    // The finalize function announces `succeeded` itself (`notices::announce_once`); the
    // rendered notice rides in the rollout for an execution started under a definition
    // that publishes it from an `sns:publish` state (one in flight while the stack is
    // updated).
    r.notice = notice(&r, &notification(&r, EventKind::Succeeded, now));
    Ok(r)
}

/// Sets what the rollback window's wait and watch read: its end, the time left, and the
/// first wait before a round of checks. The failure count starts again from zero.
fn open_window(
    r: &mut Rollout,
    until: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) {
    r.window_until = Some(until);
    r.failures = 0;
    r.bake_until = None;
    super::check::window_control(r, now);
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retired {
    pub retired: bool,
    pub reason: String,
    /// When another execution's lock kept the idle colour warm: when that lock's lease
    /// ends, so the state machine can try again then (a dead execution's lock must not keep
    /// a colour warm for ever). Always present (`null` when there is nothing to retry).
    pub retry_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// After the rollback window, scales the colour that no longer serves traffic to zero:
/// the previous colour after a success, this deployment's own colour after an operator
/// flipped traffic back to the previous one within the window (`reverted`). Nothing is
/// scaled down that something newer has claimed: a newer deployment record, a deployment
/// holding the lock (then `retry_at` is when its lease ends), or traffic on that colour.
pub async fn retire<P>(p: &P, r: &Rollout) -> Result<Retired, StepError>
where
    P: StateStore + LoadBalancer + ContainerService + Clock,
{
    let p = &*super::reach::ports_for(p, &r.env, &r.deployment)?;
    let keep = |reason: String| {
        Ok(Retired {
            retired: false,
            reason,
            retry_at: None,
        })
    };
    let newest = latest(p, &r.app, &r.environment).await?;
    if let Some(newest) = &newest {
        if newest.id != r.deployment {
            return keep(format!("deployment {} came after this one", newest.id));
        }
    }
    if let Some(lock) = p.get_lock(&r.app, &r.environment).await? {
        if lock.owner != r.deployment && lock.expires_at > p.now() {
            return Ok(Retired {
                retired: false,
                reason: format!(
                    "{} holds the lock of {}/{}; trying again when its lease ends",
                    lock.owner, r.app, r.environment
                ),
                retry_at: Some(lock.expires_at),
            });
        }
    }
    // The colour this deployment left idle.
    let (idle, why) = match newest.and_then(|n| n.outcome) {
        Some(Outcome::Succeeded) => (
            r.live,
            format!("after the {} rollback window", r.env.rollback_window),
        ),
        Some(Outcome::Reverted) => (
            r.target,
            "after traffic was rolled back to the previous colour".to_string(),
        ),
        other => {
            return keep(format!(
                "this deployment ended {}, not succeeded",
                other.map_or("without an outcome", |o| o.as_str())
            ))
        }
    };
    if live_colour(p, &r.env).await? == idle {
        return keep(format!("{idle} serves traffic again"));
    }
    p.update_service(&r.env.cluster, r.env.services.get(idle), None, Some(0))
        .await?;
    Ok(Retired {
        retired: true,
        reason: format!("{} scaled to 0 {why}", r.env.services.get(idle)),
        retry_at: None,
    })
}
