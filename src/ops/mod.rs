//! The operating commands against AWS: configuration, promotion, approvals, rollback,
//! status, history and subscriptions. Each is a thin shell over a core use case with the
//! AWS adapters; credentials, profile, region and `AWS_ENDPOINT_URL` come from the standard
//! AWS configuration chain.

use greenlight_core::config::Config;
use greenlight_core::json::sort_keys;
use greenlight_core::notify::{EventKind, Severity};
use greenlight_core::ports::{
    ContainerService, ImageRegistry, LoadBalancer, Outcome as DeploymentOutcome, StateStore,
    Subscriptions,
};
use greenlight_core::rollout::ErrorName;
use greenlight_core::usecase::{configure, promote, subscribe};
use greenlight_core::{Arn, Digest};
use serde_json::{json, Value};

use crate::exit;

mod messages;
mod stack;
pub use messages::*;
pub use stack::Stack;

/// A command's failure: what to print and the exit code.
#[derive(Debug)]
pub struct Stop(pub String, pub u8);

impl<E: ErrorName> From<E> for Stop {
    fn from(e: E) -> Self {
        Stop(e.to_string(), exit::INVALID)
    }
}

pub type Outcome = Result<(), Stop>;

/// Who is asking, for the records: `--by`, or the login name.
/// Who the caller is, as AWS says (STS `GetCallerIdentity`).
pub async fn caller<P: greenlight_core::ports::CallerIdentity>(p: &P) -> Result<String, Stop> {
    p.caller().await.map_err(|e| {
        Stop(
            format!("who you are could not be established: {e}"),
            exit::INVALID,
        )
    })
}

pub fn who(by: &Option<String>) -> String {
    by.clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into())
}

fn port(e: greenlight_core::ports::PortError) -> Stop {
    Stop(e.to_string(), exit::INVALID)
}

async fn stored(cloud: &impl StateStore) -> Result<(Config, u64), Stop> {
    let s = cloud.get_config().await.map_err(port)?.ok_or_else(|| {
        Stop(
            "no configuration is stored; run `greenlight config apply greenlight.yaml`".into(),
            exit::INVALID,
        )
    })?;
    Ok((std::sync::Arc::unwrap_or_clone(s.config), s.version))
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap());
}

pub async fn config_apply(
    stack: &Stack,
    config: &Config,
    source: &str,
    by: &str,
    dry_run: bool,
    json_out: bool,
) -> Outcome {
    let cloud = stack.cloud().await?;
    let done = configure::apply(&cloud, config, source, by, dry_run)
        .await
        .map_err(port)?;
    if json_out {
        print_json(&serde_json::to_value(&done).unwrap());
        return Ok(());
    }
    done.changes.iter().for_each(|l| println!("{l}"));
    let was = done.previous_version;
    match done.applied_version {
        Some(v) => println!("applied: configuration version {v} (was {was})"),
        None if done.changes.is_empty() => {
            println!("no changes: the stored configuration (version {was}) is the same")
        }
        None => println!("dry run: nothing written"),
    }
    Ok(())
}

pub async fn config_show(stack: &Stack, json_out: bool) -> Outcome {
    let cloud = stack.cloud().await?;
    let s = cloud
        .get_config()
        .await
        .map_err(port)?
        .ok_or_else(|| Stop("no configuration is stored".into(), exit::INVALID))?;
    if json_out {
        print_json(&serde_json::to_value(&s).unwrap());
    } else {
        println!(
            "# version {}, written {} by {}",
            s.version,
            s.updated_at.to_rfc3339(),
            s.updated_by
        );
        match &s.source {
            Some(yaml) => print!("{yaml}"),
            None => print_json(&sort_keys(&serde_json::to_value(&s.config).unwrap())),
        }
    }
    Ok(())
}

pub async fn config_diff(stack: &Stack, config: &Config, source: &str, json_out: bool) -> Outcome {
    let cloud = stack.cloud().await?;
    let diff = configure::compare(&cloud, config, source)
        .await
        .map_err(port)?;
    if json_out {
        print_json(&serde_json::to_value(&diff).unwrap());
    } else if diff.changes.is_empty() {
        println!("no differences");
    } else {
        diff.changes.iter().for_each(|l| println!("{l}"));
    }
    Ok(())
}

/// `greenlight promote`, against any implementation of the ports (AWS, or the simulator in
/// the demo).
#[allow(clippy::too_many_arguments)]
pub async fn promote_cmd<P>(
    cloud: &P,
    state_machine: &Arn,
    app: &str,
    from: &str,
    to: &str,
    digest: Option<&str>,
    by: &str,
    json_out: bool,
) -> Result<(String, promote::Promotion), Stop>
where
    P: StateStore
        + LoadBalancer
        + ContainerService
        + ImageRegistry
        + greenlight_core::ports::Executions,
{
    let digest = digest
        .map(Digest::parse)
        .transpose()
        .map_err(|e| Stop(format!("--digest: {e}"), exit::INVALID))?;
    let (config, _) = stored(cloud).await?;
    let p = promote::promote(
        cloud,
        &config,
        state_machine,
        app,
        from,
        to,
        digest.as_ref(),
        by,
    )
    .await?;
    let said = if json_out {
        serde_json::to_string_pretty(&p).unwrap()
    } else {
        crate::render::promotion(&p, app, to)
    };
    Ok((said, p))
}

/// How `--wait` follows a deployment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Wait {
    /// Give up after this long (exit 5); `None`: until it ends.
    pub timeout: Option<greenlight_core::Duration>,
}

/// `greenlight promote`: the promotion, recorded as the caller AWS names; with `wait`,
/// followed to its end (progress on standard error).
pub async fn promote_and_follow(
    stack: &Stack,
    app: &str,
    from: &str,
    to: &str,
    digest: Option<&str>,
    wait: Option<Wait>,
    json_out: bool,
) -> Outcome {
    let cloud = stack.cloud().await?;
    let by = caller(&cloud).await?;
    let (said, promotion) = promote_cmd(
        &cloud,
        &stack.state_machine()?,
        app,
        from,
        to,
        digest,
        &by,
        json_out,
    )
    .await?;
    println!("{said}");
    if let Some(wait) = wait {
        let execution = match &promotion.start {
            greenlight_core::ports::StartOutcome::Started { arn } => Some(arn.clone()),
            greenlight_core::ports::StartOutcome::AlreadyExists { .. } => None,
        };
        follow(
            &cloud,
            &promotion.deployment,
            execution.as_deref(),
            std::time::Duration::from_secs(5),
            wait,
        )
        .await?;
    }
    Ok(())
}

/// `greenlight approve` (no reason) or `reject` (with one): a decision sent to the approval
/// URL, signed with the caller's own credentials (`usecase::approval::send`); exit 1 with the
/// URL's reason when it refuses.
pub async fn answer_cmd(
    stack: &Stack,
    deployment: &str,
    reject_reason: Option<&str>,
    json_out: bool,
) -> Outcome {
    let url = stack.approval_url()?;
    let cloud = stack.cloud().await?;
    let answered =
        greenlight_core::usecase::approval::send(&cloud, &url, deployment, reject_reason).await?;
    if json_out {
        print_json(&serde_json::to_value(&answered).unwrap());
    } else {
        println!("{}", answered.message);
    }
    Ok(())
}

/// `greenlight rollback`; with `wait`, a running deployment asked to stop is followed until
/// it has rolled back (progress on standard error).
pub async fn rollback_cmd(
    stack: &Stack,
    app: &str,
    env: &str,
    by: &str,
    wait: Option<Wait>,
    json_out: bool,
) -> Outcome {
    let cloud = stack.cloud().await?;
    let (config, _) = stored(&cloud).await?;
    // With the state machine known, a lock left by a stopped execution is recognised.
    let sm = stack.state_machine().ok();
    let out = promote::revert(&cloud, &config, &stack.topic()?, sm.as_ref(), app, env, by).await?;
    if json_out {
        print_json(&serde_json::to_value(&out).unwrap());
    } else {
        match &out {
            promote::Reverted::StopRequested { deployment } => {
                println!("asked {deployment} to stop: it rolls back at its next step")
            }
            promote::Reverted::Flipped { deployment, to } => {
                println!("rolled back {deployment}: all traffic is on {to} again (verified)")
            }
        }
    }
    // A flip is verified before the command returns; a stop takes effect at the
    // deployment's next step.
    if let (Some(wait), promote::Reverted::StopRequested { deployment }) = (wait, &out) {
        let execution = sm
            .as_ref()
            .and_then(|sm| greenlight_core::arn::execution_arn(sm, deployment));
        follow_until(
            &cloud,
            deployment,
            execution.as_deref(),
            std::time::Duration::from_secs(5),
            wait,
            |o| o != DeploymentOutcome::Succeeded,
        )
        .await?;
    }
    Ok(())
}

pub async fn history_cmd(
    stack: &Stack,
    app: &str,
    env: &str,
    limit: usize,
    json_out: bool,
) -> Outcome {
    let cloud = stack.cloud().await?;
    let records = greenlight_core::usecase::status::history(&cloud, app, env, limit).await?;
    if json_out {
        print_json(&serde_json::to_value(&records).unwrap());
        return Ok(());
    }
    println!(
        "{:<34} {:<12} {:<26} {:<21} {:<14} reason",
        "deployment", "tag", "trigger", "started", "outcome"
    );
    for r in records {
        let trigger = r.trigger.describe();
        println!(
            "{:<34} {:<12} {:<26} {:<21} {:<14} {}",
            r.id,
            r.tag.as_deref().unwrap_or(r.image.digest.short()),
            trigger,
            r.started_at.format("%Y-%m-%d %H:%M:%S"),
            r.outcome
                .map(|o| o.to_string())
                .unwrap_or_else(|| r.phase.to_string()),
            r.reason.unwrap_or_default()
        );
        if let Some(a) = &r.analysis {
            println!("  {}", a.summary());
        }
    }
    Ok(())
}

/// `greenlight report`: the DORA measures over the period that ends now.
pub async fn report_cmd(
    stack: &Stack,
    app: Option<&str>,
    env: Option<&str>,
    since: greenlight_core::Duration,
    json_out: bool,
) -> Outcome {
    let cloud = stack.cloud().await?;
    let report = greenlight_core::usecase::report::report(&cloud, app, env, since).await?;
    if json_out {
        print_json(&serde_json::to_value(&report).unwrap());
        return Ok(());
    }
    println!(
        "from {} to {}",
        report.since.format("%Y-%m-%d %H:%M"),
        report.until.format("%Y-%m-%d %H:%M")
    );
    print!("{}", crate::render::dora(&report));
    Ok(())
}

/// `greenlight status`, redrawn every 5 s with `--watch` (until interrupted) when the output
/// is a terminal.
pub async fn status_watch(
    stack: &Stack,
    app: Option<&str>,
    env: Option<&str>,
    watch: bool,
    json_out: bool,
) -> Outcome {
    use std::io::IsTerminal;
    let redraw = watch && !json_out && std::io::stdout().is_terminal();
    loop {
        if redraw {
            print!("\x1b[2J\x1b[H");
        }
        status_cmd(stack, app, env, json_out).await?;
        if !watch {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
}

pub async fn status_cmd(
    stack: &Stack,
    app_filter: Option<&str>,
    env_filter: Option<&str>,
    json_out: bool,
) -> Outcome {
    let cloud = stack.cloud().await?;
    let status = greenlight_core::usecase::status::status(&cloud, app_filter, env_filter).await?;
    if json_out {
        print_json(&serde_json::to_value(&status).unwrap());
        return Ok(());
    }
    for e in &status.environments {
        let revision = e
            .revision
            .as_deref()
            .map(|r| format!(" at {}", r.get(..12).unwrap_or(r)))
            .unwrap_or_default();
        println!(
            "{}/{}: {} live, {}{revision} ({})",
            e.app,
            e.environment,
            e.live.map_or("split".to_string(), |c| c.to_string()),
            e.tag.as_deref().or(e.image.as_deref()).unwrap_or("-"),
            e.weights
        );
        if let Some(f) = &e.in_flight {
            println!(
                "  in flight: {} — {} {}",
                f.deployment,
                f.phase,
                crate::render::bar(f.weight, 20)
            );
            if let Some(a) = &f.analysis {
                println!("  {}", a.summary());
            }
        }
    }
    Ok(())
}

/// Progress on standard error: lines that stay, and on a terminal one status line under
/// them, redrawn in place (plain lines only when standard error is not a terminal).
struct Progress {
    live: bool,
    shown: bool,
}

impl Progress {
    fn new() -> Self {
        use std::io::IsTerminal;
        Progress {
            live: std::io::stderr().is_terminal(),
            shown: false,
        }
    }

    /// A line that stays.
    fn line(&mut self, text: &str) {
        self.clear();
        eprintln!("{text}");
    }

    /// The status line (on a terminal only).
    fn status(&mut self, text: &str) {
        if self.live {
            eprint!("\r\x1b[2K{text}");
            self.shown = true;
        }
    }

    fn clear(&mut self) {
        if self.shown {
            eprint!("\r\x1b[2K");
            self.shown = false;
        }
    }
}

/// Follows a deployment until it ends, printing each change of phase or traffic: Ok when it
/// succeeded, an error otherwise — including an execution that ended without recording an
/// outcome (it died, or was stopped by hand).
pub async fn follow<P>(
    cloud: &P,
    deployment: &str,
    execution: Option<&str>,
    every: std::time::Duration,
    wait: Wait,
) -> Outcome
where
    P: StateStore + greenlight_core::ports::Executions,
{
    follow_until(cloud, deployment, execution, every, wait, |o| {
        o == DeploymentOutcome::Succeeded
    })
    .await
}

/// [`follow`], with what counts as the ending the command wanted (`rollback --wait` wants
/// the deployment stopped: any outcome but `succeeded`).
pub async fn follow_until<P>(
    cloud: &P,
    deployment: &str,
    execution: Option<&str>,
    every: std::time::Duration,
    wait: Wait,
    wanted: impl Fn(DeploymentOutcome) -> bool,
) -> Outcome
where
    P: StateStore + greenlight_core::ports::Executions,
{
    use greenlight_core::usecase::watch::{look, End};
    /// Transient AWS errors in a row before following gives up (exit 4).
    const PATIENCE: u32 = 5;
    let started = tokio::time::Instant::now();
    let deadline = wait
        .timeout
        .map(|t| started + std::time::Duration::from_secs(t.as_secs()));
    let (mut last, mut failures) = (None, 0);
    let mut last_analysis: Option<String> = None;
    let mut progress = Progress::new();
    loop {
        let seen = match look(cloud, deployment, execution).await {
            Ok(seen) => {
                failures = 0;
                seen
            }
            Err(e) if e.is_retryable() && failures + 1 < PATIENCE => {
                failures += 1;
                progress.line(&format!("  (AWS: {e}; trying again)"));
                tokio::time::sleep(every * failures).await;
                continue;
            }
            Err(e) if e.is_retryable() => {
                progress.clear();
                return Err(Stop(
                    format!("{deployment}: could not follow it ({e}); it may still be running — `greenlight status` shows it"),
                    exit::UNAVAILABLE,
                ));
            }
            Err(e) => {
                progress.clear();
                return Err(port(e));
            }
        };
        let elapsed = greenlight_core::Duration::from_secs(started.elapsed().as_secs());
        // Every change is a line of its own; on a terminal the line under them shows
        // where the deployment is now and for how long, redrawn at every look.
        if let Some((phase, weight)) = seen.at.filter(|a| last != Some(*a)) {
            progress.line(&format!(
                "  {:<20} {}  {elapsed}",
                phase.as_str(),
                crate::render::bar(weight, 20)
            ));
            last = Some((phase, weight));
        }
        if seen.analysis.is_some() && seen.analysis != last_analysis {
            progress.line(&format!("  {}", seen.analysis.clone().unwrap_or_default()));
            last_analysis = seen.analysis.clone();
        }
        if let Some((phase, weight)) = last.filter(|_| seen.end.is_none()) {
            progress.status(&format!(
                "  now: {} at {weight}% for {elapsed}; looking again in {}s",
                phase.as_str(),
                every.as_secs()
            ));
        }
        match seen.end {
            None => {
                if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                    progress.clear();
                    let phase = last.map_or("not started", |(p, _)| p.as_str());
                    return Err(Stop(
                        format!(
                            "{deployment}: still running ({phase}) after {}; `greenlight status` follows it",
                            wait.timeout.unwrap_or_default()
                        ),
                        exit::TIMED_OUT,
                    ));
                }
                tokio::time::sleep(every).await
            }
            Some(End::Outcome { outcome, reason }) => {
                progress.clear();
                let name = outcome.as_str();
                eprintln!(
                    "{deployment}: {name}{}",
                    reason.map(|x| format!(" — {x}")).unwrap_or_default()
                );
                return if wanted(outcome) {
                    Ok(())
                } else {
                    Err(Stop(format!("{deployment} {name}"), exit::INVALID))
                };
            }
            Some(End::ExecutionEnded { status }) => {
                progress.clear();
                return Err(Stop(
                    format!(
                        "{deployment}: the execution ended {status} without a successful outcome"
                    ),
                    exit::INVALID,
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use greenlight_core::ports::{
        DeploymentRecord, ExecutionStatus, Executions, Phase, StartOutcome, TriggerInfo,
    };
    use greenlight_sim::Sim;

    /// `--stack`: the outputs fill what no flag or variable gave (read through the Stacks
    /// port, here the simulator's); a stack without the table output is refused.
    #[tokio::test]
    async fn a_stack_fills_the_locations_no_flag_gave() {
        let sim = Sim::at_epoch(1);
        sim.world().stacks.insert(
            "greenlight".into(),
            [
                ("StateTableName", "greenlight-state"),
                (
                    "StateMachineArn",
                    "arn:aws:states:eu-west-1:123456789012:stateMachine:greenlight-rollout",
                ),
                ("TopicArn", "arn:aws:sns:eu-west-1:123456789012:greenlight"),
                ("TargetExternalId", "ext-7"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into(),
        );
        let outputs = greenlight_core::ports::Stacks::stack_outputs(&sim, "greenlight")
            .await
            .unwrap();
        let mut stack = Stack {
            stack: Some("greenlight".into()),
            profile: None,
            region: None,
            table: None,
            state_machine: None,
            topic: Some("arn:aws:sns:eu-west-1:123456789012:mine".into()),
            dead_letters: None,
            approval_url: None,
            external_id: None,
        };
        assert!(stack.fill_from("greenlight", &outputs).is_ok());
        assert_eq!(stack.table.as_deref(), Some("greenlight-state"));
        assert_eq!(stack.external_id.as_deref(), Some("ext-7"));
        assert!(stack.state_machine().is_ok());
        assert_eq!(
            stack.topic().unwrap().as_str(),
            "arn:aws:sns:eu-west-1:123456789012:mine"
        );
        assert!(stack.dead_letters.is_none());
        let mut bare = stack.clone();
        bare.table = None;
        let Err(Stop(why, _)) = bare.fill_from("other", &Default::default()) else {
            panic!("a stack without outputs is taken")
        };
        assert!(why.contains("is it a greenlight stack?"), "{why}");
        assert!(matches!(
            greenlight_core::ports::Stacks::stack_outputs(&sim, "nope").await,
            Err(greenlight_core::ports::PortError::NotFound { .. })
        ));
    }

    fn record(outcome: Option<DeploymentOutcome>) -> DeploymentRecord {
        DeploymentRecord {
            announced: Vec::new(),
            id: "web-prod-1".into(),
            app: "web".into(),
            environment: "prod".into(),
            image: greenlight_core::ImageRef {
                repository: "web".into(),
                digest: Digest::parse(&format!("sha256:{}", "1".repeat(64))).unwrap(),
            },
            tag: None,
            trigger: TriggerInfo::Manual { by: "t".into() },
            phase: Phase::Done,
            colour: None,
            task_definition: None,
            weight: 100,
            started_at: chrono::Utc::now(),
            ended_at: None,
            outcome,
            reason: None,
            reverted_at: None,
            rollback_until: None,
            stop_requested: None,
            analysis: None,
            approved_by: None,
            source: Default::default(),
            version: 0,
        }
    }

    #[tokio::test]
    async fn follow_ends_with_the_outcome() {
        let sim = Sim::at_epoch(1);
        let every = std::time::Duration::from_millis(1);
        sim.put_deployment(&record(Some(DeploymentOutcome::Succeeded)))
            .await
            .unwrap();
        assert!(follow(&sim, "web-prod-1", None, every, Wait::default())
            .await
            .is_ok());
        sim.put_deployment(&DeploymentRecord {
            version: 1,
            ..record(Some(DeploymentOutcome::RolledBack))
        })
        .await
        .unwrap();
        let Err(Stop(message, code)) =
            follow(&sim, "web-prod-1", None, every, Wait::default()).await
        else {
            panic!("a rollback is a failure")
        };
        assert_eq!(
            (message.as_str(), code),
            ("web-prod-1 rolled_back", exit::INVALID)
        );
    }

    #[tokio::test]
    async fn follow_stops_when_the_execution_dies_without_an_outcome() {
        let sim = Sim::at_epoch(1);
        let sm = Arn::parse("arn:aws:states:eu-west-1:123456789012:stateMachine:rollout").unwrap();
        let StartOutcome::Started { arn } = sim.start(&sm, "web-prod-1", &json!({})).await.unwrap()
        else {
            panic!()
        };
        sim.world().executions.get_mut("web-prod-1").unwrap().status = ExecutionStatus::Aborted;
        let Err(Stop(message, _)) = follow(
            &sim,
            "web-prod-1",
            Some(&arn),
            std::time::Duration::from_millis(1),
            Wait::default(),
        )
        .await
        else {
            panic!("no outcome")
        };
        assert!(message.contains("ended ABORTED"), "{message}");
    }

    #[tokio::test(start_paused = true)]
    async fn follow_gives_up_at_its_timeout_and_on_aws_that_stays_down() {
        let sim = Sim::at_epoch(1);
        sim.put_deployment(&record(None)).await.unwrap();
        let every = std::time::Duration::from_secs(5);
        let wait = Wait {
            timeout: Some(greenlight_core::Duration::from_secs(60)),
        };
        let Err(Stop(message, code)) = follow(&sim, "web-prod-1", None, every, wait).await else {
            panic!("a deployment that never ends times out")
        };
        assert_eq!(code, exit::TIMED_OUT, "{message}");
        assert!(message.contains("still running"), "{message}");
        // A blip is retried; AWS down for good is its own exit code, not a failed release.
        sim.world()
            .inject("dynamodb:GetItem", greenlight_sim::FaultKind::Throttle, 2);
        sim.put_deployment(&DeploymentRecord {
            version: 1,
            ..record(Some(DeploymentOutcome::Succeeded))
        })
        .await
        .unwrap();
        assert!(follow(&sim, "web-prod-1", None, every, Wait::default())
            .await
            .is_ok());
        sim.world().inject(
            "dynamodb:GetItem",
            greenlight_sim::FaultKind::ServerError,
            10,
        );
        let Err(Stop(message, code)) =
            follow(&sim, "web-prod-1", None, every, Wait::default()).await
        else {
            panic!("AWS down for good")
        };
        assert_eq!(code, exit::UNAVAILABLE, "{message}");
    }

    #[tokio::test]
    async fn rollback_wait_is_done_when_the_deployment_stopped() {
        let sim = Sim::at_epoch(1);
        let every = std::time::Duration::from_millis(1);
        let stopped = |o| o != DeploymentOutcome::Succeeded;
        sim.put_deployment(&record(Some(DeploymentOutcome::Aborted)))
            .await
            .unwrap();
        let w = Wait::default();
        assert!(follow_until(&sim, "web-prod-1", None, every, w, stopped)
            .await
            .is_ok());
        sim.put_deployment(&DeploymentRecord {
            version: 1,
            ..record(Some(DeploymentOutcome::Succeeded))
        })
        .await
        .unwrap();
        let Err(Stop(message, code)) =
            follow_until(&sim, "web-prod-1", None, every, w, stopped).await
        else {
            panic!("a deployment that succeeded anyway did not roll back")
        };
        assert_eq!(
            (message.as_str(), code),
            ("web-prod-1 succeeded", exit::INVALID)
        );
    }
}
