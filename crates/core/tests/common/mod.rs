//! Shared set-up for the use-case tests: the example configuration installed in a
//! simulated AWS, and a driver that walks a rollout the way the state machine does.

#![allow(dead_code)]

use greenlight_core::config::{self, Config};
use greenlight_core::ports::{TokenPurpose, TriggerInfo};
use greenlight_core::rollout::{Rollout, StartInput, StepError};
use greenlight_core::usecase::{check, finish, prepare, shift};
use greenlight_core::{Digest, ImageRef};
use greenlight_sim::{Behaviour, Sim};

pub const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:greenlight";
pub const STATE_MACHINE: &str =
    "arn:aws:states:eu-west-1:123456789012:stateMachine:greenlight-rollout";

pub fn digest(seed: u8) -> Digest {
    Digest::parse(&format!("sha256:{}", format!("{seed:02x}").repeat(32))).unwrap()
}

pub fn example() -> Config {
    config::load(include_str!("../../../../examples/greenlight.yaml"))
        .config
        .unwrap()
}

/// The example config installed with blue live on digest 1, two tasks.
pub fn world() -> Sim {
    world_with(example())
}

pub fn world_with(config: Config) -> Sim {
    let sim = Sim::at_epoch(7);
    sim.world().install(&config, &digest(1), 2);
    sim
}

/// Pushes an image and returns the start input of its staging deployment.
pub fn push(sim: &Sim, seed: u8, behaviour: Behaviour) -> StartInput {
    sim.world()
        .push_image("web", Some(&format!("v{seed}")), &digest(seed), behaviour);
    start_input("staging", seed)
}

pub fn start_input(environment: &str, seed: u8) -> StartInput {
    StartInput {
        deployment: format!("web-{environment}-{}", &digest(seed).hex()[..16]),
        app: "web".into(),
        environment: environment.into(),
        image: ImageRef {
            repository: "web".into(),
            digest: digest(seed),
        },
        tag: Some(format!("v{seed}")),
        trigger: if environment == "staging" {
            TriggerInfo::Push {
                tag: Some(format!("v{seed}")),
                event_id: None,
            }
        } else {
            TriggerInfo::Promotion {
                from: "staging".into(),
                by: "alice".into(),
            }
        },
    }
}

/// Runs a rollout from prepare to finalize the way the state machine does (without the
/// approval, which tests drive themselves), advancing the virtual clock in the Wait states.
pub async fn drive(sim: &Sim, input: StartInput) -> Result<Rollout, StepError> {
    let r = prepare::prepare(sim, input, TOPIC).await?;
    drive_from_deploy(sim, r).await
}

pub async fn drive_from_deploy(sim: &Sim, r: Rollout) -> Result<Rollout, StepError> {
    let mut r = check::deploy(sim, r).await?;
    loop {
        sim.advance(r.control.interval_seconds);
        r = check::stable(sim, r).await?;
        if r.control.stable {
            break;
        }
    }
    loop {
        r = check::ready(sim, r).await?;
        if r.control.ready {
            break;
        }
        sim.advance(r.control.interval_seconds);
    }
    loop {
        r = shift::shift(sim, r).await?;
        r = check::health(sim, r).await?;
        while r.control.baking {
            // The bake wait: a waitForTaskToken task that times out after one interval.
            sim.world()
                .store
                .tokens
                .remove(&(r.deployment.clone(), TokenPurpose::Bake));
            sim.advance(r.control.bake_wait_seconds);
            r = check::health(sim, r).await?;
        }
        if !r.control.steps_remaining {
            break;
        }
    }
    finish::finalize(sim, r).await
}
