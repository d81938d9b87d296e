//! finalize and retire: the end of a successful rollout, and the old colour's scale-down
//! once the rollback window has passed.

use chrono::Duration as Span;
use serde::{Deserialize, Serialize};

use crate::notify::EventKind;
use crate::ports::{
    Clock, ContainerService, LoadBalancer, Outcome, Phase, StateStore, TokenPurpose,
};
use crate::rollout::{Rollout, StepError};

use super::{live_colour, notice, notification, record};

/// Verifies all traffic is on the new colour, records the success with its rollback
/// window, and releases the lock.
pub async fn finalize<P>(p: &P, mut r: Rollout) -> Result<Rollout, StepError>
where
    P: StateStore + LoadBalancer + Clock,
{
    let live = live_colour(p, &r.env).await?;
    if live != r.target {
        return Err(StepError::WeightsNotApplied(format!(
            "finalize expected all traffic on {}, the listener sends it to {live}",
            r.target
        )));
    }
    let now = p.now();
    let mut rec = record(p, &r, Phase::Done, now).await?;
    rec.outcome = Some(Outcome::Succeeded);
    rec.rollback_until = Some(now + Span::seconds(r.env.rollback_window.as_secs() as i64));
    p.put_deployment(&rec).await?;
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
    let latest = p.history(&r.app, &r.environment, 1).await?;
    if let Some(newest) = latest.first() {
        if newest.id != r.deployment {
            return keep(format!("deployment {} came after this one", newest.id));
        }
        if newest.outcome != Some(Outcome::Succeeded) {
            return keep(format!(
                "this deployment ended {:?}, not succeeded",
                newest.outcome
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
