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
        let position: Arc<Mutex<Option<(String, Value)>>> = Arc::new(Mutex::new(None));
        let ctx = Ctx {
            execution: Arc::new(json!({
                "Id": format!("{}:{name}", self.state_machine.replace(":stateMachine:", ":execution:")),
                "Name": name,
                "StartTime": started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "Input": input,
                "RedriveCount": redrive_count,
            })),
            state_machine: Arc::new(
                json!({"Id": self.state_machine, "Name": self.state_machine.rsplit(':').next().unwrap_or_default()}),
            ),
            map_item: None,
            history: history.clone(),
            state: None,
            retries: std::sync::atomic::AtomicU32::new(0),
        };
        if !redriven {
            self.record(&ctx, "ExecutionStarted", None, json!({"input": input}));
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
            result = limited => Ok(result),
            Ok(why) = stop_rx => Err(why),
        };
        self.shared().running.remove(name);
        let result = match stopped {
            Ok(result) => result,
            Err((error, cause)) => {
                self.record(
                    &ctx,
                    "ExecutionAborted",
                    None,
                    json!({"error": error, "cause": cause}),
                );
                let history = history.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let stopped_in = position.lock().unwrap_or_else(|p| p.into_inner()).clone();
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
                self.record(&ctx, "ExecutionSucceeded", None, json!({"output": out}));
                (Status::Succeeded, Some(out), None)
            }
            Err(e) if e.error == "States.Timeout" && machine.timeout_seconds.is_some() => {
                self.record(
                    &ctx,
                    "ExecutionTimedOut",
                    None,
                    json!({"error": e.error, "cause": e.cause}),
                );
                (Status::TimedOut, None, Some(e))
            }
            Err(e) => {
                self.record(
                    &ctx,
                    "ExecutionFailed",
                    None,
                    json!({"error": e.error, "cause": e.cause}),
                );
                (Status::Failed, None, Some(e))
            }
        };
        let history = history.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let stopped_in = if status == Status::Succeeded {
            None
        } else {
            position.lock().unwrap_or_else(|p| p.into_inner()).clone()
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

    fn record(&self, ctx: &Ctx, kind: &str, state: Option<&str>, details: Value) {
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
        position: &'a Mutex<Option<(String, Value)>>,
    ) -> BoxFuture<'a, Result<Value, TaskError>> {
        self.run_states(m, start_at, input, ctx, Some(position))
    }

    fn run_states<'a>(
        &'a self,
        m: &'a Machine,
        start_at: String,
        input: Value,
        ctx: &'a Ctx,
        position: Option<&'a Mutex<Option<(String, Value)>>>,
    ) -> BoxFuture<'a, Result<Value, TaskError>> {
        Box::pin(async move {
            let mut current = start_at;
            let mut data = input;
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
                    json!({"input": data}),
                );
                let (output, next) = self
                    .run_state(state, data, &ctx.for_state(&state.name))
                    .await?;
                self.record(
                    ctx,
                    &format!("{type_name}StateExited"),
                    Some(&state.name),
                    json!({"output": output}),
                );
                match next {
                    Some(n) => {
                        current = n;
                        data = output;
                    }
                    None => return Ok(output),
                }
            }
        })
    }

    /// Runs one state: its output and the next state (`None`: the machine ends).
    async fn run_state(
        &self,
        s: &State,
        raw: Value,
        ctx: &Ctx,
    ) -> Result<(Value, Option<String>), TaskError> {
        let input = apply_path(&s.input_path, &raw)?;
        let follow = |out: Value| -> Result<(Value, Option<String>), TaskError> {
            Ok((
                apply_path(&s.output_path, &out)?,
                if s.end { None } else { s.next.clone() },
            ))
        };
        match &s.kind {
            Kind::Pass {
                result,
                parameters,
                result_path,
            } => {
                // `Result` wins over `Parameters` (the spec: Result is the state's output).
                let r = match (parameters, result) {
                    (_, Some(r)) => r.clone(),
                    (Some(p), None) => self.template(p, &input, ctx)?,
                    (None, None) => input.clone(),
                };
                follow(merge_result(result_path, raw, r)?)
            }
            Kind::Succeed => Ok((apply_path(&s.output_path, &input)?, None)),
            Kind::Fail {
                error,
                cause,
                error_path,
                cause_path,
            } => {
                let pick = |fixed: &Option<String>, path: &Option<Path>| -> String {
                    path.as_ref()
                        .and_then(|p| p.get(&input))
                        .and_then(|v| v.as_str().map(str::to_string))
                        .or_else(|| fixed.clone())
                        .unwrap_or_default()
                };
                // `FailStateEntered` is recorded once, on entry, like every state's; the
                // error and cause go to `ExecutionFailed`.
                Err(TaskError::new(
                    pick(error, error_path),
                    pick(cause, cause_path),
                ))
            }
            Kind::Choice { choices, default } => {
                for (rule, next) in choices {
                    if evaluate(rule, &input)? {
                        return Ok((apply_path(&s.output_path, &input)?, Some(next.clone())));
                    }
                }
                match default {
                    Some(d) => Ok((apply_path(&s.output_path, &input)?, Some(d.clone()))),
                    None => Err(TaskError::new(
                        "States.NoChoiceMatched",
                        format!("no choice rule of {} matched and it has no Default", s.name),
                    )),
                }
            }
            Kind::Wait(how) => {
                let until = match how {
                    WaitFor::Seconds(secs) => {
                        self.now() + chrono::Duration::seconds(seconds_of(secs, &input)? as i64)
                    }
                    WaitFor::Timestamp(t) => *t,
                    WaitFor::TimestampPath(p) => {
                        let v = p.get(&input).ok_or_else(|| {
                            TaskError::runtime(format!("TimestampPath of {} found nothing", s.name))
                        })?;
                        let text = v.as_str().ok_or_else(|| {
                            TaskError::runtime("TimestampPath must point to a string")
                        })?;
                        DateTime::parse_from_rfc3339(text)
                            .map_err(|e| TaskError::runtime(format!("`{text}`: {e}")))?
                            .with_timezone(&Utc)
                    }
                };
                let wait = (until - self.now()).to_std().unwrap_or_default();
                tokio::time::sleep(wait).await;
                follow(input)
            }
            Kind::Task {
                resource,
                parameters,
                result_selector,
                result_path,
                timeout,
                heartbeat,
                retry,
                catch,
            } => {
                let timeout = timeout
                    .as_ref()
                    .map(|t| seconds_of(t, &input))
                    .transpose()?;
                let heartbeat = heartbeat
                    .as_ref()
                    .map(|t| seconds_of(t, &input))
                    .transpose()?;
                let attempt = || {
                    let input = input.clone();
                    async move {
                        let params = match parameters {
                            Some(p) => self.template_with_token(p, &input, ctx, resource)?,
                            None => (input.clone(), None),
                        };
                        let r = self
                            .task(s, resource, params, timeout, heartbeat, ctx)
                            .await?;
                        self.select(result_selector, r, ctx)
                    }
                };
                self.with_retry_catch(s, raw, retry, catch, result_path, ctx, attempt)
                    .await
            }
            Kind::Parallel {
                branches,
                parameters,
                result_selector,
                result_path,
                retry,
                catch,
            } => {
                let attempt = || {
                    let input = input.clone();
                    async move {
                        let branch_input = match parameters {
                            Some(p) => self.template(p, &input, ctx)?,
                            None => input.clone(),
                        };
                        let runs = branches
                            .iter()
                            .map(|b| self.run_machine(b, branch_input.clone(), ctx));
                        // A branch that fails fails the state and stops the others.
                        let out = Value::Array(join_all(runs.collect()).await?);
                        self.select(result_selector, out, ctx)
                    }
                };
                self.with_retry_catch(s, raw, retry, catch, result_path, ctx, attempt)
                    .await
            }
            Kind::Map {
                items_path,
                item_selector,
                processor,
                max_concurrency,
                result_selector,
                result_path,
                retry,
                catch,
            } => {
                let attempt = || {
                    let input = input.clone();
                    async move {
                        let items = apply_path(items_path, &input)?;
                        let items = items.as_array().cloned().ok_or_else(|| {
                            TaskError::runtime(format!("ItemsPath of {} is not an array", s.name))
                        })?;
                        let mut inputs = Vec::new();
                        for (i, item) in items.iter().enumerate() {
                            let item_ctx = json!({"Index": i, "Value": item});
                            inputs.push(match item_selector {
                                Some(sel) => self.template_in(sel, &input, ctx, Some(&item_ctx))?,
                                None => item.clone(),
                            });
                        }
                        let mut results = Vec::new();
                        let chunk = if *max_concurrency == 0 {
                            inputs.len().max(1)
                        } else {
                            *max_concurrency
                        };
                        for group in inputs.chunks(chunk) {
                            let runs = group
                                .iter()
                                .map(|i| self.run_machine(processor, i.clone(), ctx));
                            results.extend(join_all(runs.collect()).await?);
                        }
                        let out = Value::Array(results);
                        self.select(result_selector, out, ctx)
                    }
                };
                self.with_retry_catch(s, raw, retry, catch, result_path, ctx, attempt)
                    .await
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn with_retry_catch<F, Fut>(
        &self,
        s: &State,
        raw: Value,
        retry: &[Retrier],
        catch: &[Catcher],
        result_path: &OptPath,
        ctx: &Ctx,
        attempt: F,
    ) -> Result<(Value, Option<String>), TaskError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Value, TaskError>>,
    {
        let mut counts = vec![0u32; retry.len()];
        loop {
            ctx.retries
                .store(counts.iter().sum(), std::sync::atomic::Ordering::Relaxed);
            match attempt().await {
                Ok(result) => {
                    let out = merge_result(result_path, raw, result)?;
                    return Ok((
                        apply_path(&s.output_path, &out)?,
                        if s.end { None } else { s.next.clone() },
                    ));
                }
                Err(e) if e.error == "States.Runtime" => return Err(e),
                Err(e) => {
                    if let Some(i) = retry
                        .iter()
                        .position(|r| matches_error(&r.error_equals, &e.error))
                    {
                        let r = &retry[i];
                        if counts[i] < r.max_attempts {
                            let mut delay =
                                r.interval_seconds * r.backoff_rate.powi(counts[i] as i32);
                            if let Some(max) = r.max_delay_seconds {
                                delay = delay.min(max);
                            }
                            if r.full_jitter {
                                delay *= self.random();
                            }
                            counts[i] += 1;
                            self.record(ctx, "TaskRetry", Some(&s.name), json!({"error": e.error, "attempt": counts[i], "delaySeconds": delay}));
                            tokio::time::sleep(Duration::from_secs_f64(delay)).await;
                            continue;
                        }
                    }
                    if let Some(c) = catch
                        .iter()
                        .find(|c| matches_error(&c.error_equals, &e.error))
                    {
                        let out = merge_result(
                            &c.result_path,
                            raw,
                            json!({"Error": e.error, "Cause": e.cause}),
                        )?;
                        self.record(
                            ctx,
                            "StateCaught",
                            Some(&s.name),
                            json!({"error": e.error, "next": c.next}),
                        );
                        return Ok((out, Some(c.next.clone())));
                    }
                    return Err(e);
                }
            }
        }
    }

    async fn task(
        &self,
        s: &State,
        resource: &str,
        (params, token): (Value, Option<String>),
        timeout: Option<u64>,
        heartbeat: Option<u64>,
        ctx: &Ctx,
    ) -> Result<Value, TaskError> {
        self.record(
            ctx,
            "TaskScheduled",
            Some(&s.name),
            json!({"resource": resource, "parameters": params}),
        );
        let limit = |secs: Option<u64>| {
            secs.map(Duration::from_secs)
                .unwrap_or(Duration::from_secs(99_999_999))
        };
        if resource.ends_with(".waitForTaskToken") {
            let token = token.ok_or_else(|| {
                TaskError::runtime(format!(
                    "{}: a .waitForTaskToken task must pass $$.Task.Token",
                    s.name
                ))
            })?;
            let (tx, rx) = oneshot::channel();
            self.shared().waiting.insert(token.clone(), tx);
            let deadline = Instant::now() + limit(timeout);
            let heartbeat_deadline = heartbeat.map(|h| Instant::now() + Duration::from_secs(h));
            if let Err(e) = self.dispatcher.call(resource, params, Some(&token)).await {
                self.shared().waiting.remove(&token);
                self.record(
                    ctx,
                    "TaskFailed",
                    Some(&s.name),
                    json!({"error": e.error, "cause": e.cause}),
                );
                return Err(e);
            }
            let (until, on_expiry) = match heartbeat_deadline {
                Some(h) if h < deadline => (h, "States.HeartbeatTimeout"),
                _ => (deadline, "States.Timeout"),
            };
            let answer = tokio::time::timeout_at(until, rx).await;
            self.shared().waiting.remove(&token);
            return match answer {
                Ok(Ok(Ok(v))) => {
                    self.record(ctx, "TaskSucceeded", Some(&s.name), json!({"output": v}));
                    Ok(v)
                }
                Ok(Ok(Err(e))) => {
                    self.record(
                        ctx,
                        "TaskFailed",
                        Some(&s.name),
                        json!({"error": e.error, "cause": e.cause}),
                    );
                    Err(e)
                }
                Ok(Err(_)) | Err(_) => {
                    self.record(
                        ctx,
                        "TaskTimedOut",
                        Some(&s.name),
                        json!({"error": on_expiry}),
                    );
                    Err(TaskError::new(
                        on_expiry,
                        format!("{} got no answer in time", s.name),
                    ))
                }
            };
        }
        match tokio::time::timeout(limit(timeout), self.dispatcher.call(resource, params, None))
            .await
        {
            Ok(Ok(v)) => {
                self.record(ctx, "TaskSucceeded", Some(&s.name), json!({"output": v}));
                Ok(v)
            }
            Ok(Err(e)) => {
                self.record(
                    ctx,
                    "TaskFailed",
                    Some(&s.name),
                    json!({"error": e.error, "cause": e.cause}),
                );
                Err(e)
            }
            Err(_) => {
                self.record(
                    ctx,
                    "TaskTimedOut",
                    Some(&s.name),
                    json!({"error": "States.Timeout"}),
                );
                Err(TaskError::new(
                    "States.Timeout",
                    format!("{} did not finish in time", s.name),
                ))
            }
        }
    }

    /// ResultSelector: shapes a result, or passes it through when there is none.
    fn select(
        &self,
        selector: &Option<Value>,
        result: Value,
        ctx: &Ctx,
    ) -> Result<Value, TaskError> {
        match selector {
            Some(sel) => self.template(sel, &result, ctx),
            None => Ok(result),
        }
    }

    fn template(&self, t: &Value, input: &Value, ctx: &Ctx) -> Result<Value, TaskError> {
        self.template_in(t, input, ctx, None)
    }

    /// Evaluates Parameters, minting a task token when the template asks for `$$.Task.Token`.
    fn template_with_token(
        &self,
        t: &Value,
        input: &Value,
        ctx: &Ctx,
        resource: &str,
    ) -> Result<(Value, Option<String>), TaskError> {
        let token = resource.ends_with(".waitForTaskToken").then(|| {
            let mut s = self.shared();
            s.next_token += 1;
            format!(
                "tok-{}-{}",
                ctx.execution["Name"].as_str().unwrap_or("x"),
                s.next_token
            )
        });
        let value = self.eval_template(t, input, ctx, None, token.as_deref())?;
        Ok((value, token))
    }

    fn template_in(
        &self,
        t: &Value,
        input: &Value,
        ctx: &Ctx,
        item: Option<&Value>,
    ) -> Result<Value, TaskError> {
        self.eval_template(t, input, ctx, item, None)
    }

    fn eval_template(
        &self,
        t: &Value,
        input: &Value,
        ctx: &Ctx,
        item: Option<&Value>,
        token: Option<&str>,
    ) -> Result<Value, TaskError> {
        let context = {
            let mut c = json!({
                "Execution": *ctx.execution,
                "StateMachine": *ctx.state_machine,
                "State": {
                    "EnteredTime": self.now().to_rfc3339(),
                    "Name": ctx.state,
                    "RetryCount": ctx.retries.load(std::sync::atomic::Ordering::Relaxed),
                },
            });
            if let Some(t) = token {
                c["Task"] = json!({"Token": t});
            }
            if let Some(i) = item.or(ctx.map_item.as_ref()) {
                c["Map"] = json!({"Item": i});
            }
            c
        };
        let lookup = |p: &Path| -> Result<Value, String> {
            let root = if p.context { &context } else { input };
            p.get(root).ok_or_else(|| {
                format!(
                    "the JSONPath {} could not be found in the {}",
                    display(p),
                    if p.context { "context object" } else { "input" }
                )
            })
        };
        fn walk(
            v: &Value,
            lookup: &dyn Fn(&Path) -> Result<Value, String>,
            uuid: &mut dyn FnMut() -> String,
        ) -> Result<Value, String> {
            match v {
                Value::Object(m) => {
                    let mut out = Map::new();
                    for (k, x) in m {
                        if let Some(key) = k.strip_suffix(".$") {
                            let s = x.as_str().unwrap_or_default();
                            let value = if s.starts_with('$') {
                                lookup(&Path::parse(s)?)?
                            } else {
                                intrinsics::eval(&intrinsics::parse(s)?, lookup, uuid)?
                            };
                            out.insert(key.to_string(), value);
                        } else {
                            out.insert(k.clone(), walk(x, lookup, uuid)?);
                        }
                    }
                    Ok(Value::Object(out))
                }
                Value::Array(a) => a
                    .iter()
                    .map(|x| walk(x, lookup, uuid))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array),
                other => Ok(other.clone()),
            }
        }
        let mut uuid = || {
            let a = (self.random() * u64::MAX as f64) as u64;
            let b = (self.random() * u64::MAX as f64) as u64;
            format!(
                "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                a >> 32,
                (a >> 16) & 0xffff,
                a & 0xfff,
                b >> 52,
                b & 0xffff_ffff_ffff
            )
        };
        walk(t, &lookup, &mut uuid).map_err(TaskError::runtime)
    }
}

fn display(p: &Path) -> String {
    let mut s = if p.context {
        "$$".to_string()
    } else {
        "$".to_string()
    };
    for seg in &p.segments {
        match seg {
            crate::path::Segment::Field(f) => s.push_str(&format!(".{f}")),
            crate::path::Segment::Index(i) => s.push_str(&format!("[{i}]")),
            crate::path::Segment::Wildcard => s.push_str("[*]"),
        }
    }
    s
}

/// Runs branches (or iterations) together, so their waits overlap in (virtual) time, and
/// returns their results in order. The first to fail ends the lot: the others are
/// stopped (dropped), as Step Functions stops the other branches of a failed Parallel or Map.
async fn join_all<'a>(
    futures: Vec<BoxFuture<'a, Result<Value, TaskError>>>,
) -> Result<Vec<Value>, TaskError> {
    let mut set = futures;
    let mut results: Vec<Option<Value>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if results[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(Ok(v)) => results[i] = Some(v),
                    std::task::Poll::Ready(Err(e)) => return std::task::Poll::Ready(Err(e)),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(Ok(()))
        }
    })
    .await?;
    Ok(results.into_iter().flatten().collect())
}

fn type_name(k: &Kind) -> &'static str {
    match k {
        Kind::Pass { .. } => "Pass",
        Kind::Task { .. } => "Task",
        Kind::Choice { .. } => "Choice",
        Kind::Wait(_) => "Wait",
        Kind::Succeed => "Succeed",
        Kind::Fail { .. } => "Fail",
        Kind::Parallel { .. } => "Parallel",
        Kind::Map { .. } => "Map",
    }
}

fn apply_path(p: &OptPath, v: &Value) -> Result<Value, TaskError> {
    match p {
        None => Ok(v.clone()),
        Some(None) => Ok(json!({})),
        Some(Some(path)) => path.get(v).ok_or_else(|| {
            TaskError::runtime(format!(
                "the JSONPath {} could not be found in the input",
                display(path)
            ))
        }),
    }
}

/// ResultPath: where the result goes in the state's raw input.
fn merge_result(p: &OptPath, raw: Value, result: Value) -> Result<Value, TaskError> {
    match p {
        None => Ok(result),
        Some(None) => Ok(raw),
        Some(Some(path)) => {
            let mut out = raw;
            path.set(&mut out, result).map_err(TaskError::runtime)?;
            Ok(out)
        }
    }
}

fn seconds_of(s: &Seconds, input: &Value) -> Result<u64, TaskError> {
    match s {
        Seconds::Fixed(n) => Ok(*n),
        Seconds::Path(p) => p.get(input).and_then(|v| v.as_u64()).ok_or_else(|| {
            TaskError::runtime(format!(
                "{} must point to a whole number of seconds",
                display(p)
            ))
        }),
    }
}

/// Error matching: `States.ALL` matches any error (the engine never offers it
/// `States.Runtime`); `States.TaskFailed` any but `States.Timeout`.
pub fn matches_error(list: &[String], error: &str) -> bool {
    list.iter().any(|e| {
        e == error
            || e == "States.ALL"
            // AWS documents `States.Timeout` as covering a heartbeat that expired;
            // `States.HeartbeatTimeout` is the narrower, later name.
            || (e == "States.Timeout" && error == "States.HeartbeatTimeout")
            || (e == "States.TaskFailed"
                && error != "States.Timeout"
                && !error.starts_with("States.Heartbeat"))
    })
}

fn timestamp(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn glob(pattern: &str, text: &str) -> bool {
    // StringMatches: `*` any run, `\*` a literal star.
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('\\') if p.len() > 1 => !t.is_empty() && t[0] == p[1] && go(&p[2..], &t[1..]),
            Some('*') => (0..=t.len()).any(|i| go(&p[1..], &t[i..])),
            Some(c) => !t.is_empty() && t[0] == *c && go(&p[1..], &t[1..]),
        }
    }
    go(&p, &t)
}

/// Evaluates a choice rule. A variable of the wrong type makes a comparison false.
pub fn evaluate(rule: &Rule, input: &Value) -> Result<bool, TaskError> {
    Ok(match rule {
        Rule::And(rs) => {
            for r in rs {
                if !evaluate(r, input)? {
                    return Ok(false);
                }
            }
            true
        }
        Rule::Or(rs) => {
            for r in rs {
                if evaluate(r, input)? {
                    return Ok(true);
                }
            }
            false
        }
        Rule::Not(r) => !evaluate(r, input)?,
        Rule::Compare {
            variable,
            op,
            operand,
        } => {
            let found = variable.get(input);
            if op == "IsPresent" {
                return Ok(found.is_some() == (operand_value(operand, input)? == json!(true)));
            }
            let Some(v) = found else {
                return Err(TaskError::runtime(format!("invalid path {}: the choice state's condition path references an invalid value", display(variable))));
            };
            let expect = operand_value(operand, input)?;
            let want = |b: bool| expect == json!(b);
            match op.as_str() {
                "IsNull" => want(v.is_null()),
                "IsNumeric" => want(v.is_number()),
                "IsString" => want(v.is_string()),
                "IsBoolean" => want(v.is_boolean()),
                "IsTimestamp" => want(timestamp(&v).is_some()),
                "BooleanEquals" => v.is_boolean() && v == expect,
                "StringMatches" => {
                    matches!((v.as_str(), expect.as_str()), (Some(t), Some(p)) if glob(p, t))
                }
                o if o.starts_with("String") => match (v.as_str(), expect.as_str()) {
                    (Some(a), Some(b)) => compare(o.trim_start_matches("String"), a.cmp(b)),
                    _ => false,
                },
                o if o.starts_with("Numeric") => match (v.as_f64(), expect.as_f64()) {
                    (Some(a), Some(b)) => compare(
                        o.trim_start_matches("Numeric"),
                        a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Less),
                    ),
                    _ => false,
                },
                o if o.starts_with("Timestamp") => match (timestamp(&v), timestamp(&expect)) {
                    (Some(a), Some(b)) => compare(o.trim_start_matches("Timestamp"), a.cmp(&b)),
                    _ => false,
                },
                other => return Err(TaskError::runtime(format!("unknown comparison {other}"))),
            }
        }
    })
}

fn operand_value(o: &Operand, input: &Value) -> Result<Value, TaskError> {
    match o {
        Operand::Value(v) => Ok(v.clone()),
        Operand::Path(p) => p.get(input).ok_or_else(|| {
            TaskError::runtime(format!("{} could not be found in the input", display(p)))
        }),
    }
}

fn compare(suffix: &str, ord: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match suffix {
        "Equals" => ord == Equal,
        "LessThan" => ord == Less,
        "GreaterThan" => ord == Greater,
        "LessThanEquals" => ord != Greater,
        "GreaterThanEquals" => ord != Less,
        _ => false,
    }
}
