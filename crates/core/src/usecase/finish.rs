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
    P: StateStore + LoadBalancer + Clock,
{
    let now = p.now();
    // A retried finalize whose first attempt completed: announce again, change nothing.
    if let Some(rec) = p.get_deployment(&r.deployment).await? {
        if rec.outcome == Some(Outcome::Succeeded) {
            p.release_lock(&r.app, &r.environment, &r.deployment)
                .await?;
            let n = notification(&r, EventKind::Succeeded, now);
            r.notice = notice(&r, &n);
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
    let n = notification(&r, EventKind::Succeeded, now);
    r.notice = notice(&r, &n);
    Ok(r)
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retired {
    pub retired: bool,
    pub reason: String,
}

/// After the rollback window, scales the previous colour to zero — unless something newer
/// has claimed it: a deployment holding the lock, a newer deployment record, or traffic
/// flipped back onto it.
pub async fn retire<P>(p: &P, r: &Rollout) -> Result<Retired, StepError>
where
    P: StateStore + LoadBalancer + ContainerService + Clock,
{
    let old = r.live;
    let keep = |reason: String| {
        Ok(Retired {
            retired: false,
            reason,
        })
    };
    if let Some(lock) = p.get_lock(&r.app, &r.environment).await? {
        if lock.owner != r.deployment && lock.expires_at > p.now() {
            return keep(format!(
                "deployment {} is running in {}/{}",
                lock.owner, r.app, r.environment
            ));
        }
    }
    if let Some(newest) = latest(p, &r.app, &r.environment).await? {
        if newest.id != r.deployment {
            return keep(format!("deployment {} came after this one", newest.id));
        }
        if newest.outcome != Some(Outcome::Succeeded) {
            return keep(format!(
                "this deployment ended {}, not succeeded",
                newest.outcome.map_or("without an outcome", |o| o.as_str())
            ));
        }
    }
    if live_colour(p, &r.env).await? == old {
        return keep(format!("{old} serves traffic again"));
    }
    p.update_service(&r.env.cluster, r.env.services.get(old), None, Some(0))
        .await?;
    Ok(Retired {
        retired: true,
        reason: format!(
            "{} scaled to 0 after the {} rollback window",
            r.env.services.get(old),
            r.env.rollback_window
        ),
    })
}
