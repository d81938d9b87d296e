//! The request shapes the state machine sends each function, and the use case each one
//! calls. Generic over the ports so tests run them against the simulator.

use greenlight_core::arn::Arn;
use greenlight_core::notify::EventKind;
use greenlight_core::ports::{
    Alarms, Clock, ContainerService, DeploymentRecord, Executions, ImageRegistry, LoadBalancer,
    Notifier, Outcome, StateStore,
};
use greenlight_core::ports::{Tick, Timers};
use greenlight_core::rollout::{CaughtError, Notice, Rollout, StartInput, StepError};
use greenlight_core::usecase::approval::{AlarmChange, AwaitInput, Relayed};
use greenlight_core::usecase::finish::Retired;
use greenlight_core::usecase::on_push::OnPushOutput;
use greenlight_core::usecase::reconcile::ReconcileOutput;
use greenlight_core::usecase::{
    approval, check, finish, notices, on_push, prepare, reconcile, rollback, tick,
};
use serde::{Deserialize, Serialize};

use crate::{metrics, Failure, Settings};

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

/// What the reconcile schedule sends (template.yaml's `Input`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScheduleEvent {
    pub source: String,
}

/// The `source` of [`ScheduleEvent`].
pub const SCHEDULE_SOURCE: &str = "greenlight.schedule";

/// `reconcile`: run by EventBridge Scheduler every period.
pub async fn reconcile<P>(
    p: P,
    settings: Settings,
    event: ScheduleEvent,
) -> Result<ReconcileOutput, Failure>
where
    P: StateStore + Executions + ImageRegistry + LoadBalancer + ContainerService + Clock,
{
    if event.source != SCHEDULE_SOURCE {
        return Err(Failure::invalid_input(format!(
            "reconcile runs on its schedule's event (source `{SCHEDULE_SOURCE}`), not one from `{}`",
            event.source
        )));
    }
    let sm = settings.state_machine.as_deref().ok_or_else(|| {
        Failure::invalid_input("environment variable GREENLIGHT_STATE_MACHINE is not set")
    })?;
    let sm = Arn::parse(sm)
        .map_err(|e| Failure::invalid_input(format!("GREENLIGHT_STATE_MACHINE: {e}")))?;
    let result = reconcile::reconcile(&p, &sm).await;
    // What was done is logged even when some environment could not be checked.
    let done = match &result {
        Ok(out) => out,
        Err(reconcile::ReconcileError::Incomplete { done, .. }) => done,
        Err(_) => &ReconcileOutput::default(),
    };
    for c in &done.checked {
        tracing::info!(
            app = %c.app,
            environment = %c.environment,
            finding = %c.finding,
            image = c.image.as_deref().unwrap_or("-"),
            deployment = c.deployment.as_deref().unwrap_or("-"),
            "reconciled"
        );
    }
    result.map_err(Failure::of)
}

/// The deployment's record before a step: metrics are emitted on a change of it only, so
/// a retried step never counts twice.
async fn before<P: StateStore>(p: &P, deployment: &str) -> Option<DeploymentRecord> {
    p.get_deployment(deployment).await.ok().flatten()
}

pub async fn prepare<P>(p: P, settings: Settings, input: StartInput) -> Result<Rollout, Failure>
where
    P: StateStore
        + LoadBalancer
        + ImageRegistry
        + ContainerService
        + Alarms
        + Executions
        + Notifier
        + Clock,
{
    let was = before(&p, &input.deployment).await;
    let r = prepare::prepare_in(
        &p,
        input,
        settings.topic.as_str(),
        settings.state_machine.as_deref(),
    )
    .await
    .map_err(Failure::of)?;
    if !was.is_some_and(|w| w.took_environment()) {
        metrics::started(&r, p.now());
    }
    announce(&p, &r, EventKind::Started).await;
    Ok(r)
}

/// Publishes the notification that ends a phase, once per deployment
/// (`notices::announce_once`); a failure is logged, never raised: a notice never holds a
/// rollout back.
async fn announce<P: StateStore + Notifier + Clock>(p: &P, r: &Rollout, kind: EventKind) {
    if let Some(error) = notices::announce_once(p, r, kind).await {
        tracing::warn!(deployment = %r.deployment, event = %kind, %error, "notice not published");
    }
}

/// What a `lambda:invoke.waitForTaskToken` state sends the function that starts its
/// wait: the state's task token and the rollout.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenInput {
    pub token: String,
    pub rollout: Rollout,
    /// The Shift state's: the index of the plan step to apply (the Traffic map's item
    /// index; its input rollout is the one deploy left). Absent, the rollout's own `step`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
}

/// `deploy`: the Deploy state's task; the settle rounds answer its token.
pub async fn deploy<P>(p: P, _: Settings, input: TokenInput) -> Result<Rollout, Failure>
where
    P: StateStore + ContainerService + LoadBalancer + Timers + Clock,
{
    tick::deploy_and_settle(&p, &input.token, input.rollout)
        .await
        .map_err(Failure::of)
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
    /// The same, in the watched rollback window after success.
    Window,
    /// Start watching the rollback window (the WatchWindow state's task): its token
    /// stored for the alarm relay, its rounds scheduled on the tick queue.
    Watch,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckInput {
    pub mode: CheckMode,
    pub rollout: Rollout,
    /// The task token of the WatchWindow state (mode `watch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// What the `check` function is asked: a round of checks by the state machine, or the
/// tick queue's messages (an SQS event, one tick each).
#[derive(Clone, Debug)]
pub enum CheckRequest {
    Check(Box<CheckInput>),
    Ticks(SqsEvent),
}

impl<'de> Deserialize<'de> for CheckRequest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = serde_json::Value::deserialize(d)?;
        if v.get("Records").is_some() {
            serde_json::from_value(v)
                .map(CheckRequest::Ticks)
                .map_err(|e| D::Error::custom(format!("an SQS event: {e}")))
        } else {
            serde_json::from_value(v)
                .map(|c| CheckRequest::Check(Box::new(c)))
                .map_err(|e| D::Error::custom(format!("a check request: {e}")))
        }
    }
}

/// An SQS event as the event source mapping hands it over (only what is read).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SqsEvent {
    #[serde(rename = "Records")]
    pub records: Vec<SqsRecord>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SqsRecord {
    #[serde(rename = "messageId", default)]
    pub message_id: String,
    pub body: String,
}

/// What the `check` function answers: the rollout after a round, the wait started (mode
/// `watch`), or what became of each tick.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum CheckOutput {
    Rollout(Box<Rollout>),
    Waiting { waiting: bool },
    Ticks { ticks: Vec<String> },
}

pub async fn check<P>(p: P, _: Settings, input: CheckRequest) -> Result<CheckOutput, Failure>
where
    P: tick::RoundPorts,
{
    let input = match input {
        CheckRequest::Check(input) => *input,
        CheckRequest::Ticks(event) => return ticks(&p, event).await,
    };
    let round = match input.mode {
        CheckMode::Stable => check::stable(&p, input.rollout).await,
        CheckMode::Ready => check::ready(&p, input.rollout).await,
        CheckMode::Health => check::health(&p, input.rollout).await,
        CheckMode::Window => check::window(&p, input.rollout).await,
        CheckMode::Watch => {
            let token = input.token.as_deref().unwrap_or_default();
            return tick::watch_window(&p, token, &input.rollout)
                .await
                .map(|()| CheckOutput::Waiting { waiting: true })
                .map_err(Failure::of);
        }
    };
    round
        .map(|r| CheckOutput::Rollout(Box::new(r)))
        .map_err(Failure::of)
}

/// The tick queue's messages, one round each. A body that is not a tick is logged and
/// dropped (delivering it again would not change it); a tick that could not be scheduled
/// on or answered fails the invocation, and the queue delivers it again.
async fn ticks<P>(p: &P, event: SqsEvent) -> Result<CheckOutput, Failure>
where
    P: tick::RoundPorts,
{
    let mut out = Vec::new();
    for record in event.records {
        let t: Tick = match serde_json::from_str(&record.body) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(message = %record.message_id, error = %e, "not a tick: dropped");
                out.push(format!("{}: not a tick, dropped", record.message_id));
                continue;
            }
        };
        let (deployment, purpose) = (t.rollout.deployment.clone(), t.purpose);
        let end = tick::run(p, t)
            .await
            .map_err(|e| Failure::of(StepError::from(e)))?;
        tracing::info!(%deployment, %purpose, outcome = %end.describe(), "tick");
        out.push(format!("{deployment} {purpose}: {}", end.describe()));
    }
    Ok(CheckOutput::Ticks { ticks: out })
}

/// `await`: the task of the AwaitApproval state (`lambda:invoke.waitForTaskToken`).
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

/// `shift`: the Shift state's task; the bake's rounds answer its token.
pub async fn shift<P>(p: P, _: Settings, input: TokenInput) -> Result<Rollout, Failure>
where
    P: StateStore + LoadBalancer + ContainerService + Alarms + Notifier + Timers + Clock,
{
    let mut r = input.rollout;
    if let Some(step) = input.step {
        r.step = step;
    }
    let shifted = tick::shift_and_bake(&p, &input.token, r)
        .await
        .map_err(Failure::of)?;
    if let Some(error) = &shifted.notice_error {
        tracing::warn!(deployment = %shifted.rollout.deployment, %error, "traffic_shifted notice not published");
    }
    Ok(shifted.rollout)
}

pub async fn finalize<P>(p: P, _: Settings, r: Rollout) -> Result<Rollout, Failure>
where
    P: StateStore + LoadBalancer + ContainerService + Notifier + Clock,
{
    let was = before(&p, &r.deployment).await;
    let r = finish::finalize(&p, r).await.map_err(Failure::of)?;
    if !was.is_some_and(|w| w.outcome == Some(Outcome::Succeeded)) {
        metrics::succeeded(&r, p.now());
    }
    announce(&p, &r, EventKind::Succeeded).await;
    Ok(r)
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
    /// Set by the watched rollback window: the release succeeded and an alarm fired since;
    /// the old colour is still warm, and traffic goes back to it (`promote::revert_in_window`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub window: bool,
}

pub async fn rollback<P>(p: P, _: Settings, input: RollbackInput) -> Result<Rollout, Failure>
where
    P: StateStore + LoadBalancer + ContainerService + Notifier + Clock,
{
    if input.window {
        let cause = input.error.reason();
        let reverted =
            greenlight_core::usecase::promote::revert_in_window(&p, &input.rollout, &cause)
                .await
                .map_err(Failure::of)?;
        if reverted.is_some() {
            metrics::reverted(&input.rollout, p.now());
        }
        return Ok(input.rollout);
    }
    let began = p.now();
    let was = before(&p, &input.rollout.deployment).await;
    let r = rollback::rollback(&p, input.rollout, &input.error)
        .await
        .map_err(Failure::of)?;
    if was.is_none_or(|w| w.outcome.is_none()) {
        let (outcome, _) = rollback::outcome_of(&input.error);
        metrics::ended(&r, outcome, began, p.now());
    }
    Ok(r)
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
        NotifyInput::RollbackFailed { rollout, error } => {
            let was = before(&p, &rollout.deployment).await;
            let r = rollback::escalate(&p, *rollout, &error).await;
            if !was.is_some_and(|w| w.outcome == Some(Outcome::RollbackFailed)) {
                metrics::rollback_failed(&r, p.now());
            }
            r.notice
                .ok_or_else(|| Failure::invalid_input("the rollout names no valid topic"))
        }
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
    /// The account and region of the alarm: the stack's own, or a target account's whose
    /// rule forwards its alarm state changes to the stack's bus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

pub async fn alarm_relay<P>(p: P, settings: Settings, event: AlarmEvent) -> Result<Relayed, Failure>
where
    P: StateStore + Executions,
{
    let origin = approval::AlarmOrigin {
        from: event.account.as_deref().zip(event.region.as_deref()),
        // The stack's topic is in the stack's account and region.
        home: settings
            .topic
            .home()
            .map(|(region, account)| (account, region)),
    };
    approval::relay_alarm(&p, &event.detail, origin)
        .await
        .map_err(Failure::of)
}

/// `event-relay`: what SNS delivers to a subscribed function; only each record's message
/// is read (the notification's JSON form).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SnsDelivery {
    #[serde(rename = "Records")]
    pub records: Vec<SnsRecord>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SnsRecord {
    #[serde(rename = "Sns")]
    pub sns: SnsMessage,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SnsMessage {
    #[serde(rename = "Message")]
    pub message: String,
    #[serde(rename = "TopicArn", default)]
    pub topic: String,
}

impl SnsDelivery {
    /// What SNS hands a subscribed function for one publish of `message` (a function
    /// subscription receives the `lambda` body of a `MessageStructure: json` publish).
    pub fn of(topic: &str, message: String) -> SnsDelivery {
        SnsDelivery {
            records: vec![SnsRecord {
                sns: SnsMessage {
                    message,
                    topic: topic.to_string(),
                },
            }],
        }
    }
}

/// `event-relay`: puts each notification of the topic on the default EventBridge bus.
pub async fn event_relay<P>(
    p: P,
    _: Settings,
    delivery: SnsDelivery,
) -> Result<greenlight_core::usecase::events::Forwarded, Failure>
where
    P: greenlight_core::ports::EventBus,
{
    let messages: Vec<String> = delivery
        .records
        .into_iter()
        .map(|r| r.sns.message)
        .collect();
    let out = greenlight_core::usecase::events::forward(&p, &messages)
        .await
        .map_err(|e| Failure {
            name: e.error_code().as_str(),
            message: e.to_string(),
        })?;
    for reason in &out.skipped {
        tracing::warn!(%reason, "message skipped");
    }
    Ok(out)
}

/// The answer of the approval URL (a Lambda function URL response).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UrlResponse {
    pub status_code: u16,
    pub headers: std::collections::BTreeMap<String, String>,
    pub body: String,
}

impl UrlResponse {
    fn json(status_code: u16, body: serde_json::Value) -> UrlResponse {
        UrlResponse {
            status_code,
            headers: [("content-type".to_string(), "application/json".to_string())].into(),
            body: body.to_string(),
        }
    }

    fn error(status_code: u16, error: &str, message: impl Into<String>) -> UrlResponse {
        UrlResponse::json(
            status_code,
            serde_json::json!({"error": error, "message": message.into()}),
        )
    }
}

/// `approve`: a request to the stack's approval URL (a Lambda function URL with `AWS_IAM`
/// auth). Who asks is the principal AWS authenticated (`requestContext.authorizer.iam.
/// userArn`), never a name in the body; the body is a [`approval::Decision`]. Every
/// outcome is an HTTP answer (400 unreadable, 403 not an approver or not signed, 404 no
/// such deployment, 409 not waiting or already answered, 503 AWS unavailable), never a
/// function error.
pub async fn approve_url<P>(
    p: P,
    _: Settings,
    request: serde_json::Value,
) -> Result<UrlResponse, Failure>
where
    P: StateStore + Executions,
{
    use greenlight_core::errors::{ErrorCode, ErrorName};
    let Some(principal) = request["requestContext"]["authorizer"]["iam"]["userArn"].as_str() else {
        return Ok(UrlResponse::error(
            403,
            ErrorCode::NotAnApprover.as_str(),
            "the request carries no IAM identity: the approval URL takes only SigV4-signed requests (AWS_IAM auth)",
        ));
    };
    if request["requestContext"]["http"]["method"]
        .as_str()
        .is_some_and(|m| m != "POST")
    {
        return Ok(UrlResponse::error(
            405,
            ErrorCode::InvalidInput.as_str(),
            "POST a decision",
        ));
    }
    let raw = request["body"].as_str().unwrap_or_default();
    let body = if request["isBase64Encoded"] == true {
        match aws_smithy_types::base64::decode(raw)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        {
            Some(text) => text,
            None => {
                return Ok(UrlResponse::error(
                    400,
                    ErrorCode::InvalidInput.as_str(),
                    "the body is not base64 of UTF-8 text",
                ))
            }
        }
    } else {
        raw.to_string()
    };
    let decision: approval::Decision = match serde_json::from_str(&body) {
        Ok(d) => d,
        Err(e) => {
            return Ok(UrlResponse::error(
                400,
                ErrorCode::InvalidInput.as_str(),
                format!("the body is not a decision ({{\"deployment\": \"…\", \"decision\": \"approve\" | \"reject\", \"reason\": \"…\"}}): {e}"),
            ))
        }
    };
    Ok(match approval::decide(&p, principal, &decision).await {
        Ok(said) => UrlResponse::json(200, serde_json::json!({"message": said})),
        Err(e) => {
            let status = match &e {
                approval::ApprovalError::NotAnApprover(_) => 403,
                approval::ApprovalError::UnknownDeployment(_) => 404,
                approval::ApprovalError::NotWaiting(_) | approval::ApprovalError::Expired(_) => 409,
                approval::ApprovalError::NotConfigured => 409,
                approval::ApprovalError::Aws(a) if a.is_retryable() => 503,
                approval::ApprovalError::Aws(_) => 502,
            };
            UrlResponse::error(status, e.error_name(), e.to_string())
        }
    })
}

#[cfg(test)]
mod tests;
