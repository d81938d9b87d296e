//! shift: move traffic to the next step of the plan, and prove it moved.

use crate::notify::EventKind;
use crate::ports::{Clock, ContainerService, LoadBalancer, Phase, StateStore};
use crate::rollout::{Rollout, StepError};

use super::check::bake_end;
use super::{guard, notice, notification, record, set_and_verify};

pub async fn shift<P>(p: &P, mut r: Rollout) -> Result<Rollout, StepError>
where
    P: StateStore + LoadBalancer + ContainerService + Clock,
{
    let p = &*super::reach::ports_for(p, &r.env, &r.deployment)?;
    guard(p, &r).await?;
    let step = *r.plan.steps.get(r.step).ok_or_else(|| {
        StepError::InvalidInput(format!(
            "step {} of a {}-step plan",
            r.step + 1,
            r.plan.steps.len()
        ))
    })?;
    set_and_verify(p, &r.env, r.target, step.weight, r.desired).await?;
    let now = p.now();
    r.weight = step.weight;
    r.step = r.step.saturating_add(1);
    r.bake_until = Some(bake_end(now, step.bake)?);
    r.shifted_at = Some(now);
    r.control.steps_remaining = r.step < r.plan.steps.len();
    r.control.baking = !step.bake.is_zero();
    record(p, &r, Phase::Shifting, now).await?;
    let n = notification(&r, EventKind::TrafficShifted, now);
    r.notice = notice(&r, &n);
    Ok(r)
}
