//! A scenario checked against the configuration it rehearses: every app, environment,
//! repository and alarm it names must exist there.

use super::*;
use std::collections::BTreeMap;

use greenlight_core::config::Config;

/// What the scenario names that the configuration does not have: apps, environments,
/// repositories and alarms.
pub fn against(config: &Config, scenario: &Scenario) -> Vec<String> {
    let mut p = Problems(Vec::new());
    let apps: Vec<&str> = config.apps.keys().map(String::as_str).collect();
    let repositories: Vec<&str> = config
        .apps
        .values()
        .map(|a| a.repository.as_str())
        .collect();
    let alarms: Vec<&str> = config
        .apps
        .values()
        .flat_map(|a| a.environments.values())
        .flat_map(|e| e.checks.alarms.iter().map(String::as_str))
        .collect();
    for (i, step) in scenario.steps.iter().enumerate() {
        let span = step.span;
        let path = format!("steps[{i}]");
        let mut app_env = |app: &str, envs: &[&str]| {
            let Some(a) = config.apps.get(app) else {
                p.unknown(span, &path, "app", app, &apps);
                return;
            };
            let known: Vec<&str> = a.environments.keys().map(String::as_str).collect();
            for env in envs {
                if !a.environments.contains_key(*env) {
                    p.unknown(span, &path, "environment", env, &known);
                }
            }
        };
        match &step.action {
            Action::Push { repository, .. } => {
                if !repositories.contains(&repository.as_str()) {
                    p.unknown(span, &path, "repository", repository, &repositories);
                }
            }
            Action::Promote { app, from, to, .. } => app_env(app, &[from, to]),
            Action::Approve {
                app, environment, ..
            }
            | Action::Reject {
                app, environment, ..
            }
            | Action::Rollback {
                app, environment, ..
            }
            | Action::StaleLock {
                app, environment, ..
            } => app_env(app, &[environment]),
            Action::Alarm { name, .. } => {
                if !alarms.contains(&name.as_str()) {
                    p.unknown(span, &path, "alarm", name, &alarms);
                }
            }
            Action::Fault { .. } => {}
        }
    }
    p.0
}

/// Checks every scenario against the configuration before anything runs: what a scenario
/// names that the configuration does not have is an error (`file:line:column: …`).
pub fn check_all(config: &Config, scenarios: &BTreeMap<String, Scenario>) -> Vec<String> {
    scenarios
        .iter()
        .flat_map(|(file, s)| {
            against(config, s)
                .into_iter()
                .map(move |p| format!("{file}:{p}"))
        })
        .collect()
}
