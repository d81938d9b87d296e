//! The timeline of a rehearsal: what happened, in causal order, built from the simulated
//! world's logs and the executions' histories (`timeline`), and rendered for people
//! (`print`). Used by `greenlight demo` and `greenlight simulate`.

use chrono::{DateTime, Utc};
use greenlight_core::notify::Severity;

use crate::render;
use crate::simulation::Simulation;

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
    let mut out: Vec<Moment> = s
        .notes()
        .into_iter()
        .skip(since.notes)
        .map(|n| Moment {
            at: n.at,
            environment: n.environment,
            text: n.text,
            severity: None,
            seq: n.seq,
        })
        .collect();
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
                    let Some(lb) = env.load_balancer() else {
                        continue;
                    };
                    if lb.listeners.production != change.listener {
                        continue;
                    }
                    let green = change
                        .weights
                        .iter()
                        .filter(|tw| tw.target_group == lb.target_groups.green)
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
    // A worker service (no listeners): read from deploy's output, for the steps' lines.
    let mut worker = false;
    for h in &e.history {
        let state = h.state.as_deref().unwrap_or_default();
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
            // The Deploy state's wait ends when its rounds found the new colour stable and
            // its pre-traffic probes passing.
            ("TaskStateExited", "Deploy") => {
                worker = output["env"]["listeners"].is_null();
                say(h, if worker {
                    "· stable: the new colour has the new revision (its tasks start at the first step)".into()
                } else {
                    "· stable: new tasks running, all targets healthy".into()
                });
                let probes = output["env"]["checks"]["probes"]
                    .as_array()
                    .map_or(0, |p| p.iter().filter(|p| p["via"] == "test" && p["path"].is_string()).count());
                say(h, if probes == 0 {
                    "· no pre-traffic probes configured".into()
                } else {
                    format!("· pre-traffic probes passed ({probes} through the test listener)")
                })
            }
            // A step's Shift state gets the rollout and the index of the step to apply.
            ("TaskStateEntered", "Shift") if worker => {
                let input = &h.details["input"]["rollout"];
                let desired = input["desired"].as_u64().unwrap_or(0) as u32;
                let step = h.details["input"]["step"].as_u64().unwrap_or(0) as usize;
                let weight = input["plan"]["steps"][step]["weight"].as_u64().unwrap_or(0).min(100) as u8;
                let (new, old) = greenlight_core::usecase::task_split(desired, weight);
                let green_is_new = input["target"] == "green";
                let (blue, green) = if green_is_new { (old, new) } else { (new, old) };
                let share = |n: u32| if desired == 0 { 0 } else { (u64::from(n) * 100 / u64::from(desired)) as u8 };
                say(h, format!("tasks    blue {} {blue}  green {} {green}", render::bar(share(blue), 10), render::bar(share(green), 10)));
            }
            ("TaskStateEntered", "AwaitApproval") => say(h, "· waiting for approval".into()),
            ("TaskStateExited", "AwaitApproval") => say(h, format!("· approved by {}", output["approval"]["approved_by"].as_str().unwrap_or("?"))),
            // A step's wait ends with its bake's last round passing; the state's output is
            // what the step changed.
            ("TaskStateExited", "Shift") => {
                let what = if worker { "tasks running and healthy" } else { "targets healthy, probes OK" };
                say(h, format!("· checks passed at {}%: alarms OK, {what}", output["weight"]));
                if output["analysis"]["weight"] == output["weight"] {
                    if let Ok(report) = serde_json::from_value::<greenlight_core::analysis::AnalysisReport>(output["analysis"].clone()) {
                        say(h, format!("· {}", report.summary()));
                    }
                }
            }
            // A watched rollback window whose rounds stopped ends with the window.
            ("StateCaught", "WatchWindow") if h.details["error"] == "States.Timeout" => {}
            ("StateCaught", "WatchWindow") => say(h, format!("· rollback window of {}: {} → revert to the old colour, if it is still the release that runs", input["tag"].as_str().unwrap_or("this release"), h.details["error"].as_str().unwrap_or("?"))),
            ("StateCaught", "Traffic") => say(h, format!("· traffic step failed ({}) → {}", h.details["error"].as_str().unwrap_or("?"), h.details["next"].as_str().unwrap_or("?"))),
            ("StateCaught", _) => say(h, format!("· {state} failed ({}) → {}", h.details["error"].as_str().unwrap_or("?"), h.details["next"].as_str().unwrap_or("?"))),
            ("TaskStateExited", "Rollback") => say(h, "· rolled back: traffic restored and verified, new colour scaled to 0, lock released".into()),
            ("TaskStateExited", "Retire") => say(h, format!("· {}", output["retired"]["reason"].as_str().unwrap_or("retire"))),
            ("TaskRetry", _) => say(h, format!("· {state}: {} — retrying", h.details["error"].as_str().unwrap_or("?"))),
            _ => {}
        }
    }
    out
}

pub fn print(moments: &[Moment]) {
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
