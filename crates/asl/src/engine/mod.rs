//! Executing a loaded definition. Time is tokio's clock: in a runtime with paused time it is
//! virtual and advances by itself whenever every execution waits, so hours of Wait states
//! and bake timeouts pass in milliseconds, deterministically.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tokio::sync::oneshot;
use tokio::time::{Duration, Instant};

use crate::definition::{
    Catcher, Kind, Machine, Operand, OptPath, Retrier, Rule, Seconds, State, WaitFor,
};
use crate::intrinsics;
use crate::path::Path;

mod choice;
mod data;
mod states;

#[allow(unused_imports)]
use choice::*;
pub use choice::{evaluate, matches_error};
#[allow(unused_imports)]
use data::*;
#[allow(unused_imports)]
use states::*;

/// The state an execution is in and that state's input, kept for a redrive.
type Position = Option<(String, Arc<Value>)>;

/// The position an execution stopped in, as `Execution::stopped_in` keeps it.
fn taken(position: &Mutex<Position>) -> Option<(String, Value)> {
    position
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .map(|(state, input)| (state, Arc::unwrap_or_clone(input)))
}

/// A failure with an ASL error name, as Catch and Retry see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskError {
    pub error: String,
    pub cause: String,
}

impl TaskError {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        TaskError {
            error: error.into(),
            cause: cause.into(),
        }
    }
    fn runtime(cause: impl Into<String>) -> Self {
        TaskError::new("States.Runtime", cause)
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs Task states. `token` is set for `.waitForTaskToken` resources: the task then waits
/// for [`Engine::send_task_success`] / [`Engine::send_task_failure`] (or its timeout),
/// whatever the call returns.
pub trait Dispatcher: Send + Sync {
    fn call<'a>(
        &'a self,
        resource: &'a str,
        input: Value,
        token: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Value, TaskError>>;

    /// A number that grows with every event the embedder records, so that history events
    /// can be put in causal order with what the tasks did at the same instant. The default
    /// says nothing (0).
    fn sequence(&self) -> u64 {
        0
    }

    /// Told as an execution enters a state (for an embedder that stops executions at
    /// chosen states). Does nothing by default.
    fn state_entered(&self, _execution: &str, _state: &str) {}
}

/// One entry of an execution's history, shaped like Step Functions' (`TaskStateEntered`,
/// `TaskScheduled`, `TaskSucceeded`, `ExecutionFailed`, …).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    pub id: usize,
    pub timestamp: DateTime<Utc>,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Value::is_null")]
    pub details: Value,
    /// Causal order among events of the same instant, from [`Dispatcher::sequence`];
    /// not part of Step Functions' history.
    #[serde(skip)]
    pub seq: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Succeeded,
    Failed,
    TimedOut,
    /// Stopped from outside (`StopExecution`).
    Aborted,
}

impl std::fmt::Display for Status {
    /// Step Functions' own names, as in the execution's JSON.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::TimedOut => "TIMED_OUT",
            Status::Aborted => "ABORTED",
        })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Execution {
    pub name: String,
    pub status: Status,
    pub output: Option<Value>,
    pub error: Option<TaskError>,
    pub started_at: DateTime<Utc>,
    pub stopped_at: DateTime<Utc>,
    pub history: Vec<HistoryEvent>,
    /// The top-level state the execution was in when it ended unsuccessfully, with that
    /// state's input: where a redrive starts again ([`Engine::redrive`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_in: Option<(String, Value)>,
    /// The execution's original input (`$$.Execution.Input` of a redrive).
    #[serde(default)]
    pub input: Value,
    /// How many times it was redriven (`$$.Execution.RedriveCount`).
    #[serde(default)]
    pub redrive_count: u32,
}

#[derive(Default)]
struct Shared {
    /// History events keep their kind and state only, not their input and output (see
    /// [`Engine::record_kinds_only`]).
    kinds_only: bool,
    waiting: HashMap<String, oneshot::Sender<Result<Value, TaskError>>>,
    /// Running executions, by name: a send stops one.
    running: HashMap<String, oneshot::Sender<(String, String)>>,
    next_token: u64,
    rng: u64,
}

/// Runs executions. Cheap to clone; clones share the token registry.
#[derive(Clone)]
pub struct Engine {
    dispatcher: Arc<dyn Dispatcher>,
    shared: Arc<Mutex<Shared>>,
    origin: (DateTime<Utc>, Instant),
    state_machine: String,
}

/// Why answering a token failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("no task is waiting on that token (it timed out, was answered, or never existed)")]
    TaskDoesNotExist,
}

struct Ctx {
    execution: Arc<Value>,
    state_machine: Arc<Value>,
    map_item: Option<Value>,
    history: Arc<Mutex<Vec<HistoryEvent>>>,
    /// The state being run (`$$.State.Name`), and how often it has been retried so far
    /// (`$$.State.RetryCount`). Each state of each branch gets its own.
    state: Option<String>,
    retries: std::sync::atomic::AtomicU32,
}

impl Ctx {
    fn for_state(&self, name: &str) -> Ctx {
        Ctx {
            execution: self.execution.clone(),
            state_machine: self.state_machine.clone(),
            map_item: self.map_item.clone(),
            history: self.history.clone(),
            state: Some(name.to_string()),
            retries: std::sync::atomic::AtomicU32::new(0),
        }
    }
}

impl Engine {
    /// `start` is the wall-clock time the engine's clock starts at.
    pub fn new(
        dispatcher: Arc<dyn Dispatcher>,
        state_machine: &str,
        start: DateTime<Utc>,
        seed: u64,
    ) -> Engine {
        Engine {
            dispatcher,
            shared: Arc::new(Mutex::new(Shared {
                rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
                ..Default::default()
            })),
            origin: (start, Instant::now()),
            state_machine: state_machine.to_string(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        let elapsed = Instant::now() - self.origin.1;
        self.origin.0 + chrono::Duration::from_std(elapsed).unwrap_or_default()
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn random(&self) -> f64 {
        let mut s = self.shared();
        let mut x = s.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.rng = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Stops a running execution (`StopExecution`): it ends `ABORTED` at once, whatever
    /// state it is in; the task in flight is dropped. Whether it was running.
    pub fn stop(&self, name: &str, error: &str, cause: &str) -> bool {
        match self.shared().running.remove(name) {
            Some(tx) => tx.send((error.to_string(), cause.to_string())).is_ok(),
            None => false,
        }
    }

    /// Answers a waiting `.waitForTaskToken` task with success.
    pub fn send_task_success(&self, token: &str, output: Value) -> Result<(), TokenError> {
        let tx = self
            .shared()
            .waiting
            .remove(token)
            .ok_or(TokenError::TaskDoesNotExist)?;
        tx.send(Ok(output))
            .map_err(|_| TokenError::TaskDoesNotExist)
    }

    /// Answers a waiting `.waitForTaskToken` task with a failure.
    pub fn send_task_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> Result<(), TokenError> {
        let tx = self
            .shared()
            .waiting
            .remove(token)
            .ok_or(TokenError::TaskDoesNotExist)?;
        tx.send(Err(TaskError::new(error, cause)))
            .map_err(|_| TokenError::TaskDoesNotExist)
    }

    /// Whether a task waits on `token` now.
    pub fn is_waiting(&self, token: &str) -> bool {
        self.shared().waiting.contains_key(token)
    }

    /// Runs one execution to its end.
    pub async fn run(&self, machine: &Machine, name: &str, input: Value) -> Execution {
        self.run_from(machine, name, input, None, Vec::new(), 0)
            .await
    }

    /// Redrives an execution that ended unsuccessfully (`RedriveExecution`): it runs again
    /// from the top-level state it was in, with that state's input (a Parallel or Map
    /// state runs again whole), under the same name, its history continued. `None` when it
    /// ended successfully (Step Functions refuses those).
    pub async fn redrive(&self, machine: &Machine, previous: &Execution) -> Option<Execution> {
        if previous.status == Status::Succeeded {
            return None;
        }
        let from = previous.stopped_in.clone()?;
        let mut history = previous.history.clone();
        history.push(HistoryEvent {
            id: history.len() + 1,
            timestamp: self.now(),
            kind: "ExecutionRedriven".into(),
            state: None,
            details: json!({"redriveCount": previous.redrive_count + 1}),
            seq: self.dispatcher.sequence(),
        });
        Some(
            self.run_from(
                machine,
                &previous.name,
                previous.input.clone(),
                Some(from),
                history,
                previous.redrive_count + 1,
            )
            .await,
        )
    }

    /// The context of an execution's top level (`$$.Execution` is `execution`).
    fn top_context(&self, execution: Value, history: Arc<Mutex<Vec<HistoryEvent>>>) -> Ctx {
        Ctx {
            execution: Arc::new(execution),
            state_machine: Arc::new(
                json!({"Id": self.state_machine, "Name": self.state_machine.rsplit(':').next().unwrap_or_default()}),
            ),
            map_item: None,
            history,
            state: None,
            retries: std::sync::atomic::AtomicU32::new(0),
        }
    }

    async fn run_from(
        &self,
        machine: &Machine,
        name: &str,
        input: Value,
        from: Option<(String, Value)>,
        earlier: Vec<HistoryEvent>,
        redrive_count: u32,
    ) -> Execution {
        let started_at = self.now();
        let redriven = !earlier.is_empty();
        let history = Arc::new(Mutex::new(earlier));
        let position: Arc<Mutex<Position>> = Arc::new(Mutex::new(None));
        let execution = json!({
            "Id": format!("{}:{name}", self.state_machine.replace(":stateMachine:", ":execution:")),
            "Name": name,
            "StartTime": started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "Input": input,
            "RedriveCount": redrive_count,
        });
        let ctx = self.top_context(execution, history.clone());
        if !redriven {
            self.record(&ctx, "ExecutionStarted", None, || json!({"input": input}));
        }
        let (stop_tx, stop_rx) = oneshot::channel();
        self.shared().running.insert(name.to_string(), stop_tx);
        let (start_at, start_input) =
            from.unwrap_or_else(|| (machine.start_at.clone(), input.clone()));
        let run = self.run_top(machine, start_at, start_input, &ctx, &position);
        let limited = async {
            match machine.timeout_seconds {
                Some(t) => tokio::time::timeout(Duration::from_secs(t), run)
                    .await
                    .unwrap_or_else(|_| {
                        Err(TaskError::new("States.Timeout", "the execution timed out"))
                    }),
                None => run.await,
            }
        };
        let stopped = tokio::select! {
            biased; // A stop that has come wins over a state ending in the same poll.
            Ok(why) = stop_rx => Err(why),
            result = limited => Ok(result),
        };
        self.shared().running.remove(name);
        let result = match stopped {
            Ok(result) => result,
            Err((error, cause)) => {
                self.record(
                    &ctx,
                    "ExecutionAborted",
                    None,
                    || json!({"error": error, "cause": cause}),
                );
                let history = history.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let stopped_in = taken(&position);
                return Execution {
                    name: name.to_string(),
                    status: Status::Aborted,
                    output: None,
                    error: Some(TaskError::new(&error, cause)),
                    started_at,
                    stopped_at: self.now(),
                    history,
                    stopped_in,
                    input,
                    redrive_count,
                };
            }
        };
        let (status, output, error) = match result {
            Ok(out) => {
                self.record(&ctx, "ExecutionSucceeded", None, || json!({"output": out}));
                (Status::Succeeded, Some(out), None)
            }
            Err(e) if e.error == "States.Timeout" && machine.timeout_seconds.is_some() => {
                self.record(
                    &ctx,
                    "ExecutionTimedOut",
                    None,
                    || json!({"error": e.error, "cause": e.cause}),
                );
                (Status::TimedOut, None, Some(e))
            }
            Err(e) => {
                self.record(
                    &ctx,
                    "ExecutionFailed",
                    None,
                    || json!({"error": e.error, "cause": e.cause}),
                );
                (Status::Failed, None, Some(e))
            }
        };
        let history = history.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let stopped_in = if status == Status::Succeeded {
            None
        } else {
            taken(&position)
        };
        Execution {
            name: name.to_string(),
            status,
            output,
            error,
            started_at,
            stopped_at: self.now(),
            history,
            stopped_in,
            input,
            redrive_count,
        }
    }

    /// From now on, history events keep their kind and state but not their details (the
    /// states' input and output): for a host that runs many executions and only counts
    /// them.
    pub fn record_kinds_only(&self, on: bool) {
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .kinds_only = on;
    }

    /// Appends an event to the execution's history; `details` is built only when the
    /// history keeps details (not in [`Engine::record_kinds_only`] mode).
    fn record(&self, ctx: &Ctx, kind: &str, state: Option<&str>, details: impl FnOnce() -> Value) {
        let kinds_only = self
            .shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .kinds_only;
        let details = if kinds_only { Value::Null } else { details() };
        let mut h = ctx.history.lock().unwrap_or_else(|p| p.into_inner());
        let id = h.len() + 1;
        h.push(HistoryEvent {
            id,
            timestamp: self.now(),
            kind: kind.to_string(),
            state: state.map(str::to_string),
            details,
            seq: self.dispatcher.sequence(),
        });
    }

    fn run_machine<'a>(
        &'a self,
        m: &'a Machine,
        input: Value,
        ctx: &'a Ctx,
    ) -> BoxFuture<'a, Result<Value, TaskError>> {
        self.run_states(m, m.start_at.clone(), input, ctx, None)
    }

    /// The top level of an execution, from `start_at`: keeps `position` on the state being
    /// run and its input.
    fn run_top<'a>(
        &'a self,
        m: &'a Machine,
        start_at: String,
        input: Value,
        ctx: &'a Ctx,
        position: &'a Mutex<Position>,
    ) -> BoxFuture<'a, Result<Value, TaskError>> {
        self.run_states(m, start_at, input, ctx, Some(position))
    }

    fn run_states<'a>(
        &'a self,
        m: &'a Machine,
        start_at: String,
        input: Value,
        ctx: &'a Ctx,
        position: Option<&'a Mutex<Position>>,
    ) -> BoxFuture<'a, Result<Value, TaskError>> {
        Box::pin(async move {
            let mut current = start_at;
            // Shared, not copied, between the state and the position kept for a redrive.
            let mut data = Arc::new(input);
            loop {
                let Some(state) = m.states.get(&current) else {
                    return Err(TaskError::new(
                        "States.Runtime",
                        format!("no state named {current}"),
                    ));
                };
                if let Some(p) = position {
                    *p.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some((current.clone(), data.clone()));
                }
                let type_name = type_name(&state.kind);
                self.dispatcher.state_entered(
                    ctx.execution["Name"].as_str().unwrap_or_default(),
                    &state.name,
                );
                self.record(
                    ctx,
                    &format!("{type_name}StateEntered"),
                    Some(&state.name),
                    || json!({"input": *data}),
                );
                let (output, next) = self
                    .run_state(state, data, &ctx.for_state(&state.name))
                    .await?;
                self.record(
                    ctx,
                    &format!("{type_name}StateExited"),
                    Some(&state.name),
                    || json!({"output": *output}),
                );
                match next {
                    Some(n) => {
                        current = n;
                        data = output;
                    }
                    None => {
                        // The machine has ended: its position is no longer needed, and the
                        // output is no longer shared with it.
                        if let Some(p) = position {
                            *p.lock().unwrap_or_else(|p| p.into_inner()) = None;
                        }
                        return Ok(Arc::unwrap_or_clone(output));
                    }
                }
            }
        })
    }
}
