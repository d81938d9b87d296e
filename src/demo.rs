//! `greenlight demo`: the real state machine and handlers against the simulated AWS, in
//! four acts, on a virtual clock (a few seconds of real time).

use chrono::{DateTime, TimeZone, Utc};
use greenlight_core::config;
use greenlight_core::ports::{StateStore, TokenPurpose};
use greenlight_sim::Behaviour;

use crate::exit;
use crate::render;
use crate::simulation::{digest_for, Simulation};
use crate::timeline::{marks, timeline, Marks};

const CONFIG: &str = include_str!("../examples/greenlight.yaml");

/// What `greenlight demo --json` prints.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DemoReport {
    pub acts: Vec<Act>,
    /// Every deployment's record, whole.
    pub deployments: Vec<greenlight_core::ports::DeploymentRecord>,
    /// Every execution, with its Step Functions-shaped history.
    pub executions: Vec<greenlight_asl::Execution>,
    pub invariant: Verdict,
}

/// One act of the demo and what happened in it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Act {
    pub title: String,
    pub timeline: Vec<crate::timeline::Moment>,
}

/// Whether the invariant holds, and what broke it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Verdict {
    pub holds: bool,
    pub broken: Vec<String>,
}

pub fn run(json_out: bool) -> u8 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    rt.block_on(demo(json_out))
}

/// Waits until the deployment asks for approval, then answers it the way
/// `greenlight approve` does (the same code, against the simulator). Returns what the
/// command printed.
async fn approve_when_asked(s: Simulation, deployment: String, by: &'static str) -> String {
    // Bounded: the approval request comes within minutes, or the demo is broken.
    for _ in 0..(4 * 60 * 2) {
        s.sleep(30).await;
        if let Ok(Some(_)) = s
            .sim
            .get_task_token(&deployment, TokenPurpose::Approval)
            .await
        {
            // A person reads the request and answers a few minutes later.
            s.sleep(4 * 60).await;
            let caller = crate::simulation::SignedIn {
                simulation: &s,
                principal: crate::simulation::principal_of(by),
            };
            let said = greenlight_core::usecase::approval::send(
                &caller,
                crate::simulation::APPROVAL_URL,
                &deployment,
                None,
            )
            .await
            .unwrap_or_else(|e| panic!("approve: {e}"))
            .message;
            return format!("$ greenlight approve {deployment}    # signed in as {by}\n  {said}");
        }
    }
    panic!("{deployment} never asked for approval within 4 hours")
}

async fn demo(json_out: bool) -> u8 {
    let config = config::load(CONFIG)
        .config
        .expect("the built-in example config is valid");
    let start = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
    let s = Simulation::new(&config, &digest_for("v0"), 2, 42, start);
    if !json_out {
        println!("greenlight demo — the sample app `web` (examples/greenlight.yaml) in a simulated AWS account.");
        println!("The real state machine (statemachines/rollout.asl.json) and the real Lambda handlers run on a virtual clock.\n");
    }
    let mut acts = Vec::new();
    let mut act = |title: &str, from: Marks, s: &Simulation| {
        let moments = timeline(s, from);
        if !json_out {
            println!("▶ {title}");
            crate::timeline::print(&moments);
            println!();
        }
        acts.push(Act {
            title: title.to_string(),
            timeline: moments,
        });
    };

    let t = marks(&s);
    s.push("web", "v1.0.0", &digest_for("v1"), Behaviour::healthy())
        .await
        .expect("push v1");
    s.settle().await;
    act(
        "Act 1 — push v1.0.0: staging deploys it (canary 20% for 2m)",
        t,
        &s,
    );

    let t = marks(&s);
    s.push("web", "v2.0.0", &digest_for("v2"), Behaviour::healthy())
        .await
        .expect("push v2");
    s.settle().await;
    act("Act 2 — push v2.0.0: canary with checks, succeeds", t, &s);

    let t = marks(&s);
    s.push("web", "v3.0.0", &digest_for("v3"), Behaviour::erroring(0.5))
        .await
        .expect("push v3");
    s.settle().await;
    act(
        "Act 3 — push a broken v3.0.0: 5xx at the first traffic step → alarm → automatic rollback",
        t,
        &s,
    );

    let t = marks(&s);
    // Promotion and approval go through the CLI's own code, against the simulator.
    let sm = greenlight_core::Arn::parse(crate::simulation::STATE_MACHINE).expect("an ARN");
    let promotion = greenlight_core::usecase::promote::promote(
        &s.sim,
        &s.config,
        &sm,
        "web",
        "staging",
        "prod",
        None,
        &crate::simulation::principal_of("release-manager"),
    )
    .await
    .unwrap_or_else(|e| panic!("promote: {e}"));
    let said = render::promotion(&promotion, "web", "prod");
    let approver = tokio::spawn(approve_when_asked(
        s.clone(),
        promotion.deployment,
        "ops-lead",
    ));
    s.settle().await;
    let approved = approver.await.expect("the approver finishes");
    if !json_out {
        println!(
            "$ greenlight promote web --from staging --to prod    # signed in as release-manager\n  {}",
            said.replace('\n', "\n  ")
        );
        println!("{approved}");
    }
    act(
        "Act 4 — promote the newest digest that succeeded in staging (v2.0.0) to prod; the approval comes four minutes after the request",
        t,
        &s,
    );

    let executions = s.finished();
    let verdict = s.invariant();
    if json_out {
        let deployments = s.sim.world().store.deployments.values().cloned().collect();
        let out = DemoReport {
            acts,
            deployments,
            executions,
            invariant: Verdict {
                holds: verdict.is_empty(),
                broken: verdict.clone(),
            },
        };
        println!("{}", serde_json::to_string_pretty(&out).unwrap());
    } else {
        print_summary(&s, executions.len(), &verdict, start);
    }
    if verdict.is_empty() {
        exit::OK
    } else {
        exit::INVALID
    }
}

fn live_tag(s: &Simulation, env: &str) -> String {
    let Some((app, e)) = s.config.environment("web", env) else {
        return "?".into();
    };
    let w = s.sim.world();
    let Some(colour) = w.live_colour(e) else {
        return "?".into();
    };
    let key = (e.cluster.clone(), e.services.get(colour).clone());
    let image = w
        .services
        .get(&key)
        .and_then(|svc| w.task_defs.get(&svc.task_definition))
        .and_then(|td| {
            td.containers
                .iter()
                .find(|(n, _)| *n == app.container)
                .map(|(_, i)| i.clone())
        });
    let Some(image) = image else {
        return "?".into();
    };
    let digest = image
        .rsplit_once('@')
        .map(|(_, d)| d.to_string())
        .unwrap_or(image);
    w.repos
        .get(&app.repository)
        .and_then(|r| r.images.iter().find(|i| i.image.digest.as_str() == digest))
        .and_then(|i| i.tags.first().cloned())
        .unwrap_or(digest)
}

/// The demo's closing summary for people: every deployment, what is live, the invariant.
fn print_summary(s: &Simulation, executions: usize, verdict: &[String], start: DateTime<Utc>) {
    println!("Summary");
    let records = s.sim.world().store.deployments.clone();
    let mut rows: Vec<_> = records.values().collect();
    rows.sort_by_key(|r| r.started_at);
    for r in rows {
        let took = r
            .ended_at
            .map(|e| {
                greenlight_core::Duration::from_secs((e - r.started_at).num_seconds().max(0) as u64)
                    .to_string()
            })
            .unwrap_or_else(|| "-".into());
        println!(
            "  {:<32} {:<8} {:<12} {:<10} {}",
            r.id,
            r.tag.as_deref().unwrap_or("(promoted)"),
            r.outcome
                .map(|o| o.to_string())
                .unwrap_or_else(|| "running".into()),
            took,
            r.reason.as_deref().unwrap_or("")
        );
    }
    println!(
        "\n  live: staging {} on {}, prod {} on {}",
        s.live("web", "staging").map_or("?", |c| c.as_str()),
        live_tag(s, "staging"),
        s.live("web", "prod").map_or("?", |c| c.as_str()),
        live_tag(s, "prod")
    );
    if verdict.is_empty() {
        println!("  invariant holds: all traffic on one healthy colour per environment, locks free, every deployment announced its end");
    } else {
        println!("  INVARIANT BROKEN:");
        for b in verdict {
            println!("    - {b}");
        }
    }
    println!(
        "  {} executions in {} of virtual time",
        executions,
        greenlight_core::Duration::from_secs((s.now() - start).num_seconds() as u64)
    );
    let (published, on_stack_topic, events) = {
        let w = s.sim.world();
        let stack = w
            .published
            .iter()
            .filter(|p| p.topic == s.settings.topic)
            .count();
        (w.published.len(), stack, w.bus_events.len())
    };
    println!(
        "  {published} notifications: {on_stack_topic} on the stack's topic, of which the event relay put {events} on EventBridge; {} on prod's own topic (the relay is not subscribed to it)",
        published - on_stack_topic
    );
}
