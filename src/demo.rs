//! `greenlight demo`: the real state machine and handlers against the simulated AWS, in
//! four acts, on a virtual clock (a few seconds of real time).

use chrono::{DateTime, TimeZone, Utc};
use greenlight_core::config;
use greenlight_core::notify::Severity;
use greenlight_core::ports::{StateStore, TokenPurpose};
use greenlight_sim::Behaviour;
use serde_json::{json, Value};

use crate::exit;
use crate::render;
use crate::simulation::{digest_for, Simulation};

const CONFIG: &str = include_str!("../examples/greenlight.yaml");

pub fn run(json_out: bool) -> u8 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    rt.block_on(demo(json_out))
}

/// One line of the timeline.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Moment {
    pub at: DateTime<Utc>,
    pub environment: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// Causal order within an instant (not printed).
    #[serde(skip)]
    pub seq: u64,
}

/// Where the logs stood when an act began.
#[derive(Clone, Copy, Debug, Default)]
pub struct Marks {
    published: usize,
    traffic: usize,
    notes: usize,
    finished: usize,
    alarms: usize,
}

pub fn marks(s: &Simulation) -> Marks {
    let w = s.sim.world();
    Marks {
        published: w.published.len(),
        traffic: w.traffic.len(),
        notes: s.notes().len(),
        finished: s.finished().len(),
        alarms: w.alarm_changes.len(),
    }
}

/// Everything that happened since `since`: notifications as a subscriber receives them,
/// every change of production traffic, and the phases and checks of the executions that
/// ended.
pub fn timeline(s: &Simulation, since: Marks) -> Vec<Moment> {
    let mut out: Vec<Moment> = s.notes().into_iter().skip(since.notes).collect();
    {
        let w = s.sim.world();
        for p in &w.published[since.published..] {
            let n = &p.notification;
            let mut text = format!(
                "✉ {} {}",
                n.event,
                n.tag
                    .as_deref()
                    .unwrap_or_else(|| n.image.as_deref().unwrap_or(""))
            );
            if let Some(r) = &n.reason {
                text.push_str(&format!(" — {r}"));
            }
            out.push(Moment {
                at: p.at,
                // A notice about the whole app (an ignored push) names no environment.
                environment: if n.environment.is_empty()
                    || n.environment == greenlight_core::notify::UNKNOWN
                {
                    n.app.clone()
                } else {
                    format!("{}/{}", n.app, n.environment)
                },
                text,
                severity: Some(n.severity),
                seq: p.seq,
            });
        }
        for change in &w.alarm_changes[since.alarms..] {
            let watchers: Vec<String> = s
                .config
                .apps
                .iter()
                .flat_map(|(app, a)| {
                    a.environments
                        .iter()
                        .filter(|(_, e)| e.checks.alarms.contains(&change.name))
                        .map(move |(env, _)| format!("{app}/{env}"))
                })
                .collect();
            let text = match change.value {
                Some(value) => format!("⚑ alarm {} → {value} ({})", change.name, change.reason),
                None => format!("⚑ alarm {} follows the traffic again", change.name),
            };
            out.push(Moment {
                at: change.at,
                environment: if watchers.is_empty() {
                    "-".to_string()
                } else {
                    watchers.join(",")
                },
                text,
                severity: None,
                seq: change.seq,
            });
        }
        for change in &w.traffic[since.traffic..] {
            for (app_name, app) in &s.config.apps {
                for (env_name, env) in &app.environments {
                    if env.listeners.production != change.listener {
                        continue;
                    }
                    let green = change
                        .weights
                        .iter()
                        .filter(|tw| tw.target_group == env.target_groups.green)
                        .map(|tw| tw.weight)
                        .sum::<u8>();
                    out.push(Moment {
                        at: change.at,
                        environment: format!("{app_name}/{env_name}"),
                        text: format!(
                            "traffic  blue {}  green {}",
                            render::bar(100 - green, 10),
                            render::bar(green, 10)
                        ),
                        severity: None,
                        seq: change.seq,
                    });
                }
            }
        }
    }
    for e in &s.finished()[since.finished..] {
        out.extend(phases(e));
    }
    // Within one instant, in the order things happened: a traffic change before the
    // checks at the new weight and the notice that announces it, a rollback's line after
    // the traffic it restored, a request for approval before the approval.
    out.sort_by_key(|m| (m.at, m.seq));
    out
}

/// The phases and checks of one execution, read from its history.
fn phases(e: &greenlight_asl::Execution) -> Vec<Moment> {
    let input = e
        .history
        .first()
        .map(|h| h.details["input"].clone())
        .unwrap_or_default();
    let environment = format!(
        "{}/{}",
        input["app"].as_str().unwrap_or("?"),
        input["environment"].as_str().unwrap_or("?")
    );
    let mut out = Vec::new();
    let mut say = |h: &greenlight_asl::HistoryEvent, text: String| {
        out.push(Moment {
            at: h.timestamp,
            environment: environment.clone(),
            text,
            severity: None,
            seq: h.seq,
        })
    };
    // A task whose error was caught exits too, with the Catch's output: that is a
    // failure (already said by its StateCaught line), never the success line.
    let mut caught: Option<&str> = None;
    // A Parallel state fails when a task inside it fails: the timeline names that task.
    let mut last_failed: Option<&str> = None;
    for h in &e.history {
        let mut state = h.state.as_deref().unwrap_or_default();
        if matches!(h.kind.as_str(), "TaskFailed" | "TaskTimedOut") {
            last_failed = Some(state);
        }
        if h.kind == "StateCaught" && state == "Watch" {
            state = last_failed.unwrap_or(state);
        }
        let output = &h.details["output"];
        if h.kind == "StateCaught" {
            caught = Some(state);
        } else if h.kind == "TaskStateExited" && caught == Some(state) {
            caught = None;
            continue;
        }
        match (h.kind.as_str(), state) {
            ("TaskStateExited", "Prepare") => say(
                h,
                format!(
                    "· prepared: {} live, deploying to {} ({} tasks, new task definition {})",
                    output["live"].as_str().unwrap_or("?"),
                    output["target"].as_str().unwrap_or("?"),
                    output["desired"],
                    output["task_definition"].as_str().unwrap_or("?").rsplit('/').next().unwrap_or("?")
                ),
            ),
            ("ChoiceStateExited", "IsStable") if output["control"]["stable"] == true => say(h, "· stable: new tasks running, all targets healthy".into()),
            ("ChoiceStateExited", "IsReady") if output["control"]["ready"] == true => {
                let probes = output["env"]["checks"]["probes"]
                    .as_array()
                    .map_or(0, |p| p.iter().filter(|p| p["via"] == "test" && p["path"].is_string()).count());
                say(h, if probes == 0 {
                    "· no pre-traffic probes configured".into()
                } else {
                    format!("· pre-traffic probes passed ({probes} through the test listener)")
                })
            }
            ("TaskStateEntered", "AwaitApproval") => say(h, "· waiting for approval".into()),
            ("TaskStateExited", "AwaitApproval") => say(h, format!("· approved by {}", output["approval"]["approved_by"].as_str().unwrap_or("?"))),
            ("TaskStateExited", "CheckHealth") if output["control"]["baking"] == false => {
                say(h, format!("· checks passed at {}%: alarms OK, targets healthy, probes OK", output["weight"]))
            }
            // A bake wait that times out is the normal path, not news.
            ("StateCaught", "Bake") if h.details["error"] == "States.Timeout" => {}
            ("StateCaught", _) => say(h, format!("· {state} failed ({}) → {}", h.details["error"].as_str().unwrap_or("?"), h.details["next"].as_str().unwrap_or("?"))),
            ("TaskStateExited", "Rollback") => say(h, "· rolled back: traffic restored and verified, new colour scaled to 0, lock released".into()),
            ("TaskStateExited", "Retire") => say(h, format!("· {}", output["retired"]["reason"].as_str().unwrap_or("retire"))),
            ("TaskRetry", _) => say(h, format!("· {state}: {} — retrying", h.details["error"].as_str().unwrap_or("?"))),
            _ => {}
        }
    }
    out
}

pub fn print_timeline(moments: &[Moment]) {
    for m in moments {
        let badge = match m.severity {
            None => "      ".to_string(),
            Some(s) => format!("{:<6}", s.as_str()),
        };
        println!(
            "  {}  {:<12} {badge} {}",
            m.at.format("%H:%M:%S"),
            m.environment,
            m.text
        );
    }
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
            let said = crate::ops::approve_cmd(
                &caller,
                crate::simulation::APPROVAL_URL,
                &deployment,
                None,
            )
            .await
            .unwrap_or_else(|e| panic!("approve: {}", e.0));
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
            print_timeline(&moments);
            println!();
        }
        acts.push(json!({"title": title, "timeline": moments}));
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
    let (said, promotion) = crate::ops::promote_cmd(
        &s.sim,
        &sm,
        "web",
        "staging",
        "prod",
        None,
        &crate::simulation::principal_of("release-manager"),
        false,
    )
    .await
    .unwrap_or_else(|e| panic!("promote: {}", e.0));
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
        let records: Vec<Value> = s
            .sim
            .world()
            .store
            .deployments
            .values()
            .map(|r| serde_json::to_value(r).unwrap())
            .collect();
        let out = json!({"acts": acts, "deployments": records, "executions": executions, "invariant": {"holds": verdict.is_empty(), "broken": verdict}});
        println!("{}", serde_json::to_string_pretty(&out).unwrap());
    } else {
        println!("Summary");
        let records = s.sim.world().store.deployments.clone();
        let mut rows: Vec<_> = records.values().collect();
        rows.sort_by_key(|r| r.started_at);
        for r in rows {
            let took = r
                .ended_at
                .map(|e| {
                    greenlight_core::Duration::from_secs(
                        (e - r.started_at).num_seconds().max(0) as u64
                    )
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
            live_tag(&s, "staging"),
            s.live("web", "prod").map_or("?", |c| c.as_str()),
            live_tag(&s, "prod")
        );
        if verdict.is_empty() {
            println!("  invariant holds: all traffic on one healthy colour per environment, locks free, every deployment announced its end");
        } else {
            println!("  INVARIANT BROKEN:");
            for b in &verdict {
                println!("    - {b}");
            }
        }
        println!(
            "  {} executions in {} of virtual time",
            executions.len(),
            greenlight_core::Duration::from_secs((s.now() - start).num_seconds() as u64)
        );
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
