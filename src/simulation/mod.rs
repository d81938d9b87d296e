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

pub const DEFINITION: &str = include_str!("../../statemachines/rollout.asl.json");
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
mod dispatch;
mod inputs;
mod invariant;
mod lambda_async;
mod ticks;

use dispatch::*;
pub use inputs::*;
pub use lambda_async::*;
pub use ticks::*;

/// The approval URL of the simulated stack (only a name: the simulator calls the handler).
pub const APPROVAL_URL: &str = "https://example.lambda-url.eu-west-1.on.aws/";

/// A simulated AWS account with greenlight deployed in it.
#[derive(Clone)]
pub struct Simulation {
    pub sim: Sim,
    pub engine: Engine,
    machine: Arc<Machine>,
    pub settings: Settings,
    /// Shared: a simulation is cloned into every delivery it makes.
    pub config: Arc<Config>,
    results: Arc<Mutex<Finished>>,
    running: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    /// The reconcile schedule, when one runs.
    schedule: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
    /// What the asynchronously invoked functions did that no notification shows (a failed
    /// invocation, a dead letter, a push reconcile recovered), for the timeline.
    notes: Arc<Mutex<Vec<Note>>>,
    /// The ticks the queue delivered ([`Simulation::deliveries`]).
    deliveries: Arc<Mutex<Vec<Delivery>>>,
}

/// A line for the timeline about what an asynchronously invoked function did.
#[derive(Clone, Debug)]
pub struct Note {
    pub at: DateTime<Utc>,
    /// Its place in the causal order.
    pub seq: u64,
    /// `app/environment`, or the function's name.
    pub environment: String,
    pub text: String,
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
        // The handlers' metric lines are for CloudWatch, not for a rehearsal's output: they
        // are kept on this thread (the runtime's one) and dropped with the next simulation.
        greenlight_lambda::metrics::capture();
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
        let results = Arc::new(Mutex::new(Finished::default()));
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
        let simulation = Simulation {
            sim,
            engine,
            machine,
            settings,
            config: Arc::new(config.clone()),
            results,
            running,
            schedule: Arc::new(Mutex::new(None)),
            notes: Arc::new(Mutex::new(Vec::new())),
            deliveries: Arc::new(Mutex::new(Vec::new())),
        };
        simulation.subscribe_event_relay();
        simulation.subscribe_ticks();
        simulation
    }

    /// The event relay, subscribed to the stack's topic as template.yaml subscribes it:
    /// SNS invokes it asynchronously with each notification published there.
    fn subscribe_event_relay(&self) {
        let s = self.clone();
        self.sim.world().publish_sink = Some(Arc::new(move |topic: &Arn, n: &Notification| {
            if topic != &s.settings.topic {
                return;
            }
            let body = serde_json::to_string(n).expect("a notification serializes");
            let delivery = handlers::SnsDelivery::of(topic.as_str(), body);
            let event = serde_json::to_value(delivery).expect("a delivery serializes");
            let relay = s.clone();
            s.spawn(async move {
                let _ = relay.deliver_async(Async::EventRelay, event).await;
            });
        }));
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
    ) -> Result<Promotion, greenlight_core::usecase::promote::CommandError> {
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
    ) -> Result<Promotion, greenlight_core::usecase::promote::CommandError> {
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

    /// Runs `work` in the background; [`Simulation::settle`] waits for it too (a forced
    /// alarm's end, for one).
    pub fn spawn(&self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(work);
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(handle);
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
        self.spawn(async move {
            if let Some(out) = engine.redrive(&machine, &previous).await {
                ended(&world, &results, out);
            }
        });
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
        w.publish_sink = None;
        w.tick_sink = None;
    }

    /// Finished executions keep their summary only (name, status, times, output), and the
    /// history of running ones keeps the kind of each event but not the states' input and
    /// output: for many rollouts at once, where no timeline is read.
    pub fn summaries_only(&self) {
        self.results
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .summaries_only = true;
        self.engine.record_kinds_only(true);
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
            .executions
            .clone()
    }
    /// The live colour of an environment, if all traffic goes to one.
    pub fn live(&self, app: &str, env: &str) -> Option<Colour> {
        let (_, e) = self.config.environment(app, env)?;
        self.sim.world().live_colour(e)
    }
}

/// The executions that have ended.
#[derive(Default)]
pub(super) struct Finished {
    executions: Vec<Execution>,
    /// Keep each one's summary only (name, status, times, output), not its history and
    /// input ([`Simulation::summaries_only`]).
    summaries_only: bool,
}

/// Records how an execution ended: its status in the simulated Step Functions, and the
/// execution among those that ended.
pub(super) fn ended(world: &Sim, results: &Mutex<Finished>, mut out: Execution) {
    use greenlight_core::ports::ExecutionStatus;
    if let Some(x) = world.world().executions.get_mut(&out.name) {
        x.status = match out.status {
            greenlight_asl::Status::Succeeded => ExecutionStatus::Succeeded,
            greenlight_asl::Status::Failed => ExecutionStatus::Failed,
            greenlight_asl::Status::TimedOut => ExecutionStatus::TimedOut,
            greenlight_asl::Status::Aborted => ExecutionStatus::Aborted,
        };
    }
    let mut finished = results.lock().unwrap_or_else(|p| p.into_inner());
    if finished.summaries_only {
        out.history = Vec::new();
        out.input = Value::Null;
    }
    finished.executions.push(out);
}
