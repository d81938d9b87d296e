//! tick: the rounds of checks of a wait, off the state machine. The Standard workflow
//! waits in one `waitForTaskToken` state per phase — deploy until stable and ready, each
//! traffic step's bake, the watched rollback window — and pays for that state, not for
//! each round. The rounds run here, each one a [`Tick`] delivered by the stack's tick queue
//! after its delay; a round that fails the wait answers its token with the error (the
//! state's `Catch` takes it, as it took a failed check before), the round that ends the
//! wait answers it with the rollout, and any other round schedules the next.

use chrono::{DateTime, Utc};

use crate::ports::{
    Alarms, Clock, ContainerService, Executions, LoadBalancer, Metrics, PortError, Prober,
    StateStore, Tick, TickPurpose, Timers,
};
use crate::ports::{Notifier, TokenPurpose};
use crate::rollout::{Rollout, StepError};
use crate::Duration;

/// Rounds in a row that may fail to run (a retryable AWS error) before the wait fails
/// with that error as `Greenlight.AwsError`: the state machine's own retries of a check
/// took as many.
pub const MAX_ATTEMPTS: u32 = 6;

/// The wait between rounds that could not run.
const RETRY_AFTER_SECS: u64 = 30;

/// Grace past a wait's planned end before the state machine gives up on its rounds: twice
/// the check interval and five minutes, for the queue's redeliveries.
pub fn grace(r: &Rollout) -> u64 {
    r.control
        .interval_seconds
        .saturating_mul(2)
        .saturating_add(300)
}

/// Sets the timeouts of the settle and step waits (prepare): the stable timeout and the
/// pre-traffic probes' rounds; the plan's longest bake and the rounds a step may go on
/// past it while they fail (`failure_threshold`); each with [`grace`].
pub fn set_timeouts(r: &mut Rollout) {
    let g = grace(r);
    let interval = r.control.interval_seconds.max(1);
    let probe_rounds = u64::from(r.env.checks.failure_threshold).saturating_add(1);
    let failing_rounds = interval.saturating_mul(u64::from(r.env.checks.failure_threshold));
    r.control.settle_timeout_seconds = r
        .env
        .checks
        .stable_timeout
        .as_secs()
        .saturating_add(interval.saturating_mul(probe_rounds))
        .saturating_add(g);
    let longest = r
        .plan
        .steps
        .iter()
        .map(|s| s.bake.as_secs())
        .max()
        .unwrap_or(0);
    r.control.step_timeout_seconds = longest.saturating_add(failing_rounds).saturating_add(g);
}

/// Starts the rounds of a wait: the first after `delay`. Its callers have refused an empty
/// token before changing anything.
async fn arm<P: Timers + Clock>(
    p: &P,
    purpose: TickPurpose,
    token: &str,
    r: &Rollout,
    delay: u64,
) -> Result<(), StepError> {
    let delay = Duration::from_secs(delay);
    let tick = Tick {
        purpose,
        token: token.to_string(),
        due: at(p.now(), delay),
        attempts: 0,
        rollout: Box::new(r.clone()),
    };
    p.schedule(&tick, delay).await?;
    Ok(())
}

fn at(now: DateTime<Utc>, delay: Duration) -> DateTime<Utc> {
    delay.after(now).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The Deploy state's task: deploy, then the settle rounds, the first after one interval.
pub async fn deploy_and_settle<P>(p: &P, token: &str, r: Rollout) -> Result<Rollout, StepError>
where
    P: StateStore + ContainerService + LoadBalancer + Timers + Clock,
{
    super::approval::require_token(token)?;
    let r = super::check::deploy(p, r).await?;
    let first = r.control.interval_seconds;
    arm(p, TickPurpose::Settle, token, &r, first).await?;
    Ok(r)
}

/// What the Shift state's task did: the rollout at its new weight, and why its
/// `traffic_shifted` notice could not be published, if it could not (the rollout goes on:
/// a notice never holds traffic back).
#[derive(Clone, Debug)]
pub struct Shifted {
    pub rollout: Rollout,
    pub notice_error: Option<String>,
}

/// The Shift state's task: move traffic to the next step (`r.step`, the index of the step
/// to apply), watch the environment's alarms (the token stored for the alarm relay, the
/// alarms read once), announce the step, and start the bake's rounds with one at once.
/// The round that ends the bake answers the wait with the rollout and its
/// [`crate::rollout::StepResult`], which is what the Traffic map keeps of the step.
pub async fn shift_and_bake<P>(p: &P, token: &str, mut r: Rollout) -> Result<Shifted, StepError>
where
    P: StateStore + LoadBalancer + ContainerService + Alarms + Notifier + Timers + Clock,
{
    super::approval::require_token(token)?;
    let rec = p.get_deployment(&r.deployment).await?;
    // A retried step whose first attempt moved the traffic already (its answer lost) does
    // not announce the move twice.
    let was = rec.as_ref().map(|rec| rec.weight);
    // Each step starts from the rollout as deploy left it (the Traffic map's input): the
    // canary analysis's last report, which the notices carry on, is the record's (the
    // round at the end of each bake stores it).
    if r.analysis.is_none() {
        r.analysis = rec.and_then(|rec| rec.analysis);
    }
    let mut r = super::shift::shift(p, r).await?;
    // Traffic moved: that is announced even when an alarm fails the step at once.
    let notice_error = if was == Some(r.weight) {
        None
    } else {
        super::notices::announce(p, &r, crate::notify::EventKind::TrafficShifted).await
    };
    r.notice = None;
    super::approval::watch_alarms(p, TokenPurpose::Bake, token, &r).await?;
    arm(p, TickPurpose::Bake, token, &r, 0).await?;
    Ok(Shifted {
        rollout: r,
        notice_error,
    })
}

/// The WatchWindow state's task: watch the environment's alarms through the rollback
/// window and start its rounds, the first after `checks.window_interval` (at most the time
/// left).
pub async fn watch_window<P>(p: &P, token: &str, r: &Rollout) -> Result<(), StepError>
where
    P: StateStore + Alarms + Timers + Clock,
{
    super::approval::watch_alarms(p, TokenPurpose::Window, token, r).await?;
    arm(
        p,
        TickPurpose::Window,
        token,
        r,
        r.control.window_wait_seconds,
    )
    .await
}

/// What became of a tick.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TickEnd {
    /// The next round is scheduled, `after` from now.
    Again { after: Duration },
    /// The wait is over: answered with the rollout (`Ok`) or failed with this error.
    Answered(Result<(), &'static str>),
    /// Nothing to do: the deployment ended, or the wait was answered already.
    Dropped(&'static str),
}

impl TickEnd {
    /// One line for the log (never the token).
    pub fn describe(&self) -> String {
        match self {
            TickEnd::Again { after } => format!("next round in {after}"),
            TickEnd::Answered(Ok(())) => "the wait is over".into(),
            TickEnd::Answered(Err(name)) => format!("the wait failed: {name}"),
            TickEnd::Dropped(why) => format!("dropped: {why}"),
        }
    }
}

/// What one round said.
enum Round {
    /// Go on: the next round after this many seconds.
    Next(Rollout, u64),
    /// The wait is over.
    Done(Rollout),
}

impl Round {
    /// The next round after `wait` seconds while `go_on`; otherwise the wait is over.
    fn of(r: Rollout, go_on: bool, wait: u64) -> Round {
        if go_on {
            Round::Next(r, wait)
        } else {
            Round::Done(r)
        }
    }
}

/// Every port a round of checks may use: the checks' own, the next round's timer, and the
/// wait's answer.
pub trait RoundPorts:
    StateStore
    + ContainerService
    + LoadBalancer
    + Alarms
    + Metrics
    + Prober
    + Executions
    + Timers
    + Clock
{
}

impl<T> RoundPorts for T where
    T: StateStore
        + ContainerService
        + LoadBalancer
        + Alarms
        + Metrics
        + Prober
        + Executions
        + Timers
        + Clock
{
}

/// Runs one tick. An `Err` is a failure to schedule the next round or to answer the wait
/// that can succeed later: the queue delivers the same tick again.
pub async fn run<P: RoundPorts>(p: &P, mut t: Tick) -> Result<TickEnd, PortError> {
    let now = p.now();
    if now < t.due {
        // Delivered early (a delay longer than the queue's): wait the rest.
        let rest = Duration::from_secs((t.due - now).num_seconds().max(1) as u64);
        return again(p, &t, rest).await;
    }
    if t.purpose != TickPurpose::Window {
        let ended = p
            .get_deployment(&t.rollout.deployment)
            .await?
            .is_none_or(|rec| rec.outcome.is_some());
        if ended {
            return Ok(TickEnd::Dropped("the deployment has ended"));
        }
    }
    let round = match t.purpose {
        TickPurpose::Settle => settle(p, (*t.rollout).clone()).await,
        TickPurpose::Bake => super::check::health(p, (*t.rollout).clone())
            .await
            .map(|r| {
                let (go_on, wait) = (r.control.baking, r.control.bake_wait_seconds);
                Round::of(r, go_on, wait)
            }),
        TickPurpose::Window => super::check::window(p, (*t.rollout).clone())
            .await
            .map(|r| {
                let (go_on, wait) = (r.control.watching, r.control.window_wait_seconds);
                Round::of(r, go_on, wait)
            }),
    };
    match round {
        Ok(Round::Next(r, wait)) => {
            let after = Duration::from_secs(wait.max(1));
            *t.rollout = r;
            t.attempts = 0;
            t.due = at(now, after);
            again(p, &t, after).await
        }
        Ok(Round::Done(mut r)) => {
            if t.purpose == TickPurpose::Bake {
                r.step_result = Some(r.step_result());
            }
            let output = serde_json::to_value(&r).map_err(|e| PortError::Invalid {
                operation: "states:SendTaskSuccess".into(),
                message: format!("the rollout does not serialize: {e}"),
            })?;
            answered(p.send_task_success(&t.token, &output).await, Ok(()))
        }
        Err(StepError::Retryable(_)) if t.attempts.saturating_add(1) < MAX_ATTEMPTS => {
            let after = Duration::from_secs(
                RETRY_AFTER_SECS.min(t.rollout.control.interval_seconds.max(1)),
            );
            t.attempts = t.attempts.saturating_add(1);
            t.due = at(now, after);
            again(p, &t, after).await
        }
        Err(e) => {
            // Rounds that could not run for so long fail the wait for good (into Rollback,
            // as a check Task whose retries ran out did): retrying the whole step would
            // start its bake again.
            let e = match e {
                StepError::Retryable(p) => StepError::Aws(p),
                e => e,
            };
            // The cause as Lambda gives a function error, so the state that catches it
            // reads the same reason as from a failed check.
            let cause =
                serde_json::json!({"errorType": e.error_name(), "errorMessage": e.to_string()})
                    .to_string();
            let name = e.error_name();
            answered(p.send_task_failure(&t.token, name, &cause).await, Err(name))
        }
    }
}

/// Sends `t` to be delivered `after` from now.
async fn again<P: Timers>(p: &P, t: &Tick, after: Duration) -> Result<TickEnd, PortError> {
    p.schedule(t, after).await?;
    Ok(TickEnd::Again { after })
}

/// The answer's result: a wait that timed out or was answered already (the alarm relay,
/// a stop) drops the tick; any other failure is the queue's to deliver again.
fn answered(
    result: Result<(), PortError>,
    said: Result<(), &'static str>,
) -> Result<TickEnd, PortError> {
    match result {
        Ok(()) => Ok(TickEnd::Answered(said)),
        Err(PortError::NotFound { .. } | PortError::Invalid { .. }) => {
            Ok(TickEnd::Dropped("the wait had ended"))
        }
        Err(e) => Err(e),
    }
}

/// A round after deploy: the stable check until the new colour is stable, then at once the
/// pre-traffic probes until they pass.
async fn settle<P>(p: &P, r: Rollout) -> Result<Round, StepError>
where
    P: StateStore + ContainerService + LoadBalancer + Prober + Clock,
{
    let mut r = r;
    let wait = r.control.interval_seconds;
    if !r.control.stable {
        r = super::check::stable(p, r).await?;
        if !r.control.stable {
            return Ok(Round::Next(r, wait));
        }
    }
    r = super::check::ready(p, r).await?;
    let go_on = !r.control.ready;
    Ok(Round::of(r, go_on, wait))
}
