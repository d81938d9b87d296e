//! Production traffic: which colour is live (read from AWS, the source of truth: the
//! listener's weights, or for a worker service without a load balancer the services'
//! desired counts), the share a weight puts on a colour, and setting it with a read-back.

use crate::config::{Colour, Environment, LoadBalanced};
use crate::ports::{ContainerService, LoadBalancer, TargetWeight};
use crate::rollout::StepError;

/// The colour serving all production traffic. Behind a load balancer: the one the
/// listener sends 100% to. For a worker service: the one whose service has tasks while the
/// other has none. Fails when traffic (or work) is split, or the listener forwards to a
/// group the environment does not name.
pub async fn live_colour<P>(p: &P, env: &Environment) -> Result<Colour, StepError>
where
    P: LoadBalancer + ContainerService,
{
    match env.load_balancer() {
        Some(lb) => {
            let weights = p.listener_weights(&lb.listeners.production).await?;
            colour_of(lb, &weights)
        }
        None => {
            let (blue, green) = task_counts(p, env).await?;
            match (blue, green) {
                (b, 0) if b > 0 => Ok(Colour::Blue),
                (0, g) if g > 0 => Ok(Colour::Green),
                (0, 0) => Err(StepError::InconsistentTraffic(format!(
                    "neither {} nor {} wants any task: scale the live colour up first",
                    env.services.blue, env.services.green
                ))),
                _ => Err(StepError::InconsistentTraffic(format!(
                    "both colours run tasks (blue {blue}, green {green}); a deployment may be running or was interrupted — run `greenlight status` and `greenlight rollback`"
                ))),
            }
        }
    }
}

/// The desired task count of each colour's service (blue, green).
pub async fn task_counts<P: ContainerService>(
    p: &P,
    env: &Environment,
) -> Result<(u32, u32), crate::ports::PortError> {
    let blue = p.describe_service(&env.cluster, &env.services.blue).await?;
    let green = p
        .describe_service(&env.cluster, &env.services.green)
        .await?;
    Ok((blue.desired, green.desired))
}

/// For a worker service: the tasks `weight` percent of `total` puts on the new colour
/// (rounded up, so any step above 0% runs at least one) and the old colour keeps.
pub fn task_split(total: u32, weight: u8) -> (u32, u32) {
    let new = (u64::from(total) * u64::from(weight.min(100))).div_ceil(100) as u32;
    (new, total - new.min(total))
}

/// Which colour `weights` send all traffic to.
pub fn colour_of(lb: LoadBalanced<'_>, weights: &[TargetWeight]) -> Result<Colour, StepError> {
    let mut live = None;
    for w in weights.iter().filter(|w| w.weight > 0) {
        let colour = [Colour::Blue, Colour::Green]
            .into_iter()
            .find(|c| *lb.target_groups.get(*c) == w.target_group)
            .ok_or_else(|| {
                StepError::InconsistentTraffic(format!(
                    "listener {} forwards to {}, which is neither the blue nor the green target group",
                    lb.listeners.production, w.target_group
                ))
            })?;
        if live.is_some() || w.weight != 100 {
            return Err(StepError::InconsistentTraffic(format!(
                "listener {} splits traffic ({}); a deployment may be running or was interrupted — run `greenlight status` and `greenlight rollback`",
                lb.listeners.production,
                describe_weights(lb, weights)
            )));
        }
        live = Some(colour);
    }
    live.ok_or_else(|| {
        StepError::InconsistentTraffic(format!(
            "listener {} sends no traffic to either colour",
            lb.listeners.production
        ))
    })
}

/// `blue 90%, green 10%`.
pub fn describe_weights(lb: LoadBalanced<'_>, weights: &[TargetWeight]) -> String {
    weights
        .iter()
        .map(|w| {
            let name = [Colour::Blue, Colour::Green]
                .into_iter()
                .find(|c| *lb.target_groups.get(*c) == w.target_group)
                .map_or_else(
                    || w.target_group.short_name().to_string(),
                    |c| c.to_string(),
                );
            format!("{name} {}%", w.weight)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// How production traffic is shared now, in words: `blue 90%, green 10%` behind a load
/// balancer, `blue 3 tasks, green 1 task` for a worker service.
pub async fn describe_traffic<P>(
    p: &P,
    env: &Environment,
) -> Result<String, crate::ports::PortError>
where
    P: LoadBalancer + ContainerService,
{
    match env.load_balancer() {
        Some(lb) => Ok(describe_weights(
            lb,
            &p.listener_weights(&lb.listeners.production).await?,
        )),
        None => {
            let (blue, green) = task_counts(p, env).await?;
            let tasks = |n: u32| {
                if n == 1 {
                    "1 task".to_string()
                } else {
                    format!("{n} tasks")
                }
            };
            Ok(format!("blue {}, green {}", tasks(blue), tasks(green)))
        }
    }
}

/// Weights that put `weight` percent on `target` and the rest on the other colour.
pub fn weights_for(lb: LoadBalanced<'_>, target: Colour, weight: u8) -> Vec<TargetWeight> {
    vec![
        TargetWeight {
            target_group: lb.target_groups.get(target.other()).clone(),
            weight: 100u8.saturating_sub(weight),
        },
        TargetWeight {
            target_group: lb.target_groups.get(target).clone(),
            weight,
        },
    ]
}

/// Puts `weight` percent of production on `target` and the rest on the other colour, then
/// reads it back: a write that did not apply is an error, never assumed. Behind a load
/// balancer that is the production listener's weights; for a worker service, the two
/// services' desired counts out of `total` tasks ([`task_split`]; the new colour is scaled
/// up before the old one is scaled down).
pub async fn set_and_verify<P>(
    p: &P,
    env: &Environment,
    target: Colour,
    weight: u8,
    total: u32,
) -> Result<(), StepError>
where
    P: LoadBalancer + ContainerService,
{
    if weight > 100 {
        return Err(StepError::InvalidInput(format!(
            "a weight of {weight}% (at most 100)"
        )));
    }
    let Some(lb) = env.load_balancer() else {
        let (new, old) = task_split(total, weight);
        // The colour that grows first, then the one that shrinks: the work never has fewer
        // tasks than it is asked to keep.
        let (blue_now, green_now) = task_counts(p, env).await?;
        let target_now = if target == Colour::Blue {
            blue_now
        } else {
            green_now
        };
        let (first, second) = if new >= target_now {
            ((target, new), (target.other(), old))
        } else {
            ((target.other(), old), (target, new))
        };
        for (colour, count) in [first, second] {
            p.update_service(&env.cluster, env.services.get(colour), None, Some(count))
                .await?;
        }
        let (blue, green) = task_counts(p, env).await?;
        let actual = |c: Colour| if c == Colour::Blue { blue } else { green };
        if actual(target) != new || actual(target.other()) != old {
            return Err(StepError::WeightsNotApplied(format!(
                "asked for {target} {new} of {total} tasks, ECS reports blue {blue}, green {green}"
            )));
        }
        return Ok(());
    };
    let wanted = weights_for(lb, target, weight);
    p.set_listener_weights(&lb.listeners.production, &wanted)
        .await?;
    let actual = p.listener_weights(&lb.listeners.production).await?;
    let weight_of = |ws: &[TargetWeight], c: Colour| {
        ws.iter()
            .filter(|w| w.target_group == *lb.target_groups.get(c))
            .map(|w| u32::from(w.weight))
            .sum::<u32>()
    };
    let total: u32 = actual.iter().map(|w| u32::from(w.weight)).sum();
    if weight_of(&actual, target) != u32::from(weight)
        || weight_of(&actual, target.other()) != u32::from(100u8.saturating_sub(weight))
        || total != 100
    {
        return Err(StepError::WeightsNotApplied(format!(
            "asked for {target} {weight}%, listener reports {}",
            describe_weights(lb, &actual)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment {
        crate::config::load(include_str!("../../../../examples/greenlight.yaml"))
            .config
            .unwrap()
            .apps["web"]
            .environments["prod"]
            .clone()
    }

    #[test]
    fn a_task_share_rounds_up_and_keeps_the_total() {
        assert_eq!(task_split(4, 10), (1, 3));
        assert_eq!(task_split(4, 50), (2, 2));
        assert_eq!(task_split(3, 50), (2, 1));
        assert_eq!(task_split(4, 100), (4, 0));
        assert_eq!(task_split(4, 0), (0, 4));
        assert_eq!(task_split(0, 30), (0, 0));
    }

    #[test]
    fn the_live_colour_is_the_one_with_all_traffic() {
        let e = env();
        let e = e.load_balancer().unwrap();
        assert_eq!(
            colour_of(e, &weights_for(e, Colour::Green, 100)).unwrap(),
            Colour::Green
        );
        assert_eq!(
            colour_of(e, &weights_for(e, Colour::Green, 0)).unwrap(),
            Colour::Blue
        );
        let split = colour_of(e, &weights_for(e, Colour::Green, 10)).unwrap_err();
        assert!(split.to_string().contains("blue 90%, green 10%"), "{split}");
        let stranger = vec![TargetWeight {
            target_group: crate::Arn::parse(
                "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/x/1",
            )
            .unwrap(),
            weight: 100,
        }];
        assert!(colour_of(e, &stranger)
            .unwrap_err()
            .to_string()
            .contains("neither"));
        assert!(colour_of(e, &[]).is_err());
    }
}
