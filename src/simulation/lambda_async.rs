//! The functions AWS invokes asynchronously (on-push, alarm-relay, reconcile): Lambda's
//! retries, the dead-letter queue, the reconcile schedule, and the timeline notes they leave.

#[allow(unused_imports)]
use super::*;
use greenlight_core::usecase::reconcile::{Finding, ReconcileOutput};

/// What the reconcile function answered (its handler's own output type).
fn reconciled(out: &Value) -> ReconcileOutput {
    serde_json::from_value(out.clone()).unwrap_or_default()
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
    EventRelay,
}

impl Async {
    /// Lambda's retries of a failed invocation (template.yaml's `EventInvokeConfig`):
    /// reconcile takes none, the next period being its retry.
    pub fn retries(self) -> &'static [u64] {
        match self {
            Async::OnPush | Async::AlarmRelay | Async::EventRelay => &ASYNC_RETRY_DELAYS,
            Async::Reconcile => &[],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Async::OnPush => "on-push",
            Async::AlarmRelay => "alarm-relay",
            Async::Reconcile => "reconcile",
            Async::EventRelay => "event-relay",
        }
    }
}

impl Simulation {
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
            self.spawn(async move {
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
            .push(Note {
                at,
                environment: environment.to_string(),
                text,
                seq,
            });
    }

    /// The timeline lines added by [`Simulation::note`].
    pub fn notes(&self) -> Vec<Note> {
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
                for c in reconciled(out)
                    .checked
                    .iter()
                    .filter(|c| c.finding == Finding::Started)
                {
                    self.note_at(
                        seq,
                        &format!("{}/{}", c.app, c.environment),
                        format!(
                            "⟳ reconcile started {}: {} was pushed, and nothing acted on it",
                            c.deployment.as_deref().unwrap_or("?"),
                            c.image.as_deref().unwrap_or("?")
                        ),
                    );
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
            Async::EventRelay => {
                run_as(function.name(), handlers::event_relay, sim, settings, event).await
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
        self.reconcile()
            .await
            .is_ok_and(|out| reconciled(&out).started().is_empty())
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
}
