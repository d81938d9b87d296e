//! Production traffic: which colour is live (read from the listener: AWS is the source of
//! truth), the weights that put a share on a colour, and setting them with a read-back.

use crate::config::{Colour, Environment};
use crate::ports::{LoadBalancer, TargetWeight};
use crate::rollout::StepError;

/// The colour serving all production traffic, read from the listener (AWS is the source of
/// truth). Fails when traffic is split or the listener forwards to a group the environment
/// does not name.
pub async fn live_colour(lb: &impl LoadBalancer, env: &Environment) -> Result<Colour, StepError> {
    let weights = lb.listener_weights(&env.listeners.production).await?;
    colour_of(env, &weights)
}

/// Which colour `weights` send all traffic to.
pub fn colour_of(env: &Environment, weights: &[TargetWeight]) -> Result<Colour, StepError> {
    let mut live = None;
    for w in weights.iter().filter(|w| w.weight > 0) {
        let colour = [Colour::Blue, Colour::Green]
            .into_iter()
            .find(|c| *env.target_groups.get(*c) == w.target_group)
            .ok_or_else(|| {
                StepError::InconsistentTraffic(format!(
                    "listener {} forwards to {}, which is neither the blue nor the green target group",
                    env.listeners.production, w.target_group
                ))
            })?;
        if live.is_some() || w.weight != 100 {
            return Err(StepError::InconsistentTraffic(format!(
                "listener {} splits traffic ({}); a deployment may be running or was interrupted — run `greenlight status` and `greenlight rollback`",
                env.listeners.production,
                describe_weights(env, weights)
            )));
        }
        live = Some(colour);
    }
    live.ok_or_else(|| {
        StepError::InconsistentTraffic(format!(
            "listener {} sends no traffic to either colour",
            env.listeners.production
        ))
    })
}

/// `blue 90%, green 10%`.
pub fn describe_weights(env: &Environment, weights: &[TargetWeight]) -> String {
    weights
        .iter()
        .map(|w| {
            let name = [Colour::Blue, Colour::Green]
                .into_iter()
                .find(|c| *env.target_groups.get(*c) == w.target_group)
                .map_or_else(
                    || w.target_group.short_name().to_string(),
                    |c| c.to_string(),
                );
            format!("{name} {}%", w.weight)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Weights that put `weight` percent on `target` and the rest on the other colour.
pub fn weights_for(env: &Environment, target: Colour, weight: u8) -> Vec<TargetWeight> {
    vec![
        TargetWeight {
            target_group: env.target_groups.get(target.other()).clone(),
            weight: 100u8.saturating_sub(weight),
        },
        TargetWeight {
            target_group: env.target_groups.get(target).clone(),
            weight,
        },
    ]
}

/// Sets the production listener's weights, then reads them back: a write that did not
/// apply is an error, never assumed.
pub async fn set_and_verify(
    lb: &impl LoadBalancer,
    env: &Environment,
    target: Colour,
    weight: u8,
) -> Result<(), StepError> {
    if weight > 100 {
        return Err(StepError::InvalidInput(format!(
            "a weight of {weight}% (at most 100)"
        )));
    }
    let wanted = weights_for(env, target, weight);
    lb.set_listener_weights(&env.listeners.production, &wanted)
        .await?;
    let actual = lb.listener_weights(&env.listeners.production).await?;
    let weight_of = |ws: &[TargetWeight], c: Colour| {
        ws.iter()
            .filter(|w| w.target_group == *env.target_groups.get(c))
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
            describe_weights(env, &actual)
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
    fn the_live_colour_is_the_one_with_all_traffic() {
        let e = env();
        assert_eq!(
            colour_of(&e, &weights_for(&e, Colour::Green, 100)).unwrap(),
            Colour::Green
        );
        assert_eq!(
            colour_of(&e, &weights_for(&e, Colour::Green, 0)).unwrap(),
            Colour::Blue
        );
        let split = colour_of(&e, &weights_for(&e, Colour::Green, 10)).unwrap_err();
        assert!(split.to_string().contains("blue 90%, green 10%"), "{split}");
        let stranger = vec![TargetWeight {
            target_group: crate::Arn::parse(
                "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/x/1",
            )
            .unwrap(),
            weight: 100,
        }];
        assert!(colour_of(&e, &stranger)
            .unwrap_err()
            .to_string()
            .contains("neither"));
        assert!(colour_of(&e, &[]).is_err());
    }
}
