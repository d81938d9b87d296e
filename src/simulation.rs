//! The real state machine (`statemachines/rollout.asl.json`) run by the ASL runner, its Task
//! states dispatched to the real Lambda handlers, against the simulated AWS — all on tokio's
//! paused clock, so hours of rollout pass in milliseconds. This is what `greenlight demo`,
//! `greenlight simulate` and the scenario tests drive.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use greenlight_asl::engine::BoxFuture;
use greenlight_asl::{Dispatcher, Engine, Execution, Machine, TaskError};
use greenlight_core::config::{Colour, Config};
use greenlight_core::notify::Notification;
use greenlight_core::ports::{HealthState, Notifier, PortError, RolloutState};
use greenlight_core::usecase::on_push::OnPushOutput;
use greenlight_core::usecase::promote::Promotion;
use greenlight_core::{Arn, Digest};
use greenlight_lambda::{handlers, Failure, Settings};
use greenlight_sim::{Behaviour, Sim, TokenAnswer};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

pub const DEFINITION: &str = include_str!("../statemachines/rollout.asl.json");
pub const STATE_MACHINE: &str =
    "arn:aws:states:eu-west-1:123456789012:stateMachine:greenlight-rollout";
pub const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:greenlight";

/// The functions the definition's `${…FunctionArn}` substitutions name.
const FUNCTIONS: &[&str] = &[
    "Prepare", "Deploy", "Check", "Await", "Shift", "Finalize", "Retire", "Rollback", "Notify",
];

fn function_arn(name: &str) -> String {
    format!(
        "arn:aws:lambda:eu-west-1:123456789012:function:greenlight-{}",
        name.to_lowercase()
    )
}

/// Runs `work` as the Lambda function `name` (`prepare`, `on-push`, …) or, for the state
/// machine's own service integrations, `state-machine`: the world records which of them
/// made each AWS call (the least-privilege test compares that with template.yaml).
pub async fn as_function<F: std::future::Future>(name: &str, work: F) -> F::Output {
    greenlight_sim::CURRENT_FUNCTION
        .scope(name.to_string(), work)
        .await
}

/// Dispatches Task states to the Lambda handlers and SNS publishes to the simulator.
struct SimDispatcher {
    sim: Sim,
    settings: Settings,
}

fn lambda_error(e: PortError) -> TaskError {
    let name = match e {
        PortError::Throttled { .. } => "Lambda.TooManyRequestsException",
        _ => "Lambda.ServiceException",
    };
    TaskError::new(name, e.to_string())
}

fn failure(f: Failure) -> TaskError {
    TaskError::new(
        f.name,
        json!({"errorType": f.name, "errorMessage": f.message}).to_string(),
    )
}

/// Runs a handler as the Lambda function `function` does (`greenlight_lambda::dispatch`),
/// its AWS calls recorded as that function's.
async fn run_as<Req, Resp, F, Fut>(
    function: &str,
    handler: F,
    sim: Sim,
    settings: Settings,
    payload: Value,
) -> Result<Value, Failure>
where
    Req: DeserializeOwned,
    Resp: Serialize + Send + 'static,
    F: Fn(Sim, Settings, Req) -> Fut,
    Fut: std::future::Future<Output = Result<Resp, Failure>> + Send + 'static,
{
    // `dispatch` runs the handler on a task of its own, which does not inherit the name of
    // the function: the handler's future carries it.
    let function = function.to_string();
    let named = move |sim, settings, req| {
        greenlight_sim::CURRENT_FUNCTION.scope(function.clone(), handler(sim, settings, req))
    };
    greenlight_lambda::dispatch(named, sim, settings, payload).await
}

/// Runs a handler exactly as the Lambda function does (`greenlight_lambda::dispatch`: the
/// same decoding, the same error names), wrapped as Step Functions' `lambda:invoke` result.
async fn invoke<Req, Resp, F, Fut>(
    payload: Value,
    handler: F,
    sim: Sim,
    settings: Settings,
) -> Result<Value, TaskError>
where
    Req: DeserializeOwned,
    Resp: Serialize + Send + 'static,
    F: Fn(Sim, Settings, Req) -> Fut,
    Fut: std::future::Future<Output = Result<Resp, Failure>> + Send + 'static,
{
    let function = greenlight_sim::CURRENT_FUNCTION
        .try_with(Clone::clone)
        .unwrap_or_default();
    let out = run_as(&function, handler, sim, settings, payload)
        .await
        .map_err(failure)?;
    Ok(json!({"Payload": out, "StatusCode": 200}))
}

/// How Step Functions names an SNS error of its `sns:publish` integration.
fn sns_error(e: PortError) -> TaskError {
    let name = match &e {
        PortError::Throttled { .. } => "SNS.ThrottledException",
        PortError::AccessDenied { .. } => "SNS.AuthorizationErrorException",
        PortError::NotFound { .. } => "SNS.NotFoundException",
        PortError::Invalid { .. } => "SNS.InvalidParameterException",
        _ => "SNS.InternalErrorException",
    };
    TaskError::new(name, e.to_string())
}

/// The `sns:publish` integration: greenlight's rendered notices (`MessageStructure: json`)
/// and the plain-text ones the state machine builds itself.
async fn publish(sim: &Sim, input: &Value) -> Result<Value, TaskError> {
    let invalid = |m: String| TaskError::new("SNS.InvalidParameterException", m);
    let topic = Arn::parse(input["TopicArn"].as_str().unwrap_or_default()).map_err(invalid)?;
    let text = input["Message"].as_str().unwrap_or_default();
    let n: Notification = if input["MessageStructure"] == "json" {
        let message: Value =
            serde_json::from_str(text).map_err(|e| invalid(format!("Message: {e}")))?;
        serde_json::from_str(message["sqs"].as_str().unwrap_or_default())
            .map_err(|e| invalid(format!("Message.sqs: {e}")))?
    } else {
        let attr = |k: &str| {
            input["MessageAttributes"][k]["StringValue"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let kind = serde_json::from_value(json!(attr("event")))
            .map_err(|e| invalid(format!("MessageAttributes.event: {e}")))?;
        let mut n = Notification::new(kind, &attr("app"), &attr("environment"), sim.now());
        n.severity = serde_json::from_value(json!(attr("severity")))
            .map_err(|e| invalid(format!("MessageAttributes.severity: {e}")))?;
        n.reason = Some(text.to_string());
        n
    };
    let id = sim.publish(&topic, &n).await.map_err(sns_error)?;
    Ok(json!({"MessageId": id}))
}

/// The `aws-sdk:elasticloadbalancingv2:modifyListener` integration, for a forward action.
async fn modify_listener(sim: &Sim, input: &Value) -> Result<Value, TaskError> {
    let invalid = |m: String| TaskError::new("ElasticLoadBalancingV2.ValidationErrorException", m);
    let listener =
        Arn::parse(input["ListenerArn"].as_str().unwrap_or_default()).map_err(invalid)?;
    let groups = input["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut weights = Vec::new();
    for g in groups {
        weights.push(greenlight_core::ports::TargetWeight {
            target_group: Arn::parse(g["TargetGroupArn"].as_str().unwrap_or_default())
                .map_err(invalid)?,
            weight: g["Weight"].as_u64().unwrap_or(1).min(100) as u8,
        });
    }
    greenlight_core::ports::LoadBalancer::set_listener_weights(sim, &listener, &weights)
        .await
        .map_err(|e| {
            let name = match &e {
                PortError::Throttled { .. } => "ElasticLoadBalancingV2.ThrottlingException",
                PortError::AccessDenied { .. } => "ElasticLoadBalancingV2.AccessDeniedException",
                PortError::NotFound { .. } => "ElasticLoadBalancingV2.ListenerNotFoundException",
                _ => "States.TaskFailed",
            };
            TaskError::new(name, e.to_string())
        })?;
    Ok(json!({}))
}

impl Dispatcher for SimDispatcher {
    fn sequence(&self) -> u64 {
        self.sim.world().next_seq()
    }

    fn state_entered(&self, execution: &str, state: &str) {
        let sink = {
            let w = self.sim.world();
            match (&w.kill_at, &w.stop_sink) {
                (Some(at), Some(sink)) if at == state => Some(sink.clone()),
                _ => None,
            }
        };
        if let Some(sink) = sink {
            sink(
                execution,
                "Simulation.Killed",
                &format!("stopped as it entered {state}"),
            );
        }
    }

    fn call<'a>(
        &'a self,
        resource: &'a str,
        input: Value,
        _token: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Value, TaskError>> {
        Box::pin(async move {
            let (sim, s) = (self.sim.clone(), self.settings.clone());
            match resource {
                "arn:aws:states:::lambda:invoke"
                | "arn:aws:states:::lambda:invoke.waitForTaskToken" => {
                    let function = input["FunctionName"]
                        .as_str()
                        .unwrap_or_default()
                        .rsplit(':')
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    // A timeout whose invocation landed: the function runs, its answer
                    // is lost, and Step Functions sees the invocation fail.
                    let lost = {
                        let mut w = sim.world();
                        greenlight_sim::CURRENT_FUNCTION.sync_scope("state-machine".into(), || {
                            w.note_access("lambda:InvokeFunction")
                        });
                        w.call(&format!("lambda:Invoke/{function}"))
                            .map_err(lambda_error)?;
                        w.lost_reply.take()
                    };
                    let payload = input["Payload"].clone();
                    let name = function.trim_start_matches("greenlight-").to_string();
                    let result = as_function(&name, async move {
                        match function.as_str() {
                            "greenlight-prepare" => {
                                invoke(payload, handlers::prepare, sim, s).await
                            }
                            "greenlight-deploy" => invoke(payload, handlers::deploy, sim, s).await,
                            "greenlight-check" => invoke(payload, handlers::check, sim, s).await,
                            "greenlight-await" => {
                                invoke(payload, handlers::await_token, sim, s).await
                            }
                            "greenlight-shift" => invoke(payload, handlers::shift, sim, s).await,
                            "greenlight-finalize" => {
                                invoke(payload, handlers::finalize, sim, s).await
                            }
                            "greenlight-retire" => invoke(payload, handlers::retire, sim, s).await,
                            "greenlight-rollback" => {
                                invoke(payload, handlers::rollback, sim, s).await
                            }
                            "greenlight-notify" => invoke(payload, handlers::notify, sim, s).await,
                            other => Err(TaskError::new(
                                "Lambda.ResourceNotFoundException",
                                format!("no function {other}"),
                            )),
                        }
                    })
                    .await;
                    match lost {
                        Some(e) if result.is_ok() => Err(lambda_error(e)),
                        _ => result,
                    }
                }
                "arn:aws:states:::sns:publish" => {
                    as_function("state-machine", publish(&sim, &input)).await
                }
                "arn:aws:states:::aws-sdk:elasticloadbalancingv2:modifyListener" => {
                    as_function("state-machine", modify_listener(&sim, &input)).await
                }
                other => Err(TaskError::new(
                    "States.TaskFailed",
                    format!("the simulator does not run {other}"),
                )),
            }
        })
    }
}

/// The approval URL of the simulated stack (only a name: the simulator calls the handler).
pub const APPROVAL_URL: &str = "https://example.lambda-url.eu-west-1.on.aws/";

/// A simulated AWS account with greenlight deployed in it.
#[derive(Clone)]
pub struct Simulation {
    pub sim: Sim,
    pub engine: Engine,
    machine: Arc<Machine>,
    pub settings: Settings,
    pub config: Config,
    results: Arc<Mutex<Vec<Execution>>>,
    running: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    /// The reconcile schedule, when one runs.
    schedule: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
    /// What the asynchronously invoked functions did that no notification shows (a failed
    /// invocation, a dead letter, a push reconcile recovered), for the timeline.
    notes: Arc<Mutex<Vec<crate::demo::Moment>>>,
}

/// Lambda's waits before its two retries of a failed asynchronous invocation (seconds).
pub const ASYNC_RETRY_DELAYS: [u64; 2] = [60, 120];
/// How often the `reconcile` function runs: the template's default `ReconcileMinutes`.
pub const RECONCILE_PERIOD: u64 = 15 * 60;
/// The stack's dead-letter queue (Lambda's on-failure destination) in the simulator.
pub const DEAD_LETTER_QUEUE: &str =
    "https://sqs.eu-west-1.amazonaws.com/123456789012/greenlight-dead-letters";

/// The functions AWS invokes asynchronously.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Async {
    OnPush,
    AlarmRelay,
    Reconcile,
}

impl Async {
    /// Lambda's retries of a failed invocation (template.yaml's `EventInvokeConfig`):
    /// reconcile takes none, the next period being its retry.
    pub fn retries(self) -> &'static [u64] {
        match self {
            Async::OnPush | Async::AlarmRelay => &ASYNC_RETRY_DELAYS,
            Async::Reconcile => &[],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Async::OnPush => "on-push",
            Async::AlarmRelay => "alarm-relay",
            Async::Reconcile => "reconcile",
        }
    }
}

impl Simulation {
    /// Builds the world from `config` (blue live on `initial`, `desired` tasks per
    /// environment) and deploys greenlight into it. Must run inside a tokio runtime; with a
    /// paused clock, time is virtual.
    pub fn new(
        config: &Config,
        initial: &Digest,
        desired: u32,
        seed: u64,
        start: DateTime<Utc>,
    ) -> Simulation {
        let sim = Sim::new(seed, start);
        sim.world().install(config, initial, desired);
        sim.follow_tokio_clock();
        let settings = Settings {
            table: "greenlight-state".into(),
            topic: Arn::parse(TOPIC).expect("the simulated topic is an ARN"),
            state_machine: Some(STATE_MACHINE.into()),
        };
        let dispatcher = Arc::new(SimDispatcher {
            sim: sim.clone(),
            settings: settings.clone(),
        });
        let engine = Engine::new(dispatcher, STATE_MACHINE, start, seed);
        let subs: BTreeMap<String, String> = FUNCTIONS
            .iter()
            .map(|f| (format!("{f}FunctionArn"), function_arn(f)))
            .collect();
        let definition: Value = serde_json::from_str(DEFINITION).expect("the definition is JSON");
        let machine =
            Arc::new(Machine::load(&definition, &subs).expect("the rollout definition loads"));
        let results = Arc::new(Mutex::new(Vec::new()));
        let running = Arc::new(Mutex::new(Vec::new()));
        {
            let engine = engine.clone();
            sim.world().stop_sink = Some(Arc::new(move |name: &str, error: &str, cause: &str| {
                engine.stop(name, error, cause)
            }));
        }
        {
            let engine = engine.clone();
            sim.world().token_sink =
                Some(Arc::new(
                    move |token: &str, answer: TokenAnswer| match answer {
                        TokenAnswer::Success(v) => engine.send_task_success(token, v).is_ok(),
                        TokenAnswer::Failure { error, cause } => {
                            engine.send_task_failure(token, &error, &cause).is_ok()
                        }
                    },
                ));
        }
        {
            let (engine, machine, results, running, world) = (
                engine.clone(),
                machine.clone(),
                results.clone(),
                running.clone(),
                sim.clone(),
            );
            sim.world().start_sink = Some(Arc::new(move |e: greenlight_sim::Execution| {
                let (engine, machine, results, world) = (
                    engine.clone(),
                    machine.clone(),
                    results.clone(),
                    world.clone(),
                );
                let handle = tokio::spawn(async move {
                    let out = engine.run(&machine, &e.name, e.input.clone()).await;
                    ended(&world, &results, out);
                });
                running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(handle);
            }));
        }
        Simulation {
            sim,
            engine,
            machine,
            settings,
            config: config.clone(),
            results,
            running,
            schedule: Arc::new(Mutex::new(None)),
            notes: Arc::new(Mutex::new(Vec::new())),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.sim.now()
    }

    /// Pushes an image to ECR and delivers the push event to the on-push function.
    pub async fn push(
        &self,
        repository: &str,
        tag: &str,
        digest: &Digest,
        behaviour: Behaviour,
    ) -> Result<OnPushOutput, Failure> {
        self.sim
            .world()
            .push_image(repository, Some(tag), digest, behaviour);
        let event = push_event(repository, tag, digest, self.now());
        as_function(
            "on-push",
            handlers::on_push(self.sim.clone(), self.settings.clone(), event),
        )
        .await
    }

    /// Invokes an asynchronously invoked function (`on-push`, `alarm-relay`) with `event` as
    /// EventBridge and Lambda do: the first attempt now (its result returned); when it
    /// fails, Lambda's two retries, [`ASYNC_RETRY_DELAYS`] apart, in the background; and
    /// when those fail too, Lambda's on-failure record in the dead-letter queue
    /// ([`DEAD_LETTER_QUEUE`]). A fault injected on a port call stands for that call
    /// failing after the AWS SDK's own retries, so an event is lost exactly when all three
    /// invocations fail. [`Simulation::settle`] waits for the retries.
    pub async fn deliver_async(&self, function: Async, event: Value) -> Result<Value, Failure> {
        let first = self.invoke_async(function, event.clone()).await;
        if first.is_err() && !function.retries().is_empty() {
            let s = self.clone();
            let handle = tokio::spawn(async move {
                let mut last = None;
                for &delay in function.retries() {
                    tokio::time::sleep(std::time::Duration::from_secs(delay)).await;
                    match s.invoke_async(function, event.clone()).await {
                        Ok(_) => return,
                        Err(f) => last = Some(f),
                    }
                }
                let failure = last.map(|f| (f.name, f.message)).unwrap_or_default();
                s.note(
                    function.name(),
                    format!(
                        "✗ {} gave up after 3 attempts: the event is in the dead-letter queue",
                        function.name()
                    ),
                );
                let now = s.now();
                let mut w = s.sim.world();
                let id = format!("dl-{}", w.next_seq());
                let body = json!({
                    "version": "1.0",
                    "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "requestContext": {"functionArn": function_arn(function.name()), "condition": "RetriesExhausted", "approximateInvokeCount": 3},
                    "requestPayload": event,
                    "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
                    "responsePayload": {"errorType": failure.0, "errorMessage": failure.1},
                });
                w.queues
                    .entry(DEAD_LETTER_QUEUE.to_string())
                    .or_default()
                    .push((
                        greenlight_core::ports::DeadLetter {
                            id: id.clone(),
                            receipt: id,
                            body: body.to_string(),
                            sent_at: Some(now),
                        },
                        now,
                    ));
            });
            self.running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(handle);
        }
        first
    }

    /// Adds a line to the timeline.
    pub fn note(&self, environment: &str, text: String) {
        let seq = self.sim.world().next_seq();
        self.note_at(seq, environment, text);
    }

    /// Adds a line to the timeline at a place in the causal order taken earlier.
    fn note_at(&self, seq: u64, environment: &str, text: String) {
        let at = self.sim.world().now;
        self.notes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(crate::demo::Moment {
                at,
                environment: environment.to_string(),
                text,
                severity: None,
                seq,
            });
    }

    /// The timeline lines added by [`Simulation::note`].
    pub fn notes(&self) -> Vec<crate::demo::Moment> {
        self.notes.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// One invocation of an asynchronously invoked function, with what it did worth a
    /// timeline line.
    async fn invoke_async(&self, function: Async, event: Value) -> Result<Value, Failure> {
        let seq = self.sim.world().next_seq();
        let result = self.invoke_async_quietly(function, event).await;
        match &result {
            Err(f) => self.note_at(
                seq,
                function.name(),
                format!("✗ {} failed: {} — {}", function.name(), f.name, f.message),
            ),
            Ok(out) if function == Async::Reconcile => {
                for c in out["checked"].as_array().into_iter().flatten() {
                    if c["finding"] == "started" {
                        self.note_at(
                            seq,
                            &format!(
                                "{}/{}",
                                c["app"].as_str().unwrap_or("?"),
                                c["environment"].as_str().unwrap_or("?")
                            ),
                            format!(
                                "⟳ reconcile started {}: {} was pushed, and nothing acted on it",
                                c["deployment"].as_str().unwrap_or("?"),
                                c["image"].as_str().unwrap_or("?")
                            ),
                        );
                    }
                }
            }
            Ok(_) => {}
        }
        result
    }

    async fn invoke_async_quietly(&self, function: Async, event: Value) -> Result<Value, Failure> {
        let (sim, settings) = (self.sim.clone(), self.settings.clone());
        match function {
            Async::OnPush => run_as(function.name(), handlers::on_push, sim, settings, event).await,
            Async::AlarmRelay => {
                run_as(function.name(), handlers::alarm_relay, sim, settings, event).await
            }
            Async::Reconcile => {
                run_as(function.name(), handlers::reconcile, sim, settings, event).await
            }
        }
    }

    /// Runs the scheduled `reconcile` function once, as EventBridge Scheduler does.
    pub async fn reconcile(&self) -> Result<Value, Failure> {
        let event = json!({"source": handlers::SCHEDULE_SOURCE});
        self.deliver_async(Async::Reconcile, event).await
    }

    /// Runs `reconcile` once; whether it succeeded and started nothing.
    pub async fn run_reconcile(&self) -> bool {
        match self.reconcile().await {
            Ok(out) => out["checked"]
                .as_array()
                .is_none_or(|c| c.iter().all(|c| c["finding"] != "started")),
            Err(_) => false,
        }
    }

    /// Ends the schedule [`Simulation::schedule_reconcile`] started.
    pub fn stop_schedule(&self) {
        if let Some(h) = self
            .schedule
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            h.abort();
        }
    }

    /// Runs `reconcile` every [`RECONCILE_PERIOD`] from now on (the template's default
    /// schedule), for as long as the simulation lives; [`Simulation::close`] ends it.
    pub fn schedule_reconcile(&self) {
        let s = self.clone();
        let handle = tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(RECONCILE_PERIOD)).await;
                if s.sim.world().start_sink.is_none() {
                    return;
                }
                s.run_reconcile().await;
            }
        });
        *self.schedule.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
    }

    /// Delivers an event to the on-push function as EventBridge would (possibly again).
    pub async fn deliver(&self, event: Value) -> Result<OnPushOutput, Failure> {
        as_function(
            "on-push",
            handlers::on_push(self.sim.clone(), self.settings.clone(), event),
        )
        .await
    }

    pub async fn promote(
        &self,
        app: &str,
        from: &str,
        to: &str,
        by: &str,
    ) -> Result<Promotion, greenlight_core::usecase::promote::PromoteError> {
        self.promote_digest(app, from, to, None, by).await
    }

    /// Answers an approval through the approval URL as `by` (see [`principal_of`]), as
    /// `greenlight approve`/`reject` do: the real handler, given the request Lambda
    /// hands a function URL's handler. Returns the URL's message, or its error.
    pub async fn answer_approval(
        &self,
        deployment: &str,
        by: &str,
        decision: greenlight_core::usecase::approval::Verdict,
        reason: Option<&str>,
    ) -> Result<String, String> {
        let caller = SignedIn {
            simulation: self,
            principal: principal_of(by),
        };
        let decision = greenlight_core::usecase::approval::Decision {
            deployment: deployment.to_string(),
            decision,
            reason: reason.map(str::to_string),
        };
        use greenlight_core::ports::ApprovalUrl;
        match caller.send_decision(APPROVAL_URL, &decision).await {
            Ok((200, message)) => Ok(message),
            Ok((status, message)) => Err(format!("{message} (HTTP {status})")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// `greenlight promote --digest`: promotes `digest` (which must have succeeded in
    /// `from`), or the newest digest that succeeded there when `None`.
    pub async fn promote_digest(
        &self,
        app: &str,
        from: &str,
        to: &str,
        digest: Option<&Digest>,
        by: &str,
    ) -> Result<Promotion, greenlight_core::usecase::promote::PromoteError> {
        let sm = Arn::parse(STATE_MACHINE).expect("an ARN");
        greenlight_core::usecase::promote::promote(
            &self.sim,
            &self.config,
            &sm,
            app,
            from,
            to,
            digest,
            by,
        )
        .await
    }

    /// Redrives an execution that ended unsuccessfully (`RedriveExecution`): it runs again
    /// from the state it was in (see `Engine::redrive`). Whether it was redriven (an
    /// execution that succeeded, or is unknown, is not).
    pub fn redrive(&self, name: &str) -> bool {
        let Some(previous) = self.finished().into_iter().rev().find(|e| e.name == name) else {
            return false;
        };
        if previous.status == greenlight_asl::Status::Succeeded || previous.stopped_in.is_none() {
            return false;
        }
        if let Some(x) = self.sim.world().executions.get_mut(name) {
            x.status = greenlight_core::ports::ExecutionStatus::Running;
        }
        let (engine, machine, results, world) = (
            self.engine.clone(),
            self.machine.clone(),
            self.results.clone(),
            self.sim.clone(),
        );
        let handle = tokio::spawn(async move {
            if let Some(out) = engine.redrive(&machine, &previous).await {
                ended(&world, &results, out);
            }
        });
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(handle);
        true
    }

    /// Waits (in virtual time) until every execution started so far, and any they start,
    /// has ended.
    pub async fn settle(&self) {
        loop {
            let handles: Vec<_> =
                std::mem::take(&mut *self.running.lock().unwrap_or_else(|p| p.into_inner()));
            if handles.is_empty() {
                return;
            }
            for h in handles {
                let _ = h.await;
            }
        }
    }

    /// Breaks the reference cycles between the simulated world and the engine (the world's
    /// sinks hold the engine, whose dispatcher holds the world), so that a finished
    /// simulation frees its memory. Call when done with it.
    pub fn close(&self) {
        self.stop_schedule();
        let mut w = self.sim.world();
        w.token_sink = None;
        w.stop_sink = None;
        w.start_sink = None;
    }

    /// Lets virtual time pass.
    pub async fn sleep(&self, secs: u64) {
        tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
    }

    /// Executions that have ended, in the order they ended.
    pub fn finished(&self) -> Vec<Execution> {
        self.results
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The invariant after every execution has ended: in each environment the production
    /// listener sends all traffic to one colour, that colour runs a healthy revision, the
    /// other colour is scaled to zero, the lock is free; and every execution published a
    /// terminal notification.
    pub fn invariant(&self) -> Vec<String> {
        let w = self.sim.world();
        let mut broken = Vec::new();
        for (app_name, app) in &self.config.apps {
            for (env_name, env) in &app.environments {
                let at = format!("{app_name}/{env_name}");
                match w.live_colour(env) {
                    None => {
                        let weights = w
                            .listeners
                            .get(&env.listeners.production)
                            .map(|l| l.weights.clone())
                            .unwrap_or_default();
                        broken.push(format!(
                            "{at}: traffic is not all on one colour ({})",
                            greenlight_core::usecase::describe_weights(env, &weights)
                        ));
                    }
                    Some(live) => {
                        let key = (env.cluster.clone(), env.services.get(live).clone());
                        if let Some(service) = w.services.get(&key) {
                            let state = w.service_state(service);
                            let healthy = w
                                .target_health(env.target_groups.get(live))
                                .iter()
                                .filter(|t| t.state == HealthState::Healthy)
                                .count() as u32;
                            let behaviour = w.behaviour_of(&service.task_definition);
                            if state.desired == 0
                                || state.running < state.desired
                                || state.rollout != RolloutState::Completed
                                || healthy < state.desired
                                || behaviour.error_rate >= 0.05
                            {
                                broken.push(format!(
                                    "{at}: the live colour {live} is not healthy ({} of {} tasks, {healthy} healthy targets, error rate {:.0}%)",
                                    state.running,
                                    state.desired,
                                    behaviour.error_rate * 100.0
                                ));
                            }
                        }
                        // Once every execution has ended, nothing can need the other
                        // colour: it must be scaled to zero.
                        let idle = (env.cluster.clone(), env.services.get(live.other()).clone());
                        if let Some(service) = w.services.get(&idle) {
                            if service.desired > 0 {
                                broken.push(format!(
                                    "{at}: {} does not serve traffic but is left warm ({} tasks)",
                                    idle.1, service.desired
                                ));
                            }
                        }
                    }
                }
                if let Some(lock) = w.store.locks.get(&(app_name.clone(), env_name.clone())) {
                    if lock.expires_at > w.now {
                        broken.push(format!("{at}: still locked by {}", lock.owner));
                    }
                }
            }
        }
        for e in self.finished() {
            let terminal = w.published.iter().any(|p| {
                p.notification.deployment.as_deref() == Some(e.name.as_str())
                    && p.notification.event.is_terminal()
            });
            if !terminal {
                broken.push(format!(
                    "{}: ended {} without a terminal notification",
                    e.name, e.status
                ));
            }
        }
        broken
    }

    /// The live colour of an environment, if all traffic goes to one.
    pub fn live(&self, app: &str, env: &str) -> Option<Colour> {
        let (_, e) = self.config.environment(app, env)?;
        self.sim.world().live_colour(e)
    }
}

/// Records how an execution ended: its status in the simulated Step Functions, and the
/// execution among those that ended.
fn ended(world: &Sim, results: &Mutex<Vec<Execution>>, out: Execution) {
    use greenlight_core::ports::ExecutionStatus;
    if let Some(x) = world.world().executions.get_mut(&out.name) {
        x.status = match out.status {
            greenlight_asl::Status::Succeeded => ExecutionStatus::Succeeded,
            greenlight_asl::Status::Failed => ExecutionStatus::Failed,
            greenlight_asl::Status::TimedOut => ExecutionStatus::TimedOut,
            greenlight_asl::Status::Aborted => ExecutionStatus::Aborted,
        };
    }
    results.lock().unwrap_or_else(|p| p.into_inner()).push(out);
}

/// The approval URL of a simulated stack, called as `principal` (what AWS would
/// authenticate): the real approval handler behind it.
pub struct SignedIn<'a> {
    pub simulation: &'a Simulation,
    pub principal: String,
}

impl greenlight_core::ports::ApprovalUrl for SignedIn<'_> {
    async fn send_decision(
        &self,
        _url: &str,
        decision: &greenlight_core::usecase::approval::Decision,
    ) -> greenlight_core::ports::PortResult<(u16, String)> {
        let request = approval_request(
            &self.principal,
            &serde_json::to_string(decision).expect("serializes"),
        );
        let answer = as_function(
            "approve",
            handlers::approve_url(
                self.simulation.sim.clone(),
                self.simulation.settings.clone(),
                request,
            ),
        )
        .await
        .map_err(|f| PortError::Invalid {
            operation: "lambda:InvokeFunctionUrl".into(),
            message: f.to_string(),
        })?;
        let body: Value = serde_json::from_str(&answer.body).unwrap_or_default();
        Ok((
            answer.status_code,
            body["message"].as_str().unwrap_or_default().to_string(),
        ))
    }
}

/// The principal a rehearsal's `by` stands for: an ARN as given, else a session (of that
/// name) of the role of that name in the simulated account.
pub fn principal_of(by: &str) -> String {
    if by.starts_with("arn:") {
        by.to_string()
    } else {
        format!("arn:aws:sts::123456789012:assumed-role/{by}/{by}")
    }
}

/// What Lambda hands the approval function for a signed POST to its URL.
pub fn approval_request(principal: &str, body: &str) -> Value {
    json!({
        "version": "2.0", "rawPath": "/", "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012", "requestId": "r-1",
            "authorizer": {"iam": {"accessKey": "ASIAEXAMPLE", "accountId": "123456789012", "callerId": "AROAEXAMPLE:session", "userArn": principal, "userId": "AROAEXAMPLE:session"}},
            "http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "greenlight"},
            "domainName": "example.lambda-url.eu-west-1.on.aws", "time": "20/Nov/2026:09:00:00 +0000", "timeEpoch": 1795165200000u64
        },
        "body": body, "isBase64Encoded": false
    })
}

/// An ECR push event as EventBridge delivers it.
pub fn push_event(repository: &str, tag: &str, digest: &Digest, at: DateTime<Utc>) -> Value {
    push_event_of(repository, Some(tag), digest, at)
}

/// An ECR push event; without a tag, a push by digest (ECR omits `image-tag`).
pub fn push_event_of(
    repository: &str,
    tag: Option<&str>,
    digest: &Digest,
    at: DateTime<Utc>,
) -> Value {
    let mut detail = json!({"result": "SUCCESS", "repository-name": repository, "image-digest": digest.to_string(), "action-type": "PUSH"});
    if let Some(tag) = tag {
        detail["image-tag"] = json!(tag);
    }
    json!({
        "version": "0", "id": format!("push-{}-{}", &digest.hex()[..8], tag.unwrap_or("untagged")),
        "detail-type": "ECR Image Action", "source": "aws.ecr",
        "account": "123456789012", "time": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "region": "eu-west-1", "resources": [],
        "detail": detail
    })
}

/// A digest made from a short name, for examples and scenarios (`v2` → sha256 of its bytes
/// repeated), so the same name always gives the same digest.
pub fn digest_for(name: &str) -> Digest {
    let mut hex = String::new();
    let mut state: u64 = 0xcbf2_9ce4_8422_2325;
    while hex.len() < 64 {
        for b in name.bytes().chain(hex.len().to_le_bytes()) {
            state ^= u64::from(b);
            state = state.wrapping_mul(0x0100_0000_01b3);
        }
        hex.push_str(&format!("{state:016x}"));
    }
    Digest::parse(&format!("sha256:{}", &hex[..64])).expect("64 hex digits")
}
