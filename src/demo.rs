//! `greenlight demo`: the sample app's configuration and push events, walked through
//! matching, planning and notification rendering. Needs no AWS account.

use chrono::{TimeZone, Utc};
use greenlight_core::config;
use greenlight_core::event::{parse_event, EcrEvent};
use greenlight_core::matching::{match_push, MatchOutcome};
use greenlight_core::notify::{EventKind, Notification};

use crate::exit;
use crate::render;

const CONFIG: &str = include_str!("../examples/greenlight.yaml");
const EVENTS: &[(&str, &str)] = &[
    (
        "push v2.0.0",
        include_str!("../events/on-push/push-tagged.json"),
    ),
    (
        "the same digest again as rc-2",
        include_str!("../events/on-push/push-rc-same-digest.json"),
    ),
    (
        "v2.0.0 re-pushed with a new digest",
        include_str!("../events/on-push/push-tag-repushed.json"),
    ),
    (
        "push by digest only",
        include_str!("../events/on-push/push-digest-only.json"),
    ),
    (
        "a failed push",
        include_str!("../events/on-push/push-failed.json"),
    ),
    (
        "a tag delete",
        include_str!("../events/on-push/delete.json"),
    ),
];

pub fn run(json: bool) -> u8 {
    let config = config::load(CONFIG)
        .config
        .expect("the built-in example config is valid");
    let time = Utc.with_ymd_and_hms(2026, 11, 20, 9, 30, 0).unwrap();
    let mut log = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    if !json {
        println!("greenlight demo: the sample app `web` (examples/greenlight.yaml)\n");
    }
    for (title, text) in EVENTS {
        let value: serde_json::Value =
            serde_json::from_str(text).expect("built-in events are JSON");
        let outcome = match parse_event(&value) {
            Ok(EcrEvent::Push(push)) => match_push(&config, &push),
            Ok(EcrEvent::Ignored(reason)) => MatchOutcome {
                ignored: Some(reason),
                ..Default::default()
            },
            Err(e) => unreachable!("built-in event is valid: {e}"),
        };
        let mut notes = Vec::new();
        for d in &outcome.deployments {
            let duplicate = !seen.insert(d.execution_name.clone());
            let (_, env) = config
                .environment(&d.app, &d.environment)
                .expect("matched environments exist");
            let plan = env.strategy.plan().expect("valid strategy");
            let mut n = Notification::new(EventKind::Started, &d.app, &d.environment, time);
            n.deployment = Some(d.execution_name.clone());
            n.image = Some(d.image.to_string());
            n.tag = d.tag.clone();
            if !json {
                println!("▶ {title}");
                print!("{}", indent(&render::match_outcome(&outcome)));
                if duplicate {
                    println!(
                        "  execution {} exists already: Step Functions starts nothing new\n",
                        d.execution_name
                    );
                    continue;
                }
                print!("{}", indent(&render::plan(&env.strategy, &plan)));
                println!(
                    "  notification to subscribers of {}/{}:",
                    d.app, d.environment
                );
                print!("{}", indent(&indent(&n.text())));
                println!();
            }
            notes
                .push(serde_json::json!({"duplicate": duplicate, "plan": plan, "notification": n}));
        }
        if outcome.deployments.is_empty() && !json {
            println!("▶ {title}");
            print!("{}", indent(&render::match_outcome(&outcome)));
            println!();
        }
        log.push(serde_json::json!({"event": title, "outcome": outcome, "deployments": notes}));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&log).unwrap());
    } else {
        println!("Rollouts against the simulated AWS arrive with the simulator; this walk-through covers configuration, events, matching, plans and notifications.");
    }
    exit::OK
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}
