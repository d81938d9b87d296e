//! deploy and the checks: the new colour gets the new revision, becomes stable, passes its
//! pre-traffic probes, and stays healthy while it bakes.

use crate::analysis::{AnalysisReport, Verdict};
use crate::config::{Probe, ProbeVia};
use crate::ports::{
    AlarmValue, Alarms, Clock, ContainerService, HealthState, LoadBalancer, Metrics, Phase, Prober,
    RolloutState, StateStore,
};
use crate::rollout::{Rollout, StepError};

use super::record::guard_round;
use super::{guard, record};

/// Points the idle colour at the new revision at the live colour's size, and the test
/// listener (if any) at the idle colour. A worker service's new colour gets the revision
/// with no task: its first tasks start at the first step, after any approval.
pub async fn deploy<P>(p: &P, mut r: Rollout) -> Result<Rollout, StepError>
where
    P: StateStore + ContainerService + LoadBalancer + Clock,
{
    let p = &*super::reach::ports_for(p, &r.env, &r.deployment)?;
    guard(p, &r).await?;
    let lb = r.env.load_balancer();
    p.update_service(
        &r.env.cluster,
        r.env.services.get(r.target),
        Some(&r.task_definition),
        Some(if lb.is_some() { r.desired } else { 0 }),
    )
    .await?;
    if let Some((test, lb)) = lb.and_then(|lb| lb.listeners.test.as_ref().map(|t| (t, lb))) {
        let to_target = vec![crate::ports::TargetWeight {
            target_group: lb.target_groups.get(r.target).clone(),
            weight: 100,
        }];
        p.set_listener_weights(test, &to_target).await?;
    }
    r.control.stable = false;
    r.notice = None;
    record(p, &r, Phase::WaitingStable, p.now()).await?;
    Ok(r)
}

/// Is the new colour steady: the new revision running at the desired count, the ECS
/// rollout completed, every target healthy? Fails once the stable deadline has passed. A
/// worker service's new colour is steady once ECS has its revision (it has no task yet).
pub async fn stable<P>(p: &P, mut r: Rollout) -> Result<Rollout, StepError>
where
    P: StateStore + ContainerService + LoadBalancer + Clock,
{
    let p = &*super::reach::ports_for(p, &r.env, &r.deployment)?;
    guard_round(p, &r).await?;
    r.notice = None;
    let now = p.now();
    let service = p
        .describe_service(&r.env.cluster, r.env.services.get(r.target))
        .await?;
    if service.rollout == RolloutState::Failed {
        return Err(StepError::DeploymentFailed(
            service
                .rollout_reason
                .unwrap_or_else(|| "the ECS deployment failed".into()),
        ));
    }
    let (steady, why_not) = match r.env.load_balancer() {
        Some(lb) => {
            let health = p.target_health(lb.target_groups.get(r.target)).await?;
            let healthy = health
                .iter()
                .filter(|t| t.state == HealthState::Healthy)
                .count() as u32;
            let steady = service.task_definition == r.task_definition
                && service.running == r.desired
                && service.rollout == RolloutState::Completed
                && healthy >= r.desired
                && health
                    .iter()
                    .all(|t| matches!(t.state, HealthState::Healthy | HealthState::Draining));
            let why_not = format!(
                "{}: {} of {} tasks running, {} of {} targets healthy{}",
                r.env.checks.stable_timeout,
                service.running,
                r.desired,
                healthy,
                r.desired,
                first_reason(&health)
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default()
            );
            (steady, why_not)
        }
        None => (
            service.task_definition == r.task_definition
                && service.rollout == RolloutState::Completed,
            format!(
                "{}: ECS has not completed the update of {} to the new revision",
                r.env.checks.stable_timeout,
                r.env.services.get(r.target)
            ),
        ),
    };
    r.control.stable = steady;
    if steady {
        record(p, &r, Phase::PreTrafficChecks, now).await?;
        return Ok(r);
    }
    if now >= r.stable_deadline {
        return Err(StepError::StableTimeout(why_not));
    }
    Ok(r)
}

fn first_reason(health: &[crate::ports::TargetHealth]) -> Option<String> {
    health
        .iter()
        .find(|t| t.state != HealthState::Healthy)
        .map(|t| {
            format!(
                "{}: {}{}",
                t.id,
                t.state,
                t.reason
                    .as_ref()
                    .map(|r| format!(", {r}"))
                    .unwrap_or_default()
            )
        })
}

/// The URL a probe requests.
pub async fn probe_url(
    lb: &impl LoadBalancer,
    env: &crate::config::Environment,
    probe: &Probe,
) -> Result<String, StepError> {
    if let Some(url) = &probe.url {
        return Ok(url.clone());
    }
    let path = probe.path.as_deref().unwrap_or("/");
    let listeners = env.listeners.as_ref().ok_or_else(|| {
        StepError::NotConfigured(
            "a probe by `path` needs a load balancer, and this environment has none; give the probe a `url`".into(),
        )
    })?;
    let listener = match probe.via {
        ProbeVia::Test => listeners.test.as_ref().ok_or_else(|| {
            StepError::NotConfigured(
                "a probe goes via the test listener, which is not configured".into(),
            )
        })?,
        ProbeVia::Production => &listeners.production,
    };
    let ep = lb.listener_endpoint(listener).await?;
    let default_port = if ep.scheme == "https" { 443 } else { 80 };
    Ok(if ep.port == default_port {
        format!("{}://{}{path}", ep.scheme, ep.dns_name)
    } else {
        format!("{}://{}:{}{path}", ep.scheme, ep.dns_name, ep.port)
    })
}

/// Runs probes; returns the failures as readable lines.
async fn run_probes<P>(p: &P, r: &Rollout, probes: &[Probe]) -> Result<Vec<String>, StepError>
where
    P: LoadBalancer + Prober,
{
    let mut failures = Vec::new();
    for probe in probes {
        let url = probe_url(p, &r.env, probe).await?;
        let result = p.get(&url, probe.timeout).await;
        match (result.status, result.error) {
            (Some(status), _) if status == probe.expect_status => {}
            (Some(status), _) => failures.push(format!(
                "GET {url} answered {status}, expected {}",
                probe.expect_status
            )),
            (None, error) => failures.push(format!(
                "GET {url} failed: {}",
                error.unwrap_or_else(|| "no response".into())
            )),
        }
    }
    Ok(failures)
}

/// Counts a round of checks: `failures` empty resets the count; otherwise it grows, and at
/// the threshold the rollout fails.
fn tally(r: &mut Rollout, failures: Vec<String>) -> Result<(), StepError> {
    if failures.is_empty() {
        r.failures = 0;
        return Ok(());
    }
    r.failures = r.failures.saturating_add(1);
    if r.failures >= r.env.checks.failure_threshold {
        return Err(StepError::HealthCheckFailed(format!(
            "{} consecutive failed checks: {}",
            r.failures,
            failures.join("; ")
        )));
    }
    Ok(())
}

/// Pre-traffic checks: the probes that go through the test listener. `control.ready` is
/// set when they all pass.
pub async fn ready<P>(p: &P, mut r: Rollout) -> Result<Rollout, StepError>
where
    P: StateStore + LoadBalancer + Prober + Clock,
{
    let p = &*super::reach::ports_for(p, &r.env, &r.deployment)?;
    guard_round(p, &r).await?;
    r.notice = None;
    let probes: Vec<Probe> = r
        .env
        .checks
        .probes
        .iter()
        .filter(|p| p.path.is_some() && p.via == ProbeVia::Test)
        .cloned()
        .collect();
    let failures = run_probes(p, &r, &probes).await?;
    r.control.ready = failures.is_empty();
    tally(&mut r, failures)?;
    Ok(r)
}

/// Checks while traffic bakes: alarms (any in ALARM fails at once), target health of the
/// new colour, and every probe. Sets `control.baking` and how long to wait before the next
/// check.
pub async fn health<P>(p: &P, mut r: Rollout) -> Result<Rollout, StepError>
where
    P: StateStore + ContainerService + LoadBalancer + Alarms + Metrics + Prober + Clock,
{
    let p = &*super::reach::ports_for(p, &r.env, &r.deployment)?;
    guard_round(p, &r).await?;
    r.notice = None;
    // Behind a load balancer the new colour runs every task from deploy on; a worker's new
    // colour runs its share of them at this step.
    let wanted = match r.env.load_balancer() {
        Some(_) => r.desired,
        None => super::task_split(r.desired, r.weight).0,
    };
    let now = p.now();
    let left = r
        .bake_until
        .map_or(0, |until| (until - now).num_seconds().max(0) as u64);
    // The alarm relay fails the step's wait the moment an alarm goes to ALARM; the rounds
    // read the alarms themselves only at the end of the bake (and the step read them as it
    // began), a backstop for an alarm change the relay could not deliver.
    let mut failures = observe(p, &r, wanted, left == 0).await?;
    // The analysis runs once `analysis.interval` has passed since the weight was set or
    // since its last run at this weight (at least a minute: ALB metrics have a one-minute
    // resolution, and a first run sooner would read less than a minute of the new weight),
    // and always at the end of the bake; in between, the last verdict at this weight
    // stands.
    let every = r
        .env
        .analysis
        .as_ref()
        .map_or(60, |a| a.interval.as_secs().min(i64::MAX as u64) as i64);
    let last = r.analysis.as_ref().filter(|a| a.weight == r.weight);
    let since = last.map(|a| a.at).into_iter().chain(r.shifted_at).max();
    let due = left == 0 || since.is_none_or(|t| (now - t).num_seconds() >= every);
    if !due {
        if let Some(last) = last.filter(|a| a.verdict == Verdict::Fail) {
            failures.push(last.summary());
        }
    } else if let Some(report) = analyse(p, &r).await? {
        if report.verdict == Verdict::Fail {
            // The verdict at the end of a bake is the step's: traffic never moves on from
            // a failing analysis, however few rounds failed before.
            if left == 0 {
                return Err(StepError::HealthCheckFailed(format!(
                    "at the end of the bake, {}",
                    report.summary()
                )));
            }
            failures.push(report.summary());
        }
        // Stored when the verdict or the weight changes, and at the end of each bake: the
        // next step starts from the record's report (see `tick::shift_and_bake`).
        let changed = r.analysis.as_ref().map(|a| (a.verdict, a.weight))
            != Some((report.verdict, report.weight));
        r.analysis = Some(report);
        if changed || left == 0 {
            let latest = r.analysis.clone();
            super::record::update(
                p,
                &r.deployment,
                || None,
                |rec| {
                    rec.analysis = latest.clone();
                    true
                },
            )
            .await?;
        }
    }
    let failing = !failures.is_empty();
    tally(&mut r, failures)?;
    r.checked_at = Some(now);
    // A step never ends on a failing round: past its bake it goes on a round at a time
    // until a round passes or `failure_threshold` rounds in a row have failed.
    r.control.baking = left > 0 || failing;
    r.control.bake_wait_seconds = match left {
        0 => r.control.interval_seconds.max(1),
        _ => left.min(r.control.interval_seconds).max(1),
    };
    Ok(r)
}

/// The canary analysis of this round, when the environment has one and both colours take
/// traffic: each colour's metrics since the weight was set.
async fn analyse<P>(p: &P, r: &Rollout) -> Result<Option<AnalysisReport>, StepError>
where
    P: Metrics + Clock,
{
    let (Some(analysis), Some(since)) = (&r.env.analysis, r.shifted_at) else {
        return Ok(None);
    };
    let now = p.now();
    if r.weight == 0 || r.weight >= 100 || now <= since {
        return Ok(None);
    }
    let queries = crate::analysis::queries(&r.env, analysis, r.live, r.target);
    let values = p.metric_values(&queries, since, now).await?;
    Ok(Some(crate::analysis::judge(
        analysis,
        &values,
        crate::analysis::Round {
            old: r.live,
            new: r.target,
            weight: r.weight,
            since,
            at: now,
        },
    )))
}

/// A round of checks in the watched rollback window, after the release succeeded: the same
/// alarms, target health (against the service's desired count now, which autoscaling may
/// have changed) and probes as in a bake. An alarm in ALARM, or `failure_threshold` failed
/// rounds in a row, fail the round (the state machine then reverts the release). The watch
/// ends, changing nothing, once the window is over or another deployment has come since.
pub async fn window<P>(p: &P, mut r: Rollout) -> Result<Rollout, StepError>
where
    P: StateStore + ContainerService + LoadBalancer + Alarms + Prober + Clock,
{
    let p = &*super::reach::ports_for(p, &r.env, &r.deployment)?;
    r.notice = None;
    let latest = super::record::latest(p, &r.app, &r.environment).await?;
    let still_live = latest.is_some_and(|l| {
        l.id == r.deployment && l.outcome == Some(crate::ports::Outcome::Succeeded)
    });
    let held_by_other = p
        .get_lock(&r.app, &r.environment)
        .await?
        .is_some_and(|l| l.owner != r.deployment && l.expires_at > p.now());
    let open = window_control(&mut r, p.now());
    if still_live && !held_by_other && open {
        let desired = p
            .describe_service(&r.env.cluster, r.env.services.get(r.target))
            .await?
            .desired;
        let failures = observe(p, &r, desired, true).await?;
        tally(&mut r, failures)?;
        r.checked_at = Some(p.now());
    } else {
        r.control.watching = false;
    }
    Ok(r)
}

/// Sets the window's `control` fields from the time left: whether the watch goes on, how
/// long until the next round, how long the plain wait lasts. Returns `watching`.
pub fn window_control(r: &mut Rollout, now: chrono::DateTime<chrono::Utc>) -> bool {
    let left = r
        .window_until
        .map_or(0, |until| (until - now).num_seconds().max(0) as u64);
    r.control.window_left_seconds = left;
    r.control.watching = r.control.watch_window && left > 0;
    r.control.window_wait_seconds = left
        .min(r.env.checks.window_interval.as_secs().max(1))
        .max(1);
    r.control.window_timeout_seconds = left.saturating_add(super::tick::grace(r)).max(1);
    r.control.watching
}

/// A worker service's new colour, checked by its tasks: ECS's deployment not failed, no
/// task crashed since the weight was set (a non-zero exit of an essential container, or a
/// task that never started), every running task's container health check passing, and —
/// once `checks.stable_timeout` has passed since the tasks were asked for — as many
/// running as wanted.
async fn task_failures<P>(p: &P, r: &Rollout, desired: u32) -> Result<Vec<String>, StepError>
where
    P: ContainerService + Clock,
{
    let mut failures = Vec::new();
    let service_name = r.env.services.get(r.target);
    let service = p.describe_service(&r.env.cluster, service_name).await?;
    if service.rollout == RolloutState::Failed {
        return Err(StepError::DeploymentFailed(
            service
                .rollout_reason
                .unwrap_or_else(|| "the ECS deployment failed".into()),
        ));
    }
    // Crashes since the last round (ECS keeps stopped tasks for an hour): one crash is one
    // failed round, a crash loop fails every round.
    let since = [r.checked_at, r.shifted_at]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(r.started_at);
    let tasks = p.task_report(&r.env.cluster, service_name, since).await?;
    if let Some(first) = tasks.crashed.first() {
        failures.push(format!(
            "{} task(s) of {service_name} stopped since {}: {}{}",
            tasks.crashed.len(),
            since.format("%H:%M:%S"),
            first.reason,
            first
                .exit_code
                .map(|c| format!(" (exit code {c})"))
                .unwrap_or_default()
        ));
    }
    if tasks.unhealthy > 0 {
        failures.push(format!(
            "{} of {} running tasks of {service_name} fail their container health check",
            tasks.unhealthy,
            tasks.unhealthy + tasks.healthy
        ));
    }
    let step_began = r.shifted_at.unwrap_or(r.started_at);
    let starting = crate::rollout::deadline(
        step_began,
        r.env.checks.stable_timeout,
        "checks.stable_timeout",
    )
    .is_ok_and(|until| p.now() < until);
    if service.running < desired && !starting {
        failures.push(format!(
            "{} of {desired} tasks of {service_name} running after {}",
            service.running, r.env.checks.stable_timeout
        ));
    }
    Ok(failures)
}

/// The failure of an alarm in ALARM: its name and CloudWatch's reason.
pub(super) fn fired(a: &crate::ports::AlarmState) -> StepError {
    StepError::AlarmFired(format!(
        "{}{}",
        a.name,
        a.reason
            .as_ref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    ))
}

/// One round of observation: an alarm in ALARM fails at once (when `alarms` asks for them
/// to be read); otherwise the failures of the round as readable lines (a missing alarm,
/// unhealthy targets or tasks, failing probes).
async fn observe<P>(
    p: &P,
    r: &Rollout,
    desired: u32,
    alarms: bool,
) -> Result<Vec<String>, StepError>
where
    P: ContainerService + LoadBalancer + Alarms + Prober + Clock,
{
    let mut failures = Vec::new();
    if alarms && !r.env.checks.alarms.is_empty() {
        let states = p.alarm_states(&r.env.checks.alarms).await?;
        if let Some(a) = states.iter().find(|a| a.value == AlarmValue::Alarm) {
            return Err(fired(a));
        }
        for name in &r.env.checks.alarms {
            if !states.iter().any(|s| &s.name == name) {
                failures.push(format!("alarm {name} no longer exists"));
            }
        }
    }
    match r.env.load_balancer() {
        Some(lb) => {
            let group = lb.target_groups.get(r.target);
            let health = p.target_health(group).await?;
            let healthy = health
                .iter()
                .filter(|t| t.state == HealthState::Healthy)
                .count() as u32;
            if healthy < desired {
                failures.push(format!(
                    "{healthy} of {desired} targets healthy in {}{}",
                    group.short_name(),
                    first_reason(&health)
                        .map(|s| format!(" ({s})"))
                        .unwrap_or_default()
                ));
            }
        }
        None => failures.extend(task_failures(p, r, desired).await?),
    }
    failures.extend(run_probes(p, r, &r.env.checks.probes).await?);
    Ok(failures)
}

/// The moment the current step's bake ends.
pub fn bake_end(
    now: chrono::DateTime<chrono::Utc>,
    bake: crate::Duration,
) -> Result<chrono::DateTime<chrono::Utc>, StepError> {
    crate::rollout::deadline(now, bake, "the step's bake")
}
