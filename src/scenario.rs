//! `greenlight simulate`: rehearse a configuration against what could go wrong. A scenario
//! (YAML, see docs/SCENARIOS.md) lists timed steps — pushes with image behaviours,
//! promotions, approvals and rejections, manual rollbacks, forced alarms, injected faults —
//! and, optionally, the outcomes it expects.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use greenlight_core::config::Config;
use greenlight_core::ports::{AlarmValue, StateStore, TokenPurpose};
use greenlight_core::usecase::{approval, promote};
use greenlight_core::{Arn, Duration};
use greenlight_sim::{Behaviour, FaultKind};
use serde::{Deserialize, Serialize};

use crate::simulation::{digest_for, Async, Simulation, TOPIC};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// What the scenario rehearses.
    pub name: String,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// What every environment runs before the first step.
    #[serde(default)]
    pub initial: Initial,
    pub steps: Vec<Step>,
    /// Outcomes the scenario expects; any that does not happen fails it.
    #[serde(default)]
    pub expect: Vec<Expectation>,
}

fn default_seed() -> u64 {
    1
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Initial {
    #[serde(default = "default_image")]
    pub image: String,
    #[serde(default = "default_tasks")]
    pub tasks: u32,
}

fn default_image() -> String {
    "initial".into()
}
fn default_tasks() -> u32 {
    2
}

impl Default for Initial {
    fn default() -> Self {
        Initial {
            image: default_image(),
            tasks: default_tasks(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// When, from the start: `0s`, `5m`, `1h30m`.
    pub at: Duration,
    /// Where the step was written (for messages); not part of the format.
    #[serde(skip)]
    pub span: greenlight_core::yaml::Span,
    #[serde(flatten)]
    pub action: Action,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// An image pushed to ECR (the push event reaches greenlight `times` times). Without a
    /// tag, a push by digest.
    Push {
        repository: String,
        #[serde(default)]
        tag: Option<String>,
        /// A name for the image; the same name is the same digest.
        image: String,
        #[serde(default)]
        behaviour: BehaviourSpec,
        #[serde(default = "one")]
        times: u32,
    },
    /// `greenlight promote`; with `image`, `--digest` of that image.
    Promote {
        app: String,
        from: String,
        to: String,
        #[serde(default)]
        image: Option<String>,
        #[serde(default = "someone")]
        by: String,
    },
    Approve {
        app: String,
        environment: String,
        #[serde(default = "someone")]
        by: String,
    },
    Reject {
        app: String,
        environment: String,
        #[serde(default = "someone")]
        by: String,
        #[serde(default)]
        reason: String,
    },
    /// `greenlight rollback`: stop a running deployment, or flip a finished one back.
    Rollback {
        app: String,
        environment: String,
        #[serde(default = "someone")]
        by: String,
    },
    /// Forces an alarm's state (ALARM or OK) for a while, as if CloudWatch said so.
    Alarm {
        name: String,
        state: String,
        #[serde(default, rename = "for")]
        duration: Option<Duration>,
        /// The reason CloudWatch gives (default: "forced by the scenario").
        #[serde(default)]
        reason: Option<String>,
    },
    /// The next `times` calls of `operation` fail (e.g. `elbv2:ModifyListener`,
    /// `ecs:UpdateService`, `lambda:Invoke/greenlight-shift`); `times: always` for good.
    Fault {
        operation: String,
        error: String,
        #[serde(default)]
        times: Times,
    },
    /// A lock held by a deployment that died, expiring after `for`.
    StaleLock {
        app: String,
        environment: String,
        #[serde(rename = "for")]
        duration: Duration,
    },
}

fn one() -> u32 {
    1
}

/// How many calls a fault hits: a number, or `always`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Times {
    Count(u32),
    Word(String),
}

impl Default for Times {
    fn default() -> Self {
        Times::Count(1)
    }
}

impl Times {
    pub fn count(&self) -> Result<u32, String> {
        match self {
            Times::Count(n) => Ok(*n),
            Times::Word(w) if w == "always" => Ok(u32::MAX),
            Times::Word(w) => Err(format!("`{w}` is not a number of calls or `always`")),
        }
    }
}
fn someone() -> String {
    "scenario".into()
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(untagged)]
pub enum BehaviourSpec {
    #[default]
    #[serde(skip)]
    Default,
    Named(String),
    Custom {
        #[serde(default)]
        start_secs: Option<u64>,
        #[serde(default)]
        crash_on_start: bool,
        #[serde(default)]
        never_healthy: bool,
        #[serde(default)]
        error_rate: f64,
    },
}

impl BehaviourSpec {
    pub fn behaviour(&self) -> Result<Behaviour, String> {
        Ok(match self {
            BehaviourSpec::Default => Behaviour::healthy(),
            BehaviourSpec::Named(n) => match n.as_str() {
                "healthy" => Behaviour::healthy(),
                "crash_on_start" => Behaviour::crashing(),
                "never_healthy" => Behaviour::never_healthy(),
                "5xx" => Behaviour::erroring(0.5),
                "slow" => Behaviour::slow(300),
                other => return Err(format!("unknown behaviour `{other}`; use healthy, crash_on_start, never_healthy, 5xx, slow or a mapping")),
            },
            BehaviourSpec::Custom { start_secs, crash_on_start, never_healthy, error_rate } => Behaviour {
                start_secs: start_secs.unwrap_or(40),
                crash_on_start: *crash_on_start,
                never_healthy: *never_healthy,
                error_rate: *error_rate,
            },
        })
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    pub app: String,
    pub environment: String,
    /// The tag (or image name) of the deployment.
    pub tag: String,
    pub outcome: String,
}

/// What a scenario run produced.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub name: String,
    pub timeline: Vec<crate::timeline::Moment>,
    pub deployments: Vec<greenlight_core::ports::DeploymentRecord>,
    /// Every notification published, whole, as subscribers receive it (the body of each
    /// SNS message: event, severity, reason, traffic, next steps).
    pub notifications: Vec<greenlight_core::notify::Notification>,
    /// Steps that could not be carried out, with why.
    pub step_errors: Vec<String>,
    pub unmet: Vec<String>,
    pub invariant: Vec<String>,
    pub ended_at: DateTime<Utc>,
    /// Which function made which AWS call (see `greenlight_sim::World::access`); for the
    /// least-privilege test, not part of the report people read.
    #[serde(skip)]
    pub access: std::collections::BTreeSet<(String, String)>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.step_errors.is_empty() && self.unmet.is_empty() && self.invariant.is_empty()
    }
}

/// The outcome an expectation names when nothing may be deployed.
pub const NO_DEPLOYMENT: &str = "none";

pub fn parse(text: &str) -> Result<Scenario, String> {
    let node = greenlight_core::yaml::load_all(text).map_err(|errors| {
        errors
            .iter()
            .map(|e| format!("not valid YAML: {e}"))
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    let problems = crate::scenario_check::structure(&node);
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    let mut scenario: Scenario =
        serde_json::from_value(node.to_json()).map_err(|e| e.to_string())?;
    let spans = node.index_spans("");
    for (i, step) in scenario.steps.iter_mut().enumerate() {
        step.span = spans
            .get(&format!("steps[{i}]"))
            .copied()
            .unwrap_or_default();
    }
    for (i, s) in scenario.steps.iter().enumerate() {
        if let Action::Push { behaviour, .. } = &s.action {
            behaviour
                .behaviour()
                .map_err(|e| format!("steps[{i}].push.behaviour: {e}"))?;
        }
        if let Action::Fault { error, times, .. } = &s.action {
            fault_kind(error).map_err(|e| format!("steps[{i}].fault.error: {e}"))?;
            times
                .count()
                .map_err(|e| format!("steps[{i}].fault.times: {e}"))?;
        }
        if let Action::Alarm { state, .. } = &s.action {
            if state != "ALARM" && state != "OK" {
                return Err(format!(
                    "steps[{i}].alarm.state: `{state}` is not ALARM or OK"
                ));
            }
        }
    }
    Ok(scenario)
}

fn fault_kind(name: &str) -> Result<FaultKind, String> {
    Ok(match name {
        "throttle" => FaultKind::Throttle,
        "server_error" => FaultKind::ServerError,
        "timeout" => FaultKind::Timeout,
        "timeout_landed" => FaultKind::TimeoutLanded,
        "access_denied" => FaultKind::AccessDenied,
        other => {
            return Err(format!(
                "`{other}` is not throttle, server_error, timeout, timeout_landed or access_denied"
            ))
        }
    })
}

/// Runs a scenario against a configuration in a fresh simulated account (call inside a
/// runtime with a paused clock).
/// When every scenario starts (virtual time): step `at` offsets count from here.
pub const START: DateTime<Utc> = DateTime::from_timestamp(1_795_165_200, 0).unwrap();

pub async fn run(config: &Config, scenario: &Scenario) -> Report {
    let start = START;
    let s = Simulation::new(
        config,
        &digest_for(&scenario.initial.image),
        scenario.initial.tasks,
        scenario.seed,
        start,
    );
    let since = crate::timeline::marks(&s);
    s.schedule_reconcile();
    let mut steps = scenario.steps.clone();
    steps.sort_by_key(|st| st.at);
    let mut step_errors = Vec::new();
    for step in &steps {
        let due = start + chrono::Duration::seconds(step.at.as_secs() as i64);
        let wait = (due - s.now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
        if let Err(e) = perform(&s, &step.action).await {
            step_errors.push(format!("at {}: {e}", step.at));
        }
    }
    s.settle().await;
    s.stop_schedule();
    // The schedule runs on after the last step (driven here, so that the end is exact): the scenario ends at the
    // first period boundary whose run succeeded and started nothing (at most six periods
    // on; a run fails only on faults the schedule injected, used up by then).
    for _ in 0..6 {
        let elapsed = (s.now() - start).num_seconds().max(0) as u64;
        let wait =
            crate::simulation::RECONCILE_PERIOD - elapsed % crate::simulation::RECONCILE_PERIOD;
        tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
        let quiet = s.run_reconcile().await;
        s.settle().await;
        if quiet {
            break;
        }
    }
    let deployments: Vec<_> = {
        let w = s.sim.world();
        let mut d: Vec<_> = w.store.deployments.values().cloned().collect();
        d.sort_by_key(|r| r.started_at);
        d
    };
    let unmet = scenario
        .expect
        .iter()
        .filter_map(|e| {
            let found = deployments.iter().find(|d| {
                d.app == e.app
                    && d.environment == e.environment
                    && (d.tag.as_deref() == Some(&e.tag) || d.image.digest == digest_for(&e.tag))
            });
            // `none`: nothing was deployed for that tag or image.
            let outcome = match found {
                None => Some(NO_DEPLOYMENT.to_string()),
                Some(d) => d.outcome.map(|o| o.to_string()),
            };
            (outcome.as_deref() != Some(e.outcome.as_str())).then(|| {
                format!(
                    "{}/{} {}: expected {}, got {}",
                    e.app,
                    e.environment,
                    e.tag,
                    e.outcome,
                    match outcome.as_deref() {
                        Some(NO_DEPLOYMENT) => "no deployment".to_string(),
                        Some(o) => o.to_string(),
                        None => "a deployment that never ended".to_string(),
                    }
                )
            })
        })
        .collect();
    let notifications = s
        .sim
        .world()
        .published
        .iter()
        .map(|p| p.notification.clone())
        .collect();
    let report = Report {
        name: scenario.name.clone(),
        timeline: crate::timeline::timeline(&s, since),
        deployments,
        notifications,
        step_errors,
        unmet,
        invariant: s.invariant(),
        ended_at: s.now(),
        access: s.sim.world().access.clone(),
    };
    s.close();
    report
}

async fn waiting_deployment(
    s: &Simulation,
    app: &str,
    environment: &str,
) -> Result<String, String> {
    let lock = s
        .sim
        .get_lock(app, environment)
        .await
        .map_err(|e| e.to_string())?;
    let owner = lock
        .map(|l| l.owner)
        .ok_or_else(|| format!("no deployment is running in {app}/{environment}"))?;
    match s
        .sim
        .get_task_token(&owner, TokenPurpose::Approval)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(_) => Ok(owner),
        None => Err(format!("{owner} is not waiting for approval")),
    }
}

async fn perform(s: &Simulation, action: &Action) -> Result<(), String> {
    match action {
        Action::Push {
            repository,
            tag,
            image,
            behaviour,
            times,
        } => {
            let behaviour = behaviour.behaviour()?;
            let digest = digest_for(image);
            s.sim
                .world()
                .push_image(repository, tag.as_deref(), &digest, behaviour);
            let event =
                crate::simulation::push_event_of(repository, tag.as_deref(), &digest, s.now());
            // EventBridge invokes on-push asynchronously: a failed invocation is Lambda's to
            // retry (and the timeline's to show), not a failed step.
            for _ in 0..*times {
                let _ = s.deliver_async(Async::OnPush, event.clone()).await;
            }
            Ok(())
        }
        Action::Promote {
            app,
            from,
            to,
            image,
            by,
        } => s
            .promote_digest(
                app,
                from,
                to,
                image.as_deref().map(digest_for).as_ref(),
                &crate::simulation::principal_of(by),
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Action::Approve {
            app,
            environment,
            by,
        } => {
            let d = waiting_deployment(s, app, environment).await?;
            s.answer_approval(&d, by, approval::Verdict::Approve, None)
                .await
                .map(|_| ())
        }
        Action::Reject {
            app,
            environment,
            by,
            reason,
        } => {
            let d = waiting_deployment(s, app, environment).await?;
            s.answer_approval(&d, by, approval::Verdict::Reject, Some(reason))
                .await
                .map(|_| ())
        }
        Action::Rollback {
            app,
            environment,
            by,
        } => {
            let topic = Arn::parse(TOPIC).expect("an ARN");
            let sm = Arn::parse(crate::simulation::STATE_MACHINE).expect("an ARN");
            promote::revert(&s.sim, &s.config, &topic, Some(&sm), app, environment, by)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        Action::Alarm {
            name,
            state,
            duration,
            reason,
        } => {
            let value = if state == "ALARM" {
                AlarmValue::Alarm
            } else {
                AlarmValue::Ok
            };
            let reason = reason.as_deref().unwrap_or("forced by the scenario");
            s.sim.world().force_alarm(name, Some(value), reason)?;
            if value == AlarmValue::Alarm {
                // EventBridge delivers the state change to the alarm relay.
                let event = serde_json::json!({
                    "version": "0", "id": format!("alarm-{name}-{}", s.now().timestamp()),
                    "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
                    "account": "123456789012", "region": "eu-west-1",
                    "time": s.now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    "detail": {"alarmName": name, "state": {"value": "ALARM", "reason": reason}},
                });
                let _ = s.deliver_async(Async::AlarmRelay, event).await;
            }
            if let Some(d) = duration {
                let (sim, name, secs) = (s.sim.clone(), name.clone(), d.as_secs());
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
                    // The alarm exists: forcing it succeeded above.
                    let _ = sim
                        .world()
                        .force_alarm(&name, None, "the forced state ended");
                });
            }
            Ok(())
        }
        Action::Fault {
            operation,
            error,
            times,
        } => {
            s.sim
                .world()
                .inject(operation, fault_kind(error)?, times.count()?);
            Ok(())
        }
        Action::StaleLock {
            app,
            environment,
            duration,
        } => {
            let now = s.now();
            s.sim
                .acquire_lock(app, environment, "a-dead-execution", *duration, now)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    }
}

/// Prints a report for people.
pub fn print(report: &Report) {
    println!("scenario: {}\n", report.name);
    crate::timeline::print(&report.timeline);
    println!("\ndeployments");
    for d in &report.deployments {
        println!(
            "  {:<32} {}/{:<10} {:<10} {:<14} {}",
            d.id,
            d.app,
            d.environment,
            d.tag.as_deref().unwrap_or("-"),
            d.outcome
                .map(|o| o.to_string())
                .unwrap_or_else(|| "running".into()),
            d.reason.as_deref().unwrap_or("")
        );
    }
    for e in &report.step_errors {
        println!("  step failed: {e}");
    }
    for u in &report.unmet {
        println!("  expectation not met: {u}");
    }
    if report.invariant.is_empty() {
        println!("\ninvariant holds: all traffic on one healthy colour per environment, locks free, every deployment announced its end");
    } else {
        println!("\nINVARIANT BROKEN:");
        for b in &report.invariant {
            println!("  - {b}");
        }
    }
}

/// Runs scenario files for the CLI.
/// Checks every scenario against the configuration before anything runs: what a scenario
/// names that the configuration does not have is an error (`file:line:column: …`).
pub fn check_all(config: &Config, scenarios: &BTreeMap<String, Scenario>) -> Vec<String> {
    scenarios
        .iter()
        .flat_map(|(file, s)| {
            crate::scenario_check::against(config, s)
                .into_iter()
                .map(move |p| format!("{file}:{p}"))
        })
        .collect()
}

pub fn simulate(config: &Config, scenarios: &BTreeMap<String, Scenario>, json: bool) -> bool {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    let mut all_passed = true;
    let mut reports = Vec::new();
    for (file, scenario) in scenarios {
        let report = rt.block_on(run(config, scenario));
        all_passed &= report.passed();
        if !json {
            println!("── {file}");
            print(&report);
            println!(
                "result: {}\n",
                if report.passed() { "PASSED" } else { "FAILED" }
            );
        }
        reports.push(report);
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reports).expect("reports serialize")
        );
    }
    all_passed
}
