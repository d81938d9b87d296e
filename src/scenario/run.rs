//! Running a scenario in a fresh simulated account, and reporting what happened.

use super::*;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use greenlight_core::config::Config;
use greenlight_core::ports::{AlarmValue, StateStore, TokenPurpose};
use greenlight_core::usecase::{approval, promote};
use greenlight_core::{Arn, Duration};
use serde::Serialize;

use crate::simulation::{digest_for, Async, Simulation, TOPIC};

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
    /// The four DORA measures of the rehearsal's history (printed with `--report`).
    pub dora: Option<greenlight_core::usecase::report::Report>,
    /// Which function made which AWS call (see `greenlight_sim::World::access`); for the
    /// least-privilege test, not part of the report people read.
    #[serde(skip)]
    pub access: std::collections::BTreeSet<(String, String)>,
    /// Which IAM actions were used in target accounts, through which role (see
    /// `greenlight_sim::Accounts::target_access`); for templates/target-account.yaml's
    /// least-privilege test.
    #[serde(skip)]
    pub target_access: std::collections::BTreeSet<(String, String)>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.step_errors.is_empty() && self.unmet.is_empty() && self.invariant.is_empty()
    }
}

/// Runs a scenario against a configuration in a fresh simulated account (call inside a
/// runtime with a paused clock).
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
    let dora = greenlight_core::usecase::report::report_between(&s.sim, None, None, start, s.now())
        .await
        .ok();
    let (access, target_access) = {
        let w = s.sim.world();
        (w.access.clone(), w.accounts.target_access.clone())
    };
    let report = Report {
        name: scenario.name.clone(),
        dora,
        timeline: crate::timeline::timeline(&s, since),
        deployments,
        notifications,
        step_errors,
        unmet,
        invariant: s.invariant(),
        ended_at: s.now(),
        access,
        target_access,
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
        } => alarm(s, name, state, *duration, reason.as_deref()).await,
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

/// An `alarm` step: the alarm forced to `state` (for `duration`, when given), and a change
/// to ALARM delivered to the alarm relay as EventBridge would.
async fn alarm(
    s: &Simulation,
    name: &str,
    state: &str,
    duration: Option<Duration>,
    reason: Option<&str>,
) -> Result<(), String> {
    let value = if state == "ALARM" {
        AlarmValue::Alarm
    } else {
        AlarmValue::Ok
    };
    let reason = reason.unwrap_or("forced by the scenario");
    s.sim.world().force_alarm(name, Some(value), reason)?;
    if value == AlarmValue::Alarm {
        let origin = s.sim.world().accounts.owner(&format!("alarm:{name}"));
        let event = crate::simulation::alarm_event(name, reason, s.now(), (&origin.0, &origin.1));
        let _ = s.deliver_async(Async::AlarmRelay, event).await;
    }
    if let Some(d) = duration {
        let (sim, name, secs) = (s.sim.clone(), name.to_string(), d.as_secs());
        s.spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
            // The alarm exists: forcing it succeeded above.
            let _ = sim
                .world()
                .force_alarm(&name, None, "the forced state ended");
        });
    }
    Ok(())
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

/// Runs scenario files for the CLI: each one, its report printed (or JSON); whether all
/// passed.
pub fn simulate(
    config: &Config,
    scenarios: &BTreeMap<String, Scenario>,
    json: bool,
    dora: bool,
) -> bool {
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
            if let Some(r) = report.dora.as_ref().filter(|_| dora) {
                println!("\nDORA measures of the rehearsal");
                print!("{}", crate::render::dora(r));
            }
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
