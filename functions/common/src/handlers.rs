//! The request shapes the state machine sends each function, and the use case each one
//! calls. Generic over the ports so tests run them against the simulator.

use greenlight_core::arn::Arn;
use greenlight_core::ports::{
    Alarms, Clock, ContainerService, Executions, ImageRegistry, LoadBalancer, Notifier, Prober,
    StateStore,
};
use greenlight_core::rollout::{CaughtError, Notice, Rollout, StartInput};
use greenlight_core::usecase::approval::{AlarmChange, AwaitInput, Relayed};
use greenlight_core::usecase::finish::Retired;
use greenlight_core::usecase::on_push::OnPushOutput;
use greenlight_core::usecase::{approval, check, finish, on_push, prepare, rollback, shift};
use serde::{Deserialize, Serialize};

use crate::{Failure, Settings};

/// `on-push`: an EventBridge ECR event.
pub async fn on_push<P>(
    p: P,
    settings: Settings,
    event: serde_json::Value,
) -> Result<OnPushOutput, Failure>
where
    P: StateStore + Executions + Notifier + Clock,
{
    let sm = settings.state_machine.as_deref().ok_or_else(|| {
        Failure::invalid_input("environment variable GREENLIGHT_STATE_MACHINE is not set")
    })?;
    let sm = Arn::parse(sm)
        .map_err(|e| Failure::invalid_input(format!("GREENLIGHT_STATE_MACHINE: {e}")))?;
    on_push::on_push(&p, &event, &sm, &settings.topic)
        .await
        .map_err(Failure::of)
}

pub async fn prepare<P>(p: P, settings: Settings, input: StartInput) -> Result<Rollout, Failure>
where
    P: StateStore + LoadBalancer + ImageRegistry + ContainerService + Alarms + Executions + Clock,
{
    prepare::prepare(&p, input, settings.topic.as_str())
        .await
        .map_err(Failure::of)
}

pub async fn deploy<P>(p: P, _: Settings, r: Rollout) -> Result<Rollout, Failure>
where
    P: StateStore + ContainerService + LoadBalancer + Clock,
{
    check::deploy(&p, r).await.map_err(Failure::of)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckMode {
    /// The new colour runs the new revision and all its targets are healthy.
    Stable,
    /// The pre-traffic probes through the test listener pass.
    Ready,
    /// Alarms, target health and probes while traffic bakes.
    Health,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckInput {
    pub mode: CheckMode,
    pub rollout: Rollout,
}

pub async fn check<P>(p: P, _: Settings, input: CheckInput) -> Result<Rollout, Failure>
where
    P: StateStore + ContainerService + LoadBalancer + Alarms + Prober + Clock,
{
    match input.mode {
        CheckMode::Stable => check::stable(&p, input.rollout).await,
        CheckMode::Ready => check::ready(&p, input.rollout).await,
        CheckMode::Health => check::health(&p, input.rollout).await,
    }
    .map_err(Failure::of)
}

/// `await`: the task of a `lambda:invoke.waitForTaskToken` state.
pub async fn await_token<P>(
    p: P,
    _: Settings,
    input: AwaitInput,
) -> Result<serde_json::Value, Failure>
where
    P: StateStore + Notifier + Clock,
{
    approval::await_token(&p, &input)
        .await
        .map_err(Failure::of)?;
    Ok(serde_json::json!({"waiting": true}))
}

pub async fn shift<P>(p: P, _: Settings, r: Rollout) -> Result<Rollout, Failure>
where
    P: StateStore + LoadBalancer + Clock,
{
    shift::shift(&p, r).await.map_err(Failure::of)
}

pub async fn finalize<P>(p: P, _: Settings, r: Rollout) -> Result<Rollout, Failure>
where
    P: StateStore + LoadBalancer + Clock,
{
    finish::finalize(&p, r).await.map_err(Failure::of)
}

pub async fn retire<P>(p: P, _: Settings, r: Rollout) -> Result<Retired, Failure>
where
    P: StateStore + LoadBalancer + ContainerService + Clock,
{
    finish::retire(&p, &r).await.map_err(Failure::of)
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RollbackInput {
    pub rollout: Rollout,
    pub error: CaughtError,
}

pub async fn rollback<P>(p: P, _: Settings, input: RollbackInput) -> Result<Rollout, Failure>
where
    P: StateStore + LoadBalancer + ContainerService + Clock,
{
    rollback::rollback(&p, input.rollout, &input.error)
        .await
        .map_err(Failure::of)
}

/// `notify`: the notifications of the two failure paths that have no rollout step to
/// produce them.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum NotifyInput {
    /// prepare refused the deployment; nothing was changed.
    Refused {
        input: StartInput,
        error: CaughtError,
    },
    /// The rollback failed for good.
    RollbackFailed {
        rollout: Box<Rollout>,
        error: CaughtError,
    },
    /// A step found the environment's lock no longer its own.
    LockLost {
        rollout: Box<Rollout>,
        error: CaughtError,
    },
}

pub async fn notify<P>(p: P, settings: Settings, input: NotifyInput) -> Result<Notice, Failure>
where
    P: StateStore + Clock,
{
    match input {
        NotifyInput::Refused { input, error } => {
            Ok(rollback::refused(&p, &input, &error, &settings.topic).await)
        }
        NotifyInput::RollbackFailed { rollout, error } => rollback::escalate(&p, *rollout, &error)
            .await
            .notice
            .ok_or_else(|| Failure::invalid_input("the rollout names no valid topic")),
        NotifyInput::LockLost { rollout, error } => rollback::lock_lost(&p, *rollout, &error)
            .await
            .notice
            .ok_or_else(|| Failure::invalid_input("the rollout names no valid topic")),
    }
}

/// `alarm-relay`: an EventBridge "CloudWatch Alarm State Change" event.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AlarmEvent {
    pub detail: AlarmChange,
}

pub async fn alarm_relay<P>(p: P, _: Settings, event: AlarmEvent) -> Result<Relayed, Failure>
where
    P: StateStore + Executions,
{
    approval::relay_alarm(&p, &event.detail)
        .await
        .map_err(Failure::of)
}

#[cfg(test)]
mod tests;
