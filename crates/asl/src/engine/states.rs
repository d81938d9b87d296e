//! Running one state of each kind: retries and catchers, tasks and their timeouts.

#[allow(unused_imports)]
use super::*;

impl Engine {
    /// Runs one state: its output and the next state (`None`: the machine ends).
    pub(super) async fn run_state(
        &self,
        s: &State,
        raw: Arc<Value>,
        ctx: &Ctx,
    ) -> Result<(Arc<Value>, Option<String>), TaskError> {
        let input = input_of(&s.input_path, &raw)?;
        let follow = |out: Arc<Value>| -> Result<(Arc<Value>, Option<String>), TaskError> {
            Ok((
                output_of(&s.output_path, out)?,
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
                    (None, None) => (*input).clone(),
                };
                follow(merge_result(result_path, raw, r)?)
            }
            Kind::Succeed => Ok((output_of(&s.output_path, input)?, None)),
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
                let next = choose(s, choices, default, &input)?;
                Ok((output_of(&s.output_path, input)?, Some(next)))
            }
            Kind::Wait(how) => {
                self.run_wait(s, how, &input).await?;
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
                let task = TaskSpec {
                    resource,
                    parameters,
                    result_selector,
                    timeout,
                    heartbeat,
                };
                self.run_task(s, raw, input, &task, retry, catch, result_path, ctx)
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
                let shape = Shape {
                    parameters,
                    result_selector,
                    result_path,
                    retry,
                    catch,
                };
                self.run_parallel(s, raw, input, branches, &shape, ctx)
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
                let shape = Shape {
                    parameters: item_selector,
                    result_selector,
                    result_path,
                    retry,
                    catch,
                };
                let items = (items_path, &**processor, *max_concurrency);
                self.run_map(s, raw, input, items, &shape, ctx).await
            }
        }
    }

    /// A Wait state: until its time (Seconds, SecondsPath, Timestamp, TimestampPath).
    async fn run_wait(&self, s: &State, how: &WaitFor, input: &Value) -> Result<(), TaskError> {
        let until = match how {
            WaitFor::Seconds(secs) => {
                self.now() + chrono::Duration::seconds(seconds_of(secs, input)? as i64)
            }
            WaitFor::Timestamp(t) => *t,
            WaitFor::TimestampPath(p) => {
                let v = p.get(input).ok_or_else(|| {
                    TaskError::runtime(format!("TimestampPath of {} found nothing", s.name))
                })?;
                let text = v
                    .as_str()
                    .ok_or_else(|| TaskError::runtime("TimestampPath must point to a string"))?;
                DateTime::parse_from_rfc3339(text)
                    .map_err(|e| TaskError::runtime(format!("`{text}`: {e}")))?
                    .with_timezone(&Utc)
            }
        };
        let wait = (until - self.now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// A Task state: its call (with TimeoutSeconds and HeartbeatSeconds), under its Retry and
    /// Catch rules.
    #[allow(clippy::too_many_arguments)]
    async fn run_task(
        &self,
        s: &State,
        raw: Arc<Value>,
        input: Arc<Value>,
        task: &TaskSpec<'_>,
        retry: &[Retrier],
        catch: &[Catcher],
        result_path: &OptPath,
        ctx: &Ctx,
    ) -> Result<(Arc<Value>, Option<String>), TaskError> {
        let TaskSpec {
            resource,
            parameters,
            result_selector,
            timeout,
            heartbeat,
        } = *task;
        let timeout = timeout
            .as_ref()
            .map(|t| seconds_of(t, &input))
            .transpose()?;
        let heartbeat = heartbeat
            .as_ref()
            .map(|t| seconds_of(t, &input))
            .transpose()?;
        let input = &input;
        let attempt = || async move {
            let params = match parameters {
                Some(p) => self.template_with_token(p, input, ctx, resource)?,
                None => ((**input).clone(), None),
            };
            let r = self
                .task(s, resource, params, timeout, heartbeat, ctx)
                .await?;
            self.select(result_selector, r, ctx)
        };
        self.with_retry_catch(s, raw, retry, catch, result_path, ctx, attempt)
            .await
    }

    /// A Parallel state: its branches together; the first to fail stops the others.
    async fn run_parallel(
        &self,
        s: &State,
        raw: Arc<Value>,
        input: Arc<Value>,
        branches: &[Machine],
        shape: &Shape<'_>,
        ctx: &Ctx,
    ) -> Result<(Arc<Value>, Option<String>), TaskError> {
        let Shape {
            parameters,
            result_selector,
            result_path,
            retry,
            catch,
        } = *shape;
        let attempt = || {
            let input = input.clone();
            async move {
                let branch_input = match parameters {
                    Some(p) => self.template(p, &input, ctx)?,
                    None => (*input).clone(),
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

    /// An inline Map state: its iterations (ItemSelector for each, MaxConcurrency at a time).
    async fn run_map(
        &self,
        s: &State,
        raw: Arc<Value>,
        input: Arc<Value>,
        (items_path, processor, max_concurrency): (&OptPath, &Machine, usize),
        shape: &Shape<'_>,
        ctx: &Ctx,
    ) -> Result<(Arc<Value>, Option<String>), TaskError> {
        let Shape {
            parameters: item_selector,
            result_selector,
            result_path,
            retry,
            catch,
        } = *shape;
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
                let chunk = if max_concurrency == 0 {
                    inputs.len().max(1)
                } else {
                    max_concurrency
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

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn with_retry_catch<F, Fut>(
        &self,
        s: &State,
        raw: Arc<Value>,
        retry: &[Retrier],
        catch: &[Catcher],
        result_path: &OptPath,
        ctx: &Ctx,
        attempt: F,
    ) -> Result<(Arc<Value>, Option<String>), TaskError>
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
                        output_of(&s.output_path, out)?,
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
                            self.record(ctx, "TaskRetry", Some(&s.name), || json!({"error": e.error, "attempt": counts[i], "delaySeconds": delay}));
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
                            || json!({"error": e.error, "next": c.next}),
                        );
                        return Ok((out, Some(c.next.clone())));
                    }
                    return Err(e);
                }
            }
        }
    }

    pub(super) async fn task(
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
            || json!({"resource": resource, "parameters": params}),
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
                    || json!({"error": e.error, "cause": e.cause}),
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
                    self.record(ctx, "TaskSucceeded", Some(&s.name), || json!({"output": v}));
                    Ok(v)
                }
                Ok(Ok(Err(e))) => {
                    self.record(
                        ctx,
                        "TaskFailed",
                        Some(&s.name),
                        || json!({"error": e.error, "cause": e.cause}),
                    );
                    Err(e)
                }
                Ok(Err(_)) | Err(_) => {
                    self.record(
                        ctx,
                        "TaskTimedOut",
                        Some(&s.name),
                        || json!({"error": on_expiry}),
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
                self.record(ctx, "TaskSucceeded", Some(&s.name), || json!({"output": v}));
                Ok(v)
            }
            Ok(Err(e)) => {
                self.record(
                    ctx,
                    "TaskFailed",
                    Some(&s.name),
                    || json!({"error": e.error, "cause": e.cause}),
                );
                Err(e)
            }
            Err(_) => {
                self.record(
                    ctx,
                    "TaskTimedOut",
                    Some(&s.name),
                    || json!({"error": "States.Timeout"}),
                );
                Err(TaskError::new(
                    "States.Timeout",
                    format!("{} did not finish in time", s.name),
                ))
            }
        }
    }
}

pub(super) fn display(p: &Path) -> String {
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
pub(super) async fn join_all<'a>(
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

pub(super) fn type_name(k: &Kind) -> &'static str {
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

pub(super) fn apply_path(p: &OptPath, v: &Value) -> Result<Value, TaskError> {
    match p {
        None => Ok(v.clone()),
        Some(None) => Ok(json!({})),
        Some(Some(path)) => path.get(v).ok_or_else(|| not_found(path)),
    }
}

/// A path that selects nothing in a state's input (InputPath, OutputPath, ItemsPath).
fn not_found(path: &Path) -> TaskError {
    TaskError::runtime(format!(
        "the JSONPath {} could not be found in the input",
        display(path)
    ))
}

/// InputPath applied to a state's raw input: the raw input itself (shared, not copied) by
/// default.
pub(super) fn input_of(p: &OptPath, raw: &Arc<Value>) -> Result<Arc<Value>, TaskError> {
    match p {
        None => Ok(raw.clone()),
        _ => apply_path(p, raw).map(Arc::new),
    }
}

/// OutputPath applied to a state's own output: the whole of it (shared, not copied) by
/// default, or the part the path selects, moved out when nothing else holds the output.
pub(super) fn output_of(p: &OptPath, v: Arc<Value>) -> Result<Arc<Value>, TaskError> {
    match p {
        None => Ok(v),
        Some(Some(path)) if path.is_reference() => path
            .take(Arc::unwrap_or_clone(v))
            .map(Arc::new)
            .ok_or_else(|| not_found(path)),
        _ => apply_path(p, &v).map(Arc::new),
    }
}

/// ResultPath: where the result goes in the state's raw input (the raw input is copied only
/// to write a result into it while something else still holds it).
pub(super) fn merge_result(
    p: &OptPath,
    raw: Arc<Value>,
    result: Value,
) -> Result<Arc<Value>, TaskError> {
    match p {
        None => Ok(Arc::new(result)),
        Some(None) => Ok(raw),
        Some(Some(path)) => {
            let mut out = Arc::unwrap_or_clone(raw);
            path.set(&mut out, result).map_err(TaskError::runtime)?;
            Ok(Arc::new(out))
        }
    }
}

pub(super) fn seconds_of(s: &Seconds, input: &Value) -> Result<u64, TaskError> {
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

/// What a Task state calls, and how.
#[derive(Clone, Copy)]
pub(super) struct TaskSpec<'a> {
    resource: &'a String,
    parameters: &'a Option<Value>,
    result_selector: &'a Option<Value>,
    timeout: &'a Option<Seconds>,
    heartbeat: &'a Option<Seconds>,
}

/// How a Parallel or Map state shapes its input and result, and handles its errors.
#[derive(Clone, Copy)]
pub(super) struct Shape<'a> {
    parameters: &'a Option<Value>,
    result_selector: &'a Option<Value>,
    result_path: &'a OptPath,
    retry: &'a [Retrier],
    catch: &'a [Catcher],
}

/// The Next of the first Choice rule that matches, or the Default.
fn choose(
    s: &State,
    choices: &[(Rule, String)],
    default: &Option<String>,
    input: &Value,
) -> Result<String, TaskError> {
    for (rule, next) in choices {
        if evaluate(rule, input)? {
            return Ok(next.clone());
        }
    }
    default.clone().ok_or_else(|| {
        TaskError::new(
            "States.NoChoiceMatched",
            format!("no choice rule of {} matched and it has no Default", s.name),
        )
    })
}
